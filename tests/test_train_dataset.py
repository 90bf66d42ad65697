"""Training on a generated dataset (``--data dataset:PATH``): splits, order, checks, runs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from dafxkit.data.shards import GeneratedDataset, generate
from dafxkit.train import TrainConfig, train
from dafxkit.train.config import ConfigError
from dafxkit.train.data import TEST_OFFSET, VAE_OFFSET, VAL_OFFSET, PairBatches, pipeline_config
from dafxkit.train.dataset_pairs import DatasetPairs
from dafxkit.train.loop import _vae_cache_path, check_config
from tests.test_train_loop import TINY

N = 24  # 4 validation + 4 test held out, 16 to train on


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFXKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A dataset generated with the tiny run's settings (synthetic source, distortion)."""
    path = tmp_path_factory.mktemp("data") / "pairs"
    made = dataclasses.replace(
        pipeline_config(TrainConfig(**TINY)), descriptors=("brightness", "depth")
    )
    generate(made, N, path, processes=1, audio_dtype="float32", shard_size=10)
    return path


def _config(dataset, **changes):
    return TrainConfig(**{**TINY, "data": f"dataset:{dataset}", **changes})


def test_indices_split_the_dataset_and_shuffle_each_epoch(dataset):
    pairs = DatasetPairs(_config(dataset))
    assert pairs.n_train == N - 8
    train_positions = [pairs.position(i) for i in range(3 * pairs.n_train)]
    epochs = np.reshape(train_positions, (3, pairs.n_train))
    for epoch in epochs:  # every training example once per epoch, held-out ones never
        assert sorted(epoch) == list(range(pairs.n_train))
    assert not np.array_equal(epochs[0], epochs[1])  # a new order each epoch
    assert [pairs.position(VAL_OFFSET + j) for j in range(4)] == [16, 17, 18, 19]
    assert [pairs.position(TEST_OFFSET + j) for j in range(4)] == [20, 21, 22, 23]
    assert pairs.position(VAE_OFFSET + 17) == 1
    with pytest.raises(IndexError, match="test example 4 of 4"):
        pairs.position(TEST_OFFSET + 4)
    # The same seed reads the same examples (a resumed run), another seed another order.
    again = DatasetPairs(_config(dataset))
    assert [again.position(i) for i in range(40)] == train_positions[:40]
    other = DatasetPairs(_config(dataset, seed=1))
    assert [other.position(i) for i in range(16)] != train_positions[:16]


def test_batches_are_the_stored_examples(dataset):
    config = _config(dataset, descriptors=("depth",))
    data = PairBatches(config)
    stored = GeneratedDataset(dataset)
    test = data.held_out(TEST_OFFSET, 4)
    for j in range(4):
        item = stored[20 + j]
        np.testing.assert_array_equal(test["x"][j].numpy(), item["x"])
        np.testing.assert_array_equal(test["yb"][j].numpy(), item["yb"])
        np.testing.assert_allclose(test["theta_b"][j].numpy(), item["theta_b"], rtol=1e-6)
        # Only the run's descriptor column (depth is the dataset's second).
        np.testing.assert_allclose(
            test["descriptors"][j].numpy(), item["descriptors"][:, 1:2], rtol=1e-6
        )
    batch = data.train_batch(3)
    assert batch["x"].shape == (4, 1, 4000)
    positions = [data.pipeline.position(i) for i in range(12, 16)]
    np.testing.assert_array_equal(batch["x"].numpy(), np.stack([stored[p]["x"] for p in positions]))


def test_a_run_trains_and_evaluates_on_the_dataset(dataset, tmp_path):
    run = tmp_path / "run"
    summary = train(_config(dataset, descriptors=("brightness",), descriptor_loss=0.5), run)
    assert json.loads((run / "summary.json").read_text())["data"] == f"dataset:{dataset}"
    # fx(x, θb) is the stored yb (float32 audio; θb rounded to float32 for training).
    assert summary["methods"]["oracle"]["mrstft"] < 1e-3
    assert summary["methods"]["oracle"]["descriptor_mae"]["brightness"] < 0.05


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"effect": ("compressor",)}, "effect: the dataset has 'distortion', the run 'compressor'"),
        ({"sample_rate": 16000}, "train with --sample-rate 8000"),
        ({"seconds": 1.0}, "seconds: the dataset has 0.5"),
        ({"channels": 2}, "channels: the dataset has 1"),
        (
            {"descriptors": ("warmth",)},
            "holds no warmth (it has brightness, depth); train with --descriptors brightness,depth",
        ),
        ({"batch_size": 20}, "holds 24 examples; this run needs at least 28"),
    ],
)
def test_a_dataset_that_does_not_fit_fails_before_training(dataset, changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_config(_config(dataset, **changes))


def test_missing_dataset_and_the_vae_cache_key(dataset, tmp_path):
    with pytest.raises(ConfigError, match="manifest.json not found"):
        check_config(_config(tmp_path / "nowhere"))
    # Another dataset later at the same path gets another cached β-VAE.
    same = tmp_path / "same"
    made = dataclasses.replace(pipeline_config(TrainConfig(**TINY)), descriptors=())
    generate(made, N, same, processes=1, shard_size=10)
    key = _vae_cache_path(_config(same, descriptors=()))
    generate(dataclasses.replace(made, seed=7), N, same, processes=1, shard_size=10, overwrite=True)
    assert _vae_cache_path(_config(same, descriptors=())) != key


def test_worker_processes_read_the_same_batches(dataset):
    config = _config(dataset, workers=1)
    data = PairBatches(config)
    with data.train_batches(0, 3) as batches:
        ahead = [b["x"].numpy() for b in batches]
    here = [data.train_batch(step)["x"].numpy() for step in range(3)]
    for a, b in zip(ahead, here, strict=True):
        np.testing.assert_array_equal(a, b)
