"""Where clips come from: MUSDB18, a folder of audio files, or built-in synthetic music.

A source is named by a short URI, ``scheme`` or ``scheme:PATH``, with options after ``?``:

=====================================  ===================================================
``synthetic``                          seeded generated songs (``?seed=0&tracks=1000``)
``folder:PATH``                        every file under PATH that soundfile reads
``musdb:PATH``                         MUSDB18 (``?subsets=train&split=valid&stems=…``)
=====================================  ===================================================

More schemes plug in through `register_source`, or from another package through the
``dafxkit.sources`` entry-point group (the entry point names a `Source` subclass whose
``from_uri(path, options, sample_rate=…)`` builds it).

Listing happens once, when the source is opened: every track's name, length, rate and
channel count. Items that cannot be used (a corrupt file, a track folder without the asked-for
stem) are skipped, named in `Source.skipped` and logged; a source with nothing usable raises
`SourceError`. `Source.read` cuts one window; a read that fails later (a file truncated after
its header) raises `TrackReadError`, which the pipeline counts and skips.
"""

from __future__ import annotations

import abc
import difflib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import numpy as np

from dafxkit.errors import DataError, SourceError

__all__ = [
    "Track",
    "Source",
    "TrackReadError",
    "SyntheticSource",
    "FolderSource",
    "MusdbSource",
    "SOURCES",
    "ENTRY_POINT_GROUP",
    "register_source",
    "open_source",
    "parse_uri",
]

log = logging.getLogger("dafxkit.data")

#: Entry-point group through which other packages add source schemes.
ENTRY_POINT_GROUP = "dafxkit.sources"

#: File name suffixes that are audio: a file with one of them that soundfile cannot read is
#: reported as corrupt; other unreadable files are just not audio and skipped quietly.
AUDIO_SUFFIXES = frozenset(
    ".wav .wave .flac .ogg .oga .opus .mp3 .aif .aiff .aifc .au .snd .caf .w64 .rf64 .mat "
    ".voc .sd2 .htk .wv .m4a .mp4 .wma".split()
)


class TrackReadError(DataError):
    """One window of one track could not be read (the pipeline skips it and counts it)."""


@dataclass(frozen=True)
class Track:
    """One item a source can cut windows from."""

    name: str  #: stable and unique within the source; stored with every example
    seconds: float
    sample_rate: int
    channels: int


class Source(abc.ABC):
    """A listed collection of tracks.

    Subclasses fill `tracks` (and `skipped`) when built and implement `read`. Sources are
    plain data after listing, so they pickle to worker processes.
    """

    scheme: ClassVar[str] = ""
    #: Option names ``from_uri`` accepts, for error messages.
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.tracks: list[Track] = []
        #: ``(name, reason)`` of every item left out when listing.
        self.skipped: list[tuple[str, str]] = []

    @classmethod
    @abc.abstractmethod
    def from_uri(cls, path: str, options: Mapping[str, str], *, sample_rate: int) -> Source:
        """Build the source from the part of the URI after ``scheme:`` and its options."""

    @abc.abstractmethod
    def read(self, index: int, start_s: float, seconds: float) -> tuple[np.ndarray, int]:
        """``seconds`` of track ``index`` from ``start_s``: float32 ``(channels, samples)``
        at the track's own rate, and that rate. Raises `TrackReadError` if it cannot."""

    def skip(self, name: str, reason: str, *, warn: bool = True) -> None:
        self.skipped.append((name, reason))
        (log.warning if warn else log.debug)("%s: skipping %s: %s", self.scheme, name, reason)

    def describe(self) -> dict[str, Any]:
        """What a manifest records about the source."""
        return {
            "uri": self.uri,
            "scheme": self.scheme,
            "tracks": len(self.tracks),
            "seconds": round(sum(t.seconds for t in self.tracks), 3),
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
        }

    def __len__(self) -> int:
        return len(self.tracks)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri!r}: {len(self.tracks)} tracks>"


def _check_options(cls: type[Source], options: Mapping[str, str]) -> None:
    unknown = sorted(set(options) - set(cls.options))
    if unknown:
        allowed = ", ".join(cls.options) or "none"
        raise SourceError(
            f"{cls.scheme} source: unknown option(s) {', '.join(unknown)}; allowed: {allowed}"
        )


def _int_option(options: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SourceError(f"option {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SourceError(f"option {name} must be >= {minimum}; got {value}")
    return value


def _existing_path(path: str, scheme: str) -> Path:
    if not path:
        raise SourceError(f"{scheme} source needs a path: {scheme}:PATH")
    resolved = Path(os.path.expanduser(path))
    if not resolved.exists():
        raise SourceError(f"{scheme} source: path not found: {resolved}")
    return resolved


def _read_soundfile(path: Path, start_s: float, seconds: float, rate: int) -> np.ndarray:
    """A window of a file as float32 ``(samples, channels)``; `TrackReadError` if short/bad."""
    import soundfile as sf

    start = int(round(start_s * rate))
    frames = int(round(seconds * rate))
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(start)
            # 16-bit PCM (CD audio, MUSDB's WAVs) read as integers and scaled here: the same
            # float32 values as libsndfile's conversion (x / 32768), at a fifth of its time.
            pcm16 = f.subtype == "PCM_16"
            data = f.read(frames, dtype="int16" if pcm16 else "float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, OSError) as exc:
        raise TrackReadError(f"cannot read {path}: {exc}") from exc
    if pcm16:
        data = np.multiply(data, np.float32(1.0 / 32768.0), dtype=np.float32)
    if data.shape[0] < frames:
        raise TrackReadError(
            f"{path}: got {data.shape[0]} of {frames} frames from {start_s:.2f} s (the file "
            "is shorter than its header says: truncated?)"
        )
    return data


# -- synthetic --------------------------------------------------------------------------------


class SyntheticSource(Source):
    """Seeded generated songs (see `dafxkit.data.synth`): no files, no downloads.

    URI ``synthetic`` or ``synthetic:?seed=3&tracks=200``. Songs are rendered at the pipeline's
    sample rate, so no resampling happens.
    """

    scheme = "synthetic"
    options = ("seed", "tracks")

    def __init__(self, uri: str, *, seed: int = 0, n_tracks: int = 1000, sample_rate: int = 44100):
        from dafxkit.data.synth import SyntheticMusic, song_seconds

        super().__init__(uri)
        self.music = SyntheticMusic(seed, n_tracks, sample_rate)
        self.tracks = [
            Track(f"synthetic-{seed}/{i:05d}", song_seconds(seed, i), int(sample_rate), 2)
            for i in range(n_tracks)
        ]

    @classmethod
    def from_uri(cls, path: str, options: Mapping[str, str], *, sample_rate: int) -> Source:
        _check_options(cls, options)
        if path:
            raise SourceError(f"the synthetic source takes no path; got synthetic:{path}")
        return cls(
            "synthetic",
            seed=_int_option(options, "seed", 0, 0),
            n_tracks=_int_option(options, "tracks", 1000, 1),
            sample_rate=sample_rate,
        )

    def read(self, index: int, start_s: float, seconds: float) -> tuple[np.ndarray, int]:
        return self.music.render(index, start_s, seconds), self.music.sample_rate


# -- folder -----------------------------------------------------------------------------------


class FolderSource(Source):
    """Every file under a folder (recursively) that soundfile can read.

    URI ``folder:PATH``. Hidden files and folders are ignored. A file with an audio suffix
    that soundfile cannot open is skipped and named as corrupt; other files are skipped
    quietly. PATH may also be a single file.
    """

    scheme = "folder"

    def __init__(self, uri: str, root: Path) -> None:
        import soundfile as sf

        super().__init__(uri)
        self.root = root
        self.paths: list[Path] = []
        candidates = [root] if root.is_file() else sorted(_walk_files(root))
        for path in candidates:
            name = str(path.relative_to(root)) if path != root else path.name
            audio_suffix = path.suffix.lower() in AUDIO_SUFFIXES
            try:
                info = sf.info(str(path))
            except Exception as exc:  # soundfile raises several types for bad files
                reason = f"corrupt or unsupported audio ({_short(exc)})"
                self.skip(name, reason if audio_suffix else "not audio", warn=audio_suffix)
                continue
            if info.frames <= 0 or info.samplerate <= 0:
                self.skip(name, "holds no samples")
                continue
            self.paths.append(path)
            self.tracks.append(
                Track(name, info.frames / info.samplerate, int(info.samplerate), info.channels)
            )
        if not self.tracks:
            looked = len(candidates)
            detail = (
                f"{looked} file(s) looked at, none readable by soundfile"
                if looked
                else "the folder is empty"
            )
            raise SourceError(f"folder source: no audio files under {root} ({detail})")

    @classmethod
    def from_uri(cls, path: str, options: Mapping[str, str], *, sample_rate: int) -> Source:
        _check_options(cls, options)
        return cls(f"folder:{path}", _existing_path(path, "folder"))

    def read(self, index: int, start_s: float, seconds: float) -> tuple[np.ndarray, int]:
        track = self.tracks[index]
        data = _read_soundfile(self.paths[index], start_s, seconds, track.sample_rate)
        return np.ascontiguousarray(data.T), track.sample_rate


def _walk_files(root: Path):
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in files:
            if not name.startswith("."):
                yield Path(directory) / name


def audio_files_under(root: Path) -> list[Path]:
    """Files under ``root`` (recursively, sorted; hidden ones ignored) with an audio suffix."""
    return sorted(p for p in _walk_files(root) if p.suffix.lower() in AUDIO_SUFFIXES)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


# -- MUSDB18 ----------------------------------------------------------------------------------

#: musdb's stem names and their index inside a ``.stem.mp4`` file.
MUSDB_STEMS = {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4}
_MUSDB_ALIASES = {"accompaniment": ("drums", "bass", "other")}


def _import_musdb():
    try:
        import musdb
    except ImportError as exc:
        if "musdb" in str(exc):
            raise SourceError(
                "the musdb source needs the musdb package: pip install musdb"
            ) from exc
        raise
    except RuntimeError as exc:  # stempeg looks for ffmpeg when imported
        raise SourceError(
            f"the musdb package needs ffmpeg and ffprobe ({exc}). Install them: "
            "`apt-get install ffmpeg` (Debian/Ubuntu), `brew install ffmpeg` (macOS)"
        ) from exc
    return musdb


def parse_stems(spec: str) -> list[tuple[str, ...]]:
    """``"vocals,drums+bass"`` → ``[("vocals",), ("drums", "bass")]``: each comma-separated
    group is one item per track; ``+`` sums stems. ``accompaniment`` is drums+bass+other."""
    groups = []
    for chunk in spec.split(","):
        names: list[str] = []
        for raw in chunk.split("+"):
            name = raw.strip().lower()
            if not name:
                continue
            expanded = _MUSDB_ALIASES.get(name, (name,))
            for stem in expanded:
                if stem not in MUSDB_STEMS:
                    close = difflib.get_close_matches(stem, list(MUSDB_STEMS), n=1)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise SourceError(
                        f"musdb source: unknown stem {stem!r}.{hint} Stems: "
                        f"{', '.join(MUSDB_STEMS)}, accompaniment"
                    )
                names.append(stem)
        if names:
            if "mixture" in names and len(names) > 1:
                raise SourceError("musdb source: the mixture cannot be summed with stems")
            groups.append(tuple(dict.fromkeys(names)))
    if not groups:
        raise SourceError(f"musdb source: no stems in stems={spec!r}")
    return list(dict.fromkeys(groups))


class MusdbSource(Source):
    """MUSDB18 through the `musdb` package: the stems (``.stem.mp4``) or decoded WAV layout.

    URI ``musdb:PATH`` with options:

    - ``subsets`` — ``train`` (default), ``test`` or ``train,test``;
    - ``split`` — ``train`` or ``valid``: musdb's fixed train/validation split of the train
      subset (needs ``subsets=train``);
    - ``stems`` — ``mixture`` (default), or stems: ``vocals``, ``drums,bass`` (each stem is
      its own item), ``drums+bass`` (summed), ``accompaniment`` (drums+bass+other);
    - ``wav`` — ``1`` for the decoded layout ``SUBSET/TRACK/{mixture,drums,...}.wav``, ``0``
      for ``SUBSET/TRACK.stem.mp4``; detected when not given.

    musdb lists the tracks and the split; WAV windows are then read directly with soundfile
    (musdb would start ffmpeg for every read and quantise to 16 bit). Stem files are read with
    stempeg, one ffmpeg run per window: decode them once (``musdbconvert``) for speed.
    """

    scheme = "musdb"
    options = ("subsets", "split", "stems", "wav")

    def __init__(
        self,
        uri: str,
        root: Path,
        *,
        subsets: Sequence[str] = ("train",),
        split: str | None = None,
        stems: Sequence[tuple[str, ...]] = (("mixture",),),
        is_wav: bool | None = None,
    ) -> None:
        super().__init__(uri)
        subsets = tuple(subsets)
        bad = [s for s in subsets if s not in ("train", "test")]
        if bad or not subsets:
            raise SourceError(f"musdb source: subsets must be train and/or test; got {subsets}")
        if split is not None and split not in ("train", "valid"):
            raise SourceError(f"musdb source: split must be train or valid; got {split!r}")
        if split is not None and subsets != ("train",):
            raise SourceError(
                "musdb source: split=train|valid divides the train subset; use it with "
                "subsets=train"
            )
        if not root.is_dir():
            raise SourceError(f"musdb source: {root} is not a folder")
        if is_wav is None:
            is_wav = self._detect_layout(root, subsets)
        self.root = root
        self.is_wav = is_wav
        self.subsets = subsets
        self.split = split
        self.stems = list(stems)
        #: Per track: the files to sum (WAV layout) or the stem file and stem ids.
        self.items: list[tuple[Path, ...] | tuple[Path, tuple[int, ...]]] = []
        musdb = _import_musdb()
        db = musdb.DB(root=str(root), is_wav=is_wav, subsets=list(subsets), split=split)
        seen: set[str] = set()
        for track in db.tracks:
            key = f"{track.subset}/{track.name}"
            if key in seen:
                continue
            seen.add(key)
            for group in self.stems:
                self._add(track, key, group)
        if not self.tracks:
            layout = (
                "SUBSET/TRACK/mixture.wav (decoded WAV layout)"
                if is_wav
                else "SUBSET/TRACK.stem.mp4 (stems layout)"
            )
            found = f"{len(db.tracks)} track(s) listed, none usable" if db.tracks else "no tracks"
            where = ", ".join(str(root / s) for s in subsets)
            split_note = f", split={split}" if split else ""
            raise SourceError(f"musdb source: {found} under {where}{split_note}; expected {layout}")

    @staticmethod
    def _detect_layout(root: Path, subsets: Sequence[str]) -> bool:
        for subset in subsets:
            folder = root / subset
            if any(folder.glob("*.stem.mp4")):
                return False
            if any(folder.glob("*/mixture.wav")):
                return True
        present = [s for s in subsets if (root / s).is_dir()]
        if not present:
            raise SourceError(
                f"musdb source: no {' or '.join(subsets)} folder under {root}; MUSDB18 has "
                "train/ and test/ (as .stem.mp4 files, or decoded to TRACK/mixture.wav)"
            )
        return False

    def _add(self, track: Any, key: str, group: tuple[str, ...]) -> None:
        label = key if group == ("mixture",) else f"{key} [{'+'.join(group)}]"
        if self.is_wav:
            folder = Path(track.path).parent
            files = [folder / f"{stem}.wav" for stem in group]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                self.skip(label, f"no {', '.join(missing)} in {folder}")
                return
            import soundfile as sf

            try:
                infos = [sf.info(str(f)) for f in files]
            except Exception as exc:
                self.skip(label, f"corrupt audio ({_short(exc)})")
                return
            rates = {i.samplerate for i in infos}
            if len(rates) != 1:
                self.skip(label, f"stems at different sample rates {sorted(rates)}")
                return
            rate = rates.pop()
            seconds = min(i.frames for i in infos) / rate
            channels = max(i.channels for i in infos)
            self.items.append(tuple(files))
        else:
            path = Path(track.path)
            try:
                seconds = float(track.duration)
                rate = int(track.rate)
            except Exception as exc:  # stempeg/ffprobe failures come in many types
                self.skip(label, f"cannot probe the stem file ({_short(exc)})")
                return
            channels = 2
            self.items.append((path, tuple(MUSDB_STEMS[s] for s in group)))
        if seconds <= 0:
            self.items.pop()
            self.skip(label, "holds no samples")
            return
        self.tracks.append(Track(label, seconds, int(rate), int(channels)))

    @classmethod
    def from_uri(cls, path: str, options: Mapping[str, str], *, sample_rate: int) -> Source:
        _check_options(cls, options)
        root = _existing_path(path, "musdb")
        subsets = tuple(s.strip() for s in options.get("subsets", "train").split(",") if s.strip())
        wav = options.get("wav")
        if wav is not None and wav not in ("0", "1", "true", "false"):
            raise SourceError(f"musdb source: wav must be 1 or 0; got {wav!r}")
        return cls(
            f"musdb:{path}",
            root,
            subsets=subsets,
            split=options.get("split") or None,
            stems=parse_stems(options.get("stems", "mixture")),
            is_wav=None if wav is None else wav in ("1", "true"),
        )

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            layout="wav" if self.is_wav else "stems",
            subsets=list(self.subsets),
            split=self.split,
            stems=["+".join(g) for g in self.stems],
        )
        return info

    def read(self, index: int, start_s: float, seconds: float) -> tuple[np.ndarray, int]:
        track = self.tracks[index]
        item = self.items[index]
        if self.is_wav:
            total = None
            for path in item:
                data = _read_soundfile(path, start_s, seconds, track.sample_rate)
                if total is None:
                    total = data
                elif data.shape[1] == total.shape[1]:
                    total = total + data
                else:  # a mono stem among stereo ones
                    total = total + data.mean(axis=1, keepdims=True)
            return np.ascontiguousarray(total.T), track.sample_rate
        path, ids = item
        return self._read_stems(path, ids, start_s, seconds, track.sample_rate)

    @staticmethod
    def _read_stems(
        path: Path, ids: tuple[int, ...], start_s: float, seconds: float, rate: int
    ) -> tuple[np.ndarray, int]:
        _import_musdb()
        import stempeg

        try:
            audio, got_rate = stempeg.read_stems(
                str(path), start=start_s, duration=seconds, stem_id=list(ids),
                always_3d=True, dtype=np.float32,
            )  # fmt: skip
        except Exception as exc:
            raise TrackReadError(f"cannot decode {path}: {_short(exc)}") from exc
        mixed = audio.sum(axis=0)  # (samples, channels)
        frames = int(round(seconds * got_rate))
        if mixed.shape[0] < frames - 1:
            raise TrackReadError(f"{path}: decoded {mixed.shape[0]} of {frames} frames")
        mixed = mixed[:frames]
        if mixed.shape[0] < frames:
            mixed = np.pad(mixed, ((0, frames - mixed.shape[0]), (0, 0)))
        return np.ascontiguousarray(mixed.T, dtype=np.float32), int(got_rate)


# -- the registry -----------------------------------------------------------------------------

SourceFactory = Callable[..., Source]

#: Scheme → class with a ``from_uri(path, options, sample_rate=…)`` classmethod.
SOURCES: dict[str, Any] = {
    "synthetic": SyntheticSource,
    "folder": FolderSource,
    "musdb": MusdbSource,
}


def register_source(scheme: str, source: Any) -> None:
    """Make ``scheme:…`` URIs open with ``source.from_uri`` (a `Source` subclass)."""
    if not scheme.isidentifier():
        raise DataError(f"a source scheme must be an identifier; got {scheme!r}")
    if not callable(getattr(source, "from_uri", None)):
        raise DataError(f"{source!r} has no from_uri(path, options, sample_rate=...) method")
    SOURCES[scheme] = source


def parse_uri(uri: str) -> tuple[str, str, dict[str, str]]:
    """``"musdb:~/m?subsets=test"`` → ``("musdb", "~/m", {"subsets": "test"})``."""
    if not isinstance(uri, str) or not uri.strip():
        raise SourceError("empty source; use synthetic, folder:PATH or musdb:PATH")
    uri = uri.strip()
    scheme, sep, rest = uri.partition(":")
    if not sep:
        scheme, _, query = uri.partition("?")
        rest = "?" + query if query else ""
    path, _, query = rest.partition("?")
    options = {}
    for pair in query.split("&") if query else ():
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise SourceError(f"bad option {pair!r} in source {uri!r}; write ?name=value&…")
        # Percent-escapes are decoded, but "+" stays a plus: it sums stems.
        options[unquote(name.strip())] = unquote(value.strip())
    return scheme.strip().lower(), path, options


def _entry_point(scheme: str) -> Any | None:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == scheme:
            try:
                return ep.load()
            except Exception as exc:
                raise SourceError(
                    f"source plugin {scheme!r} ({ep.value}) failed to import: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
    return None


def open_source(uri: str, *, sample_rate: int = 44100) -> Source:
    """Open (and list) the source a URI names.

    Parameters
    ----------
    uri : str
        ``synthetic``, ``folder:PATH``, ``musdb:PATH`` or a registered scheme, with options
        after ``?`` (see the module docstring).
    sample_rate : int
        The pipeline's rate (generated sources render at it; others are resampled later).

    Raises
    ------
    SourceError
        Unknown scheme, missing path, bad option, or nothing usable in the source.

    Examples
    --------
    >>> open_source("synthetic?tracks=10")
    <SyntheticSource 'synthetic': 10 tracks>
    """
    scheme, path, options = parse_uri(uri)
    factory = SOURCES.get(scheme) or _entry_point(scheme)
    if factory is None:
        known = sorted(
            set(SOURCES) | {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
        )
        hint = ""
        if os.path.exists(os.path.expanduser(uri)):
            hint = f" To read the audio files there, write folder:{uri}."
        else:
            close = difflib.get_close_matches(scheme, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SourceError(
            f"unknown source {scheme!r} in {uri!r}.{hint} Sources: "
            + ", ".join(f"{k}" if k == "synthetic" else f"{k}:PATH" for k in known)
        )
    source = factory.from_uri(path, options, sample_rate=int(sample_rate))
    if not isinstance(source, Source):
        raise SourceError(f"source {scheme!r} gave a {type(source).__name__}, not a Source")
    return source
