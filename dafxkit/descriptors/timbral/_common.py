"""Signal-processing kernels shared by the timbral descriptors, faithful to timbral_models 0.4.0.

Every function works on float64 arrays and reproduces one routine of the reference's
``timbral_util`` module (or of the librosa 0.11 defaults it relies on) to rounding error:

========================================  ==================================================
here                                      reference
========================================  ==================================================
`butter2`, `filter_audio_highpass`,       ``filter_audio_highpass`` / ``filter_audio_lowpass``
`filter_audio_lowpass`, `lfilter`         (``scipy.signal.butter`` + ``lfilter``: one causal
                                          pass, direct form II transposed)
`sample_and_hold_envelope`                ``sample_and_hold_envelope_calculation``
`rms_envelope`                            ``calculate_rms_enveope``
`onset_strength`                          ``librosa.onset.onset_strength`` (log-mel flux)
`onset_detect`                            ``librosa.onset.onset_detect(backtrack=True,
                                          units='samples')``
`calculate_onsets`                        ``calculate_onsets`` (with ``return_loop``)
`detect_peaks`                            ``detect_peaks`` (the mirpeaks port)
`stft_reduce`, `frame_energy`             reductions of ``scipy.signal.spectrogram`` as the
                                          descriptors call it (Hamming, constant detrend,
                                          'spectrum' scaling) without keeping the spectrogram,
                                          or its magnitudes or complex values where a
                                          descriptor needs them (frames on a grid or at given
                                          starts)
`istft_add`                               librosa's ``istft`` before its normalisation
`band_filters`                            the 20 Hz high pass and the band filters of
                                          brightness and depth (and the K-weighting) fused
========================================  ==================================================

Where the reference raises or loops forever on a degenerate input, these functions return a
defined result and say so through a ``degenerate`` count or flag (documented per function).

The hot paths (`band_filters`, `frame_energy`, `stft_reduce`, `istft_add`, the onset strength)
run as C kernels (native/timbral.c) when the library is built, else on Numba / NumPy with the
same numbers up to rounding; `use_native` says which.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
import scipy.signal
from numba import njit

from dafxkit import native

__all__ = [
    "db2mag",
    "sigmoid",
    "butter2",
    "lfilter",
    "filter_audio_highpass",
    "filter_audio_lowpass",
    "filter_cascade",
    "lfilter_cascade_rows",
    "sample_and_hold_envelope",
    "rms_envelope",
    "hann_window",
    "hamming_window",
    "mel_filterbank",
    "onset_strength",
    "onset_detect",
    "peak_pick_params",
    "calculate_onsets",
    "detect_peaks",
    "min_max",
    "frame_count",
    "use_native",
    "band_filters",
    "BAND_FILTERS",
    "frame_energy",
    "stft_reduce",
    "istft_add",
]


@functools.cache
def _handles():
    # (lib, ffi) of the C library, looked up once per process: the per-call checks of
    # dafxkit.native cost more than the small kernels here.
    if not native.available():
        return None
    return native.lib(), native.ffi()


def use_native() -> bool:
    """True when the C kernels run (else the Numba / NumPy paths, with the same numbers).

    Decided once per process (``DAFXKIT_DISABLE_NATIVE`` is read on first use).
    """
    return _handles() is not None


def _dp(array: np.ndarray):
    # A double * view of a C-contiguous float64 array (callers guarantee the layout).
    return _handles()[1].from_buffer("double[]", array)


def _ip(array: np.ndarray):
    return _handles()[1].from_buffer("int64_t[]", array)


def db2mag(db: float) -> float:
    """Linear magnitude of a level in dB (``10 ** (db / 20)``)."""
    return 10.0 ** (db / 20.0)


def sigmoid(x: float, offset: float = 0.2, n: float = 10) -> float:
    """The reference's weighting sigmoid ``x**n / (x**n + offset)``."""
    return x**n / (x**n + offset)


# --------------------------------------------------------------------------------------------
# Butterworth filters
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _butter_cached(order: int, wn: float, kind: str) -> tuple[np.ndarray, np.ndarray]:
    b, a = scipy.signal.butter(order, wn, kind)
    b = np.ascontiguousarray(b, dtype=np.float64)
    a = np.ascontiguousarray(a, dtype=np.float64)
    b.setflags(write=False)
    a.setflags(write=False)
    return b, a


def butter2(
    kind: str, crossover: float, fs: float, order: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """``(b, a)`` of the reference's design ``butter(order, crossover / (fs / 2), kind)``.

    ``kind`` is ``"high"`` or ``"low"``; the arrays are cached and read-only. The design itself is
    scipy's (run once per setting), so the coefficients are the reference's bit for bit.
    """
    nyq = 0.5 * fs
    return _butter_cached(int(order), float(crossover / nyq), kind)


@njit(cache=True, nogil=True)
def _lfilter_df2t(b, a, x, out):
    # Direct form II transposed with scipy's operation order (a[0] == 1 after normalising).
    n_coef = b.shape[0]
    z = np.zeros(n_coef)
    for k in range(x.shape[0]):
        xn = x[k]
        yn = z[0] + b[0] * xn
        for i in range(n_coef - 2):
            z[i] = z[i + 1] + b[i + 1] * xn - a[i + 1] * yn
        z[n_coef - 2] = b[n_coef - 1] * xn - a[n_coef - 1] * yn
        out[k] = yn


@njit(cache=True, nogil=True)
def _biquad_cascade(coefs, x, out):
    # coefs: (stages, 5) rows (b0, b1, b2, a1, a2); stage s feeds stage s + 1 sample by sample,
    # which gives the same numbers as running the stages one after another over the whole array.
    n_stages = coefs.shape[0]
    z0 = np.zeros(n_stages)
    z1 = np.zeros(n_stages)
    for k in range(x.shape[0]):
        v = x[k]
        for s in range(n_stages):
            b0 = coefs[s, 0]
            b1 = coefs[s, 1]
            b2 = coefs[s, 2]
            a1 = coefs[s, 3]
            a2 = coefs[s, 4]
            y = z0[s] + b0 * v
            z0[s] = z1[s] + b1 * v - a1 * y
            z1[s] = b2 * v - a2 * y
            v = y
        out[k] = v


def lfilter(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``scipy.signal.lfilter(b, a, x)`` for 1-D float64 ``x`` (zero initial state)."""
    b = np.asarray(b, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if a[0] != 1.0:
        b = b / a[0]
        a = a / a[0]
    n = max(b.shape[0], a.shape[0])
    b = np.pad(b, (0, n - b.shape[0]))
    a = np.pad(a, (0, n - a.shape[0]))
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    if n == 1:
        np.multiply(x, b[0], out=out)
    else:
        _lfilter_df2t(b, a, x, out)
    return out


def filter_audio_highpass(x: np.ndarray, crossover: float, fs: float, order: int = 2) -> np.ndarray:
    """The reference's ``filter_audio_highpass``: one causal Butterworth pass."""
    b, a = butter2("high", crossover, fs, order)
    return lfilter(b, a, x)


def filter_audio_lowpass(x: np.ndarray, crossover: float, fs: float, order: int = 2) -> np.ndarray:
    """The reference's ``filter_audio_lowpass``: one causal Butterworth pass."""
    b, a = butter2("low", crossover, fs, order)
    return lfilter(b, a, x)


def _stage_rows(kind: str, crossover: float, fs: float, passes: int) -> np.ndarray:
    b, a = butter2(kind, crossover, fs, 2)
    row = np.array([b[0], b[1], b[2], a[1], a[2]])
    return np.tile(row, (passes, 1))


def lfilter_cascade_rows(rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x`` through biquads given as ``(stages, 5)`` rows ``(b0, b1, b2, a1, a2)`` in series,
    each stage as ``scipy.signal.lfilter`` computes it."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _biquad_cascade(np.ascontiguousarray(rows, dtype=np.float64), x, out)
    return out


def filter_cascade(x: np.ndarray, fs: float, stages: list[tuple[str, float, int]]) -> np.ndarray:
    """Second-order Butterworth passes in series, fused into one loop over the samples.

    ``stages`` lists ``(kind, crossover_hz, passes)``; e.g. ``[("high", 20.0, 3)]`` is the
    reference's three successive ``filter_audio_highpass(..., 20, fs)`` calls, with identical
    numbers.
    """
    rows = np.concatenate([_stage_rows(k, c, fs, p) for k, c, p in stages], axis=0)
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _biquad_cascade(rows, x, out)
    return out


# --------------------------------------------------------------------------------------------
# Envelopes
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _sample_and_hold(x, decay, hold_samples, out):
    previous = 0.0
    hold_counter = 0
    for k in range(x.shape[0]):
        sample = abs(x[k])
        if sample >= previous:
            previous = sample
            hold_counter = 0
        elif hold_counter < hold_samples:
            hold_counter += 1
        else:
            decayed = previous - decay
            previous = decayed if decayed > sample else sample
        out[k] = previous


def sample_and_hold_envelope(
    x: np.ndarray, fs: float, decay_time: float = 0.2, hold_time: float = 0.01
) -> np.ndarray:
    """The reference's ``sample_and_hold_envelope_calculation``: peak hold, then linear decay.

    The decay rate is the clip's peak over ``decay_time * fs`` samples; the hold lasts
    ``hold_time * fs`` samples after each new peak.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    if x.shape[0] == 0:
        return out
    decay = _max_abs(x) / (decay_time * fs)
    _sample_and_hold(x, decay, hold_time * fs, out)
    return out


@njit(cache=True, nogil=True)
def _max_abs(x):
    # max(abs(x)) without a temporary array; four partial maxima (x non-empty, finite).
    m0 = m1 = m2 = m3 = 0.0
    n = x.shape[0]
    k = 0
    while k + 4 <= n:
        a = abs(x[k])
        b = abs(x[k + 1])
        c = abs(x[k + 2])
        d = abs(x[k + 3])
        m0 = a if a > m0 else m0
        m1 = b if b > m1 else m1
        m2 = c if c > m2 else m2
        m3 = d if d > m3 else m3
        k += 4
    while k < n:
        a = abs(x[k])
        m0 = a if a > m0 else m0
        k += 1
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


@njit(cache=True, nogil=True)
def _rms_envelope(x, step_size, overlap_step):
    n = x.shape[0]
    count = 1
    i = 0
    while i < n - step_size:
        count += 1
        i += overlap_step
    out = np.empty(count)
    # Whole blocks four at a time: four independent sums (each still in sample order) keep the
    # adder busy instead of waiting on one chain.
    j = 0
    while j + 4 <= count - 1:
        i0 = j * overlap_step
        i1 = i0 + overlap_step
        i2 = i1 + overlap_step
        i3 = i2 + overlap_step
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for k in range(step_size):
            v0 = x[i0 + k]
            v1 = x[i1 + k]
            v2 = x[i2 + k]
            v3 = x[i3 + k]
            a0 += v0 * v0
            a1 += v1 * v1
            a2 += v2 * v2
            a3 += v3 * v3
        out[j] = math.sqrt(a0 / step_size)
        out[j + 1] = math.sqrt(a1 / step_size)
        out[j + 2] = math.sqrt(a2 / step_size)
        out[j + 3] = math.sqrt(a3 / step_size)
        j += 4
    i = j * overlap_step
    while i < n - step_size:
        acc = 0.0
        for k in range(i, i + step_size):
            acc += x[k] * x[k]
        out[j] = math.sqrt(acc / step_size)
        j += 1
        i += overlap_step
    acc = 0.0
    for k in range(i, n):
        acc += x[k] * x[k]
    out[j] = math.sqrt(acc / (n - i)) if n > i else 0.0
    return out


def rms_envelope(
    x: np.ndarray, step_size: int = 256, overlap_step: int = 256, normalise: bool = True
) -> np.ndarray:
    """The reference's ``calculate_rms_enveope``: RMS of ``step_size`` blocks every
    ``overlap_step`` samples plus one for the remainder, scaled to a peak of 1.

    An all-zero envelope stays zero (the reference divides by zero there).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = _rms_envelope(x, int(step_size), int(overlap_step))
    if normalise:
        peak = np.max(np.abs(out))
        if peak > 0:
            out = out * (1.0 / peak)
    return out


# --------------------------------------------------------------------------------------------
# Windows and spectrograms
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window('hann', n)``, as librosa uses)."""
    w = scipy.signal.get_window("hann", n)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=32)
def hamming_window(n: int) -> np.ndarray:
    """Periodic Hamming window (``scipy.signal.get_window('hamming', n)``, as spectrogram uses)."""
    w = scipy.signal.get_window("hamming", n)
    w.setflags(write=False)
    return w


def frame_count(n_samples: int, nperseg: int, noverlap: int) -> int:
    """Segments ``scipy.signal.spectrogram`` makes of ``n_samples`` (no padding, no boundary)."""
    return max(0, (n_samples - noverlap) // (nperseg - noverlap))


# --------------------------------------------------------------------------------------------
# Onset strength and detection (librosa 0.11 defaults)
# --------------------------------------------------------------------------------------------


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    # Slaney's auditory-toolbox scale: linear below 1 kHz, logarithmic above.
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    above = f >= min_log_hz
    return np.where(
        above, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels
    )


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    above = m >= min_log_mel
    return np.where(above, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sr: float, n_fft: int = 2048, n_mels: int = 128) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` Slaney-normalised triangular mel filters from 0 Hz to
    ``sr / 2``, rounded to float32 as librosa's default mel basis is (returned as float64)."""
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_edges = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2)
    hz_edges = _mel_to_hz(mel_edges)
    widths = np.diff(hz_edges)
    ramps = hz_edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    # Rounded to float32 before and after the Slaney normalisation, as librosa's float32 basis is.
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32).astype(np.float64)
    weights *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    out = weights.astype(np.float32).astype(np.float64)
    out.setflags(write=False)
    return out


def onset_strength(
    y: np.ndarray, sr: float, n_fft: int = 2048, hop_length: int = 512
) -> np.ndarray:
    """``librosa.onset.onset_strength(y=y, sr=sr)`` with librosa 0.11's defaults.

    Power spectrogram (periodic Hann, centred frames, zero padding), 128 Slaney mel bands up to
    ``sr / 2``, ``power_to_db`` (floor 1e-10, 80 dB below the peak), lag-1 positive flux
    averaged over bands, shifted by three frames; one value per frame.
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    frames = 1 + (y.shape[0] + 2 * (n_fft // 2) - n_fft) // hop_length
    mel = stft_reduce(
        y,
        -(n_fft // 2),
        hop_length,
        frames,
        n_fft,
        n_fft,
        hann_window(n_fft),
        False,
        mel_sr=float(sr),
    )["mel"]
    if use_native():
        env = np.empty(frames)
        _handles()[0].dafx_timbral_mel_flux(_dp(mel), frames, 128, 1e-10, 80.0, _dp(env))
        return env
    return _mel_flux_from_bands(mel, 1e-10, 80.0)


@functools.lru_cache(maxsize=16)
def _mel_bins(sr: float, n_fft: int, n_mels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Per bin: the first band holding it and its weights in that band and the next.
    from dafxkit.descriptors.mfcc import bin_bands

    return bin_bands(mel_filterbank(sr, n_fft, n_mels))


@njit(cache=True, nogil=True)
def _mel_flux_from_bands(mel, amin, top_db):
    n_frames, n_mels = mel.shape
    mel_db = np.empty((n_frames, n_mels))
    peak = -np.inf
    for t in range(n_frames):
        for m in range(n_mels):
            v = 10.0 * math.log10(mel[t, m] if mel[t, m] > amin else amin)
            mel_db[t, m] = v
            peak = max(peak, v)
    floor = peak - top_db
    env = np.zeros(n_frames)
    for t in range(3, n_frames):
        acc = 0.0
        for m in range(n_mels):
            d = max(mel_db[t - 2, m], floor) - max(mel_db[t - 3, m], floor)
            if d > 0.0:
                acc += d
        env[t] = acc / n_mels
    return env


def peak_pick_params(sr: float, hop_length: int = 512) -> tuple[int, int, int, int, int, float]:
    """librosa's onset_detect defaults ``(pre_max, post_max, pre_avg, post_avg, wait, delta)``
    in frames: 30 ms / 0 ms (+1) maxima, 100 ms / 100 ms (+1) averages, 30 ms wait."""
    pre_max = math.ceil(0.03 * sr // hop_length)
    post_max = math.ceil(0.00 * sr // hop_length + 1)
    pre_avg = math.ceil(0.10 * sr // hop_length)
    post_avg = math.ceil(0.10 * sr // hop_length + 1)
    wait = math.ceil(0.03 * sr // hop_length)
    return pre_max, post_max, pre_avg, post_avg, wait, 0.07


@njit(cache=True, nogil=True)
def _peak_pick(x, pre_max, post_max, pre_avg, post_avg, delta, wait):
    n_total = x.shape[0]
    peaks = np.zeros(n_total, dtype=np.bool_)
    if n_total == 0:
        return peaks
    hi = min(post_max, n_total)
    mx = x[0]
    for k in range(hi):
        mx = max(mx, x[k])
    ok = x[0] >= mx
    hi = min(post_avg, n_total)
    acc = 0.0
    for k in range(hi):
        acc += x[k]
    ok = ok and (x[0] >= acc / hi + delta)
    peaks[0] = ok
    n = wait + 1 if ok else 1
    while n < n_total:
        lo = max(0, n - pre_max)
        hi = min(n + post_max, n_total)
        mx = x[lo]
        for k in range(lo, hi):
            mx = max(mx, x[k])
        if x[n] != mx:
            n += 1
            continue
        lo = max(0, n - pre_avg)
        hi = min(n + post_avg, n_total)
        acc = 0.0
        for k in range(lo, hi):
            acc += x[k]
        if not (x[n] >= acc / (hi - lo) + delta):
            n += 1
            continue
        peaks[n] = True
        n += wait + 1
    return peaks


@njit(cache=True, nogil=True)
def _backtrack(events, energy):
    # Each event moves to the latest local minimum of energy at or before it (frame 0 counts).
    n = energy.shape[0]
    minima = [0]
    for i in range(1, n - 1):
        if energy[i] <= energy[i - 1] and energy[i] < energy[i + 1]:
            minima.append(i)
    out = np.empty(events.shape[0], dtype=np.int64)
    for e in range(events.shape[0]):
        ev = events[e]
        best = 0
        for m in minima:
            if m <= ev:
                best = m
            else:
                break
        out[e] = best
    return out


def onset_detect(
    y: np.ndarray | None, sr: float, hop_length: int = 512, strength: np.ndarray | None = None
) -> np.ndarray:
    """``librosa.onset.onset_detect(y=y, sr=sr, backtrack=True, units='samples')``.

    Pass ``strength`` (from `onset_strength`) to reuse an envelope already computed; then
    ``y`` is not read. Returns int64 sample indices (empty when the envelope is flat).
    """
    env = onset_strength(y, sr, hop_length=hop_length) if strength is None else strength
    env = env - np.min(env) if env.size else env
    if env.size:
        env = env / (np.max(env) + np.finfo(np.float64).tiny)
    if not env.any() or not np.all(np.isfinite(env)):
        return np.zeros(0, dtype=np.int64)
    pre_max, post_max, pre_avg, post_avg, wait, delta = peak_pick_params(sr, hop_length)
    peaks = np.flatnonzero(_peak_pick(env, pre_max, post_max, pre_avg, post_avg, delta, wait))
    frames = _backtrack(peaks.astype(np.int64), env)
    return frames * hop_length


# --------------------------------------------------------------------------------------------
# calculate_onsets (timbral_util) with return_loop
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _argmin_first(env, lo, hi):
    # (index, value) of the first minimum of env[lo:hi] (hi > lo); four interleaved partial
    # minima break the compare-and-select dependency from one element to the next.
    v0 = v1 = v2 = v3 = env[lo]
    i0 = i1 = i2 = i3 = lo
    k = lo
    while k + 4 <= hi:
        a = env[k]
        b = env[k + 1]
        c = env[k + 2]
        d = env[k + 3]
        if a < v0:
            v0 = a
            i0 = k
        if b < v1:
            v1 = b
            i1 = k + 1
        if c < v2:
            v2 = c
            i2 = k + 2
        if d < v3:
            v3 = d
            i3 = k + 3
        k += 4
    while k < hi:
        a = env[k]
        if a < v0:
            v0 = a
            i0 = k
        k += 1
    # Smallest value; among equal values the earliest index.
    if v1 < v0 or (v1 == v0 and i1 < i0):
        v0 = v1
        i0 = i1
    if v3 < v2 or (v3 == v2 and i3 < i2):
        v2 = v3
        i2 = i3
    if v2 < v0 or (v2 == v0 and i2 < i0):
        v0 = v2
        i0 = i2
    return i0, v0


@njit(cache=True, nogil=True, inline="always")
def _argmax_first(env, lo, hi):
    # (index, value) of the first maximum of env[lo:hi] (hi > lo).
    v0 = v1 = v2 = v3 = env[lo]
    i0 = i1 = i2 = i3 = lo
    k = lo
    while k + 4 <= hi:
        a = env[k]
        b = env[k + 1]
        c = env[k + 2]
        d = env[k + 3]
        if a > v0:
            v0 = a
            i0 = k
        if b > v1:
            v1 = b
            i1 = k + 1
        if c > v2:
            v2 = c
            i2 = k + 2
        if d > v3:
            v3 = d
            i3 = k + 3
        k += 4
    while k < hi:
        a = env[k]
        if a > v0:
            v0 = a
            i0 = k
        k += 1
    if v1 > v0 or (v1 == v0 and i1 < i0):
        v0 = v1
        i0 = i1
    if v3 > v2 or (v3 == v2 and i3 < i2):
        v2 = v3
        i2 = i3
    if v2 > v0 or (v2 == v0 and i2 < i0):
        v0 = v2
        i0 = i2
    return i0, v0


@njit(cache=True, nogil=True)
def min_max(env, lo, hi):
    """(min, max) of env[lo:hi] (hi > lo) in one pass, values only: eight partial minima and
    maxima (no index to track) keep the compare-and-select chains independent."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = env[lo]
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = env[lo]
    k = lo
    while k + 8 <= hi:
        v0 = env[k]
        v1 = env[k + 1]
        v2 = env[k + 2]
        v3 = env[k + 3]
        v4 = env[k + 4]
        v5 = env[k + 5]
        v6 = env[k + 6]
        v7 = env[k + 7]
        a0 = v0 if v0 < a0 else a0
        a1 = v1 if v1 < a1 else a1
        a2 = v2 if v2 < a2 else a2
        a3 = v3 if v3 < a3 else a3
        a4 = v4 if v4 < a4 else a4
        a5 = v5 if v5 < a5 else a5
        a6 = v6 if v6 < a6 else a6
        a7 = v7 if v7 < a7 else a7
        b0 = v0 if v0 > b0 else b0
        b1 = v1 if v1 > b1 else b1
        b2 = v2 if v2 > b2 else b2
        b3 = v3 if v3 > b3 else b3
        b4 = v4 if v4 > b4 else b4
        b5 = v5 if v5 > b5 else b5
        b6 = v6 if v6 > b6 else b6
        b7 = v7 if v7 > b7 else b7
        k += 8
    while k < hi:
        v = env[k]
        a0 = v if v < a0 else a0
        b0 = v if v > b0 else b0
        k += 1
    mn = min(min(min(a0, a1), min(a2, a3)), min(min(a4, a5), min(a6, a7)))
    mx = max(max(max(b0, b1), max(b2, b3)), max(max(b4, b5), max(b6, b7)))
    return mn, mx


@njit(cache=True, nogil=True, inline="always")
def _range_min(env, lo, hi):
    return _argmin_first(env, lo, hi)[1]


@njit(cache=True, nogil=True)
def _return_loop(onset_loc, env, time_thresh, hist_threshold, hist_samples, nperseg):
    # Walk back from an onset to where the envelope stops falling (see calculate_onsets).
    # Returns (onset, degenerate): degenerate when the reference would raise.
    n = env.shape[0]
    while True:
        if onset_loc >= n or onset_loc < 0:
            return onset_loc, True
        current = env[onset_loc]
        if onset_loc - time_thresh > 0:
            lo = onset_loc - time_thresh - 1
            hi = onset_loc
        else:
            lo = 0
            hi = onset_loc - 1
        hi = min(hi, n)
        if hi <= lo:
            return onset_loc, True  # min() of an empty slice in the reference
        min_idx, min_val = _argmin_first(env, lo, hi)
        if min_val - current <= 0:
            new_loc = (min_idx - lo) + onset_loc - time_thresh - 1
            if new_loc > nperseg:
                onset_loc = new_loc
            else:
                return 0, False
        else:
            if onset_loc - hist_samples - 1 > 0:
                lo = onset_loc - hist_samples - 1
            else:
                lo = 0
            hi = onset_loc
            length = hi - lo
            last_min = -1
            for k in range(hi - 1, lo - 1, -1):
                if env[k] < current:
                    last_min = k - lo
                    break
            if last_min < 0:
                return onset_loc, False
            last_idx = onset_loc - length + last_min
            mn, mx = min_max(env, lo + last_min, hi)
            if mx - mn >= hist_threshold:
                return onset_loc, False
            if last_idx >= nperseg:
                onset_loc = last_idx
            else:
                return 0, False


@njit(cache=True, nogil=True)
def _calculate_onsets(
    onsets,
    env,
    strength,
    fs,
    look_back_time,
    hysteresis_time,
    hysteresis_percent,
    onset_in_noise_threshold,
    minimum_onset_time_separation,
    nperseg,
):
    n = env.shape[0]
    degenerate = 0
    zero = np.zeros(1, dtype=np.int64)
    if onsets.shape[0] == 0:
        return zero, degenerate

    time_thresh = int(look_back_time * 0.001 * fs)
    hist_samples = int(hysteresis_time * fs * 0.001)
    env_min, env_max = min_max(env, 0, n)
    dyn_range = env_max - env_min
    hist_threshold = dyn_range * hysteresis_percent * 0.01

    corrected = np.empty(onsets.shape[0], dtype=np.int64)
    m = 0
    for onset_idx in onsets:
        if onset_idx > 0:
            if m == 0 or onset_idx + 511 < n:
                loc, bad = _return_loop(
                    onset_idx, env, time_thresh, hist_threshold, hist_samples, nperseg
                )
                if bad:
                    degenerate += 1
                corrected[m] = loc
                m += 1
        else:
            corrected[m] = 0
            m += 1

    # Zeros mark failed corrections: dropped, except one in first place; then duplicates.
    kept = np.empty(m, dtype=np.int64)
    k = 0
    for i in range(m):
        c = corrected[i]
        if c == 0 and i != 0:
            continue
        dup = False
        for j in range(k):
            if kept[j] == c:
                dup = True
                break
        if not dup:
            kept[k] = c
            k += 1
    corrected = kept[:k]
    m = k

    # Drop onsets whose attack spans less than a tenth of the envelope's dynamic range,
    # scanning from the last; each segment runs to the next onset still standing.
    if m > 1:
        threshold = onset_in_noise_threshold * dyn_range * 0.01
        alive = np.ones(m, dtype=np.bool_)
        for i in range(m - 1, -1, -1):
            nxt = -1
            for j in range(i + 1, m):
                if alive[j]:
                    nxt = j
                    break
            start = corrected[i]
            stop = n if nxt < 0 else min(corrected[nxt], n)
            start = min(start, n)
            length = stop - start
            keep = False
            if length > 1:
                peak_idx, peak_val = _argmax_first(env, start, stop)
                if peak_idx > start:
                    mn = _range_min(env, start, peak_idx)
                    if peak_val - mn >= threshold:
                        keep = True
            if not keep:
                alive[i] = False
        kept = np.empty(m, dtype=np.int64)
        k = 0
        for i in range(m):
            if alive[i]:
                kept[k] = corrected[i]
                k += 1
        corrected = kept[:k]
        m = k

    # Thin onsets closer than the minimum separation, favouring the earlier one.
    if m > 1:
        min_sep = fs * 0.001 * minimum_onset_time_separation
        while m > 1:
            smallest = corrected[1] - corrected[0]
            for i in range(1, m - 1):
                smallest = min(smallest, corrected[i + 1] - corrected[i])
            if not smallest < min_sep:
                break
            remove = np.zeros(m, dtype=np.bool_)
            any_removed = False
            for i in range(m - 1):
                if abs(corrected[i + 1] - corrected[i]) < min_sep:
                    remove[i + 1] = True
                    any_removed = True
            if not any_removed:
                # Unsorted onsets: the reference loops forever here.
                degenerate += 1
                break
            k = 0
            for i in range(m):
                if not remove[i]:
                    corrected[k] = corrected[i]
                    k += 1
            corrected = corrected[:k].copy()
            m = k

    # Keep onsets followed by an onset strength of at least 3 before the next one.
    n_strength = strength.shape[0]
    frames = np.empty(m, dtype=np.int64)
    for i in range(m):
        frames[i] = corrected[i] // 512
    alive = np.ones(m, dtype=np.bool_)
    result = np.empty(m, dtype=np.int64)
    r = 0
    for i in range(m - 1, -1, -1):
        current = frames[i]
        last = -1
        for j in range(m - 1, -1, -1):
            if alive[j]:
                last = j
                break
        nxt = -1
        for j in range(i + 1, m):
            if alive[j]:
                nxt = j
                break
        if current == frames[last]:
            stop = n_strength
        else:
            stop = frames[nxt]
        start = min(current, n_strength)
        stop = min(stop, n_strength)
        if stop <= start:
            degenerate += 1  # max() of an empty slice in the reference
            alive[i] = False
            continue
        mx = strength[start]
        for q in range(start, stop):
            mx = max(mx, strength[q])
        if mx < 3:
            alive[i] = False
        else:
            result[r] = corrected[i]
            r += 1
    if r == 0:
        return zero, degenerate
    return np.sort(result[:r]), degenerate


def calculate_onsets(
    audio: np.ndarray,
    envelope: np.ndarray,
    fs: float,
    look_back_time: float = 20,
    hysteresis_time: float = 300,
    hysteresis_percent: float = 10,
    onset_in_noise_threshold: float = 10,
    minimum_onset_time_separation: float = 100,
    nperseg: int = 512,
    strength: np.ndarray | None = None,
    return_degenerate: bool = False,
):
    """The reference's ``calculate_onsets``: librosa onsets refined against ``envelope``.

    Each detected onset walks back to where the envelope stops falling (with 20 ms look-back
    and a 300 ms / 10 % hysteresis); onsets in noise (attack under 10 % of the envelope's
    range), closer than 100 ms, or not followed by an onset strength of 3 are dropped.

    Returns a sorted int64 array of sample indices, ``[0]`` when none survive. Pass
    ``strength`` (``onset_strength(audio, fs)``) to reuse it. With ``return_degenerate=True``
    also returns how many times the reference would have raised or looped forever (each such
    step is skipped here).
    """
    audio = np.ascontiguousarray(audio, dtype=np.float64)
    envelope = np.ascontiguousarray(envelope, dtype=np.float64)
    if strength is None:
        strength = onset_strength(audio, fs)
    onsets = onset_detect(None, fs, strength=strength)
    if envelope.shape[0] == 0:
        result, degenerate = np.zeros(1, dtype=np.int64), 0
    else:
        result, degenerate = _calculate_onsets(
            onsets.astype(np.int64),
            envelope,
            np.ascontiguousarray(strength, dtype=np.float64),
            float(fs),
            float(look_back_time),
            float(hysteresis_time),
            float(hysteresis_percent),
            float(onset_in_noise_threshold),
            float(minimum_onset_time_separation),
            int(nperseg),
        )
    return (result, degenerate) if return_degenerate else result


# --------------------------------------------------------------------------------------------
# detect_peaks (mirpeaks)
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _app(array, n, i):
    # The reference's appended array: -2 on either side of array.
    return -2.0 if i == 0 or i == n + 1 else array[i - 1]


@njit(cache=True, nogil=True)
def _detect_peaks(array, unprocessed, freq, cthr, by_level):
    # mirpeaks on the reference's appended array (a -2, frequency -1, on either side lets the
    # ends be peaks), read through _app instead of copied; indices below are into it.
    n = array.shape[0]
    # Local maxima at least cthr high.
    mx = np.empty(n, dtype=np.int64)
    n_mx = 0
    prev = -2.0
    cur = array[0] if n > 0 else -2.0
    for i in range(n):
        nxt = array[i + 1] if i + 1 < n else -2.0
        if cur >= cthr and cur - prev > 0 and nxt - cur <= 0:
            mx[n_mx] = i + 1
            n_mx += 1
        prev = cur
        cur = nxt

    finalmx = np.empty(n_mx, dtype=np.int64)
    count = 0
    if n_mx > 0:
        j = 0
        mxj = mx[j]
        jj = j + 1
        bufmin = 2.0
        bufmax = _app(array, n, mxj)
        oldbufmin = _app(array, n, 0)
        for q in range(mxj - 1):
            oldbufmin = min(oldbufmin, _app(array, n, q))
        while jj < n_mx:
            if mx[jj - 1] + 1 == mx[jj] - 1:
                bufmin = min(bufmin, _app(array, n, mx[jj - 1]))
            else:
                seg_min = np.inf
                for q in range(mx[jj - 1], mx[jj] - 1):
                    seg_min = min(seg_min, _app(array, n, q))
                bufmin = min(bufmin, seg_min)
            if bufmax - bufmin < cthr:
                if _app(array, n, mx[jj]) > bufmax:
                    j = jj
                    mxj = mx[j]
                    bufmax = _app(array, n, mxj)
                    oldbufmin = min(oldbufmin, bufmin)
                    bufmin = 2.0
                elif _app(array, n, mx[jj]) - bufmax <= 0:
                    bufmax = max(bufmax, _app(array, n, mx[jj]))
                    oldbufmin = min(oldbufmin, bufmin)
            else:
                if bufmax - oldbufmin < cthr:
                    oldbufmin = min(oldbufmin, bufmin)
                else:
                    finalmx[count] = mxj
                    count += 1
                    oldbufmin = bufmin
                bufmax = _app(array, n, mx[jj])
                j = jj
                mxj = mx[j]
                bufmin = 2.0
            jj += 1
        tail_min = np.inf
        for q in range(mx[j] + 1, n + 2):
            tail_min = min(tail_min, _app(array, n, q))
        if bufmax - oldbufmin >= cthr and bufmax - tail_min >= cthr:
            finalmx[count] = mx[j]
            count += 1

    idx = finalmx[:count]
    if by_level:
        heights = np.empty(count)
        for i in range(count):
            heights[i] = _app(array, n, idx[i])
        # Descending by level, ties latest first (a stable ascending sort, reversed). The
        # Python wrapper sorts with NumPy's default sort instead, as the reference does.
        order = np.argsort(heights, kind="mergesort")[::-1]
        idx = idx[order]
    peak_idx = idx - 1
    values = np.empty(count)
    positions = np.empty(count)
    has_position = np.ones(count, dtype=np.bool_)
    for i in range(count):
        c = idx[i]
        if 1 < c < n:
            y0 = unprocessed[c - 1]
            ym = unprocessed[c - 2]
            yp = unprocessed[c]
            curvature = 2 * (2 * y0 - yp - ym)
            if curvature == 0.0:
                # No parabola (a flat spectrum's rounding ripple can pick such a peak, the
                # unprocessed values collinear): the reference divides by zero, an infinite
                # or NaN p, and has no usable position for this peak.
                values[i] = y0
                positions[i] = np.nan
                has_position[i] = False
                continue
            p = (yp - ym) / curvature
            values[i] = y0 - (0.25 * (ym - yp) * p)
            if p >= 0:
                positions[i] = ((1 - p) * freq[c - 1]) + (p * freq[c])
            else:
                positions[i] = ((1 + p) * freq[c - 1]) - (p * freq[c - 2])
        else:
            values[i] = unprocessed[c - 1]
            positions[i] = freq[c - 1]
    return peak_idx, values, positions, has_position


def detect_peaks(
    array: np.ndarray,
    freq: np.ndarray | None = None,
    cthr: float = 0.2,
    unprocessed_array: np.ndarray | None = None,
    fs: float = 44100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference's ``detect_peaks`` (mirpeaks): peaks at least ``cthr`` high and separated
    by a notch of ``cthr``, sorted by height, with parabolic interpolation of value and position.

    Returns ``(peak_idx, peak_value, peak_x)`` arrays (empty when there is no peak); ``freq``
    defaults to ``linspace(0, fs / 2, len(array))``.
    """
    array = np.ascontiguousarray(np.ravel(array), dtype=np.float64)
    if freq is None or np.isscalar(freq):
        freq = np.linspace(0, fs / 2.0, array.shape[0])
    unprocessed = array if unprocessed_array is None else np.ravel(unprocessed_array)
    peak_idx, values, positions, has_position = _detect_peaks(
        array,
        np.ascontiguousarray(unprocessed, dtype=np.float64),
        np.ascontiguousarray(freq, dtype=np.float64),
        float(cthr),
        False,
    )
    # Descending by level with NumPy's default (unstable) sort on the peaks in position order,
    # exactly as the reference orders them: equal peaks come out in the same order.
    order = np.argsort(array[peak_idx])[::-1]
    peak_idx, values, positions, has_position = (
        peak_idx[order],
        values[order],
        positions[order],
        has_position[order],
    )
    return peak_idx, values, positions[has_position]


# --------------------------------------------------------------------------------------------
# Fused filter bank, frame energies and STFT reductions (C, with NumPy / Numba fallbacks)
# --------------------------------------------------------------------------------------------

#: The band filters brightness and depth run on the 20 Hz high-passed signal, in this order:
#: ``(kind, crossover_hz)``, each applied three times.
BAND_FILTERS: tuple[tuple[str, float], ...] = (
    ("high", 2000.0),
    ("high", 100.0),
    ("low", 2000.0),
    ("low", 500.0),
)

_IDENTITY_ROW = np.array([[1.0, 0.0, 0.0, 0.0, 0.0]])


@functools.lru_cache(maxsize=16)
def _band_rows(fs: float) -> tuple[np.ndarray, np.ndarray]:
    hp_rows = _stage_rows("high", 20.0, fs, 3)
    band_rows = np.ascontiguousarray(
        np.stack([_stage_rows(k, fc, fs, 3) for k, fc in BAND_FILTERS])
    )
    return hp_rows, band_rows


def band_filters(
    x: np.ndarray, fs: float, k_weighting: np.ndarray | None = None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``(k_weighted, highpassed, bands)`` of ``x`` in one pass over it.

    ``highpassed`` is ``x`` through three 20 Hz Butterworth high-pass passes; ``bands`` is
    ``(4, n)``: ``highpassed`` through each of `BAND_FILTERS` (three passes each). With
    ``k_weighting`` (``(2, 5)`` biquad rows) ``k_weighted`` is ``x`` through them, else None.
    Each chain gives the numbers of the reference's successive ``lfilter`` calls up to
    rounding (the C kernel uses fused multiply-adds where the CPU has them; the Numba path
    gives them exactly).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    hp_rows, band_rows = _band_rows(float(fs))
    kw_rows = _IDENTITY_ROW if k_weighting is None else np.asarray(k_weighting, dtype=np.float64)
    kw_rows = np.concatenate([kw_rows, np.tile(_IDENTITY_ROW, (3 - kw_rows.shape[0], 1))])
    n = x.shape[0]
    if use_native():
        front = np.ascontiguousarray(np.stack([kw_rows, hp_rows]))
        # One allocation for all six outputs: per clip, it is the largest block by far, which
        # keeps glibc's adaptive thresholds from unmapping and faulting memory clip after clip.
        out = np.empty((6, n))
        out_front, out_bands = out[:2], out[2:]
        if n:
            _handles()[0].dafx_timbral_filters(
                _dp(x), n, _dp(front), _dp(band_rows), _dp(out_front), _dp(out_bands)
            )
        kw = out_front[0] if k_weighting is not None else None
        return kw, out_front[1], out_bands
    kw = None
    if k_weighting is not None:
        kw = np.empty(n)
        _biquad_cascade(np.ascontiguousarray(kw_rows), x, kw)
    hp = np.empty(n)
    _biquad_cascade(hp_rows, x, hp)
    bands = np.empty((4, n))
    for i in range(4):
        _biquad_cascade(np.ascontiguousarray(band_rows[i]), hp, bands[i])
    return kw, hp, bands


def _frames_numpy(x, first, hop, frames, nperseg, starts=None):
    # (frames, nperseg) copies of the frames; samples outside x read as zeros. With starts,
    # frame t starts at starts[t] (first and hop unused).
    if starts is not None:
        lo = min(int(starts.min()), 0)
        padded = np.zeros(max(int(starts.max()) + nperseg, x.shape[0]) - lo)
        padded[-lo : -lo + x.shape[0]] = x
        return padded[(starts - lo)[:, None] + np.arange(nperseg)]
    lo = min(first, 0)
    hi = max(first + (frames - 1) * hop + nperseg, x.shape[0])
    padded = np.zeros(hi - lo)
    padded[-lo : -lo + x.shape[0]] = x
    view = np.lib.stride_tricks.sliding_window_view(padded, nperseg)
    start = first - lo
    return view[start : start + (frames - 1) * hop + 1 : hop][:frames]


def frame_energy(
    x: np.ndarray,
    first: int,
    hop: int,
    frames: int,
    nperseg: int,
    window: np.ndarray,
    detrend: bool,
) -> np.ndarray:
    """Per frame, ``sum((window * (frame - mean)) ** 2)`` (mean 0 unless ``detrend``).

    Frame ``t`` holds ``x[first + t * hop :][:nperseg]`` (zeros outside ``x``). Times ``nfft``,
    this is the sum over all bins of the frame's power spectrum (Parseval), so the total power of
    a ``scipy.signal.spectrogram`` column is ``nfft * energy / sum(window) ** 2``.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    w2 = np.ascontiguousarray(np.asarray(window, dtype=np.float64) ** 2)
    if frames <= 0:
        return np.zeros(0)
    if use_native():
        out = np.empty(frames)
        _handles()[0].dafx_timbral_frame_energy(
            _dp(x),
            x.shape[0],
            int(first),
            int(hop),
            int(frames),
            int(nperseg),
            _dp(w2),
            int(bool(detrend)),
            _dp(out),
        )
        return out
    seg = _frames_numpy(x, first, hop, frames, nperseg)
    if detrend:
        seg = seg - seg.mean(axis=-1, keepdims=True)
    return (seg**2) @ w2


@functools.lru_cache(maxsize=8)
def _fft_tables(nfft: int) -> tuple[np.ndarray, ...]:
    m = nfft // 2
    t = np.arange(m)
    k = np.arange(m + 1)
    bits = m.bit_length() - 1
    rev = np.zeros(m, dtype=np.int64)
    for b in range(bits):
        rev |= ((t >> b) & 1) << (bits - 1 - b)
    tables = (
        np.cos(2 * np.pi * t / m),
        np.sin(2 * np.pi * t / m),
        np.cos(2 * np.pi * k / nfft),
        np.sin(2 * np.pi * k / nfft),
        rev,
    )
    for a in tables:
        a.setflags(write=False)
    return tables


def stft_reduce(
    x: np.ndarray,
    first: int,
    hop: int,
    frames: int,
    nperseg: int,
    nfft: int,
    window: np.ndarray,
    detrend: bool,
    sum_power: bool = False,
    moments: bool = False,
    mel_sr: float | None = None,
    single: bool = False,
    magnitude: bool = False,
    starts: np.ndarray | None = None,
    spectrum: bool = False,
) -> dict[str, np.ndarray]:
    """Reductions of the power spectra of ``x``'s frames, without keeping the spectrogram.

    Frame ``t`` is ``x[first + t * hop :][:nperseg]`` (or ``x[starts[t]:][:nperseg]`` when
    ``starts`` is given: ``frames`` is then its length, ``first`` and ``hop`` are unused; zeros
    outside ``x``), minus its mean when ``detrend``, times ``window``, zero-padded to ``nfft``
    (a power of two >= 8). With the
    one-sided power ``P[t, k] = c_k |X[t, k]| ** 2`` (``c`` = 1 at DC and Nyquist, else 2: the
    unscaled column of ``scipy.signal.spectrogram(..., scaling='spectrum')``), the result holds:

    - ``"sum_power"`` (``sum_power=True``): ``P.sum(axis=0)``, ``nfft // 2 + 1`` values;
    - ``"moment"``, ``"total"`` (``moments=True``): per frame ``sum_k k P[t, k]`` and
      ``sum_k P[t, k]``;
    - ``"mel"`` (``mel_sr`` given): ``(frames, 128)`` band powers of ``|X| ** 2`` through
      `mel_filterbank` ``(mel_sr, nfft)``;
    - ``"magnitude"`` (``magnitude=True``): ``(frames, nfft // 2 + 1)`` magnitudes ``|X[t, k]|``;
    - ``"spectrum"`` (``spectrum=True``): ``(frames, nfft // 2 + 1)`` complex64 ``X[t, k]``.

    (The last two are the spectrogram itself.)

    ``single=True`` lets the C kernel transform in float32 (sums stay float64; relative error
    about 1e-7 of a frame's power), for reductions whose use tolerates it.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    window = np.ascontiguousarray(window, dtype=np.float64)
    if starts is not None:
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        frames = starts.shape[0]
    m = nfft // 2
    out: dict[str, np.ndarray] = {}
    if sum_power:
        out["sum_power"] = np.zeros(m + 1)
    if moments:
        out["moment"] = np.zeros(frames)
        out["total"] = np.zeros(frames)
    if mel_sr is not None:
        out["mel"] = np.zeros((frames, 128))
    if magnitude:
        out["magnitude"] = np.zeros((frames, m + 1))
    if spectrum:
        out["spectrum"] = np.zeros((frames, m + 1), dtype=np.complex64)
    if frames <= 0:
        return out
    if use_native() and nfft >= 8 and nfft & (nfft - 1) == 0:
        cos_m, sin_m, cos_n, sin_n, rev = _fft_tables(nfft)
        lib, ffi = _handles()
        null = ffi.NULL

        def opt(name):
            return _dp(out[name]) if name in out else null

        if mel_sr is not None:
            bin_band, bin_w0, bin_w1 = _mel_bins(float(mel_sr), nfft, 128)
            mel_args = (128, _ip(bin_band), _dp(bin_w0), _dp(bin_w1))
        else:
            mel_args = (0, null, null, null)
        status = lib.dafx_timbral_stft(
            _dp(x),
            x.shape[0],
            int(first),
            int(hop),
            int(frames),
            null if starts is None else _ip(starts),
            int(nperseg),
            int(nfft),
            _dp(window),
            int(bool(detrend)),
            int(bool(single) and mel_sr is None),
            _dp(cos_m),
            _dp(sin_m),
            _dp(cos_n),
            _dp(sin_n),
            _ip(rev),
            opt("sum_power"),
            opt("moment"),
            opt("total"),
            opt("magnitude"),
            ffi.from_buffer("float[]", out["spectrum"]) if spectrum else null,
            *mel_args,
            opt("mel"),
        )
        if status == 0:
            return out
        # Out of memory in the C kernel: the NumPy path below needs more, but try it.
    seg = _frames_numpy(x, first, hop, frames, nperseg, starts)
    if detrend:
        seg = seg - seg.mean(axis=-1, keepdims=True)
    spec = scipy.fft.rfft(seg * window, n=nfft, axis=-1)
    if magnitude:
        out["magnitude"] = np.abs(spec)
    if spectrum:
        out["spectrum"] = spec.astype(np.complex64)
    power = spec.real**2 + spec.imag**2
    if mel_sr is not None:
        out["mel"] = power @ mel_filterbank(float(mel_sr), nfft, 128).T
    power[:, 1 : (m if nfft % 2 == 0 else m + 1)] *= 2.0
    if sum_power:
        out["sum_power"] = power.sum(axis=0)
    if moments:
        out["moment"] = power @ np.arange(m + 1, dtype=np.float64)
        out["total"] = power.sum(axis=1)
    return out


def istft_add(
    spectrum: np.ndarray,
    first: int,
    hop: int,
    window: np.ndarray,
    out: np.ndarray,
    single: bool = True,
) -> None:
    """Adds the windowed inverse real FFTs of ``spectrum``'s rows into ``out``: row ``t``
    (``nfft // 2 + 1`` complex64 values, ``nfft = len(window)``, a power of two >= 8) gives
    ``numpy.fft.irfft(row) * window`` at ``out[(first + t) * hop :]``, which must fit. That is
    librosa's inverse STFT before its window normalisation.

    The C kernel transforms in float32 (``single``) or float64; without it NumPy does.
    """
    spectrum = np.ascontiguousarray(spectrum, dtype=np.complex64)
    window = np.ascontiguousarray(window, dtype=np.float64)
    nfft = window.shape[0]
    frames = spectrum.shape[0]
    if spectrum.ndim != 2 or spectrum.shape[1] != nfft // 2 + 1:
        raise ValueError(f"spectrum rows must hold {nfft // 2 + 1} bins; got {spectrum.shape}")
    if frames and (first + frames - 1) * hop + nfft > out.shape[0]:
        raise ValueError("the frames reach past the end of out")
    if frames == 0:
        return
    if use_native() and nfft >= 8 and nfft & (nfft - 1) == 0 and out.flags.c_contiguous:
        cos_m, sin_m, cos_n, sin_n, rev = _fft_tables(nfft)
        lib, ffi = _handles()
        status = lib.dafx_timbral_istft(
            ffi.from_buffer("float[]", spectrum, require_writable=False),
            frames,
            nfft,
            _dp(window),
            int(hop),
            int(first),
            int(bool(single)),
            _dp(cos_m),
            _dp(sin_m),
            _dp(cos_n),
            _dp(sin_n),
            _ip(rev),
            _dp(out),
        )
        if status == 0:
            return
    dtype = np.float32 if single else np.float64
    frames_t = scipy.fft.irfft(spectrum.astype(np.result_type(dtype, np.complex64)), n=nfft)
    for t in range(frames):
        start = (first + t) * hop
        out[start : start + nfft] += frames_t[t] * window
