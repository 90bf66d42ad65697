"""The clip sampler: a random track, a random window, the right channel count and rate."""

from __future__ import annotations

import logging

import numpy as np

from dafxkit.data.checks import rms_dbfs
from dafxkit.data.config import SamplerConfig
from dafxkit.data.sources import Source
from dafxkit.errors import SourceError

__all__ = ["ClipSampler", "to_channels", "resample"]

log = logging.getLogger("dafxkit.data")

#: Extra samples read on each side of a window that SoX will stretch, then cut away with the
#: edge effects of the time-stretch and the resampler.
PAD_SECONDS = 0.05


def to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """``(c, n)`` → ``(channels, n)``: mono is the channel mean; stereo duplicates mono and
    keeps the first two of more channels."""
    if audio.shape[0] == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32)
    if audio.shape[0] == 1:
        return np.repeat(audio, channels, axis=0)
    return audio[:channels]


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """``(channels, n)`` float32 from ``rate_in`` to ``rate_out`` with soxr (high quality)."""
    if rate_in == rate_out:
        return audio
    import soxr

    out = soxr.resample(np.ascontiguousarray(audio.T), rate_in, rate_out, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)


class ClipSampler:
    """Cuts windows from a source.

    Parameters
    ----------
    source : Source
        Listed tracks to draw from.
    config : SamplerConfig
        Window length, target rate and channels, silence threshold.
    max_tempo : float
        The largest tempo factor augmentation may apply: windows are read that much longer
        (plus a little padding) so they still last ``config.seconds`` after the time-stretch.

    Tracks shorter than the window cannot be used: they are left out, named in
    `too_short` and logged. A source with none long enough raises `SourceError`.
    """

    def __init__(self, source: Source, config: SamplerConfig, max_tempo: float = 1.0) -> None:
        self.source = source
        self.config = config
        self.max_tempo = max(1.0, float(max_tempo))
        need = config.seconds - 0.5 / config.sample_rate  # a track exactly as long will do
        self.eligible = [i for i, t in enumerate(source.tracks) if t.seconds >= need]
        self.too_short = [t.name for t in source.tracks if t.seconds < need]
        if self.too_short:
            names = ", ".join(self.too_short[:5]) + (" …" if len(self.too_short) > 5 else "")
            log.warning(
                "%d track(s) shorter than the %g s window skipped: %s",
                len(self.too_short), config.seconds, names,
            )  # fmt: skip
        if not self.eligible:
            longest = max((t.seconds for t in source.tracks), default=0.0)
            raise SourceError(
                f"every track of {source.uri} ({len(source.tracks)}) is shorter than the "
                f"{config.seconds:g} s window (longest: {longest:.2f} s); use a shorter "
                "--seconds or longer audio"
            )

    def choose(self, rng: np.random.Generator) -> int:
        """A track index, uniform over the tracks long enough for a window."""
        return self.eligible[int(rng.integers(len(self.eligible)))]

    def max_tempo_for(self, index: int) -> float:
        """The largest tempo factor whose stretched window still fits in track ``index``."""
        track = self.source.tracks[index]
        return max(1.0, (track.seconds - 2.0 * PAD_SECONDS) / self.config.seconds)

    def read(
        self, rng: np.random.Generator, index: int, tempo: float = 1.0
    ) -> tuple[np.ndarray, float]:
        """A random window of track ``index`` at the target rate and channel count.

        With ``tempo != 1`` the window is ``tempo`` times longer plus `PAD_SECONDS` on each
        side, so that after the time-stretch `crop` can cut exactly ``config.seconds``.
        Returns float32 ``(channels, samples)`` and the window's start in seconds. Always
        consumes one number from ``rng``.
        """
        c = self.config
        track = self.source.tracks[index]
        u = float(rng.random())
        pad = PAD_SECONDS if tempo != 1.0 else 0.0
        seconds = min(c.seconds * tempo + 2.0 * pad, track.seconds)
        start = u * max(0.0, track.seconds - seconds)
        audio, rate = self.source.read(index, start, seconds)
        audio = to_channels(np.asarray(audio, dtype=np.float32), c.channels)
        audio = resample(audio, int(rate), c.sample_rate)
        if tempo == 1.0:
            audio = self._fit(audio, c.samples)
        return audio, start

    def crop(self, audio: np.ndarray) -> np.ndarray:
        """The centre ``config.samples`` of a stretched window (zero-padded if short)."""
        n = self.config.samples
        extra = audio.shape[-1] - n
        if extra > 0:
            return np.ascontiguousarray(audio[:, extra // 2 : extra // 2 + n])
        return self._fit(audio, n)

    @staticmethod
    def _fit(audio: np.ndarray, n: int) -> np.ndarray:
        if audio.shape[-1] == n:
            return np.ascontiguousarray(audio)
        if audio.shape[-1] > n:
            return np.ascontiguousarray(audio[:, :n])
        return np.pad(audio, ((0, 0), (0, n - audio.shape[-1])))

    def is_silent(self, audio: np.ndarray) -> bool:
        """True when the window's RMS is below ``config.silence_dbfs``."""
        return bool(rms_dbfs(audio) < self.config.silence_dbfs)
