"""The batched FeatureExtractor interface: audio in, one row of named numbers per clip out."""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from dafxkit.audio import validate_audio, validate_sample_rate
from dafxkit.errors import DafxError

__all__ = ["FeatureExtractor"]


class FeatureExtractor(abc.ABC):
    """Computes a fixed set of named features for each clip of a batch.

    Subclasses set `name` and `feature_names` (a class attribute, or an attribute set in
    ``__init__`` when it depends on options such as a coefficient count) and implement
    `compute`. `extract` validates the input and checks the output's shape.

    Class attributes
    ----------------
    name : str
        Short identifier, usually the entry-point name.
    feature_names : tuple of str
        Column names of the output, in order.
    description : str
        One line for ``dafxkit features list``.
    nan_on_failure : bool
        True for extractors that report a clip they cannot describe as NaN (wrappers of
        fragile reference code); dafxkit's own extractors never return NaN.
    selectable : bool
        True when the constructor takes ``columns=`` (a subset of `feature_names`) and then
        computes only those, so ``dafxkit features extract --feature brightness`` can ask for
        one column of a larger extractor without paying for the rest.
    thread_safe : bool
        True when one instance may `extract` in several threads at once (its kernels release
        the GIL and it keeps no unguarded state), so ``dafxkit features extract`` describes
        several files at a time with it. Otherwise its calls take turns (the files are still
        read in parallel).
    """

    name: ClassVar[str] = ""
    feature_names: tuple[str, ...] = ()
    description: ClassVar[str] = ""
    nan_on_failure: ClassVar[bool] = False
    selectable: ClassVar[bool] = False
    thread_safe: ClassVar[bool] = False

    @abc.abstractmethod
    def compute(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Features of validated float32 ``(batch, channels, samples)`` audio: ``(batch, n)``."""

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def extract(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        """Features of a batch of clips.

        Parameters
        ----------
        audio : np.ndarray
            ``(batch, channels, samples)`` real floats, finite.
        sample_rate : float
            In Hz.

        Returns
        -------
        np.ndarray
            float64 ``(batch, n_features)``, columns in the order of `feature_names`.
        """
        audio = validate_audio(audio)
        rate = validate_sample_rate(sample_rate)
        out = np.asarray(self.compute(audio, rate), dtype=np.float64)
        expected = (audio.shape[0], self.n_features)
        if out.shape != expected:
            raise DafxError(
                f"feature extractor {self.name!r} returned shape {out.shape}, expected {expected}: "
                "a bug in the extractor"
            )
        return out

    __call__ = extract

    @classmethod
    def interface_problems(cls, extractor: FeatureExtractor) -> list[str]:
        """What, if anything, makes ``extractor`` unusable by dafxkit (used by the registry)."""
        problems = []
        if not isinstance(extractor.name, str) or not extractor.name:
            problems.append("`name` must be a non-empty string")
        names = extractor.feature_names
        if not isinstance(names, tuple) or not names or not all(isinstance(n, str) for n in names):
            problems.append("`feature_names` must be a non-empty tuple of str")
        elif len(set(names)) != len(names):
            problems.append("`feature_names` must be unique")
        return problems

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {', '.join(self.feature_names)}>"
