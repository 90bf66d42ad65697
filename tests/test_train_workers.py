"""Training batches from DataLoader workers: the same batches and the same run for any number
of workers (resume included), and workers shut down on errors and KeyboardInterrupt."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import torch

from dafxkit.train import TrainConfig, train
from dafxkit.train.data import PairBatches
from tests.test_train_loop import TINY


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFXKIT_CACHE", str(tmp_path / "cache"))


def _batches(config: TrainConfig, start: int, stop: int) -> list[dict[str, torch.Tensor]]:
    with PairBatches(config).train_batches(start, stop) as batches:
        return list(batches)


def _assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], where) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), (where, key)


def _no_children(timeout_s: float = 10.0) -> list:
    deadline = time.monotonic() + timeout_s
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return multiprocessing.active_children()


def test_batches_are_bit_identical_for_0_1_and_2_workers():
    cfg = TrainConfig(**{**TINY, "descriptors": ("brightness", "depth")})
    serial = _batches(cfg.replace(workers=0), 2, 7)
    assert len(serial) == 5
    for i, batch in enumerate(serial):  # and they are the steps asked for
        _assert_identical(batch, PairBatches(cfg).train_batch(2 + i), ("train_batch", i))
    for workers in (1, 2):
        parallel = _batches(cfg.replace(workers=workers), 2, 7)
        assert len(parallel) == 5
        for i, (a, b) in enumerate(zip(serial, parallel, strict=True)):
            _assert_identical(a, b, (workers, i))
    assert not _no_children()


def _controller(run) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", weights_only=False)["controller"]


def test_runs_and_resumed_runs_do_not_depend_on_the_worker_count(tmp_path):
    """0 workers uninterrupted, 2 workers uninterrupted, 2 workers stopped at step 3 and
    resumed with 1: the same weights, to the bit, and the same metrics."""
    cfg = TrainConfig(**TINY)
    runs = {name: tmp_path / name for name in ("serial", "two", "resumed")}
    train(cfg.replace(workers=0), runs["serial"], evaluate_at_end=False)
    train(cfg.replace(workers=2), runs["two"], evaluate_at_end=False)
    train(cfg.replace(workers=2), runs["resumed"], stop_after=3, evaluate_at_end=False)
    toml = runs["resumed"] / "config.toml"
    toml.write_text(toml.read_text().replace("workers = 2", "workers = 1"))
    train(None, runs["resumed"], resume=True, evaluate_at_end=False)
    reference = _controller(runs["serial"])
    for name in ("two", "resumed"):
        state = _controller(runs[name])
        for key in reference:
            assert torch.equal(reference[key], state[key]), (name, key)
        assert (runs[name] / "metrics.jsonl").read_text() == (
            runs["serial"] / "metrics.jsonl"
        ).read_text()
    assert not _no_children()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_workers_are_shut_down_when_training_is_interrupted(tmp_path, error):
    def progress(stage, done, total, record):
        if stage == "train" and done == 2:
            assert multiprocessing.active_children(), "the workers should be running"
            raise error("stop")

    cfg = TrainConfig(**{**TINY, "workers": 2})
    with pytest.raises(error, match="stop"):
        train(cfg, tmp_path / "run", progress=progress, evaluate_at_end=False)
    assert not _no_children(), "worker processes left running"


def test_an_error_in_a_worker_reaches_the_training_process(tmp_path):
    """A folder source whose files vanish after it was listed: the worker's DataError (every
    draw unreadable) arrives in the training process with its message."""
    import numpy as np
    import soundfile as sf

    from dafxkit.errors import DataError

    with pytest.raises(ValueError, match="workers must be an integer >= 0"):
        TrainConfig(**{**TINY, "workers": -1})
    folder = tmp_path / "songs"
    folder.mkdir()
    t = np.arange(16000 * 2) / 16000
    for i in range(2):
        sf.write(folder / f"{i}.wav", 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t), 16000)
    cfg = TrainConfig(**{**TINY, "workers": 1, "data": f"folder:{folder}"})
    batches = PairBatches(cfg)  # lists the files here; the workers get the listing
    for path in folder.iterdir():
        path.unlink()
    with pytest.raises(DataError, match="draws were rejected \\(unreadable"):
        with batches.train_batches(0, 4) as it:
            next(it)
    assert not _no_children()
