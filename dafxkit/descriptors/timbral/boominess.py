"""Boominess: Hatano and Hashimoto's booming index, as timbral_models 0.4.0 computes it.

Per 4096-sample window of the loudness-normalised clip, the booming index of the Zwicker
specific loudness pattern N'(z): the level sum ``10 log10 Σ 10^(N'(z) w(z) / 10)`` of the
pattern weighted by ``w(z) = 2.13 exp(-0.151 i(z))`` (i: the position of z's frequency on the
one-third-octave scale, with fixed values 0.8, 1.05, 1.10, 1.18 at the four lowest points),
times the share of loudness below 280 Hz; 0 for a window whose total loudness rounds to 0
sone. The clip's value combines the log10 of the rms²-weighted mean index with the log10 of
the mean low-frequency loudness (pattern points 0-69, under a bump-shaped weighting) through
the reference's regression::

    boominess = 43.674 log10(index) - 10.901 log10(low level) + 26.837

(Shin, Ih, Hashimoto and Hatano, Applied Acoustics 70, 2009; Hatano and Hashimoto, Inter-Noise
2000.) The reference's function is ``timbral_booming``.

Degenerate input (value, flag):

- digital silence: ``(0.0, Flag.SILENT)`` (the reference raises);
- no loudness below 280 Hz in any window (mean index 0) or none in the low-frequency level:
  a log of 0; ``(0.0, Flag.FALLBACK)`` (the reference returns ±inf or NaN).

Clips shorter than a window are analysed like the reference does (one zero-padded window) and
are not flagged. The front end's own flags (`Analysis.flags`: FALLBACK when the loudness gate
lets no block through) are added to every result but silence's.
"""

from __future__ import annotations

import numpy as np

from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.descriptors.timbral._loudness import (
    BAND_CENTRES_HZ,
    N_BARK_STEPS,
    weighted_bark_level,
    windowed_loudness,
)

__all__ = ["boominess", "booming_index", "COEFFICIENTS"]

#: Regression (log10 index, log10 low-frequency level, intercept) to the 0-100 scale.
COEFFICIENTS = (43.67402696195865, -10.90054738389845, 26.836530575185435)
#: Pattern points 0 … 69 (0.1 … 7 Bark) make up the low-frequency level.
LOW_LEVEL_BANDS = (0, 70)


def _index_weights() -> tuple[np.ndarray, int]:
    bark = np.arange(1, N_BARK_STEPS + 1) / 10.0
    frequency = 600.0 * np.sinh(bark / 6.0)
    log_centres = np.log10(BAND_CENTRES_HZ)
    position = (np.log10(frequency) - log_centres[0]) / (log_centres[1] - log_centres[0]) + 1
    weights = 2.13 * np.exp(-0.151 * position)
    weights[:4] = (0.8, 1.05, 1.10, 1.18)  # the fit's low-frequency roll-off
    below_280 = int(np.flatnonzero(frequency >= 280)[0])
    return weights, below_280


_WEIGHTS, _BELOW_280 = _index_weights()


def booming_index(pattern: np.ndarray) -> np.ndarray:
    """Booming index of each ``(…, 240)`` specific-loudness pattern; 0 where it sums to ≤ 0."""
    pattern = np.asarray(pattern, dtype=np.float64)
    loudness = np.sum(pattern, axis=-1)
    low = np.sum(pattern[..., :_BELOW_280], axis=-1)
    band_sum = 10.0 * np.log10(np.sum(10.0 ** (pattern * _WEIGHTS / 10.0), axis=-1))
    safe = np.where(loudness > 0, loudness, 1.0)
    return np.where(loudness > 0, band_sum * (low / safe), 0.0)


def boominess(an: Analysis) -> tuple[float, int]:
    """Apparent boominess of a clip on timbral_models' scale (not clipped), and a `Flag` mask."""
    if an.silent:
        return 0.0, int(Flag.SILENT)
    loud = windowed_loudness(an)
    per_window = np.where(loud.total > 0, booming_index(loud.pattern), 0.0)
    weights = loud.rms * loud.rms
    total_weight = np.sum(weights)
    index = np.sum(per_window * weights) / total_weight if total_weight > 0 else 0.0
    low_level, _ = weighted_bark_level(loud.pattern, loud.rms, *LOW_LEVEL_BANDS)
    if not (index > 0 and low_level > 0 and np.isfinite(index) and np.isfinite(low_level)):
        return 0.0, int(Flag.FALLBACK | an.flags)
    a, b, intercept = COEFFICIENTS
    return float(a * np.log10(index) + b * np.log10(low_level) + intercept), int(an.flags)
