"""Apparent brightness, as timbral_models 0.4.0's ``timbral_brightness`` computes it.

The clip (prepared by `Analysis`) is high-passed three times at 20 Hz and scaled to a peak of
1; two more signals are that one high-passed three times at 2 kHz (the "ratio" signal) and at
100 Hz (the "centroid" signal). Over 2048-sample frames every 512 samples (mean removed,
periodic Hamming window, ``scipy.signal.spectrogram``'s 'spectrum' scaling):

- ratio: power of the ratio signal over power of the whole signal, per frame, averaged with
  the whole signal's power as weights (frames without power skipped);
- centroid: spectral centroid of the centroid signal per frame, averaged with its power as
  weights.

brightness = 4.613 log10(ratio) + 17.379 log10(centroid) + 17.435.

Clips shorter than 2048 samples are analysed as one frame of the whole clip, zero-padded to
2048 points, as the reference does (flag TOO_SHORT). The weighted means are computed as ratios
of sums (the same numbers up to rounding): a frame's power is the sum over bins of its power
spectrum, which by Parseval is a time-domain sum, so only the centroid signal needs an FFT.

Degenerate input (value, flags): silence -> 0.0, SILENT; no frame with any power, or a zero
ratio or centroid (log10 would be -inf) -> 0.0, FALLBACK. The reference raises in all three.
"""

from __future__ import annotations

import math

from dafxkit.descriptors.timbral import _common
from dafxkit.descriptors.timbral._frontend import Analysis, Flag

__all__ = ["brightness", "brightness_features"]

_COEFFICIENTS = (4.613128018020465, 17.378889309312974, 17.434733750553022)
_NFFT = 2048


def brightness_features(an: Analysis) -> tuple[float, float, int]:
    """``(weighted_mean_ratio, weighted_mean_centroid_hz, flags)`` before the logarithms and the
    regression; NaN where a mean has no frame to average (flag FALLBACK)."""
    flags = Flag(an.flags)
    fs = an.sample_rate_out
    y = an.source("highpass20")
    # The band signals on their original scale: powers get `scale` squared, ratios none.
    bands, scale = an.band_signals
    ratio_hp, centroid_hp = bands[0], bands[1]
    n = y.shape[0]
    if n >= _NFFT:
        nperseg = _NFFT
        hop = _NFFT - int(3 * _NFFT / 4)
        frames = _common.frame_count(n, nperseg, nperseg - hop)
    else:
        # One frame of the whole clip, zero-padded to nfft (noverlap = n - 1 in the reference).
        nperseg, hop, frames = n, 1, 1
        flags |= Flag.TOO_SHORT
    window = _common.hamming_window(nperseg)
    energy = _common.frame_energy(y, 0, hop, frames, nperseg, window, True)
    hp_energy = _common.frame_energy(ratio_hp, 0, hop, frames, nperseg, window, True) * scale**2
    keep = energy > 0
    ratio = float(hp_energy[keep].sum() / energy[keep].sum()) if keep.any() else math.nan
    # float32 FFTs: the centroid is a ratio of sums over many bins and frames (relative error
    # about 1e-7, a millionth of a brightness point).
    spectra = _common.stft_reduce(
        centroid_hp, 0, hop, frames, nperseg, _NFFT, window, True, moments=True, single=True
    )
    total = spectra["total"]
    keep_c = total > 0
    if keep_c.any():
        bin_hz = 1.0 / (_NFFT * (1.0 / fs))  # numpy's rfftfreq spacing
        centroid = float(spectra["moment"][keep_c].sum() * bin_hz / total[keep_c].sum())
    else:
        centroid = math.nan
    if not (keep.any() and keep_c.any()):
        flags |= Flag.FALLBACK
    return ratio, centroid, int(flags)


def brightness(an: Analysis) -> tuple[float, int]:
    """Apparent brightness of a clip and its `Flag` bits (see the module docstring)."""
    if an.silent:
        return 0.0, int(Flag.SILENT | an.flags)
    ratio, centroid, flags = brightness_features(an)
    if not (ratio > 0 and centroid > 0 and math.isfinite(ratio) and math.isfinite(centroid)):
        return 0.0, int(flags | Flag.FALLBACK)
    value = (
        _COEFFICIENTS[0] * math.log10(ratio)
        + _COEFFICIENTS[1] * math.log10(centroid)
        + _COEFFICIENTS[2]
    )
    return float(value), int(flags)
