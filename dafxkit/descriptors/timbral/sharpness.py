"""Sharpness: Fastl's weighted centroid of specific loudness, as timbral_models 0.4.0 computes it.

Per 4096-sample window of the loudness-normalised clip, Fastl's sharpness (acum) of the
Zwicker specific loudness pattern: ``0.11 Σ N'(z) g(z) z Δz / Σ N'(z) Δz`` with g = 1 up to
14 Bark and a fitted quartic above (Fastl 1991, as fitted by C. Churchill); 0 for a window
whose total loudness rounds to 0 sone. The clip's value is the rms²-weighted mean over
windows, on a log10 scale, through the reference's linear regression::

    sharpness = 102.505 log10(mean) + 34.433

Degenerate input (value, flag):

- digital silence: ``(0.0, Flag.SILENT)`` (the reference raises);
- no window with any loudness (e.g. content only below 25 Hz, or a level so low that every
  band is under the threshold of hearing): the mean is 0 and its log undefined;
  ``(0.0, Flag.FALLBACK)`` (the reference returns -inf).

Clips shorter than a window are analysed like the reference does (one zero-padded window) and
are not flagged. The front end's own flags (`Analysis.flags`: FALLBACK when the loudness gate
lets no block through) are added to every result but silence's.
"""

from __future__ import annotations

import numpy as np

from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.descriptors.timbral._loudness import N_BARK_STEPS, windowed_loudness

__all__ = ["sharpness", "fastl_sharpness", "COEFFICIENTS"]

#: Regression from log10(rms²-weighted sharpness) to the 0-100 scale: (slope, intercept).
COEFFICIENTS = (102.50508921364404, 34.432655185001735)


def _fastl_weights() -> tuple[np.ndarray, np.ndarray]:
    points = np.arange(1, N_BARK_STEPS + 1)
    bark = points / 10.0
    upper = np.where(
        points > 140,
        0.00012 * bark**4 - 0.0056 * bark**3 + 0.1 * bark**2 - 0.81 * bark + 3.5,
        1.0,
    )
    return upper * bark * 0.1, np.full(N_BARK_STEPS, 0.1)


_NUMERATOR, _DENOMINATOR = _fastl_weights()


def fastl_sharpness(pattern: np.ndarray) -> np.ndarray:
    """Fastl sharpness (acum) of each ``(…, 240)`` loudness pattern; 0 where it sums to ≤ 0."""
    pattern = np.asarray(pattern, dtype=np.float64)
    numerator = pattern @ _NUMERATOR
    denominator = pattern @ _DENOMINATOR
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, 0.11 * numerator / safe, 0.0)


def sharpness(an: Analysis) -> tuple[float, int]:
    """Apparent sharpness of a clip on timbral_models' scale (not clipped), and a `Flag` mask."""
    if an.silent:
        return 0.0, int(Flag.SILENT)
    loud = windowed_loudness(an)
    per_window = np.where(loud.total > 0, fastl_sharpness(loud.pattern), 0.0)
    weights = loud.rms * loud.rms
    total_weight = np.sum(weights)
    mean = np.sum(per_window * weights) / total_weight if total_weight > 0 else 0.0
    if not (mean > 0 and np.isfinite(mean)):
        return 0.0, int(Flag.FALLBACK | an.flags)
    slope, intercept = COEFFICIENTS
    return float(slope * np.log10(mean) + intercept), int(an.flags)
