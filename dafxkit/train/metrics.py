"""A run's metrics: one JSON line per step in metrics.jsonl, mirrored to TensorBoard when it is
installed (event files in RUN/tensorboard/, one scalar per metric, tagged by its name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["MetricsLog", "summary_writer_class"]


def summary_writer_class() -> Any | None:
    """torch's ``SummaryWriter``, or None when the ``tensorboard`` package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after the checkpoint a run resumes from."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the kill
        if rec.get("step", 0) <= step:
            kept.append(line)
    path.write_text("".join(f"{k}\n" for k in kept), encoding="utf-8")


class MetricsLog:
    """Appends step records to ``run_dir/metrics.jsonl`` and, with tensorboard installed, to
    event files in ``run_dir/tensorboard``.

    Parameters
    ----------
    run_dir : path
        The run folder.
    resume_step : int, optional
        The checkpoint's step when a run resumes: records after it are dropped from
        metrics.jsonl, and TensorBoard purges its events from that step on (``purge_step``),
        so both show one history, as if the run had never stopped.
    """

    def __init__(self, run_dir: str | Path, *, resume_step: int | None = None) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_step is not None:
            truncate_metrics(self.path, resume_step)
        self.writer = None
        writer_class = summary_writer_class()
        if writer_class is not None:
            purge = None if resume_step is None else resume_step + 1
            self.writer = writer_class(log_dir=str(Path(run_dir) / "tensorboard"), purge_step=purge)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record (``{"step": s, name: value, …}``)."""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            step = int(record["step"])
            for name, value in record.items():
                if name != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(name, value, step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
