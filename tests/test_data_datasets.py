"""The torch datasets: generated on the fly in DataLoader workers, or read from disk."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from dafxkit.data import DataError, PipelineConfig, generate
from dafxkit.data.datasets import PairStream, ShardDataset
from tests.conftest import fast_pipeline_config

RATE = 22050


def _config(seed: int = 0) -> PipelineConfig:
    return fast_pipeline_config(tracks=30, seconds=0.5, seed=seed, batch_size=3)


def _by_index(items) -> dict[int, dict[str, torch.Tensor]]:
    out = {}
    for batch in items:
        for row, index in enumerate(batch["index"].tolist()):
            out[index] = {k: v[row] for k, v in batch.items()}
    return out


def test_items_have_the_documented_keys_shapes_and_types():
    stream = PairStream(_config(), n=4)
    assert len(stream) == 4
    items = list(stream)
    assert [int(i["index"]) for i in items] == [0, 1, 2, 3]
    item = items[0]
    assert item["x"].shape == item["ya"].shape == (1, RATE // 2)
    assert item["theta_a"].shape == (4,) and item["descriptors"].shape == (3, 0)
    assert all(v.dtype == torch.float32 for k, v in item.items() if k != "index")


def test_worker_split_is_reproducible_from_one_seed():
    """Two spawned workers produce, example for example, what one process produces."""
    stream = PairStream(_config(seed=5), n=8)
    serial = _by_index(DataLoader(stream, batch_size=2, num_workers=0))
    workers = DataLoader(stream, batch_size=2, num_workers=2, multiprocessing_context="spawn")
    parallel = _by_index(workers)
    assert sorted(parallel) == list(range(8))
    for index, item in serial.items():
        for key in item:
            assert torch.equal(item[key], parallel[index][key]), (index, key)
    other = _by_index(DataLoader(PairStream(_config(seed=6), n=2), batch_size=2))
    assert not torch.equal(other[0]["x"], serial[0]["x"])


def test_epochs_move_on_and_endless_streams_have_no_length():
    stream = PairStream(_config(), n=2)
    first = [int(i["index"]) for i in stream]
    stream.set_epoch(3)
    assert first == [0, 1] and [int(i["index"]) for i in stream] == [6, 7]
    endless = PairStream(_config(), n=None, start=10)
    with pytest.raises(TypeError):
        len(endless)
    assert int(next(iter(endless))["index"]) == 10
    with pytest.raises(DataError, match="fixed length"):
        endless.set_epoch(1)


def test_shard_dataset_reads_what_the_stream_generates(tmp_path):
    config = _config(seed=2)
    generate(config, 5, tmp_path / "pairs", shard_size=2, processes=1, audio_dtype="float32")
    disk = ShardDataset(tmp_path / "pairs")
    assert len(disk) == 5 and disk.param_names[0] == "drive_db" and disk.sample_rate == RATE
    streamed = {int(i["index"]): i for i in PairStream(config, n=5)}
    for i in range(5):
        item = disk[i]
        for key in ("x", "ya", "yb", "theta_a", "theta_b"):
            assert torch.equal(item[key], streamed[i][key]), (i, key)
    batch = next(iter(DataLoader(disk, batch_size=5, shuffle=True)))
    assert batch["ya"].shape == (5, 1, RATE // 2)
