"""Warmth: low-frequency weight and high-frequency decay of a clip, as timbral_models 0.4.0 has it.

Five features of the loudness-normalised clip enter the reference's linear regression:

- ``log10`` of the mean spectral centroid of the segments between onsets;
- the rms-weighted mean, over 4096-sample windows, of the specific loudness summed under a
  bump over 8-24 Bark (pattern points 80-239) — high-frequency level;
- the plain mean over windows of the specific loudness under a bump over 1-4 Bark (points
  10-39) — the warmth region;
- the mean R² of a straight-line fit of log10 power against log10 frequency above each
  segment's warmth region (3.5 × its lowest spectral peak, at most 12 kHz) — how regularly the
  spectrum decays;
- the rms-weighted mean share of power between the lowest spectral peak and 260 Hz (0 for a
  segment whose lowest peak is at or above 260 Hz).

Segments run from each onset to the next (the reference's onset search on a sample-and-hold
envelope with a 100 ms decay, onsets traced back to within 4096 samples of the start moving to
sample 0); with fewer than two onsets the whole clip is one segment, as in the reference.
A segment's spectrum is the sum of the power spectra of its 8192-sample Tukey(0.25) frames
(hop 7168, each frame's mean removed), or of one frame as long as the segment when it is
shorter, zero-padded to 8192 points; it is normalised to a peak of 1 and its peaks found by
the same contrast-based picker as the reference (threshold 0.2). The reference fits the
regression with scikit-learn; here it is the closed-form least-squares line and its R².

Degenerate input (value, flag):

- digital silence: ``(0.0, Flag.SILENT)`` (the reference raises);
- a segment whose spectrum is all zero (constant or one-sample segments) or that has no
  spectral peak: the segment is left out of the segment features (the reference returns NaN
  or raises) and ``Flag.FALLBACK`` is set; when no segment remains, ``(0.0, Flag.FALLBACK)``;
- zero power at some frequency above the warmth region (log of 0; the reference raises): the
  fit uses the bins with power, and ``Flag.FALLBACK`` is set;
- an onset search step where the reference would raise or loop forever (skipped there):
  ``Flag.FALLBACK`` with the value from the onsets found.

The front end's own flags (`Analysis.flags`: FALLBACK when the loudness gate lets no block
through) are added to every result but silence's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numba
import numpy as np
import scipy.fft

from dafxkit.descriptors.timbral._common import detect_peaks
from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.descriptors.timbral._loudness import (
    WindowedLoudness,
    weighted_bark_level,
    windowed_loudness,
)

__all__ = ["warmth", "warmth_from_parts", "segment_spectra", "COEFFICIENTS"]

#: Regression over (log10 mean centroid, HF level, warmth-region level, mean decay R²,
#: low-energy ratio, intercept).
COEFFICIENTS = (
    -4.464258317026696,
    -0.08819320850778556,
    0.29156539973575546,
    17.274733561081554,
    8.403340066029507,
    45.21212125085579,
)
FFT_SIZE = 8192
#: Frames transformed together (bounds the scratch memory whatever the clip's length).
FFT_BATCH = 16
#: Upper limit of the warmth region (Hz).
MAX_WARMTH_REGION_HZ = 12000.0
#: Pattern-point ranges of the two loudness features.
WARMTH_REGION_BANDS = (10, 40)
HIGH_FREQUENCY_BANDS = (80, 240)
#: Onset analysis parameters of this descriptor.
ENVELOPE_DECAY_S = 0.1
ONSET_NPERSEG = 4096

PeakPicker = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@functools.lru_cache(maxsize=64)
def _tukey(length: int) -> np.ndarray:
    import scipy.signal

    window = scipy.signal.get_window(("tukey", 0.25), length)
    window.flags.writeable = False
    return window


def segment_spectra(samples: np.ndarray, bounds: Sequence[tuple[int, int]]) -> np.ndarray:
    """Summed one-sided power spectra ``(n_segments, 4097)`` of the ``samples[start:stop]``.

    Each row is scipy.signal.spectrogram(segment, nperseg=min(len, 8192), nfft=8192) with its
    defaults, summed over time, without the constant density scale (the caller normalises).
    The frames of all segments are packed into batches of `FFT_BATCH` for the FFT. Segments
    must not be empty.
    """
    spectra = np.zeros((len(bounds), FFT_SIZE // 2 + 1))
    batch = np.zeros((FFT_BATCH, FFT_SIZE))
    owner = np.empty(FFT_BATCH, dtype=np.intp)
    used = 0

    def flush(used: int) -> None:
        bins = scipy.fft.rfft(batch[:used], axis=1)
        power = np.square(bins.real)
        power += np.square(bins.imag)
        # Rows of one segment are adjacent: sum each run and add it to its segment.
        starts = np.flatnonzero(np.diff(owner[:used], prepend=-1))
        spectra[owner[starts]] += np.add.reduceat(power, starts, axis=0)

    for index, (start, stop) in enumerate(bounds):
        length = stop - start
        frame = min(length, FFT_SIZE)
        overlap = frame // 8
        hop = frame - overlap
        n_frames = (length - overlap) // hop
        frames = np.lib.stride_tricks.sliding_window_view(samples[start:stop], frame)[::hop]
        window = _tukey(frame)
        done = 0
        while done < n_frames:
            take = min(n_frames - done, FFT_BATCH - used)
            view = frames[done : done + take]
            block = batch[used : used + take, :frame]
            np.subtract(view, view.mean(axis=1, keepdims=True), out=block)  # constant detrend
            block *= window
            batch[used : used + take, frame:] = 0.0
            owner[used : used + take] = index
            used += take
            done += take
            if used == FFT_BATCH:
                flush(used)
                used = 0
    if used:
        flush(used)
    spectra[:, 1:-1] *= 2.0  # one-sided: all but DC and Nyquist count twice
    return spectra


@numba.njit(cache=True, nogil=True)
def _segment_stats(spectrum, log_spectrum, freq, log_freq, fundamental, fundamental_index, max_hz):
    """(low-energy ratio, centroid, decay R², zero bins above the warmth region?) of a spectrum.

    ``log_spectrum`` and ``log_freq`` are the log10 of ``spectrum`` and ``freq``.
    """
    n = spectrum.shape[0]
    total = 0.0
    moment = 0.0
    for i in range(n):
        total += spectrum[i]
        moment += freq[i] * spectrum[i]
    centroid = moment / total
    ratio = 0.0
    if fundamental < 260.0:
        top = n
        for i in range(n):
            if freq[i] > 260.0:
                top = i
                break
        low = 0.0
        for i in range(fundamental_index, top):
            low += spectrum[i]
        ratio = low / total
    # Least-squares line of log10 power against log10 frequency above the warmth region,
    # over the bins with power; R² as scikit-learn scores it.
    upper = min(fundamental * 3.5, max_hz)
    first = n
    for i in range(n):
        if freq[i] > upper:
            first = i
            break
    count = 0
    sum_x = 0.0
    sum_y = 0.0
    zero_bins = False
    for i in range(first, n):
        if spectrum[i] > 0.0:
            count += 1
            sum_x += log_freq[i]
            sum_y += log_spectrum[i]
        else:
            zero_bins = True
    if count == 0:
        return ratio, centroid, 0.0, True
    mean_x = sum_x / count
    mean_y = sum_y / count
    sxx = 0.0
    sxy = 0.0
    syy = 0.0
    for i in range(first, n):
        if spectrum[i] > 0.0:
            dx = log_freq[i] - mean_x
            dy = log_spectrum[i] - mean_y
            sxx += dx * dx
            sxy += dx * dy
            syy += dy * dy
    slope = sxy / sxx if sxx > 0.0 else 0.0
    ss_res = 0.0
    for i in range(first, n):
        if spectrum[i] > 0.0:
            r = (log_spectrum[i] - mean_y) - slope * (log_freq[i] - mean_x)
            ss_res += r * r
    if syy == 0.0:
        decay = 1.0 if ss_res == 0.0 else 0.0
    else:
        decay = 1.0 - ss_res / syy
    return ratio, centroid, decay, zero_bins


def warmth_from_parts(
    samples: np.ndarray,
    sample_rate: int,
    onsets: Sequence[int],
    loudness: WindowedLoudness,
    peaks: PeakPicker,
) -> tuple[float, int]:
    """Warmth of a normalised mono clip from its onsets and windowed loudness.

    Parameters
    ----------
    samples : np.ndarray
        The loudness-normalised mono clip.
    onsets : sequence of int
        Onset sample indices as the reference's onset search returns them (``[0]`` or empty
        when none were found).
    loudness : WindowedLoudness
        Its 4096-sample-window loudness.
    peaks : callable
        ``peaks(normalised_spectrum, freq) -> (indices, frequencies)``, the reference's peak
        picker with threshold 0.2.
    """
    onsets = [int(o) for o in onsets]
    if len(onsets) < 2:
        onsets = [0]
    freq = np.fft.rfftfreq(FFT_SIZE, 1.0 / sample_rate)

    flags = 0
    bounds = [(a, b) for a, b in zip(onsets, [*onsets[1:], len(samples)], strict=True) if b > a]
    if len(bounds) < len(onsets):
        flags |= Flag.FALLBACK  # an onset at or past the end of the clip
    rms, ratios, centroids, decays = [], [], [], []
    spectra = segment_spectra(samples, bounds) if bounds else np.zeros((0, len(freq)))
    peaks_of_rows = np.max(np.abs(spectra), axis=1)
    usable = peaks_of_rows > 0  # not a constant or one-sample segment
    if not usable.all():
        flags |= Flag.FALLBACK
    spectra[usable] /= peaks_of_rows[usable, None]
    with np.errstate(divide="ignore"):
        log_spectra = np.log10(spectra)
        log_freq = np.log10(freq)
    rows = zip(bounds, spectra, log_spectra, usable, strict=True)
    for (start, stop), spectrum, log_spectrum, ok in rows:
        if not ok:
            continue
        peak_index, peak_freq = peaks(spectrum, freq)
        if len(peak_index) == 0:
            flags |= Flag.FALLBACK
            continue
        ratio, centroid, decay, zero_bins = _segment_stats(
            spectrum,
            log_spectrum,
            freq,
            log_freq,
            float(np.min(peak_freq)),
            int(np.min(peak_index)),
            MAX_WARMTH_REGION_HZ,
        )
        if zero_bins:
            flags |= Flag.FALLBACK
        segment = samples[start:stop]
        rms.append(np.sqrt(np.mean(segment * segment)))
        ratios.append(ratio)
        centroids.append(centroid)
        decays.append(decay)

    mean_centroid = np.mean(centroids) if centroids else 0.0
    rms = np.asarray(rms)
    if not (mean_centroid > 0 and np.sum(rms) > 0):
        return 0.0, int(flags | Flag.FALLBACK)
    mean_wr, _ = weighted_bark_level(loudness.pattern, loudness.rms, *WARMTH_REGION_BANDS)
    _, weighted_hf = weighted_bark_level(loudness.pattern, loudness.rms, *HIGH_FREQUENCY_BANDS)
    features = np.array(
        [
            np.log10(mean_centroid),
            weighted_hf,
            mean_wr,
            np.mean(decays),
            np.sum(np.asarray(ratios) * rms) / np.sum(rms),
            1.0,
        ]
    )
    value = float(np.sum(features * np.asarray(COEFFICIENTS)))
    if not np.isfinite(value):
        return 0.0, int(flags | Flag.FALLBACK)
    return value, int(flags)


def warmth(an: Analysis) -> tuple[float, int]:
    """Apparent warmth of a clip on timbral_models' scale (not clipped), and a `Flag` mask."""
    if an.silent:
        return 0.0, int(Flag.SILENT)
    samples, rate = an.normalised
    onsets, degenerate = an.onsets("normalised", decay_time=ENVELOPE_DECAY_S, nperseg=ONSET_NPERSEG)

    def peaks(spectrum: np.ndarray, freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index, _, position = detect_peaks(spectrum, freq=freq, fs=rate)
        if len(position) == 0 and len(index):  # no interpolated position: the bins' own
            position = freq[index]
        return index, position

    value, flags = warmth_from_parts(samples, rate, onsets, windowed_loudness(an), peaks)
    flags |= int(an.flags)
    if degenerate:
        flags |= int(Flag.FALLBACK)
    return value, int(flags)
