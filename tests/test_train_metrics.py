"""Run metrics: metrics.jsonl mirrored to TensorBoard event files, purged on resume, and
nothing (no error, no warning) without tensorboard; the descriptor loss's metric."""

from __future__ import annotations

import json
import sys
import warnings

import pytest

from dafxkit.train import TrainConfig, load_config, train
from tests.test_train_loop import TINY

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="tensorboard is not installed (pip install 'dafxkit[tensorboard]')",
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFXKIT_CACHE", str(tmp_path / "cache"))


def _metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _events(run) -> dict[str, list[tuple[int, float]]]:
    acc = event_accumulator.EventAccumulator(
        str(run / "tensorboard"), size_guidance={event_accumulator.SCALARS: 0}
    )
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _expected(records: list[dict]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for rec in records:
        for name, value in rec.items():
            if name != "step":
                out.setdefault(name, []).append((rec["step"], value))
    return out


def _assert_same(events, expected) -> None:
    assert sorted(events) == sorted(expected)
    for tag, points in expected.items():
        assert [s for s, _ in events[tag]] == [s for s, _ in points], tag
        assert [v for _, v in events[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag


def test_event_files_hold_every_metric_of_metrics_jsonl(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**TINY), run, evaluate_at_end=False)
    records = _metrics(run)
    assert "val_mrstft" in records[1]  # eval_every = 2: validation is there too
    events = _events(run)
    assert {"loss", "mrstft", "kl", "lr", "param_mae", "val_mrstft"} <= set(events)
    _assert_same(events, _expected(records))


def test_resume_purges_the_events_after_the_checkpoint(tmp_path):
    """Stopped at the step-3 checkpoint with steps 4-5 already logged (as a kill after a
    flush would leave them), then resumed: TensorBoard shows each step once, with the values
    of the resumed run, like metrics.jsonl."""
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "run"
    train(TrainConfig(**TINY), run, stop_after=3, evaluate_at_end=False)
    stale = SummaryWriter(log_dir=str(run / "tensorboard"))
    with open(run / "metrics.jsonl", "a") as f:
        for step in (4, 5):
            stale.add_scalar("loss", 99.0, step)
            f.write(json.dumps({"step": step, "loss": 99.0}) + "\n")
    stale.close()
    train(None, run, resume=True, evaluate_at_end=False)
    records = _metrics(run)
    assert [r["step"] for r in records] == list(range(1, 7))
    events = _events(run)
    assert 99.0 not in [v for _, v in events["loss"]]
    _assert_same(events, _expected(records))


def test_without_tensorboard_nothing_is_written_and_nothing_warns(tmp_path, monkeypatch):
    # None in sys.modules makes `import tensorboard` (and torch's wrapper) raise ImportError.
    for name in list(sys.modules):
        if name == "tensorboard" or name.startswith(("tensorboard.", "torch.utils.tensorboard")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    run = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(TrainConfig(**{**TINY, "steps": 2}), run, evaluate_at_end=False)
    assert not (run / "tensorboard").exists()
    assert [r["step"] for r in _metrics(run)] == [1, 2]


def test_descriptor_loss_logs_its_metric_and_is_saved(tmp_path):
    run = tmp_path / "run"
    cfg = TrainConfig(
        **{**TINY, "steps": 3, "descriptors": ("brightness", "depth"), "descriptor_loss": 0.5}
    )
    train(cfg, run, evaluate_at_end=False)
    records = _metrics(run)
    for rec in records:
        assert rec["descriptor"] == pytest.approx(
            (rec["descriptor_brightness"] + rec["descriptor_depth"]) / 2
        )
        assert rec["descriptor"] > 0
        # the total includes the weighted descriptor term (MAE / 10 on the 0-100 scale)
        assert rec["loss"] >= rec["mrstft"] + 0.5 * rec["descriptor"] / 10 - 1e-6
    assert load_config(run / "config.toml").descriptor_loss == 0.5
    assert "descriptor" in _events(run)


def test_descriptor_loss_needs_descriptors():
    from dafxkit.train.config import ConfigError

    with pytest.raises(ConfigError, match="descriptor_loss needs descriptors"):
        TrainConfig(**{**TINY, "descriptor_loss": 1.0})
