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

Parts (``generate(..., part=(i, count))``, ``dafxkit generate --shard I/N``): ``count``
processes or hosts each write a contiguous block of the shard files — part ``i`` owns shards
``⌊i·S/count⌋`` up to ``⌊(i+1)·S/count⌋`` of the ``S`` the unsharded run would write — into
one shared folder or into folders of their own, and record what they did in
``manifest-part-I-of-N.json`` instead of ``manifest.json``. A shard's examples do not depend
on who writes it (rejected draws are retried under the same example index, never passed on
to the next), so the parts hold exactly the unsharded run's examples. `merge_parts` checks
that the parts belong together (same settings and versions, none missing, none twice, each
complete, every shard of this dataset) and writes the one ``manifest.json``; shards in other
folders are moved into the output folder (a rename: same filesystem only), never copied.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import platform
import queue as queue_module
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dafxkit import native
from dafxkit.data.config import PipelineConfig
from dafxkit.data.pipeline import Pipeline, Stats, _cpu_seconds, prepare_worker, small_pages
from dafxkit.errors import DataError, OutputError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "AUDIO_DTYPES",
    "GenerateSummary",
    "generate",
    "GeneratedDataset",
    "MergeSummary",
    "merge_parts",
    "part_range",
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
_PART_PREFIX = "manifest-part-"
_PART_NAME = re.compile(r"manifest-part-(\d+)-of-(\d+)\.json")

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
    part: tuple[int, int] | None = None  #: (i, count) when this call wrote part i of count
    examples: tuple[int, int] | None = None  #: the example range this call is responsible for

    @property
    def pairs_per_second(self) -> float:
        return self.generated / self.wall_seconds if self.wall_seconds > 0 else 0.0


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of the dataset at ``root``; `DataError` if there is none or it is bad."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        parts = sorted(p.name for p in Path(root).glob(f"{_PART_PREFIX}*.json"))
        if parts:
            raise DataError(
                f"{root} holds parts of a sharded dataset ({', '.join(parts[:3])}) but no "
                f"{MANIFEST}: merge them with `dafxkit merge-shards {root}` when all are done"
            )
        raise DataError(f"no dafxkit dataset at {root}: {MANIFEST} not found")
    return _read_manifest_file(path)


def _read_manifest_file(path: Path) -> dict[str, Any]:
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


def _part_name(part: tuple[int, int]) -> str:
    return f"{_PART_PREFIX}{part[0]}-of-{part[1]}.json"


def _plan(n: int, shard_size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + shard_size)) for s in range(0, n, shard_size)]


def _fingerprint(config: dict[str, Any], shard_size: int, audio_dtype: str) -> str:
    """What fixes a shard's bytes besides its range: recorded in every shard.json so that a
    shard can be told apart from one of another dataset that happens to cover the same range."""
    text = json.dumps([config, shard_size, audio_dtype], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_part(part: Any) -> tuple[int, int]:
    try:
        i, count = (int(v) for v in part)
        valid = (i, count) == tuple(part)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise DataError(f"part must be a pair (i, count) of whole numbers; got {part!r}")
    if count < 1:
        raise DataError(f"part ({i}, {count}): count must be at least 1")
    if not 0 <= i < count:
        raise DataError(
            f"part ({i}, {count}): i counts from 0, so with count {count} it must be 0 … "
            f"{count - 1}"
        )
    return i, count


def _owned(n_shards: int, part: tuple[int, int] | None) -> range:
    if part is None:
        return range(n_shards)
    i, count = part
    return range(i * n_shards // count, (i + 1) * n_shards // count)


def part_range(n: int, shard_size: int, part: tuple[int, int]) -> tuple[range, range]:
    """The shard files and the examples that part ``part = (i, count)`` of an ``n``-example
    dataset writes: ``(shards, examples)`` as ranges.

    Parts are contiguous blocks of whole shard files, as even as the shard count allows.

    Raises
    ------
    DataError
        ``part`` is not a valid ``(i, count)``, or there are fewer shard files than parts.
    """
    part = _check_part(part)
    plan = _plan(n, shard_size)
    if len(plan) < part[1]:
        most = max(1, n // part[1])
        raise DataError(
            f"part {part[0]}/{part[1]} (--shard {part[0]}/{part[1]}): {n} examples in shards of "
            f"{shard_size} make "
            f"{len(plan)} shard file(s), fewer than the {part[1]} parts; use a shard size of at "
            f"most {most} or at most {len(plan)} parts"
        )
    shards = _owned(len(plan), part)
    return shards, range(plan[shards.start][0], plan[shards.stop - 1][1])


@contextlib.contextmanager
def _locked(out_dir: Path, part: tuple[int, int] | None = None) -> Iterator[None]:
    """Hold a lock on the folder: exclusive for a whole-dataset run or a merge, shared for a
    part (parts write disjoint shards) plus an exclusive one on that part."""
    try:
        import fcntl
    except ImportError:  # not POSIX: go on unlocked
        yield
        return
    with contextlib.ExitStack() as stack:
        names = [(_LOCK, fcntl.LOCK_EX if part is None else fcntl.LOCK_SH)]
        if part is not None:
            names.append((f"{_LOCK}-part-{part[0]}-of-{part[1]}", fcntl.LOCK_EX))
        for name, mode in names:
            try:
                handle = stack.enter_context(open(out_dir / name, "a"))  # noqa: SIM115
            except OSError as exc:
                raise OutputError(f"cannot write to the output folder {out_dir}: {exc}") from exc
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
            except OSError:
                if name != _LOCK:
                    who = f"`dafxkit generate --shard {part[0]}/{part[1]}`"  # type: ignore[index]
                elif part is not None:
                    who = "a `dafxkit generate` of the whole dataset, or a merge,"
                else:
                    who = "another `dafxkit generate` (or a merge)"
                raise OutputError(
                    f"{who} is writing to {out_dir}; wait for it or use another folder"
                ) from None
            stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        yield


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
    return name in (MANIFEST, _LOCK) or name.startswith((_SHARD_PREFIX, _TMP_PREFIX, _PART_PREFIX))


def _descriptions(out_dir: Path) -> list[Path]:
    """The manifest and the part manifests in ``out_dir``."""
    found = [out_dir / MANIFEST] if (out_dir / MANIFEST).is_file() else []
    return found + sorted(p for p in out_dir.iterdir() if _PART_NAME.fullmatch(p.name))


def _check_existing(
    out_dir: Path, wanted: dict[str, Any], overwrite: bool, part: tuple[int, int] | None = None
) -> list[str]:
    """Make sure ``out_dir`` is empty or holds this very dataset (or parts of it); returns
    what was cleared."""
    entries = [p for p in out_dir.iterdir() if not (p.name.startswith(".") and not _ours(p))]
    foreign = [p.name for p in entries if not _ours(p)]
    descriptions = _descriptions(out_dir)
    if not descriptions:
        if foreign:
            shown = ", ".join(sorted(foreign)[:5])
            raise OutputError(
                f"output folder {out_dir} is not empty ({shown}) and holds no dafxkit dataset; "
                "choose a new or empty folder"
            )
        return []
    stale: list[tuple[Path, list[str], dict[str, Any]]] = []
    for path in descriptions:
        manifest = _read_manifest_file(path)
        differences = [
            key
            for key in ("config", "shard_size", "audio_dtype")
            if manifest.get(key) != wanted[key]
        ]
        if differences:
            stale.append((path, differences, manifest))
    if not stale:
        return []
    if not overwrite:
        path, differences, manifest = stale[0]
        detail = "; ".join(
            _describe_difference(key, manifest.get(key), wanted[key]) for key in differences
        )
        what = "a dataset" if path.name == MANIFEST else f"a part ({path.name}) of a dataset"
        raise OutputError(
            f"{out_dir} holds {what} generated with other settings ({detail}). Use another "
            "folder, or --overwrite to replace it"
        )
    cleared = []
    if part is not None:
        # Other parts of the new dataset may be writing here already: remove only the
        # descriptions of other settings; shards of other settings fail their fingerprint.
        for path, _, _ in stale:
            cleared.append(path.name)
            path.unlink(missing_ok=True)
        return cleared
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


def _describe_difference(
    key: str, old: Any, new: Any, labels: tuple[str, str] = ("on disk", "now")
) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        parts = []
        for k in keys[:4]:
            parts.append(_describe_difference(f"{key}.{k}", old.get(k), new.get(k), labels))
        return "; ".join(parts)
    return f"{key}: {old!r} {labels[0]}, {new!r} {labels[1]}"


def _shard_fits(path: Path, start_stop: tuple[int, int], fingerprint: str) -> bool:
    """Whether the shard folder ``path`` is whole and holds examples ``start_stop`` of the
    dataset ``fingerprint`` (shards written before fingerprints existed pass on the range)."""
    try:
        info = json.loads((path / "shard.json").read_text())
        fits = (info["start"], info["stop"]) == tuple(start_stop)
        fits = fits and info.get("dataset", fingerprint) == fingerprint
        return fits and (path / "audio.npy").is_file() and (path / "meta.npz").is_file()
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        return False


def _complete_shards(
    out_dir: Path,
    plan: list[tuple[int, int]],
    fingerprint: str,
    part: tuple[int, int] | None = None,
) -> tuple[set[int], list[str]]:
    """Which of this run's planned shards are on disk whole; removes this run's temporary
    folders and its damaged or out-of-plan shards. A part touches only its own shards (the
    last part also those beyond the plan): other parts may be writing theirs."""
    owned = _owned(len(plan), part)
    last = part is None or part[0] == part[1] - 1
    own_tmp = (
        (_TMP_PREFIX,)
        if part is None
        else tuple(f"{_TMP_PREFIX}{_shard_name(k)}-" for k in owned)
        + (f"{_TMP_PREFIX}{_part_name(part)}",)
    )
    complete: set[int] = set()
    cleaned: list[str] = []
    for path in sorted(out_dir.iterdir()):
        name = path.name
        if name.startswith(own_tmp):
            cleaned.append(name)
            _remove(path)
            continue
        if not (name.startswith(_SHARD_PREFIX) and path.is_dir()):
            continue
        try:
            k = int(name[len(_SHARD_PREFIX) :])
        except ValueError:
            k = -1
        if k in owned and _shard_fits(path, plan[k], fingerprint):
            complete.add(k)
        elif k in owned or (last and (k < 0 or k >= len(plan))):
            # another n or shard size left it, or it is damaged: it will be rewritten
            cleaned.append(name)
            shutil.rmtree(path, ignore_errors=True)
    return complete, cleaned


# -- writing a shard --------------------------------------------------------------------------


def _store_audio(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src``; float32 to float16 through the C kernel where it is built (the same
    bits as NumPy's cast, which takes 1.7 ms per pair of 5 s clips, 3 % of generating it)."""
    if dst.dtype == np.float16 and src.dtype == np.float32 and native.available():
        native.to_half(src, out=dst)
    else:
        dst[...] = src


def _load_audio(src: np.ndarray) -> np.ndarray:
    """A float32 copy of stored audio (float16 through the C kernel where it is built)."""
    if src.dtype == np.float16 and native.available():
        return native.from_half(src)
    return np.array(src, dtype=np.float32)


def _write_shard(
    pipeline: Pipeline,
    out_dir: Path,
    k: int,
    start: int,
    stop: int,
    audio_dtype: str,
    fingerprint: str,
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
            for slot, clip in enumerate((ex.x, ex.ya, ex.yb)):
                _store_audio(audio[row, slot], clip)
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
            "dataset": fingerprint,
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
    prepare_worker(threads)
    _WORKER["pipeline"] = Pipeline(PipelineConfig.from_dict(config), source=source, threads=threads)
    _WORKER["queue"] = progress_queue


def _worker_shard(
    out_dir: str, k: int, start: int, stop: int, audio_dtype: str, fingerprint: str
) -> dict[str, Any]:
    q = _WORKER["queue"]

    def progress(kept: int, rejected: Mapping[str, int]) -> None:
        q.put((kept, dict(rejected)))

    pipeline = _WORKER["pipeline"]
    return _write_shard(pipeline, Path(out_dir), k, start, stop, audio_dtype, fingerprint, progress)


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
    part: tuple[int, int] | None = None,
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
        size and audio dtype (resumed or extended, or parts of it), unless ``overwrite``.
    shard_size : int
        Examples per shard.
    processes : int, optional
        Worker processes (default: the CPU count). 1 generates in this process.
    audio_dtype : {"float16", "float32"}
        How audio is stored. float16 halves the size (about 66 dB below full scale of
        rounding error, far below what the effects change).
    overwrite : bool
        Replace a dataset of other settings found in ``out_dir`` (only dafxkit's own files
        are removed; a part removes only the manifests of other settings and its own shards).
    part : (i, count), optional
        Write only part ``i`` (from 0) of ``count``: the shards `part_range` names, and
        ``manifest-part-i-of-count.json`` instead of ``manifest.json``. Run every part, into
        one folder or several, then `merge_parts`.
    progress : callable, optional
        Called with ``(examples kept, {reason: rejected})`` increments as work goes on.
    on_start : callable, optional
        Called once with ``(examples already on disk, examples this call is responsible
        for)`` before generation starts (``n``, or the part's share).

    Returns
    -------
    GenerateSummary

    Raises
    ------
    OutputError
        The folder cannot be written, is another run's, or holds other data.
    DataError, PluginError
        A bad configuration (source, effect, descriptors, missing ``sox``) or ``part``.
    """
    if not isinstance(n, int) or n < 1:
        raise DataError(f"n must be a positive number of examples; got {n!r}")
    if shard_size < 1:
        raise DataError(f"shard_size must be >= 1; got {shard_size!r}")
    if audio_dtype not in AUDIO_DTYPES:
        raise DataError(
            f"audio_dtype must be one of {', '.join(AUDIO_DTYPES)}; got {audio_dtype!r}"
        )
    plan = _plan(n, shard_size)
    if part is not None:
        part = _check_part(part)
        owned, examples = part_range(n, shard_size, part)
    else:
        owned, examples = range(len(plan)), range(n)
    started = time.perf_counter()
    out_dir = Path(os.path.expanduser(str(out_dir)))
    _prepare(out_dir)
    # Building the pipeline here checks the source, effect, descriptors and sox up front.
    pipeline = Pipeline(config)
    wanted = {"config": config.to_dict(), "shard_size": shard_size, "audio_dtype": audio_dtype}
    fingerprint = _fingerprint(**wanted)
    own_manifest = out_dir / (MANIFEST if part is None else _part_name(part))
    with _locked(out_dir, part):
        cleared = _check_existing(out_dir, wanted, overwrite, part)
        complete, cleaned = _complete_shards(out_dir, plan, fingerprint, part)
        cleaned = cleared + cleaned
        todo = [(k, *plan[k]) for k in owned if k not in complete]
        if part is not None:
            cleaned += _drop_stale_descriptions(out_dir, n, part, changing=bool(todo))
        manifest = _manifest(pipeline, n, shard_size, audio_dtype, "in progress", part)
        if own_manifest.exists():
            created = _read_manifest_file(own_manifest).get("created", manifest["created"])
            manifest["created"] = created
        _write_json(own_manifest, manifest)
        reused = sum(plan[k][1] - plan[k][0] for k in complete)
        if on_start is not None:
            on_start(reused, len(examples))
        cpus = os.cpu_count() or 1
        processes = max(1, min(processes or cpus, len(todo) or 1))
        stats = Stats()
        infos = _run(pipeline, out_dir, todo, processes, audio_dtype, fingerprint, progress, cpus)
        for info in infos:
            stats.add(Stats.from_dict(info["statistics"]))
        unreadable = sorted({t for info in infos for t in info["unreadable"]})
        total = Stats()
        for k in owned:
            info = json.loads((out_dir / _shard_name(k) / "shard.json").read_text())
            total.add(Stats.from_dict(info["statistics"]))
        created = manifest["created"]
        manifest = _manifest(pipeline, n, shard_size, audio_dtype, "complete", part)
        manifest["created"] = created
        manifest["statistics"] = total.to_dict()
        _write_json(own_manifest, manifest)
    return GenerateSummary(
        out_dir=out_dir,
        n_examples=n,
        generated=len(examples) - reused,
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
        part=part,
        examples=(examples.start, examples.stop),
    )


def _drop_stale_descriptions(
    out_dir: Path, n: int, part: tuple[int, int], changing: bool
) -> list[str]:
    """A part run makes the folder's other descriptions of the same settings stale when they
    speak of another ``n`` or part count, and ``manifest.json`` stale whenever it rewrites a
    shard; they are removed (the shards stay, and are reused where they fit)."""
    dropped = []
    for path in _descriptions(out_dir):
        match = _PART_NAME.fullmatch(path.name)
        try:
            manifest = _read_manifest_file(path)
            stale = manifest.get("n_examples") != n
        except DataError:
            stale = True
        if match is None:
            stale = stale or changing
        else:
            stale = stale or int(match.group(2)) != part[1]
        if stale:
            dropped.append(path.name)
            path.unlink(missing_ok=True)
    return dropped


def _run(
    pipeline: Pipeline,
    out_dir: Path,
    todo: list[tuple[int, int, int]],
    processes: int,
    audio_dtype: str,
    fingerprint: str,
    progress: Progress | None,
    cpus: int,
) -> list[dict[str, Any]]:
    if not todo:
        return []
    if processes == 1:
        small = small_pages()
        try:
            return [
                _write_shard(pipeline, out_dir, k, start, stop, audio_dtype, fingerprint, progress)
                for k, start, stop in todo
            ]
        finally:
            small_pages(small)
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
            pool.submit(_worker_shard, str(out_dir), k, start, stop, audio_dtype, fingerprint)
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


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _manifest(
    pipeline: Pipeline,
    n: int,
    shard_size: int,
    audio_dtype: str,
    status: str,
    part: tuple[int, int] | None = None,
) -> dict[str, Any]:
    c = pipeline.config
    now = _now()
    plan = _plan(n, shard_size)
    owned = _owned(len(plan), part)
    manifest = {
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
        "dataset": _fingerprint(c.to_dict(), shard_size, audio_dtype),
        "shards": [
            {"name": _shard_name(k), "start": plan[k][0], "stop": plan[k][1]} for k in owned
        ],
        "versions": _versions(pipeline.source.scheme),
        "statistics": None,
    }
    if part is not None:
        manifest["part"] = {
            "index": part[0],
            "count": part[1],
            "shards": [owned.start, owned.stop],
            "examples": [plan[owned.start][0], plan[owned.stop - 1][1]],
        }
    return manifest


# -- merging parts ----------------------------------------------------------------------------

#: Manifest entries that may differ between the parts of one dataset.
_PER_PART = ("status", "created", "updated", "statistics", "shards", "part")


@dataclass
class MergeSummary:
    """What one `merge_parts` call did."""

    out_dir: Path
    n_examples: int
    parts: list[tuple[int, Path]]  #: (part index, the folder it was found in), in order
    shards: int
    moved: int  #: shard folders moved into ``out_dir`` by this call
    stats: Stats  #: kept/rejected counts and seconds per stage of all parts, summed


def _part_identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """What must agree between parts: everything but the per-part entries and the host's
    platform string (hosts of one cluster differ in kernel builds)."""
    identity = {k: v for k, v in manifest.items() if k not in _PER_PART}
    identity["versions"] = {
        k: v for k, v in manifest.get("versions", {}).items() if k != "platform"
    }
    return identity


def _find_parts(folders: list[Path]) -> dict[int, tuple[Path, dict[str, Any]]]:
    found: dict[int, tuple[Path, dict[str, Any]]] = {}
    counts: dict[int, Path] = {}
    for folder in folders:
        matches = [
            (m, folder / m.string)
            for m in (_PART_NAME.fullmatch(p.name) for p in sorted(folder.iterdir()))
            if m is not None
        ]
        if not matches:
            hint = " (it holds a whole dataset already)" if (folder / MANIFEST).is_file() else ""
            raise DataError(
                f"{folder} holds no part of a sharded dataset (no {_PART_PREFIX}I-of-N.json)"
                f"{hint}; parts are written by `dafxkit generate … --shard I/N`"
            )
        for match, path in matches:
            i, count = int(match.group(1)), int(match.group(2))
            if count not in counts and counts:
                other_count, other = next(iter(counts.items()))
                raise DataError(
                    f"parts of different splits: {path} is one of {count} parts, "
                    f"{other} holds one of {other_count}; merge the parts of one run (remove "
                    "the stale ones)"
                )
            counts.setdefault(count, path)
            if i in found:
                raise DataError(
                    f"part {i}/{count} was found twice: in {found[i][0]} and in {folder}; "
                    "keep one of them"
                )
            manifest = _read_manifest_file(path)
            part = manifest.get("part") or {}
            if (part.get("index"), part.get("count")) != (i, count):
                raise DataError(f"{path} does not describe part {i}/{count}: it is damaged")
            found[i] = (folder, manifest)
    return found


def _check_parts(found: dict[int, tuple[Path, dict[str, Any]]], folders: list[Path]) -> int:
    """Check that the parts are all there, complete, and of one dataset; returns the count."""
    first_i = min(found)
    first_folder, first = found[first_i]
    count = first["part"]["count"]
    missing = [i for i in range(count) if i not in found]
    if missing:
        shown = ", ".join(f"{i}/{count}" for i in missing)
        where = ", ".join(str(f) for f in folders)
        raise DataError(
            f"part(s) {shown} missing: none of {where} holds "
            f"{_part_name((missing[0], count))}; run `dafxkit generate … --shard "
            f"{missing[0]}/{count}` (into one of these folders) and merge again"
        )
    reference = _part_identity(first)
    for i in range(count):
        folder, manifest = found[i]
        identity = _part_identity(manifest)
        if identity != reference:
            keys = sorted(
                k for k in set(identity) | set(reference) if identity.get(k) != reference.get(k)
            )
            labels = (f"in part {first_i}", f"in part {i}")
            detail = "; ".join(
                _describe_difference(k, reference.get(k), identity.get(k), labels) for k in keys[:4]
            )
            raise DataError(
                f"part {i}/{count} in {folder} does not belong with part {first_i}/{count} in "
                f"{first_folder}: they were generated with other settings ({detail})"
            )
        if manifest.get("status") != "complete":
            raise DataError(
                f"part {i}/{count} in {folder} is incomplete (its generation was interrupted or "
                f"is running): run its `dafxkit generate … --shard {i}/{count}` again to finish "
                "it, then merge"
            )
    plan = _plan(first["n_examples"], first["shard_size"])
    for i in range(count):
        folder, manifest = found[i]
        owned = _owned(len(plan), (i, count))
        if manifest["part"].get("shards") != [owned.start, owned.stop]:
            raise DataError(
                f"part {i}/{count} in {folder} holds shards {manifest['part'].get('shards')}, "
                f"not [{owned.start}, {owned.stop}): it was split another way"
            )
    return count


def merge_parts(folders: list[str | Path], out_dir: str | Path | None = None) -> MergeSummary:
    """Merge the parts `generate` wrote with ``part=(i, count)`` into one dataset.

    All parts are checked before anything changes: one part count, every part present once,
    each complete, all of the same settings (configuration, source listing, effect and its
    parameters, descriptors, ``n``, shard size, audio dtype) and versions, and every shard
    whole and of this dataset. Then shards in other folders are moved (renamed) into
    ``out_dir`` and ``manifest.json`` is written, with the statistics of all parts summed.
    Audio is never copied; a part folder on another filesystem than ``out_dir`` is an error.
    Merging again, or after an interrupted merge, is safe.

    Parameters
    ----------
    folders : list of paths
        The folders holding the parts (each with its ``manifest-part-I-of-N.json``); one
        shared folder holding them all is merged in place.
    out_dir : path, optional
        Where the dataset goes; required with more than one folder, default the one folder.

    Returns
    -------
    MergeSummary

    Raises
    ------
    DataError
        The parts do not make one whole dataset; the message names the part and folder.
    OutputError
        ``out_dir`` cannot be written, holds other data, or is on another filesystem.
    """
    paths = [Path(os.path.expanduser(str(f))) for f in folders]
    if not paths:
        raise DataError("merge needs at least one folder holding parts")
    seen: dict[Path, Path] = {}
    for path in paths:
        if not path.is_dir():
            raise DataError(f"{path} is not a folder")
        if path.resolve() in seen:
            raise DataError(f"folder {path} is given twice")
        seen[path.resolve()] = path
    if out_dir is None:
        if len(paths) > 1:
            raise DataError(
                "parts in several folders need an output folder for the merged dataset (-o)"
            )
        out_dir = paths[0]
    out = Path(os.path.expanduser(str(out_dir)))
    _prepare(out)
    with contextlib.ExitStack() as stack:
        for folder in {f.resolve(): f for f in [out, *paths]}.values():
            stack.enter_context(_locked(folder))
        found = _find_parts(paths)
        count = _check_parts(found, paths)
        first = found[0][1]
        n, shard_size = first["n_examples"], first["shard_size"]
        fingerprint = first["dataset"]
        plan = _plan(n, shard_size)
        _check_merge_target(out, paths, first)
        sources: list[Path] = []
        for i in range(count):
            folder = found[i][0]
            for k in _owned(len(plan), (i, count)):
                name = _shard_name(k)
                here, there = folder / name, out / name
                if folder.resolve() != out.resolve() and _shard_fits(here, plan[k], fingerprint):
                    if there.exists():
                        raise OutputError(
                            f"{there} is in the way of {here}: the output folder holds another "
                            "dataset's shard; choose an empty output folder"
                        )
                    sources.append(here)
                elif not _shard_fits(there, plan[k], fingerprint):
                    raise DataError(
                        f"{name} of part {i}/{count} is missing or damaged in {folder}: run its "
                        f"`dafxkit generate … --shard {i}/{count}` again to rewrite it, then merge"
                    )
        devices = {p.parent.resolve() for p in sources}
        out_device = os.stat(out).st_dev
        for parent in sorted(devices):
            if os.stat(parent).st_dev != out_device:
                raise OutputError(
                    f"{parent} is on another filesystem than {out}: shards are moved, not "
                    "copied; merge into a folder on the same filesystem"
                )
        for here in sources:
            os.rename(here, out / here.name)
        total = Stats()
        for k in range(len(plan)):
            info = json.loads((out / _shard_name(k) / "shard.json").read_text())
            total.add(Stats.from_dict(info["statistics"]))
        manifest = {k: v for k, v in first.items() if k != "part"}
        manifest.update(
            status="complete",
            created=min(found[i][1]["created"] for i in range(count)),
            updated=_now(),
            shards=[
                {"name": _shard_name(k), "start": start, "stop": stop}
                for k, (start, stop) in enumerate(plan)
            ],
            statistics=total.to_dict(),
            parts=[
                {
                    "part": f"{i}/{count}",
                    "folder": os.path.relpath(found[i][0].resolve(), out.resolve()),
                    "created": found[i][1]["created"],
                    "updated": found[i][1]["updated"],
                    "platform": found[i][1]["versions"].get("platform"),
                    "statistics": found[i][1]["statistics"],
                }
                for i in range(count)
            ],
        )
        _write_json(out / MANIFEST, manifest)
    return MergeSummary(
        out_dir=out,
        n_examples=n,
        parts=[(i, found[i][0]) for i in range(count)],
        shards=len(plan),
        moved=len(sources),
        stats=total,
    )


def _check_merge_target(out: Path, folders: list[Path], first: dict[str, Any]) -> None:
    """``out`` must be one of the part folders, empty, or hold this dataset already."""
    if any(out.resolve() == f.resolve() for f in folders):
        return
    if (out / MANIFEST).is_file():
        manifest = _read_manifest_file(out / MANIFEST)
        if (
            manifest.get("dataset") != first["dataset"]
            or manifest.get("n_examples") != first["n_examples"]
        ):
            raise OutputError(f"{out} holds another dataset; merge into a new or empty folder")
        return
    foreign = [p.name for p in out.iterdir() if not p.name.startswith(".") and not _ours(p)]
    if foreign:
        shown = ", ".join(sorted(foreign)[:5])
        raise OutputError(
            f"output folder {out} is not empty ({shown}); merge into a new or empty folder"
        )


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
        clip = _load_audio(audio[row])  # a copy: the memory map is read-only
        item = {"x": clip[0], "ya": clip[1], "yb": clip[2]}
        for key, values in meta.items():
            item[key] = values[row]
        return item

    def __repr__(self) -> str:
        fx = self.manifest["effect"]["name"]
        return f"<GeneratedDataset {str(self.root)!r}: {len(self)} examples of {fx}>"
