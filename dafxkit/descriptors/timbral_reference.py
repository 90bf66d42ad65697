"""The Audio Commons reference, `timbral_models` 0.4.0, behind dafxkit's FeatureExtractor interface.

For comparison and benchmarks only: it is slow (~6 s for all eight descriptors of a 5 s clip)
and raises on many real clips. Per-clip failures become NaN plus a counted, logged reason; a
batch never crashes.

Installing it: the published metadata requires the dead ``sklearn`` package, so install it
without dependencies and add its real ones::

    pip install --no-deps timbral_models==0.4.0
    pip install "dafxkit[timbral-reference]"     # pyloudnorm, six, scikit-learn, librosa

On numpy 2 and librosa >= 0.10 it breaks in three places: ``np.lib.pad`` is gone, and
``librosa.onset.onset_detect`` / ``onset_strength`` / ``librosa.core.resample`` became
keyword-only. `load_timbral_models` gives each of its modules private stand-ins for ``np`` and
``librosa`` that restore the old spellings; numpy and librosa themselves are not modified.
"""

from __future__ import annotations

import collections
import importlib
import logging
import types
import warnings
from typing import Any

import numpy as np

from dafxkit.errors import DafxError, MissingDependencyError
from dafxkit.features import FeatureExtractor

__all__ = ["DESCRIPTORS", "TimbralReference", "load_timbral_models"]

log = logging.getLogger(__name__)

#: The eight descriptors, in dafxkit's column order, with the reference function for each.
DESCRIPTORS: dict[str, str] = {
    "hardness": "timbral_hardness",
    "depth": "timbral_depth",
    "brightness": "timbral_brightness",
    "roughness": "timbral_roughness",
    "warmth": "timbral_warmth",
    "sharpness": "timbral_sharpness",
    "boominess": "timbral_booming",
    "reverb": "timbral_reverb",
}

_MODULES = (
    "timbral_util",
    "Timbral_Booming",
    "Timbral_Brightness",
    "Timbral_Depth",
    "Timbral_Extractor",
    "Timbral_Hardness",
    "Timbral_Reverb",
    "Timbral_Roughness",
    "Timbral_Sharpness",
    "Timbral_Warmth",
)


class _Namespace(types.ModuleType):
    """A module stand-in: the given overrides, everything else from ``target``."""

    def __init__(self, target: Any, **overrides: Any) -> None:
        super().__init__(getattr(target, "__name__", "shim"))
        self._target = target
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _positional(func: Any, *names: str) -> Any:
    """``func`` accepting its first keyword-only arguments ``names`` positionally again."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name, value in zip(names, args, strict=False):
            kwargs[name] = value
        return func(**kwargs)

    wrapper.__name__ = getattr(func, "__name__", "wrapper")
    return wrapper


_cached: types.ModuleType | None = None


def load_timbral_models() -> types.ModuleType:
    """Import `timbral_models` with the numpy 2 / librosa >= 0.10 compatibility shim applied.

    Raises
    ------
    MissingDependencyError
        When the package (or one of its real dependencies) is not installed, with the command
        that installs it.
    """
    global _cached
    if _cached is not None:
        return _cached
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            package = importlib.import_module("timbral_models")
            import librosa
    except ImportError as exc:
        raise MissingDependencyError(
            f"the timbral-reference extractor needs timbral_models 0.4.0 ({exc}); install it "
            "with `pip install --no-deps timbral_models==0.4.0 && "
            "pip install 'dafxkit[timbral-reference]'`"
        ) from exc

    np_shim = _Namespace(np, lib=_Namespace(np.lib, pad=np.pad))
    librosa_shim = _Namespace(
        librosa,
        onset=_Namespace(
            librosa.onset,
            onset_detect=_positional(librosa.onset.onset_detect, "y", "sr"),
            onset_strength=_positional(librosa.onset.onset_strength, "y", "sr"),
        ),
        core=_Namespace(
            librosa.core,
            resample=_positional(librosa.core.resample, "y", "orig_sr", "target_sr"),
        ),
    )
    for name in _MODULES:
        module = importlib.import_module(f"timbral_models.{name}")
        if hasattr(module, "np"):
            module.np = np_shim
        if hasattr(module, "librosa"):
            module.librosa = librosa_shim
    _cached = package
    return package


class TimbralReference(FeatureExtractor):
    """The Audio Commons descriptors computed by `timbral_models` itself (slow; NaN on failure).

    Parameters
    ----------
    columns : sequence of str, optional
        Which of `DESCRIPTORS` to compute, in that order; all eight by default.

    Attributes
    ----------
    failures : collections.Counter
        ``(descriptor, reason)`` → count of clips that failed since construction.
    """

    name = "timbral-reference"
    description = "timbral_models 0.4.0 itself, shimmed for numpy 2 / librosa 0.11 (slow)"
    feature_names = tuple(DESCRIPTORS)
    nan_on_failure = True
    selectable = True

    def __init__(self, columns: tuple[str, ...] | list[str] | None = None) -> None:
        load_timbral_models()  # fail at construction, with the install command, not per clip
        chosen = tuple(DESCRIPTORS) if columns is None else tuple(columns)
        unknown = [d for d in chosen if d not in DESCRIPTORS]
        if unknown or not chosen:
            raise DafxError(
                f"unknown timbral descriptor(s) {unknown}; choose from {', '.join(DESCRIPTORS)}"
            )
        self.feature_names = chosen
        self.failures: collections.Counter[tuple[str, str]] = collections.Counter()

    def compute(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        package = load_timbral_models()
        out = np.full((audio.shape[0], len(self.feature_names)), np.nan)
        for row, clip in enumerate(audio):
            # The reference sums channels to mono itself; give it (samples, channels).
            samples = (clip[0] if clip.shape[0] == 1 else clip.T).astype(np.float64)
            for col, descriptor in enumerate(self.feature_names):
                func = getattr(package, DESCRIPTORS[descriptor])
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        value = func(samples, fs=int(round(sample_rate)))
                    value = float(value)
                except Exception as exc:  # the reference raises anything; a batch must not stop
                    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                else:
                    if np.isfinite(value):
                        out[row, col] = value
                        continue
                    reason = f"non-finite result ({value})"
                self.failures[(descriptor, reason)] += 1
                log.warning("timbral_models %s failed on clip %d: %s", descriptor, row, reason)
        return out
