"""Data-pipeline throughput: pairs per second with a per-stage breakdown, and the seed's peer.

The workload is `dafxkit generate` itself, into a temporary folder: sampling, SoX, the
effect pair, the checks, the descriptors of x, ya and yb, and writing shards. Worker
processes take a few seconds to start (imports, compiled-kernel caches), so besides the
overall rate the steady rate is measured from the first tenth of the examples on, and the
time for 10,000 pairs is extrapolated from it plus the start-up.

The peer is the seed project's way of describing the clips: Audio Commons
``timbral_models`` brightness and depth, one clip at a time (when it is installed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dafxkit.data.config import PipelineConfig
from dafxkit.data.pipeline import STAGES, Stats
from dafxkit.data.shards import GeneratedDataset, generate

__all__ = ["DataBenchResult", "bench_data", "TARGET_PAIRS", "TARGET_SECONDS"]

#: The speed target: this many pairs in this many seconds on a 2-core machine.
TARGET_PAIRS = 10_000
TARGET_SECONDS = 300.0


@dataclass
class DataBenchResult:
    n: int
    processes: int
    wall_seconds: float
    startup_seconds: float  #: from the call to the first finished example
    steady_pairs_per_second: float
    stats: Stats
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None
    cpu_seconds: float  #: all CPU time of the workers (SoX processes included)
    cores: int
    peer_ms_per_clip: float | None = None  #: timbral_models brightness + depth, one clip
    peer_note: str = ""
    stage_ms: dict[str, float] = field(default_factory=dict)  #: worker wall ms per kept pair
    stage_cpu_ms: dict[str, float] = field(default_factory=dict)  #: worker CPU ms per pair

    @property
    def pairs_per_second(self) -> float:
        return self.n / self.wall_seconds

    def extrapolated_seconds(self, pairs: int = TARGET_PAIRS) -> float:
        return self.startup_seconds + pairs / self.steady_pairs_per_second

    @property
    def cpu_ms_per_pair(self) -> float:
        return 1e3 * self.cpu_seconds / max(1, self.stats.kept)

    @property
    def idle_cores_pairs_per_second(self) -> float:
        """What the measured CPU cost per pair allows on ``min(cores, processes)`` cores that
        nothing else uses: the rate on an idle machine, where this one was shared."""
        return min(self.cores, max(1, self.processes)) * 1e3 / self.cpu_ms_per_pair


def _loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def bench_data(
    config: PipelineConfig,
    n: int = 200,
    *,
    processes: int | None = None,
    shard_size: int = 16,
    keep: str | Path | None = None,
    peer_clips: int = 0,
) -> DataBenchResult:
    """Generate ``n`` pairs and time them (see the module docstring).

    ``keep`` names a folder to leave the data in (default: a temporary one, deleted);
    ``peer_clips > 0`` also times timbral_models on that many of the generated clips.
    """
    times: list[float] = []

    def progress(kept: int, rejected: object) -> None:
        now = time.perf_counter()
        times.extend([now] * kept)

    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="dafxkit-bench-data-"))
    out = workdir / "pairs" if not keep else workdir
    load_before = _loadavg()
    started = time.perf_counter()
    try:
        summary = generate(
            config, n, out, shard_size=shard_size, processes=processes, progress=progress,
            overwrite=bool(keep),
        )  # fmt: skip
        wall = time.perf_counter() - started
        load_after = _loadavg()
        peer_ms, note = None, ""
        if peer_clips > 0:
            peer_ms, note = _peer(GeneratedDataset(out), peer_clips)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    times.sort()
    startup = (times[0] - started) if times else wall
    warm = max(1, len(times) // 10)
    if len(times) > warm + 1 and times[-1] > times[warm]:
        steady = (len(times) - 1 - warm) / (times[-1] - times[warm])
    else:
        steady = n / wall
    stats = summary.stats
    kept = max(1, stats.kept)
    stage_ms = {s: 1e3 * stats.seconds.get(s, 0.0) / kept for s in (*STAGES, "write")}
    stage_cpu_ms = {s: 1e3 * stats.cpu_seconds.get(s, 0.0) / kept for s in (*STAGES, "write")}
    return DataBenchResult(
        n=n,
        processes=summary.processes,
        wall_seconds=wall,
        startup_seconds=startup,
        steady_pairs_per_second=steady,
        stats=stats,
        load_before=load_before,
        load_after=load_after,
        cpu_seconds=summary.cpu_seconds,
        cores=os.cpu_count() or 1,
        peer_ms_per_clip=peer_ms,
        peer_note=note,
        stage_ms=stage_ms,
        stage_cpu_ms=stage_cpu_ms,
    )


def _peer(data: GeneratedDataset, clips: int) -> tuple[float | None, str]:
    """ms per clip of timbral_models brightness + depth on generated clips (x, mono)."""
    try:
        from dafxkit.descriptors.timbral_reference import load_timbral_models

        tm = load_timbral_models()
    except Exception as exc:  # an optional, fragile reference: any failure just skips it
        return None, f"timbral_models unavailable ({type(exc).__name__}: {exc})"
    rate = data.sample_rate
    elapsed = 0.0
    done = 0
    for i in range(min(clips, len(data))):
        x = np.asarray(data[i]["x"], dtype=np.float64).mean(axis=0)
        start = time.perf_counter()
        try:
            tm.timbral_brightness(x, fs=rate)
            tm.timbral_depth(x, fs=rate)
        except Exception:  # the reference raises on some clips; time only the ones it does
            continue
        elapsed += time.perf_counter() - start
        done += 1
    if not done:
        return None, "timbral_models failed on every clip tried"
    return 1e3 * elapsed / done, f"timbral_models brightness + depth, {done} clip(s), one core"
