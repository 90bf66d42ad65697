"""Apparent depth, as timbral_models 0.4.0's ``timbral_depth`` computes it.

The clip (prepared by `Analysis`) is high-passed three times at 20 Hz and scaled to a peak of
1 (``y``); ``y`` low-passed three times at 2 kHz gives the "centroid" signal and three times at
500 Hz the "ratio" signal. Over 4096-sample frames every 1024 samples (mean removed, periodic
Hamming window, ``scipy.signal.spectrogram``'s 'spectrum' scaling), with a frame counted as
active when the power of ``y`` in it exceeds -60 dB:

1. the spectral centroid of the centroid signal per active frame (0 elsewhere), averaged with
   the power of ``y`` as weights, limited to 2000 Hz;
2. the power of the ratio signal over the power of ``y`` per active frame (0 elsewhere),
   averaged the same way;
3. log10 of the mean time, per onset, from the RMS envelope's maximum until it falls below
   -40 dB or the next onset comes (onsets from ``calculate_onsets`` with the 0.2 s envelope);
4. log10 of the lowest peak frequency of the summed spectrum of ``y`` (mirpeaks, threshold
   0.01), or 0 when the strongest peak sits at 0 Hz;

then a linear regression on these, ``m2 * m3`` and ``sigmoid(m2) * m3``.

Clips of at most 4096 samples are analysed as one frame of the whole clip, zero-padded to 4096
points, as the reference does (flag TOO_SHORT). The ratio signal's frame powers come from
time-domain sums (Parseval); ``y`` is transformed in float64 (its summed spectrum feeds a peak
picking) and the centroid signal in float32 (a centroid is a ratio of sums: relative error
~1e-7), with no spectrogram kept.

Degenerate input (value, flags): silence -> 0.0, SILENT; no frame of ``y`` with any power ->
0.0, FALLBACK; durations whose mean is zero or that cannot be measured -> one RMS step
(256 samples) as the mean duration, FALLBACK; no peak in the summed spectrum, a flat spectrum
or a lowest peak at or below 0 Hz -> pitch term 0, FALLBACK. The reference raises or returns
a non-finite value in each of these cases. When no onset survives ``calculate_onsets``' checks
(about half of real music clips) the decay is measured from sample 0, as the reference does:
that is its normal path and is not flagged.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dafxkit.descriptors.timbral import _common
from dafxkit.descriptors.timbral._frontend import Analysis, Flag

__all__ = ["depth", "depth_features"]

_COEFFICIENTS = (
    -0.0043703565847874465,
    32.83743202462131,
    4.750862716905235,
    -14.217438690256062,
    3.8782339862813924,
    -0.8544826091735516,
    66.69534393444391,
)
_NFFT = 4096
_CENTROID_LIMIT_HZ = 2000.0
_RMS_STEP = 256


@njit(cache=True, nogil=True)
def _mean_duration(onsets, rms, decay_threshold, time_convert):
    # Mean over onsets of the time from the RMS maximum (in the onset's segment) until the
    # envelope falls below the threshold, or the segment's end. Returns (mean, measured count,
    # skipped count): a segment is skipped where the reference would raise (empty slice).
    n = rms.shape[0]
    total = 0.0
    count = 0
    skipped = 0
    last = onsets[onsets.shape[0] - 1]
    for idx in range(onsets.shape[0]):
        onset = onsets[idx]
        stop = n if onset == last else min(onsets[idx + 1], n)
        start = min(onset, n)
        if stop <= start:
            skipped += 1
            continue
        peak = start
        for k in range(start + 1, stop):
            if rms[k] > rms[peak]:
                peak = k
        below = -1
        for k in range(peak, stop):
            if rms[k] < decay_threshold:
                below = k - peak
                break
        total += (stop - peak if below < 0 else below) / time_convert
        count += 1
    mean = total / count if count else 0.0
    return mean, count, skipped


def depth_features(an: Analysis) -> tuple[np.ndarray, int]:
    """The six regression inputs ``[m1, m2, m3, m4, m2 * m3, sigmoid(m2) * m3]`` and the flags
    (degenerate terms already replaced, see the module docstring)."""
    flags = Flag(an.flags)
    fs = an.sample_rate_out
    y = an.source("highpass20")
    # The band signals on their original scale: powers get `scale` squared, ratios none.
    bands, scale = an.band_signals
    lp_centroid, lp_ratio = bands[2], bands[3]
    n = y.shape[0]
    if n > _NFFT:
        nperseg, hop = _NFFT, _NFFT - int(3 * _NFFT / 4)
        frames = _common.frame_count(n, nperseg, nperseg - hop)
    else:
        nperseg, hop, frames = n, 1, 1
        flags |= Flag.TOO_SHORT
    window = _common.hamming_window(nperseg)
    # The spectrogram's column sums: nfft * energy / sum(window)^2 (Parseval).
    power_scale = _NFFT / float(np.sum(window)) ** 2
    # The summed spectrum feeds a peak picking whose comparisons of neighbouring bins and
    # parabolic interpolation want float64; the frame powers come with it (Parseval would give
    # the same numbers).
    whole = _common.stft_reduce(
        y, 0, hop, frames, nperseg, _NFFT, window, True, sum_power=True, moments=True
    )
    tpower = whole["total"] * (1.0 / float(np.sum(window)) ** 2)
    summed = whole["sum_power"]
    weight_sum = tpower.sum()
    if not weight_sum > 0:
        return np.zeros(6), int(flags | Flag.FALLBACK)
    active = tpower > _common.db2mag(-60)

    # Metric 1: limited weighted mean of the low-passed centroid.
    # float32 FFTs: a centroid is a ratio of sums over many bins (relative error ~1e-7).
    lower = _common.stft_reduce(
        lp_centroid, 0, hop, frames, nperseg, _NFFT, window, True, moments=True, single=True
    )
    bin_hz = 1.0 / (_NFFT * (1.0 / fs))
    with np.errstate(divide="ignore", invalid="ignore"):
        centroids = np.where(active, lower["moment"] * bin_hz / lower["total"], 0.0)
    m1 = float(np.sum(centroids * tpower) / weight_sum)
    if not math.isfinite(m1):
        # An active frame whose low-passed signal has no power (0 / 0 in the reference).
        flags |= Flag.FALLBACK
        centroids = np.where(np.isfinite(centroids), centroids, 0.0)
        m1 = float(np.sum(centroids * tpower) / weight_sum)
    m1 = min(m1, _CENTROID_LIMIT_HZ)

    # Metric 2: weighted mean ratio of low-passed to whole power.
    ratio_power = _common.frame_energy(lp_ratio, 0, hop, frames, nperseg, window, True) * (
        power_scale * scale**2
    )
    m2 = float(np.sum(np.where(active, ratio_power, 0.0)) / weight_sum)

    # Metric 3: log of the mean decay time after each onset.
    # calculate_onsets gives [0] when no onset survives its checks (on about half of real
    # music clips): the decay is then measured from the start, the reference's normal path,
    # so that is not flagged.
    onsets, degenerate = an.onsets("highpass20", 0.2, 512)
    if degenerate:
        flags |= Flag.FALLBACK
    rms = _common.rms_envelope(y, _RMS_STEP)
    time_convert = fs / float(_RMS_STEP)
    mean_duration, _, skipped = _mean_duration(
        np.ascontiguousarray(onsets // _RMS_STEP), rms, _common.db2mag(-40), time_convert
    )
    if skipped or not mean_duration > 0:
        flags |= Flag.FALLBACK
        if not mean_duration > 0:
            mean_duration = 1.0 / time_convert
    m3 = math.log10(mean_duration)

    # Metric 4: log of the lowest peak frequency of the summed spectrum.
    span = summed.max() - summed.min()
    m4 = 0.0
    if span > 0:
        norm = (summed - summed.min()) / span
        freq = np.arange(summed.shape[0]) * bin_hz
        _, _, peak_freq = _common.detect_peaks(norm, cthr=0.01, unprocessed_array=norm, freq=freq)
        if peak_freq.shape[0] == 0:
            flags |= Flag.FALLBACK
        elif peak_freq[0] > 0:
            lowest = float(np.min(peak_freq))
            if lowest > 0:
                m4 = math.log10(lowest)
            else:
                flags |= Flag.FALLBACK
    else:
        flags |= Flag.FALLBACK
    sig = _common.sigmoid(m2)
    return np.array([m1, m2, m3, m4, m2 * m3, sig * m3]), int(flags)


def depth(an: Analysis) -> tuple[float, int]:
    """Apparent depth of a clip and its `Flag` bits (see the module docstring)."""
    if an.silent:
        return 0.0, int(Flag.SILENT | an.flags)
    metrics, flags = depth_features(an)
    if flags & Flag.FALLBACK and not metrics.any():
        return 0.0, flags
    value = float(np.dot(metrics, _COEFFICIENTS[:6]) + _COEFFICIENTS[6])
    if not math.isfinite(value):
        return 0.0, int(flags | Flag.FALLBACK)
    return value, flags
