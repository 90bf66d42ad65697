"""SoX augmentation: pitch shift and tempo change of a clip, through the `sox` package.

SoX's ``pitch`` effect is a time-stretch (``tempo``, WSOLA, pitch kept) followed by a
resampling by the pitch ratio (``speed``, libsoxr), which moves pitch and tempo together.
Here both changes take one time-stretch by ``tempo / ratio`` in one SoX process (each process
costs several milliseconds just to start), then the resampling by ``ratio`` through libsoxr,
SoX's own resampler, called in-process: pitch ``ratio`` and tempo ``tempo`` at the cost of a
single ``tempo``, where SoX ``pitch`` + ``tempo`` would stretch twice.
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
from dataclasses import dataclass

import numpy as np

from dafxkit.data.config import AugmentConfig
from dafxkit.errors import DataError, SoxUnavailableError

__all__ = ["Augmentation", "Augmenter", "check_sox", "sox_version"]

SOX_INSTALL_HINT = (
    "install it (`apt-get install sox libsox-fmt-all` on Debian/Ubuntu, `brew install sox` on "
    "macOS, `conda install -c conda-forge sox`), or pass --no-augment "
    "(AugmentConfig(enabled=False)) to go on without augmentation"
)


@dataclass(frozen=True)
class Augmentation:
    """What is done to one clip: 0 semitones and tempo 1 leave it alone."""

    pitch_semitones: float = 0.0
    tempo: float = 1.0

    @property
    def identity(self) -> bool:
        return self.pitch_semitones == 0.0 and self.tempo == 1.0


class _QuietTempoAdvice(logging.Filter):
    """pysox logs advice for every tempo factor near 1, which is all of ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "stretch effect has better performance" not in record.getMessage()


@functools.cache
def _sox():
    try:
        import sox
    except ImportError as exc:
        raise SoxUnavailableError(
            f"augmentation needs the `sox` Python package (pip install sox): {exc}"
        ) from exc
    logging.getLogger("sox").addFilter(_QuietTempoAdvice())
    return sox


def check_sox() -> None:
    """Raise `SoxUnavailableError`, saying how to install it, unless the sox program runs."""
    if shutil.which("sox") is None:
        raise SoxUnavailableError(
            f"augmentation needs the `sox` program, not found on PATH: {SOX_INSTALL_HINT}"
        )
    sox = _sox()
    if getattr(sox, "NO_SOX", False):
        raise SoxUnavailableError(
            f"augmentation needs the `sox` program, and `sox -h` gave no output: {SOX_INSTALL_HINT}"
        )


def sox_version() -> str | None:
    """The installed SoX program's version line, or None without one (for manifests)."""
    import subprocess

    path = shutil.which("sox")
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout or out.stderr).strip().split("\n")[0] or None


class Augmenter:
    """Draws and applies one `Augmentation` per clip.

    Parameters
    ----------
    config : AugmentConfig
        Probabilities and ranges. With ``enabled=False`` every draw is the identity and no
        ``sox`` program is needed.

    Raises
    ------
    SoxUnavailableError
        At construction, when augmentation is enabled and the ``sox`` program is missing.
    """

    def __init__(self, config: AugmentConfig) -> None:
        self.config = config
        if config.enabled and (config.pitch_probability > 0 or config.tempo_probability > 0):
            check_sox()

    def draw(self, rng: np.random.Generator, max_tempo: float = math.inf) -> Augmentation:
        """A random augmentation; tempo is capped at ``max_tempo`` (a track too short to
        supply the longer window a faster tempo needs). Always consumes the same numbers
        from ``rng``, whatever is drawn."""
        c = self.config
        if not c.enabled:
            return Augmentation()
        u_pitch, shift, u_tempo, factor = rng.random(4)
        pitch = (2.0 * shift - 1.0) * c.pitch_semitones if u_pitch < c.pitch_probability else 0.0
        tempo = 1.0
        if u_tempo < c.tempo_probability:
            low, high = c.tempo_range
            tempo = min(low + factor * (high - low), max_tempo)
        return Augmentation(float(pitch), float(tempo))

    def apply(self, audio: np.ndarray, sample_rate: int, aug: Augmentation) -> np.ndarray:
        """Run SoX on float32 ``(channels, samples)``; returns float32 ``(channels, ~samples /
        tempo)``. The identity returns the input unchanged, without running SoX."""
        if aug.identity:
            return audio
        ratio = 2.0 ** (aug.pitch_semitones / 12.0)
        stretch = aug.tempo / ratio
        # pysox wants (samples, channels): channels-first silently comes back empty.
        frames = np.ascontiguousarray(audio.T, dtype=np.float32)
        if abs(stretch - 1.0) > 1e-9:
            frames = self._tempo(frames, sample_rate, stretch, aug)
        if ratio != 1.0:
            # SoX's `speed` is a resampling by the ratio through libsoxr, its own resampler;
            # calling libsoxr here does the same without a second pass through the process.
            import soxr

            frames = soxr.resample(frames, sample_rate * ratio, sample_rate, quality="HQ")
        out = np.asarray(frames, dtype=np.float32)
        if out.ndim == 1:
            out = out[:, None]
        return np.ascontiguousarray(out.T)

    def _tempo(
        self, frames: np.ndarray, sample_rate: int, factor: float, aug: Augmentation
    ) -> np.ndarray:
        sox = _sox()
        tfm = sox.Transformer()
        tfm.tempo(factor, audio_type="m", quick=self.config.quick)
        try:
            return tfm.build_array(input_array=frames, sample_rate_in=float(sample_rate))
        except sox.core.SoxError as exc:
            raise DataError(f"SoX failed on {aug}: {str(exc).strip()[-500:]}") from exc
        except ValueError as exc:
            if getattr(sox, "NO_SOX", False):
                raise SoxUnavailableError(
                    f"the `sox` program is missing: {SOX_INSTALL_HINT}"
                ) from exc
            raise
