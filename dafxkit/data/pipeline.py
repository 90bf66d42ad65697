"""The example pipeline: source → clip → SoX → effect pair → checks → descriptors.

Example ``i`` is a pure function of the configuration and ``i``. Its clip draws (track,
window, augmentation) come from generators seeded by ``(seed, i, c)`` for c = 0, 1, …, its
parameter draws (θa, θb) from ``(seed, i, c, k)``; draws go on until one passes every check.
Batching, worker processes and the order examples are asked for change nothing in the
result, which is what makes a dataset on disk resumable and an on-the-fly dataset
reproducible from one seed.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dafxkit import registry
from dafxkit.data.augment import Augmentation, Augmenter
from dafxkit.data.checks import REASONS, Checker
from dafxkit.data.config import PipelineConfig
from dafxkit.data.sampler import ClipSampler
from dafxkit.data.sources import Source, TrackReadError, open_source
from dafxkit.errors import DataError, ParameterError, PluginLoadError
from dafxkit.features import FeatureExtractor

__all__ = [
    "STAGES",
    "Example",
    "Stats",
    "Pipeline",
    "limit_threads",
    "small_pages",
    "keep_freed_memory",
    "prepare_worker",
]

log = logging.getLogger("dafxkit.data")

#: The timed stages, in pipeline order.
STAGES = ("source", "augment", "effect", "checks", "descriptors")


@dataclass
class Example:
    """One kept example: a clip, its two effected versions, their settings and descriptors."""

    index: int
    attempt: int  #: how many draws (of a clip or of settings) were rejected before this one
    x: np.ndarray  #: float32 ``(channels, samples)``
    ya: np.ndarray
    yb: np.ndarray
    theta_a: np.ndarray  #: normalised parameters ``(n_params,)``
    theta_b: np.ndarray
    descriptors: np.ndarray  #: float64 ``(3, n_descriptors)`` for x, ya, yb
    flags: np.ndarray  #: int64 ``(3, n_descriptors)`` extractor flags (0 = normal)
    rms_dbfs: np.ndarray  #: ``(3,)`` for x, ya, yb
    similarity: np.ndarray  #: ``(2,)`` MFCC similarity of ya and yb with x
    track: str
    start_s: float
    augmentation: Augmentation


@dataclass
class Stats:
    """Kept and rejected counts, and time per stage summed over processes: wall-clock
    ``seconds`` and ``cpu_seconds`` (this process's threads plus the SoX processes it ran;
    on a machine whose cores others share too, wall time exceeds CPU time)."""

    kept: int = 0
    rejected: collections.Counter = field(default_factory=collections.Counter)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    cpu_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def attempts(self) -> int:
        return self.kept + sum(self.rejected.values())

    def add(self, other: Stats) -> None:
        self.kept += other.kept
        self.rejected.update(other.rejected)
        for stage, seconds in other.seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        for stage, seconds in other.cpu_seconds.items():
            self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "attempts": self.attempts,
            "rejected": dict(sorted(self.rejected.items())),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "cpu_seconds": {k: round(v, 4) for k, v in self.cpu_seconds.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        stats = cls(kept=int(data.get("kept", 0)))
        stats.rejected.update({k: int(v) for k, v in data.get("rejected", {}).items()})
        for stage, seconds in data.get("seconds", {}).items():
            stats.seconds[stage] = float(seconds)
        for stage, seconds in data.get("cpu_seconds", {}).items():
            stats.cpu_seconds[stage] = float(seconds)
        return stats


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the SoX runs)."""
    try:
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime
    except (ImportError, OSError):  # not POSIX
        return time.process_time()


class _Clock:
    """Charges the time since the last lap to a stage, wall-clock and CPU."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.restart()

    def restart(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = _cpu_seconds()

    def lap(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        self.stats.seconds[stage] = self.stats.seconds.get(stage, 0.0) + wall - self.wall
        self.stats.cpu_seconds[stage] = self.stats.cpu_seconds.get(stage, 0.0) + cpu - self.cpu
        self.wall, self.cpu = wall, cpu


@dataclass
class _Clip:
    audio: np.ndarray
    track: int
    start_s: float
    augmentation: Augmentation
    mfcc: np.ndarray | None = None  #: the checks' MFCCs of `audio`, kept for new settings


@dataclass
class _Pending:
    """Where one example's draws stand."""

    clip_attempt: int = 0
    param_attempt: int = 0
    attempts: int = 0  #: rejected draws so far, of either kind
    clip: _Clip | None = None
    history: collections.Counter = field(default_factory=collections.Counter)

    def reject(self, reason: str, param_draws: int) -> None:
        self.attempts += 1
        self.history[reason] += 1
        if self.clip is not None and self.param_attempt + 1 < param_draws:
            self.param_attempt += 1  # the clip was fine: new settings for it
        else:
            self.clip = None
            self.clip_attempt += 1
            self.param_attempt = 0


def limit_threads(threads: int) -> None:
    """Cap the threads of the C kernels (OpenMP) and of Numba in this process, so that
    several worker processes do not oversubscribe the cores."""
    from dafxkit import native

    if native.available():
        native.set_num_threads(threads)
    import sys

    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def small_pages(small: bool = True) -> bool:
    """Have NumPy stop (``small``) or resume asking the kernel for transparent huge pages for
    its large arrays. Returns whether it was using small pages before. Left alone when the
    user chose through NumPy's own ``NUMPY_MADVISE_HUGEPAGE`` environment variable.

    The pipeline allocates and frees arrays of a batch of clips (megabytes each) all the
    time. With NumPy's default (huge pages asked for), every new huge page costs a fault
    that zeroes 2 MiB and, on kernels that defragment on demand for such requests (the
    common ``defrag = madvise`` setting), memory compaction: on 250 real-music pairs in one
    process that was 6 to 9 of about 64 CPU ms per pair (the effect stage, which writes
    into fresh output arrays, fell from about 10 to 3.5). Worker processes call this first.
    """
    multiarray = (np._core if hasattr(np, "_core") else np.core).multiarray  # NumPy 2 / 1.26
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return not multiarray._get_madvise_hugepage()
    return not multiarray._set_madvise_hugepage(not small)


#: glibc's mallopt parameters and what workers set them to.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_WORKER_MALLOC = (
    (_M_MMAP_THRESHOLD, 32 << 20),  # arrays below 32 MiB (a batch of clips) from the heap
    (_M_TRIM_THRESHOLD, 1 << 30),  # freed heap kept for the next batch, up to 1 GiB
    (_M_TOP_PAD, 64 << 20),  # and grown 64 MiB at a time
)


def keep_freed_memory() -> bool:
    """Have glibc's allocator keep freed memory for reuse instead of handing it back to the
    kernel; returns whether it did (False off glibc, or when the user set ``MALLOC_*_`` or
    ``GLIBC_TUNABLES`` themselves, which are left alone).

    By default glibc returns large freed blocks at once (and trims the heap top past a few
    MiB), so every batch's arrays are new pages that the kernel must zero, and on virtual
    machines whose host takes back freed guest memory, fetch again. A worker instead keeps
    its high-water mark of freed heap (up to 1 GiB). In bench data on 1500 real-music pairs
    with two workers that took 63.6 -> 56.2 CPU ms per pair (the effect stage 3.5 -> 1.8,
    the descriptors 28.6 -> 25.3, the source 1.5 -> 1.3). Worker processes call this first;
    the parent process is left alone.
    """
    if any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ):
        return False
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in _WORKER_MALLOC)


def prepare_worker(threads: int) -> None:
    """What a process that only generates examples does first: `limit_threads`,
    `small_pages` and `keep_freed_memory`."""
    limit_threads(threads)
    small_pages()
    keep_freed_memory()


def descriptor_extractor(
    feature: str, descriptors: Sequence[str], threads: int | None = None
) -> FeatureExtractor:
    """The extractor ``feature``, built for just ``descriptors`` where it can select columns
    (else whole), with ``threads`` worker threads where it has them.

    Raises
    ------
    DataError
        When it has no feature of one of those names.
    """
    try:
        extractor = registry.load_feature(feature, columns=tuple(descriptors))
    except PluginLoadError as exc:
        if exc.stage != "build":
            raise
        extractor = registry.load_feature(feature)
    missing = [d for d in descriptors if d not in extractor.feature_names]
    if missing:
        raise DataError(
            f"feature extractor {feature!r} has no {', '.join(missing)}; it has "
            f"{', '.join(extractor.feature_names)}"
        )
    if threads is not None and hasattr(extractor, "threads"):
        extractor.threads = threads
    return extractor


class Pipeline:
    """Builds examples for a `PipelineConfig`.

    Parameters
    ----------
    config : PipelineConfig
        What to generate.
    source : Source, optional
        An already opened source (worker processes get the parent's); by default
        ``config.source`` is opened.
    threads : int, optional
        Threads the descriptor extractor may use (default: its own default).

    Raises
    ------
    DataError, PluginError
        Bad source, missing ``sox`` program (with augmentation on), unknown effect, feature
        extractor or descriptor, a parameter range naming an unknown parameter.
    """

    def __init__(
        self, config: PipelineConfig, *, source: Source | None = None, threads: int | None = None
    ) -> None:
        self.config = config
        rate = config.sampler.sample_rate
        self.effect = registry.load_effect(config.pairs.effect)
        self.param_ranges = self._param_ranges()
        self.augmenter = Augmenter(config.augment)
        self.source = source if source is not None else open_source(config.source, sample_rate=rate)
        self.sampler = ClipSampler(self.source, config.sampler, max_tempo=config.augment.max_tempo)
        self.checker = Checker(config.checks, rate)
        self.extractor = None
        if config.descriptors:
            extractor = descriptor_extractor(config.feature, config.descriptors, threads)
            self._columns = [extractor.feature_names.index(d) for d in config.descriptors]
            self.extractor = extractor
        self.stats = Stats()
        self._reported_tracks: set[str] = set()

    # -- parameters -----------------------------------------------------------------------

    def _param_ranges(self) -> np.ndarray:
        c = self.config.pairs
        names = self.effect.param_names
        unknown = [n for n in c.ranges if n not in names]
        if unknown:
            raise ParameterError(
                f"{self.effect.name} has no parameter(s) {', '.join(unknown)}; its parameters: "
                f"{', '.join(names)}"
            )
        return np.array([c.ranges.get(n, (c.low, c.high)) for n in names], dtype=np.float64)

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.effect.param_names

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return tuple(self.config.descriptors)

    def clip_rng(self, index: int, clip_attempt: int) -> np.random.Generator:
        """The generator of clip draw ``clip_attempt`` at example ``index``."""
        return np.random.default_rng(
            np.random.SeedSequence(self.config.seed, spawn_key=(int(index), int(clip_attempt)))
        )

    def param_rng(self, index: int, clip_attempt: int, param_attempt: int) -> np.random.Generator:
        """The generator of the θa, θb draw ``param_attempt`` for that clip."""
        key = (int(index), int(clip_attempt), int(param_attempt))
        return np.random.default_rng(np.random.SeedSequence(self.config.seed, spawn_key=key))

    # -- generation -----------------------------------------------------------------------

    def examples(self, indices: Iterable[int]) -> list[Example]:
        """The examples at ``indices``, in that order."""
        indices = list(indices)
        done = dict(self.iter_examples(indices))
        return [done[i] for i in indices]

    def iter_examples(self, indices: Iterable[int]) -> Iterator[tuple[int, Example]]:
        """``(index, example)`` for each of ``indices``, as they complete.

        Each index draws a clip (track, window, augmentation; a silent or unreadable window
        is redrawn), then parameter settings θa, θb; when the effect pair fails a check,
        θa, θb are redrawn for the same clip up to ``config.param_draws`` times before the
        clip itself is redrawn. Work runs in batches of ``config.batch_size``.

        Raises
        ------
        DataError
            When an index is rejected ``config.max_attempts`` times in all; the message
            gives the reasons.
        """
        pending = {int(i): _Pending() for i in indices}
        size = self.config.batch_size
        while pending:
            work = list(pending.items())
            for start in range(0, len(work), size):
                chunk = work[start : start + size]
                for (index, state), result in zip(chunk, self._attempts(chunk), strict=True):
                    if isinstance(result, Example):
                        del pending[index]
                        yield index, result
                        continue
                    state.reject(result, self.config.param_draws)
                    if state.attempts >= self.config.max_attempts:
                        reasons = ", ".join(f"{r}: {n}" for r, n in state.history.most_common())
                        raise DataError(
                            f"example {index}: all {self.config.max_attempts} draws were "
                            f"rejected ({reasons}). The source ({self.source.uri}) or the "
                            "effect's settings do not pass the checks; see `dafxkit generate "
                            "--help` for the check thresholds"
                        )

    def _draw_clip(self, index: int, state: _Pending) -> str | None:
        """Fill ``state.clip`` from clip draw ``state.clip_attempt``; a reason on failure."""
        rate = self.config.sampler.sample_rate
        clock = _Clock(self.stats)
        rng = self.clip_rng(index, state.clip_attempt)
        track = self.sampler.choose(rng)
        aug = self.augmenter.draw(rng, max_tempo=self.sampler.max_tempo_for(track))
        try:
            audio, start_s = self.sampler.read(rng, track, aug.tempo)
        except TrackReadError as exc:
            name = self.source.tracks[track].name
            if name not in self._reported_tracks:
                self._reported_tracks.add(name)
                log.warning("skipping unreadable window of %s: %s", name, exc)
            clock.lap("source")
            return "unreadable"
        clock.lap("source")
        if not np.isfinite(audio).all():
            return "non_finite"
        if self.sampler.is_silent(audio):
            return "silent_window"
        if not aug.identity:
            audio = self.sampler.crop(self.augmenter.apply(audio, rate, aug))
            clock.lap("augment")
        state.clip = _Clip(audio, track, start_s, aug)
        return None

    def _attempts(self, chunk: Sequence[tuple[int, _Pending]]) -> list[Example | str]:
        """One attempt at each pending index: an `Example` or the rejection reason."""
        results: list[Example | str | None] = [None] * len(chunk)
        ready: list[int] = []
        for pos, (index, state) in enumerate(chunk):
            if state.clip is None:
                reason = self._draw_clip(index, state)
                if reason is not None:
                    self.stats.rejected[reason] += 1
                    results[pos] = reason
                    continue
            ready.append(pos)
        if ready:
            self._finish(chunk, ready, results)
        return results  # type: ignore[return-value]

    def _finish(
        self,
        chunk: Sequence[tuple[int, _Pending]],
        ready: list[int],
        results: list[Example | str | None],
    ) -> None:
        c = self.config
        rate = c.sampler.sample_rate
        stats = self.stats
        clock = _Clock(stats)
        lo, hi = self.param_ranges[:, 0], self.param_ranges[:, 1]
        thetas = []
        for pos in ready:
            index, state = chunk[pos]
            rng = self.param_rng(index, state.clip_attempt, state.param_attempt)
            thetas.append(lo + rng.random((2, len(lo))) * (hi - lo))
        x = np.stack([chunk[pos][1].clip.audio for pos in ready])
        theta_a = np.stack([t[0] for t in thetas])
        theta_b = np.stack([t[1] for t in thetas])
        # Both settings of every clip in one effect call.
        y = self.effect(np.concatenate([x, x]), np.concatenate([theta_a, theta_b]), rate)
        ya, yb = y[: len(x)], y[len(x) :]
        clock.lap("effect")
        # The clips' MFCCs once per clip, not once per parameter draw.
        clips = [chunk[pos][1].clip for pos in ready]
        fresh = [i for i, clip in enumerate(clips) if clip.mfcc is None]
        if fresh:
            for i, m in zip(fresh, self.checker.reference_mfcc(x[fresh]), strict=True):
                clips[i].mfcc = m
        checked = self.checker(x, ya, yb, x_mfcc=np.stack([clip.mfcc for clip in clips]))
        clock.lap("checks")
        keep = np.flatnonzero(checked.kept)
        n_desc = len(c.descriptors)
        values = np.zeros((len(keep), 3, n_desc))
        flags = np.zeros((len(keep), 3, n_desc), dtype=np.int64)
        if self.extractor is not None and len(keep):
            every = len(keep) == len(x)
            parts = [a if every else a[keep] for a in (x, ya, yb)]
            if hasattr(self.extractor, "extract_with_flags"):
                vf = [self.extractor.extract_with_flags(a, rate) for a in parts]
                v = np.concatenate([r[0] for r in vf])
                f = np.concatenate([r[1] for r in vf])
            else:
                v = np.concatenate([self.extractor.extract(a, rate) for a in parts])
                f = np.zeros(v.shape, dtype=np.int64)
            values = v[:, self._columns].reshape(3, len(keep), n_desc).transpose(1, 0, 2)
            flags = np.asarray(f)[:, self._columns].reshape(3, len(keep), n_desc).transpose(1, 0, 2)
        clock.lap("descriptors")
        row = {int(k): r for r, k in enumerate(keep)}
        for j, pos in enumerate(ready):
            reason = checked.reasons[j]
            if reason is not None:
                stats.rejected[reason] += 1
                results[pos] = reason
                continue
            r = row[j]
            index, state = chunk[pos]
            clip = state.clip
            stats.kept += 1
            results[pos] = Example(
                index=index,
                attempt=state.attempts,
                x=x[j],
                ya=ya[j],
                yb=yb[j],
                theta_a=theta_a[j],
                theta_b=theta_b[j],
                descriptors=np.ascontiguousarray(values[r]),
                flags=np.ascontiguousarray(flags[r]),
                rms_dbfs=checked.rms_dbfs[j],
                similarity=checked.similarity[j],
                track=self.source.tracks[clip.track].name,
                start_s=float(clip.start_s),
                augmentation=clip.augmentation,
            )

    def describe(self) -> dict[str, Any]:
        """What a manifest records about the effect, parameters and descriptors."""
        fx = self.effect
        return {
            "effect": {
                "name": self.config.pairs.effect,
                "params": [
                    {
                        "name": p.name,
                        "minimum": p.minimum,
                        "maximum": p.maximum,
                        "default": p.default,
                        "unit": p.unit,
                        "scale": p.scale,
                        "normalised_range": [float(a) for a in self.param_ranges[i]],
                    }
                    for i, p in enumerate(fx.params)
                ],
            },
            "descriptors": {
                "feature": self.config.feature if self.extractor is not None else None,
                "columns": list(self.config.descriptors),
            },
            "rejection_reasons": dict(REASONS),
        }
