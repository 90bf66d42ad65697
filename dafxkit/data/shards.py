"""Generated datasets on disk: shards plus a manifest, written atomically and resumably.

Layout of a dataset folder::

    manifest.json            what was generated and how (config, source, effect and its
                             parameters, descriptors, seeds, versions, thresholds, statistics)
    shard-00000/
        audio.npy            (examples, 3, channels, samples): x, ya, yb; float16 or float32
        meta.npz             theta_a, theta_b, descriptors, flags, rms_dbfs, similarity,
                             index, attempt, start_s, pitch_semitones, tempo
        shard.json           its example range, track names, statistics
    shard-00001/ …

Shard ``k`` holds examples ``k·shard_size`` up to the next shard's first. A shard is written
under a temporary name (``.tmp-shard-…``) and renamed into place only when complete, so a
killed run leaves whole shards and temporary folders, never a half shard under a real name.
Because every example is a pure function of the configuration and its index, running the
same command again skips the complete shards, deletes the temporary folders and writes only
what is missing: the result equals an uninterrupted run, example for example.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import platform
import queue as queue_module
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dafxkit.data.config import PipelineConfig
from dafxkit.data.pipeline import Pipeline, Stats, _cpu_seconds, limit_threads
from dafxkit.errors import DataError, OutputError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "AUDIO_DTYPES",
    "GenerateSummary",
    "generate",
    "GeneratedDataset",
    "read_manifest",
]

log = logging.getLogger("dafxkit.data")

FORMAT = "dafxkit-effect-pairs"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
AUDIO_DTYPES = ("float16", "float32")
_SHARD_PREFIX = "shard-"
_TMP_PREFIX = ".tmp-"
_LOCK = ".lock"

Progress = Callable[[int, Mapping[str, int]], None]


@dataclass
class GenerateSummary:
    """What one `generate` call did."""

    out_dir: Path
    n_examples: int
    generated: int  #: examples written by this call
    reused: int  #: examples found complete on disk
    shards_written: int
    shards_reused: int
    cleaned: list[str]  #: temporary or out-of-plan folders removed
    stats: Stats  #: this call's kept/rejected counts and seconds per stage (incl. "write")
    wall_seconds: float
    processes: int
    cpu_seconds: float = 0.0  #: CPU time of the shard writers, all of it (SoX included)
    unreadable: list[str] = field(default_factory=list)  #: tracks that failed to read
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: left out when listing

    @property
    def pairs_per_second(self) -> float:
        return self.generated / self.wall_seconds if self.wall_seconds > 0 else 0.0


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of the dataset at ``root``; `DataError` if there is none or it is bad."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DataError(f"no dafxkit dataset at {root}: {MANIFEST} not found")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path} is not a {FORMAT} manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(
            f"{path} has format version {manifest['format_version']}; this dafxkit reads up "
            f"to {FORMAT_VERSION}: upgrade dafxkit"
        )
    return manifest


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _versions(scheme: str) -> dict[str, str | None]:
    from importlib import metadata

    from dafxkit import __version__
    from dafxkit.data.augment import sox_version

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    versions = {
        "dafxkit": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
    }
    for dist in ("scipy", "numba", "soundfile", "soxr", "sox"):
        versions[dist if dist != "sox" else "pysox"] = version(dist)
    versions["sox_program"] = sox_version()
    if scheme == "musdb":
        versions["musdb"] = version("musdb")
        versions["stempeg"] = version("stempeg")
    return versions


# -- the output folder ------------------------------------------------------------------------


def _shard_name(k: int) -> str:
    return f"{_SHARD_PREFIX}{k:05d}"


def _plan(n: int, shard_size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + shard_size)) for s in range(0, n, shard_size)]


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder: two runs writing one dataset would collide."""
    try:
        import fcntl
    except ImportError:  # not POSIX: go on unlocked
        yield
        return
    try:
        handle = open(out_dir / _LOCK, "a")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {out_dir}: {exc}") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(
                f"another `dafxkit generate` is writing to {out_dir}; wait for it or use "
                "another folder"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare(out_dir: Path) -> None:
    """Create the folder if needed and check that it can be written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output path {out_dir} exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f"{_TMP_PREFIX}probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"cannot write to the output folder {out_dir}: {exc.strerror or exc}"
        ) from exc


def _ours(path: Path) -> bool:
    name = path.name
    return name in (MANIFEST, _LOCK) or name.startswith((_SHARD_PREFIX, _TMP_PREFIX))


def _check_existing(out_dir: Path, wanted: dict[str, Any], overwrite: bool) -> list[str]:
    """Make sure ``out_dir`` is empty or holds this very dataset; returns what was cleared."""
    entries = [p for p in out_dir.iterdir() if not (p.name.startswith(".") and not _ours(p))]
    foreign = [p.name for p in entries if not _ours(p)]
    manifest_path = out_dir / MANIFEST
    if not manifest_path.exists():
        if foreign:
            shown = ", ".join(sorted(foreign)[:5])
            raise OutputError(
                f"output folder {out_dir} is not empty ({shown}) and holds no dafxkit dataset; "
                "choose a new or empty folder"
            )
        return []
    manifest = read_manifest(out_dir)
    differences = [
        key for key in ("config", "shard_size", "audio_dtype") if manifest.get(key) != wanted[key]
    ]
    if not differences:
        return []
    if not overwrite:
        detail = "; ".join(
            _describe_difference(key, manifest.get(key), wanted[key]) for key in differences
        )
        raise OutputError(
            f"{out_dir} holds a dataset generated with other settings ({detail}). Use another "
            "folder, or --overwrite to replace it"
        )
    cleared = []
    for path in out_dir.iterdir():
        if _ours(path) and path.name != _LOCK:
            cleared.append(path.name)
            _remove(path)
    return cleared


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _describe_difference(key: str, old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        parts = []
        for k in keys[:4]:
            parts.append(_describe_difference(f"{key}.{k}", old.get(k), new.get(k)))
        return "; ".join(parts)
    return f"{key}: {old!r} on disk, {new!r} now"


def _complete_shards(out_dir: Path, plan: list[tuple[int, int]]) -> tuple[set[int], list[str]]:
    """Which planned shards are on disk whole; removes temporary and out-of-plan folders."""
    complete: set[int] = set()
    cleaned: list[str] = []
    for path in sorted(out_dir.iterdir()):
        name = path.name
        if name.startswith(_TMP_PREFIX):
            cleaned.append(name)
            _remove(path)
            continue
        if not (name.startswith(_SHARD_PREFIX) and path.is_dir()):
            continue
        try:
            k = int(name[len(_SHARD_PREFIX) :])
            info = json.loads((path / "shard.json").read_text())
            fits = k < len(plan) and (info["start"], info["stop"]) == plan[k]
            fits = fits and (path / "audio.npy").is_file() and (path / "meta.npz").is_file()
        except (ValueError, OSError, KeyError, json.JSONDecodeError):
            fits = False
        if fits:
            complete.add(k)
        else:  # another n or shard size left it, or it is damaged: it will be rewritten
            cleaned.append(name)
            shutil.rmtree(path, ignore_errors=True)
    return complete, cleaned


# -- writing a shard --------------------------------------------------------------------------


def _write_shard(
    pipeline: Pipeline,
    out_dir: Path,
    k: int,
    start: int,
    stop: int,
    audio_dtype: str,
    progress: Progress | None,
) -> dict[str, Any]:
    """Generate examples ``start:stop`` and write them as shard ``k``; returns its info."""
    c = pipeline.config
    n = stop - start
    channels, samples = c.sampler.channels, c.sampler.samples
    n_params, n_desc = pipeline.effect.n_params, len(c.descriptors)
    audio = np.empty((n, 3, channels, samples), dtype=audio_dtype)
    meta: dict[str, np.ndarray] = {
        "index": np.arange(start, stop, dtype=np.int64),
        "attempt": np.zeros(n, dtype=np.int64),
        "theta_a": np.zeros((n, n_params)),
        "theta_b": np.zeros((n, n_params)),
        "descriptors": np.zeros((n, 3, n_desc)),
        "flags": np.zeros((n, 3, n_desc), dtype=np.int64),
        "rms_dbfs": np.zeros((n, 3)),
        "similarity": np.zeros((n, 2)),
        "start_s": np.zeros(n),
        "pitch_semitones": np.zeros(n),
        "tempo": np.ones(n),
    }
    tracks = [""] * n
    cpu_start = _cpu_seconds()
    saved_stats, pipeline.stats = pipeline.stats, Stats()
    unreadable_before = set(pipeline._reported_tracks)
    seen: Counter = Counter()
    try:
        for index, ex in pipeline.iter_examples(range(start, stop)):
            row = index - start
            audio[row, 0], audio[row, 1], audio[row, 2] = ex.x, ex.ya, ex.yb
            meta["attempt"][row] = ex.attempt
            meta["theta_a"][row], meta["theta_b"][row] = ex.theta_a, ex.theta_b
            meta["descriptors"][row], meta["flags"][row] = ex.descriptors, ex.flags
            meta["rms_dbfs"][row], meta["similarity"][row] = ex.rms_dbfs, ex.similarity
            meta["start_s"][row] = ex.start_s
            meta["pitch_semitones"][row] = ex.augmentation.pitch_semitones
            meta["tempo"][row] = ex.augmentation.tempo
            tracks[row] = ex.track
            if progress is not None:
                new = pipeline.stats.rejected - seen
                seen = Counter(pipeline.stats.rejected)
                progress(1, dict(new))
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        stats = pipeline.stats
        info = {
            "shard": k,
            "start": start,
            "stop": stop,
            "tracks": tracks,
            "statistics": None,
            "unreadable": sorted(pipeline._reported_tracks - unreadable_before),
        }
        tmp = out_dir / f"{_TMP_PREFIX}{_shard_name(k)}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            np.save(tmp / "audio.npy", audio)
            np.savez(tmp / "meta.npz", **meta)
            stats.seconds["write"] = time.perf_counter() - t0
            stats.cpu_seconds["write"] = time.process_time() - cpu0
            info["statistics"] = stats.to_dict()
            (tmp / "shard.json").write_text(json.dumps(info) + "\n")
            # The rename is the commit: before it the shard does not exist under its name.
            os.rename(tmp, out_dir / _shard_name(k))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        info["cpu_seconds"] = _cpu_seconds() - cpu_start  # everything, glue included
        return info
    finally:
        saved_stats.add(pipeline.stats)
        pipeline.stats = saved_stats


# Worker processes: one pipeline each, built once by the pool's initializer.
_WORKER: dict[str, Any] = {}


def _init_worker(config: dict[str, Any], source: Any, threads: int, progress_queue: Any) -> None:
    limit_threads(threads)
    _WORKER["pipeline"] = Pipeline(PipelineConfig.from_dict(config), source=source, threads=threads)
    _WORKER["queue"] = progress_queue


def _worker_shard(out_dir: str, k: int, start: int, stop: int, audio_dtype: str) -> dict[str, Any]:
    q = _WORKER["queue"]

    def progress(kept: int, rejected: Mapping[str, int]) -> None:
        q.put((kept, dict(rejected)))

    return _write_shard(_WORKER["pipeline"], Path(out_dir), k, start, stop, audio_dtype, progress)


# -- generate ---------------------------------------------------------------------------------


def generate(
    config: PipelineConfig,
    n: int,
    out_dir: str | Path,
    *,
    shard_size: int = 64,
    processes: int | None = None,
    audio_dtype: str = "float16",
    overwrite: bool = False,
    progress: Progress | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> GenerateSummary:
    """Generate ``n`` examples into ``out_dir`` (see the module docstring for the layout).

    Parameters
    ----------
    config : PipelineConfig
        What to generate; with ``n`` and ``shard_size`` it fixes every example.
    n : int
        Examples wanted in the folder in all (a resumed or extended run writes the rest).
    out_dir : path
        Created if missing. It must be empty, or hold a dataset of the same config, shard
        size and audio dtype (resumed or extended), unless ``overwrite``.
    shard_size : int
        Examples per shard.
    processes : int, optional
        Worker processes (default: the CPU count). 1 generates in this process.
    audio_dtype : {"float16", "float32"}
        How audio is stored. float16 halves the size (about 66 dB below full scale of
        rounding error, far below what the effects change).
    overwrite : bool
        Replace a dataset of other settings found in ``out_dir`` (only dafxkit's own files
        are removed).
    progress : callable, optional
        Called with ``(examples kept, {reason: rejected})`` increments as work goes on.
    on_start : callable, optional
        Called once with ``(examples already on disk, n)`` before generation starts.

    Returns
    -------
    GenerateSummary

    Raises
    ------
    OutputError
        The folder cannot be written, is another run's, or holds other data.
    DataError, PluginError
        A bad configuration (source, effect, descriptors, missing ``sox``).
    """
    if not isinstance(n, int) or n < 1:
        raise DataError(f"n must be a positive number of examples; got {n!r}")
    if shard_size < 1:
        raise DataError(f"shard_size must be >= 1; got {shard_size!r}")
    if audio_dtype not in AUDIO_DTYPES:
        raise DataError(
            f"audio_dtype must be one of {', '.join(AUDIO_DTYPES)}; got {audio_dtype!r}"
        )
    started = time.perf_counter()
    out_dir = Path(os.path.expanduser(str(out_dir)))
    _prepare(out_dir)
    # Building the pipeline here checks the source, effect, descriptors and sox up front.
    pipeline = Pipeline(config)
    wanted = {"config": config.to_dict(), "shard_size": shard_size, "audio_dtype": audio_dtype}
    with _locked(out_dir):
        cleared = _check_existing(out_dir, wanted, overwrite)
        plan = _plan(n, shard_size)
        complete, cleaned = _complete_shards(out_dir, plan)
        cleaned = cleared + cleaned
        manifest = _manifest(pipeline, n, shard_size, audio_dtype, status="in progress")
        old = out_dir / MANIFEST
        if old.exists():
            manifest["created"] = json.loads(old.read_text()).get("created", manifest["created"])
        _write_json(out_dir / MANIFEST, manifest)
        todo = [(k, *plan[k]) for k in range(len(plan)) if k not in complete]
        reused = sum(plan[k][1] - plan[k][0] for k in complete)
        if on_start is not None:
            on_start(reused, n)
        cpus = os.cpu_count() or 1
        processes = max(1, min(processes or cpus, len(todo) or 1))
        stats = Stats()
        infos = _run(pipeline, out_dir, todo, processes, audio_dtype, progress, cpus)
        for info in infos:
            stats.add(Stats.from_dict(info["statistics"]))
        unreadable = sorted({t for info in infos for t in info["unreadable"]})
        total = Stats()
        for k in range(len(plan)):
            info = json.loads((out_dir / _shard_name(k) / "shard.json").read_text())
            total.add(Stats.from_dict(info["statistics"]))
        manifest = _manifest(pipeline, n, shard_size, audio_dtype, status="complete")
        manifest["created"] = json.loads((out_dir / MANIFEST).read_text())["created"]
        manifest["statistics"] = total.to_dict()
        _write_json(out_dir / MANIFEST, manifest)
    return GenerateSummary(
        out_dir=out_dir,
        n_examples=n,
        generated=n - reused,
        reused=reused,
        shards_written=len(todo),
        shards_reused=len(complete),
        cleaned=cleaned,
        stats=stats,
        wall_seconds=time.perf_counter() - started,
        processes=processes if todo else 0,
        cpu_seconds=sum(info.get("cpu_seconds", 0.0) for info in infos),
        unreadable=unreadable,
        skipped=list(pipeline.source.skipped)
        + [(name, "shorter than the window") for name in pipeline.sampler.too_short],
    )


def _run(
    pipeline: Pipeline,
    out_dir: Path,
    todo: list[tuple[int, int, int]],
    processes: int,
    audio_dtype: str,
    progress: Progress | None,
    cpus: int,
) -> list[dict[str, Any]]:
    if not todo:
        return []
    if processes == 1:
        return [
            _write_shard(pipeline, out_dir, k, start, stop, audio_dtype, progress)
            for k, start, stop in todo
        ]
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    # Spawned, not forked: the parent may hold OpenMP and Numba thread pools, which do not
    # survive a fork.
    context = multiprocessing.get_context("spawn")
    progress_queue = context.Queue()
    threads = max(1, cpus // processes)
    infos = []
    with ProcessPoolExecutor(
        processes,
        mp_context=context,
        initializer=_init_worker,
        initargs=(pipeline.config.to_dict(), pipeline.source, threads, progress_queue),
    ) as pool:
        futures = [
            pool.submit(_worker_shard, str(out_dir), k, start, stop, audio_dtype)
            for k, start, stop in todo
        ]
        pending = set(futures)
        try:
            while pending:
                _drain(progress_queue, progress)
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                for future in done:
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise future.exception()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        _drain(progress_queue, progress)
        infos = [f.result() for f in futures]
    return infos


def _drain(progress_queue: Any, progress: Progress | None) -> None:
    while True:
        try:
            kept, rejected = progress_queue.get_nowait()
        except queue_module.Empty:
            return
        if progress is not None:
            progress(kept, rejected)


def _manifest(
    pipeline: Pipeline, n: int, shard_size: int, audio_dtype: str, status: str
) -> dict[str, Any]:
    c = pipeline.config
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    plan = _plan(n, shard_size)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "status": status,
        "created": now,
        "updated": now,
        "n_examples": n,
        "shard_size": shard_size,
        "audio_dtype": audio_dtype,
        "sample_rate": c.sampler.sample_rate,
        "channels": c.sampler.channels,
        "samples": c.sampler.samples,
        "seed": c.seed,
        "seeds": (
            "clip draw c of example i: numpy SeedSequence(seed, spawn_key=(i, c)); settings "
            "draw k for that clip: SeedSequence(seed, spawn_key=(i, c, k))"
        ),
        "arrays": {
            "audio.npy": {
                "shape": ["examples", 3, c.sampler.channels, c.sampler.samples],
                "axis 1": ["x", "ya", "yb"],
                "dtype": audio_dtype,
            },
            "meta.npz": {
                "theta_a": "normalised parameters [0, 1] of ya, (examples, n_params)",
                "theta_b": "normalised parameters [0, 1] of yb, (examples, n_params)",
                "descriptors": "(examples, 3 [x, ya, yb], n_descriptors)",
                "flags": "extractor flag bits, same shape as descriptors (0 = normal)",
                "rms_dbfs": "(examples, 3 [x, ya, yb])",
                "similarity": "MFCC similarity of ya and yb with x, (examples, 2)",
                "index": "example index",
                "attempt": "rejected draws before this example",
                "start_s": "window start in the source track, seconds",
                "pitch_semitones": "SoX pitch shift applied to x",
                "tempo": "SoX tempo factor applied to x",
            },
        },
        "config": c.to_dict(),
        "source": pipeline.source.describe(),
        **pipeline.describe(),
        "shards": [
            {"name": _shard_name(k), "start": start, "stop": stop}
            for k, (start, stop) in enumerate(plan)
        ],
        "versions": _versions(pipeline.source.scheme),
        "statistics": None,
    }


# -- reading ----------------------------------------------------------------------------------


class GeneratedDataset:
    """A generated dataset read from disk, as NumPy arrays (see `dafxkit.data.ShardDataset`
    for the torch face).

    Audio is memory-mapped: opening a large dataset costs nothing and examples are read on
    demand.

    Parameters
    ----------
    root : path
        The folder `generate` wrote.
    allow_incomplete : bool
        Read the complete shards of a dataset still being generated (or interrupted);
        otherwise such a dataset is an error that says how to finish it.
    """

    def __init__(self, root: str | Path, *, allow_incomplete: bool = False) -> None:
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        shards = self.manifest["shards"]
        if self.manifest.get("status") != "complete":
            if not allow_incomplete:
                raise DataError(
                    f"the dataset at {root} is incomplete (generation was interrupted or is "
                    "running); run the same `dafxkit generate` command again to finish it, or "
                    "open it with allow_incomplete=True"
                )
            shards = [s for s in shards if (self.root / s["name"] / "shard.json").is_file()]
        self.shards = shards
        self._starts = np.array([s["start"] for s in shards], dtype=np.int64)
        self._offsets = np.cumsum([0] + [s["stop"] - s["start"] for s in shards])
        self._audio: dict[int, np.ndarray] = {}
        self._meta: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["sample_rate"])

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p["name"] for p in self.manifest["effect"]["params"])

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["descriptors"]["columns"])

    @property
    def config(self) -> PipelineConfig:
        return PipelineConfig.from_dict(self.manifest["config"])

    def _locate(self, i: int) -> tuple[int, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"example {i} of a dataset of {len(self)}")
        i %= len(self)
        k = int(np.searchsorted(self._offsets, i, side="right") - 1)
        return k, i - int(self._offsets[k])

    def _shard(self, k: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if k not in self._audio:
            folder = self.root / self.shards[k]["name"]
            try:
                self._audio[k] = np.load(folder / "audio.npy", mmap_mode="r")
                with np.load(folder / "meta.npz") as meta:
                    self._meta[k] = {key: meta[key] for key in meta.files}
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read shard {folder}: {exc}") from exc
        return self._audio[k], self._meta[k]

    def __getitem__(self, i: int) -> dict[str, Any]:
        """Example ``i``: float32 ``x``, ``ya``, ``yb`` ``(channels, samples)``, ``theta_a``,
        ``theta_b`` ``(n_params,)``, ``descriptors`` ``(3, n_descriptors)`` (rows x, ya, yb)
        and the bookkeeping fields of ``meta.npz``."""
        k, row = self._locate(int(i))
        audio, meta = self._shard(k)
        clip = np.array(audio[row], dtype=np.float32)  # a copy: the memory map is read-only
        item = {"x": clip[0], "ya": clip[1], "yb": clip[2]}
        for key, values in meta.items():
            item[key] = values[row]
        return item

    def __repr__(self) -> str:
        fx = self.manifest["effect"]["name"]
        return f"<GeneratedDataset {str(self.root)!r}: {len(self)} examples of {fx}>"
