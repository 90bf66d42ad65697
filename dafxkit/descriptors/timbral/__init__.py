"""The eight Audio Commons timbral descriptors, re-implemented to be fast and never to raise.

`Timbral` computes hardness, depth, brightness, roughness, warmth, sharpness, boominess and
reverb as `timbral_models` 0.4.0 defines them (same algorithms and regression models, on its
0-100-ish scale, not clipped unless asked), sharing one analysis of each clip (loudness
normalisation, envelopes, onsets, spectra) across descriptors, with the hot loops in Numba
and C and clips spread over a thread pool.

Degenerate input (digital silence, clips shorter than an analysis window, no onsets where a
descriptor needs one) gives a defined value, never NaN, and sets a bit of `Flag` for that clip
and descriptor; `Timbral.extract_with_flags` returns those bits, `extract` logs how many clips
were flagged. What each descriptor returns in each case is documented in its module.
"""

from __future__ import annotations

import collections
import importlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dafxkit._jit_cache import purge_stale
from dafxkit.audio import non_finite_error, validate_audio, validate_sample_rate
from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.errors import AudioError, DafxError
from dafxkit.features import FeatureExtractor

# This package's jitted functions call each other across files, which Numba's cache does not
# track: drop the caches when any file changed, before a first call loads them.
purge_stale(os.path.dirname(__file__))

__all__ = ["DESCRIPTORS", "Flag", "Timbral", "describe_flags"]

log = logging.getLogger(__name__)

# Guards `Timbral.flag_counts`: one extractor may run in several threads at once (a module
# lock, not one per instance, so extractors stay picklable for worker processes).
_COUNTS_LOCK = threading.Lock()

#: Descriptor name → module in this package defining a function of the same name.
DESCRIPTORS: tuple[str, ...] = (
    "hardness",
    "depth",
    "brightness",
    "roughness",
    "warmth",
    "sharpness",
    "boominess",
    "reverb",
)

Descriptor = Callable[[Analysis], tuple[float, int]]


def describe_flags(bits: int) -> str:
    """``"SILENT|NO_ONSETS"`` for a flag value, ``""`` for 0."""
    return "|".join(f.name for f in Flag if f.name and bits & f)


def _function(name: str) -> Descriptor:
    module = importlib.import_module(f"{__name__}.{name}")
    return getattr(module, name)


class Timbral(FeatureExtractor):
    """Audio Commons timbral descriptors (timbral_models 0.4.0), fast and robust.

    Parameters
    ----------
    columns : sequence of str, optional
        Which of `DESCRIPTORS` to compute, in that order (default: all eight). Brightness and
        depth alone cost a small fraction of all eight.
    clip : bool
        Clip every value to [0, 100] as the reference's ``clip_output=True`` does. Off by
        default, like the reference.
    threads : int, optional
        Clips analysed in parallel (default: the CPU count). The kernels release the GIL.

    Attributes
    ----------
    flag_counts : collections.Counter
        ``(descriptor, flag name)`` → clips flagged since construction.
    """

    name = "timbral"
    description = "Audio Commons timbral descriptors (brightness, depth, hardness, ...), fast"
    feature_names = DESCRIPTORS
    selectable = True
    thread_safe = True

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        *,
        clip: bool = False,
        threads: int | None = None,
    ) -> None:
        chosen = DESCRIPTORS if columns is None else tuple(columns)
        unknown = [c for c in chosen if c not in DESCRIPTORS]
        if unknown or not chosen:
            raise DafxError(
                f"unknown timbral descriptor(s) {unknown or '(none chosen)'}; choose from "
                f"{', '.join(DESCRIPTORS)}"
            )
        if len(set(chosen)) != len(chosen):
            raise DafxError(f"timbral descriptors given twice: {list(chosen)}")
        if threads is not None and threads < 1:
            raise DafxError(f"threads must be >= 1, got {threads}")
        self.feature_names = chosen
        self.clip = bool(clip)
        self.threads = threads or os.cpu_count() or 1
        self._functions = [_function(c) for c in chosen]
        self.flag_counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def _one(
        self, index: int, clip: np.ndarray, sample_rate: float
    ) -> tuple[np.ndarray, np.ndarray]:
        an = Analysis(clip, sample_rate)
        # The finiteness check of this clip, in the worker: the channel sum's maximum and
        # minimum (which the analysis needs anyway) are finite only when every summed sample
        # is; channels past the third are not summed and are checked apart.
        try:
            an.mono  # noqa: B018 - raises AudioError on NaN or inf
            finite = clip.shape[0] <= 3 or bool(np.isfinite(clip[3:]).all())
        except AudioError:
            finite = False
        if not finite:
            raise non_finite_error(clip, batch_index=index)
        values = np.empty(len(self._functions))
        flags = np.zeros(len(self._functions), dtype=np.int64)
        for i, func in enumerate(self._functions):
            value, bits = func(an)
            values[i] = value
            flags[i] = int(bits)
        return values, flags

    def extract_with_flags(
        self, audio: np.ndarray, sample_rate: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Descriptors and their flags.

        Returns
        -------
        (np.ndarray, np.ndarray)
            float64 ``(batch, n_features)`` values and int64 ``(batch, n_features)`` `Flag`
            bits (0 where the value came out of the full algorithm).

        Raises
        ------
        AudioError
            As `dafxkit.audio.validate_audio` raises it (NaN or infinity included).
        """
        # Shape and dtype here; finiteness per clip in the workers, in a pass they make anyway.
        audio = validate_audio(audio, check_finite=False)
        return self._extract(audio, validate_sample_rate(sample_rate))

    def extract(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Descriptors of a batch (see `FeatureExtractor.extract`); flagged clips are logged."""
        audio = validate_audio(audio, check_finite=False)
        return self._values(*self._extract(audio, validate_sample_rate(sample_rate)))

    __call__ = extract

    def _extract(self, audio: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
        # audio: float32 (batch, channels, samples), checked but for finiteness.
        clips = list(audio)
        if self.threads == 1 or len(clips) == 1:
            results = [self._one(i, c, rate) for i, c in enumerate(clips)]
        else:
            with ThreadPoolExecutor(min(self.threads, len(clips))) as pool:
                results = list(pool.map(self._one, range(len(clips)), clips, [rate] * len(clips)))
        values = np.stack([r[0] for r in results])
        flags = np.stack([r[1] for r in results])
        if not np.isfinite(values).all():
            bad = sorted({self.feature_names[j] for j in np.nonzero(~np.isfinite(values))[1]})
            raise DafxError(f"timbral descriptor(s) {bad} returned a non-finite value: a bug")
        if self.clip:
            values = np.clip(values, 0.0, 100.0)
        return values, flags

    def compute(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        return self._values(*self._extract(audio, sample_rate))

    def _values(self, values: np.ndarray, flags: np.ndarray) -> np.ndarray:
        # The values, after counting and logging the flagged clips.
        flagged = collections.Counter()
        for row, col in zip(*np.nonzero(flags), strict=True):
            for f in Flag:
                if f.name and flags[row, col] & f:
                    flagged[(self.feature_names[col], f.name)] += 1
        if flagged:
            with _COUNTS_LOCK:
                self.flag_counts.update(flagged)
            summary = ", ".join(f"{d} {f}: {n}" for (d, f), n in sorted(flagged.items()))
            rows = int(np.count_nonzero(flags.any(axis=1)))
            log.info("timbral: %d of %d clips flagged (%s)", rows, len(flags), summary)
        return values
