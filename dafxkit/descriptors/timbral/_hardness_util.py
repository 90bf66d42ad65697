"""Kernels of the hardness descriptor, each faithful to one step of timbral_models 0.4.0.

========================================  ==================================================
here                                      reference (``timbral_util`` unless said)
========================================  ==================================================
`percussive_ratio`                        ``get_percussive_audio(y, return_ratio=True)``:
                                          librosa 0.11 ``stft`` / ``decompose.hpss`` /
                                          ``istft`` with their defaults, then rms envelopes
`median_filter_31`                        ``scipy.ndimage.median_filter(S, (1, 31) or (31, 1),
                                          mode='reflect')`` as ``hpss`` calls it
`bandwidth_array`                         ``get_bandwidth_array(..., normalisation_method=
                                          'none')`` (boxcar ``scipy.signal.spectrogram``)
`attack_min_effort`                       ``calculate_attack_time`` (default 'min_effort')
`attack_fixed_threshold`                  ``calculate_attack_time(calculation_type=
                                          'fixed_threshold')``
`spectral_centroid(s)`                    ``get_spectral_features(...)[0]``
========================================  ==================================================

Each reproduces the reference to rounding error, except where the reference reads memory
outside its buffers (`median_filter_31` on lines of two or three values) or raises; those cases
are documented per function. Two take a faster route by default: `bandwidth_array` transforms
in float32 and redoes in float64 every frame whose decisions the float32 error could change
(so its output is the float64 output), and `percussive_ratio` runs its spectra and medians in
float32 (agreeing with float64 to about 1e-7, relative); both take ``exact=True`` for float64
throughout.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from numba import njit

from dafxkit.descriptors.timbral import _common
from dafxkit.descriptors.timbral._common import (
    _fft_tables,
    hann_window,
    istft_add,
    rms_envelope,
    stft_reduce,
)

__all__ = [
    "STFT_SIZE",
    "STFT_HOP",
    "MEDIAN_WIDTH",
    "median_filter_31",
    "percussive_ratio",
    "bandwidth_array",
    "attack_min_effort",
    "attack_fixed_threshold",
    "spectral_centroid",
    "spectral_centroids",
]

#: librosa's stft defaults, which the percussive ratio uses.
STFT_SIZE = 2048
STFT_HOP = 512
#: librosa's hpss kernel size (both directions).
MEDIAN_WIDTH = 31

_TINY = np.finfo(np.float64).tiny


# --------------------------------------------------------------------------------------------
# Running median with scipy.ndimage's 'reflect' edges
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _reflect(i, n):
    # Half-sample symmetric extension (d c b a | a b c d | d c b a), periodic in 2n.
    period = 2 * n
    i = i % period
    return i if i < n else period - 1 - i


@njit(cache=True, nogil=True)
def _running_median(ext, n, width, out, out_offset, out_stride):
    # Medians of ext[i : i + width] for i < n (width odd), written to
    # out[out_offset + i * out_stride]. A sorted copy of the window is updated by moving the
    # leaving value's slot to where the entering value belongs.
    half = width // 2
    buf = np.sort(ext[:width])
    out[out_offset] = buf[half]
    for i in range(1, n):
        old = ext[i - 1]
        new = ext[i + width - 1]
        if new != old:
            po = 0
            for k in range(width):
                po += buf[k] < old
            pn = 0
            for k in range(width):
                pn += buf[k] < new
            if new > old:
                # pn counts old itself: new lands at pn - 1, the values between move down.
                for k in range(po, pn - 1):
                    buf[k] = buf[k + 1]
                buf[pn - 1] = new
            else:
                for k in range(po, pn, -1):
                    buf[k] = buf[k - 1]
                buf[pn] = new
        out[out_offset + i * out_stride] = buf[half]


@njit(cache=True, nogil=True)
def _median_filter_rows(s, width):
    # s: (rows, cols) C-contiguous. Median over each row (along cols), reflect edges.
    rows, cols = s.shape
    half = width // 2
    out = np.empty(rows * cols, dtype=s.dtype)
    ext = np.empty(cols + width - 1, dtype=s.dtype)
    for r in range(rows):
        for j in range(cols + width - 1):
            ext[j] = s[r, _reflect(j - half, cols)]
        _running_median(ext, cols, width, out, r * cols, 1)
    return out.reshape(rows, cols)


def _median_native(s: np.ndarray, axis: int, width: int) -> np.ndarray | None:
    # The C kernel (SIMD over lines), or None when the C library is unavailable.
    from dafxkit import native

    if not native.available():
        return None
    rows, cols = s.shape
    out = np.empty_like(s)
    if axis == 0:  # along rows: n = rows, lanes are columns
        n, m, rs, cs = rows, cols, cols, 1
    else:  # along columns: n = cols, lanes are rows
        n, m, rs, cs = cols, rows, 1, cols
    lib, ffi = native.lib(), native.ffi()
    if s.dtype == np.float32:
        src = ffi.from_buffer("float[]", s, require_writable=False)
        dst = ffi.from_buffer("float[]", out)
        status = lib.dafx_running_median_f32(src, dst, n, m, rs, cs, rs, cs, width)
    else:
        src = native.double_ptr(s)
        dst = native.double_ptr(out)
        status = lib.dafx_running_median(src, dst, n, m, rs, cs, rs, cs, width)
    return out if status == 0 else None


def median_filter_31(s: np.ndarray, axis: int, width: int = MEDIAN_WIDTH) -> np.ndarray:
    """Running median of odd ``width`` along ``axis`` of a 2-D array, scipy's 'reflect' edges.

    Equals ``scipy.ndimage.median_filter(s, size, mode='reflect')`` with ``size`` ``width``
    along ``axis`` and 1 along the other, except on lines of two or three values with
    ``width > 5``, where scipy reads outside its buffer (its output there holds arbitrary
    values, even NaN); here the extension is the same periodic reflection as for every other
    length. float32 input stays float32 (twice the SIMD lanes); anything else is computed in
    float64. Runs in C when the compiled library is available, else Numba.
    """
    s = np.asarray(s)
    dtype = np.float32 if s.dtype == np.float32 else np.float64
    s = np.ascontiguousarray(s, dtype=dtype)
    if s.ndim != 2:
        raise ValueError(f"median_filter_31 needs a 2-D array; got shape {s.shape}")
    if width % 2 != 1 or width < 1:
        raise ValueError(f"median width must be a positive odd number; got {width}")
    if axis not in (0, 1, -1, -2):
        raise ValueError(f"axis must be 0 or 1; got {axis}")
    axis = axis % 2
    if s.size == 0:
        return s.copy()
    out = _median_native(s, axis, width)
    if out is not None:
        return out
    if axis == 1:
        return _median_filter_rows(s, width)
    return np.ascontiguousarray(_median_filter_rows(np.ascontiguousarray(s.T), width).T)


# --------------------------------------------------------------------------------------------
# Percussive ratio (harmonic-percussive separation)
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _magnitude(spec, out):
    for t in range(spec.shape[0]):
        for k in range(spec.shape[1]):
            re = spec[t, k].real
            im = spec[t, k].imag
            out[t, k] = math.sqrt(re * re + im * im)
    return out


@njit(cache=True, nogil=True)
def _apply_percussive_mask(spec, harm, perc, tiny):
    # spec * librosa.util.softmask(perc, harm, power=2, split_zeros=True), in place.
    for t in range(spec.shape[0]):
        for k in range(spec.shape[1]):
            p = perc[t, k]
            h = harm[t, k]
            z = p if p > h else h
            if z < tiny:
                m = 0.5
            else:
                pz = p / z
                hz = h / z
                pz = pz * pz
                m = pz / (pz + hz * hz)
            spec[t, k] = spec[t, k] * m


def _percussive_mask_native(spec, harm, perc) -> bool:
    # _apply_percussive_mask in C for complex64 spectra (same float operations, same bits);
    # False where it cannot run (other dtypes, no C library).
    from dafxkit import native

    if spec.dtype != np.complex64 or not native.available():
        return False
    harm = np.ascontiguousarray(harm, dtype=np.float32)
    perc = np.ascontiguousarray(perc, dtype=np.float32)
    if not (spec.flags.c_contiguous and harm.shape == spec.shape == perc.shape):
        return False
    ffi = native.ffi()
    native.lib().dafx_hpss_percussive_mask_f32(
        ffi.from_buffer("float[]", spec),
        ffi.from_buffer("float[]", harm, require_writable=False),
        ffi.from_buffer("float[]", perc, require_writable=False),
        spec.size,
        float(_TINY),
    )
    return True


@njit(cache=True, nogil=True)
def _overlap_add(frames, first, window, hop, out):
    # Adds windowed inverse-FFT frames first, first + 1, ... into out, frame t at t * hop
    # (the uncropped istft buffer).
    size = frames.shape[1]
    for i in range(frames.shape[0]):
        start = (first + i) * hop
        for j in range(size):
            out[start + j] += frames[i, j] * window[j]


@njit(cache=True, nogil=True)
def _window_sumsquare(window, hop, pos, t_lo, t_hi):
    # Squared window of frames t_lo .. t_hi - 1 at sample pos, summed frame by frame (as
    # librosa accumulates it).
    total = 0.0
    for t in range(t_lo, t_hi):
        w = window[pos - t * hop]
        total += w * w
    return total


@njit(cache=True, nogil=True)
def _normalise_overlap(buf, n_frames, window, hop, tiny):
    # librosa's istft ending: crop size // 2 samples at each end and divide by the summed
    # squared window (accumulated frame by frame, as librosa does) where it is not tiny.
    # Where every frame that could cover a sample exists, the window offsets (and their order)
    # depend only on the sample's position modulo hop: those sums are computed once.
    size = window.shape[0]
    half = size // 2
    length = hop * (n_frames - 1)
    out = np.empty(length)
    # Positions pos in [size - hop, n_frames * hop) have every frame from (pos - size) // hop
    # + 1 >= 0 to pos // hop < n_frames: periodic[pos % hop]. The others are summed directly.
    periodic = np.empty(hop)
    for r in range(hop):
        pos = size + r
        t_lo = (pos - size) // hop + 1
        periodic[pos % hop] = _window_sumsquare(window, hop, pos, t_lo, pos // hop + 1)
    first = min(max(size - hop, half), length + half)
    last = max(min(n_frames * hop, length + half), first)
    for pos in list(range(half, first)) + list(range(last, length + half)):
        t_lo = max(0, (pos - size) // hop + 1)
        total = _window_sumsquare(window, hop, pos, t_lo, min(pos // hop + 1, n_frames))
        v = buf[pos]
        out[pos - half] = v / total if total > tiny else v
    pos = first
    while pos < last:
        r0 = pos % hop
        count = min(last, pos - r0 + hop) - pos
        for j in range(count):  # plain indexing: slices here keep LLVM from vectorising
            total = periodic[r0 + j]
            v = buf[pos + j]
            out[pos - half + j] = v / total if total > tiny else v
        pos += count
    return out


def _reflect_indices(lo: int, hi: int, n: int) -> np.ndarray:
    # Frame indices lo..hi-1 mapped into 0..n-1 by scipy's 'reflect' extension.
    i = np.arange(lo, hi) % (2 * n)
    return np.where(i < n, i, 2 * n - 1 - i)


def _percussive_signal(y: np.ndarray, dtype, chunk_frames: int) -> np.ndarray:
    # istft of the percussive part of librosa's hpss(stft(y)), chunk by chunk of frames: each
    # chunk is transformed with the MEDIAN_WIDTH // 2 frames around it (reflected at the ends),
    # so its horizontal medians are those of the whole spectrogram. In float32 with the C
    # library, both transforms run on the lane FFT (`stft_reduce`, `istft_add`), else scipy's.
    pad = STFT_SIZE // 2
    n_frames = 1 + y.shape[0] // STFT_HOP  # frames of the centred, zero-padded signal
    window = hann_window(STFT_SIZE)
    lanes = dtype == np.float32 and _common.use_native()
    if not lanes:
        padded = np.zeros(y.shape[0] + 2 * pad, dtype=dtype)
        padded[pad : pad + y.shape[0]] = y
        windows = np.lib.stride_tricks.sliding_window_view(padded, STFT_SIZE)[::STFT_HOP]
        window_t = window.astype(dtype)
    buf = np.zeros(STFT_SIZE + STFT_HOP * (n_frames - 1))
    context = MEDIAN_WIDTH // 2
    for c0 in range(0, n_frames, chunk_frames):
        c1 = min(c0 + chunk_frames, n_frames)
        if c0 == 0 and c1 == n_frames:
            rows = np.arange(n_frames)  # the median filter reflects at the true ends itself
            inner = slice(0, n_frames)
        else:
            rows = _reflect_indices(c0 - context, c1 + context, n_frames)
            inner = slice(context, context + c1 - c0)
        if lanes:
            starts = rows * STFT_HOP - pad
            spec = stft_reduce(
                y, 0, 1, 0, STFT_SIZE, STFT_SIZE, window, False, single=True, spectrum=True,
                starts=starts,
            )["spectrum"]  # fmt: skip
        else:
            spec = scipy.fft.rfft(windows[rows] * window_t, axis=-1, overwrite_x=True)
        mag = _magnitude(spec, np.empty(spec.shape, dtype=dtype))
        harm = median_filter_31(mag, axis=0)[inner]  # along time
        mag = mag[inner]
        perc = median_filter_31(mag, axis=1)  # along frequency
        spec = np.ascontiguousarray(spec[inner])
        if not _percussive_mask_native(spec, harm, perc):
            _apply_percussive_mask(spec, harm, perc, _TINY)
        if lanes:
            istft_add(spec, c0, STFT_HOP, window, buf, single=True)
        else:
            frames = scipy.fft.irfft(spec, n=STFT_SIZE, axis=-1, overwrite_x=True)
            _overlap_add(frames, c0, window, STFT_HOP, buf)
    return _normalise_overlap(buf, n_frames, window, STFT_HOP, _TINY)


def percussive_ratio(y: np.ndarray, exact: bool = False, chunk_frames: int = 512) -> float:
    """The share of rms energy in the percussive part of ``y`` (librosa's median-filter HPSS).

    As ``get_percussive_audio``: STFT (2048-point periodic Hann, hop 512, centred with zero
    padding), horizontal and vertical 31-point median filters of the magnitude, soft masks of
    power 2, inverse STFT of each part, rms envelopes (1024-sample blocks every 512), and the
    energy-weighted mean of ``P / (P + H)`` over blocks where either is non-zero.

    The spectra and medians are computed in float32 (the ratio then agrees with the float64
    result to about 1e-7, relative), or with ``exact=True`` in float64 like the reference (to
    rounding error). Frames are processed ``chunk_frames`` at a time (about 6 s each by
    default), so long clips need memory for their samples, not for their spectrogram. The
    harmonic part is ``y`` minus the percussive part (the masks sum to one and the STFT
    reconstructs exactly), which saves one inverse STFT. Returns NaN when there is no block
    (under 512 samples) or every block is zero, where the reference fails.
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    if y.shape[0] < STFT_HOP:  # one frame: the inverse STFT is empty
        return math.nan
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be at least 1; got {chunk_frames}")
    dtype = np.float64 if exact else np.float32
    percussive = _percussive_signal(y, dtype, max(int(chunk_frames), MEDIAN_WIDTH))
    harmonic = y[: percussive.shape[0]] - percussive
    p = rms_envelope(percussive, 1024, 512, normalise=False)
    h = rms_envelope(harmonic, 1024, 512, normalise=False)
    keep = (p != 0) | (h != 0)
    if not np.any(keep):
        return math.nan
    p = p[keep]
    h = h[keep]
    total = p + h
    return float(np.average(p / total, weights=total))


# --------------------------------------------------------------------------------------------
# Bandwidth array
# --------------------------------------------------------------------------------------------


#: Bound on |FFT error| per bin of pocketfft in float32 (input rounding included), in units of
#: the frame's sum of |x|: (log2 4096 + 1) * 2^-22. Measured errors on noise and music stay
#: below 1 % of it.
FFT32_ERROR = 13 * 2.0**-22

#: The same bound for the C kernel's float transform (radix-2/4 passes of the half-size complex
#: FFT, then the real split, which can add the errors of two complex bins): a worst case of
#: about 70 * 2^-24, doubled. Measured errors on noise, tones and music stay below 2 * 2^-24.
FFT32_ERROR_NATIVE = 2.0**-17


@njit(cache=True, nogil=True)
def _frame_bandwidth(spec_row, scale, rolloff_thresh, rollon_fraction, err, mag):
    # One frame: (summed scaled magnitude, roll-on bin, roll-off bin or -1, ambiguous). With
    # err > 0 the spectrum is approximate (each scaled magnitude within err of the true one):
    # a decision closer than that to its threshold is reported ambiguous. DC counts as 0 (the
    # segment mean is removed). spec_row: complex bins, or magnitudes (sqrt(m * m) is m).
    n_bins = spec_row.shape[0]
    mag[0] = 0.0
    for k in range(1, n_bins):
        re = np.float64(spec_row[k].real)
        im = np.float64(spec_row[k].imag)
        mag[k] = math.sqrt(re * re + im * im) * scale
    # Four running sums (numpy's np.sum is pairwise too; the order only moves rounding).
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    k = 0
    while k + 4 <= n_bins:
        s0 += mag[k]
        s1 += mag[k + 1]
        s2 += mag[k + 2]
        s3 += mag[k + 3]
        k += 4
    while k < n_bins:
        s0 += mag[k]
        k += 1
    total = (s0 + s1) + (s2 + s3)
    # Roll-on: the first count of bins whose sum reaches the fraction of the total.
    thresh = total * rollon_fraction
    counter = 1
    cumulative = mag[0]
    previous = -np.inf
    while cumulative < thresh and counter < n_bins:
        previous = cumulative
        cumulative += mag[counter]
        counter += 1
    ambiguous = False
    if err > 0:
        slack = (counter + rollon_fraction * n_bins) * err
        ambiguous = cumulative - thresh <= slack or thresh - previous <= slack
    # Roll-off: the highest bin at or above the threshold.
    rolloff = -1
    for k in range(n_bins - 1, -1, -1):
        if mag[k] >= rolloff_thresh - err:
            if mag[k] >= rolloff_thresh + err or err == 0:
                rolloff = k
            elif mag[k] >= rolloff_thresh:
                rolloff = k
                ambiguous = True
            else:
                ambiguous = True
                continue
            break
    return total, counter - 1, rolloff, ambiguous


@njit(cache=True, nogil=True)
def _bandwidth_frames(
    spec, rows, scale, rolloff_thresh, rollon_fraction, err, level, rollon, rolloff, ambiguous
):
    # Frames spec[i] are frames rows[i] of the clip; results go to those rows. err: per-row
    # magnitude error bound (0 for an exact spectrum).
    n_bins = spec.shape[1]
    mag = np.empty(n_bins)
    for i in range(spec.shape[0]):
        r = rows[i]
        total, on, off, amb = _frame_bandwidth(
            spec[i], scale, rolloff_thresh, rollon_fraction, err[r], mag
        )
        level[r] = total
        rollon[r] = on
        rolloff[r] = off
        ambiguous[r] = amb


def _bandwidth_native(
    x, n_frames, nperseg, hop, scale, thresh, fraction, level, rollon, rolloff, ambiguous
):
    # The float32 pass in C (dafx_timbral_bandwidth): fills level, rollon, rolloff and
    # ambiguous, and returns the per-frame magnitude error bound; None without the C library.
    from dafxkit import native

    if not native.available():
        return None
    cos_m, sin_m, cos_n, sin_n, rev = _fft_tables(nperseg)
    err = np.empty(n_frames)
    amb = np.empty(n_frames, dtype=np.uint8)
    lib, ffi = native.lib(), native.ffi()
    dp = native.double_ptr
    status = lib.dafx_timbral_bandwidth(
        dp(x), x.shape[0], hop, n_frames, nperseg,
        dp(cos_m), dp(sin_m), dp(cos_n), dp(sin_n), ffi.from_buffer("int64_t[]", rev),
        scale, thresh, fraction, FFT32_ERROR_NATIVE,
        dp(level), ffi.from_buffer("int64_t[]", rollon), ffi.from_buffer("int64_t[]", rolloff),
        ffi.from_buffer("uint8_t[]", amb), dp(err),
    )  # fmt: skip
    if status != 0:
        return None
    ambiguous[:] = amb != 0
    return err


def bandwidth_array(
    x: np.ndarray,
    fs: float,
    nperseg: int = 4096,
    overlap_step: int = 128,
    rolloff_thresh: float = 0.01,
    rollon_fraction: float = 0.05,
    block_frames: int = 128,
    exact: bool = False,
    use_native: bool = True,
) -> np.ndarray:
    """``get_bandwidth_array(x, fs, nperseg, overlap_step, rolloff_thresh,
    normalisation_method='none')[0]`` as an array.

    Spectrogram: boxcar segments of ``nperseg`` every ``overlap_step`` samples, mean removed,
    magnitude scaled by ``1 / sqrt(fs nperseg)``. Frames whose summed magnitude exceeds the
    10 % point between the quietest and loudest frame get the distance (Hz) from the roll-on
    frequency (where the cumulative magnitude reaches ``rollon_fraction`` of the frame's) to
    the highest bin at or above ``rolloff_thresh``; other frames 0.

    The spectra are computed in float32 with a bound on their error; every decision that
    bound leaves open (a roll-on, roll-off or loudness test closer to its threshold than the
    error could reach, and the loudest and quietest frames) is redone on the float64 spectrum
    of that frame, so the result is the float64 result. With the C library and a power-of-two
    ``nperseg`` (``use_native``), the float32 pass runs in C (``dafx_timbral_bandwidth``: 16
    frames per vector, magnitudes and decisions made while each batch is in cache, about
    three times faster than scipy's float32 FFT); otherwise scipy transforms blocks of
    ``block_frames`` frames. ``exact=True`` does everything in float64. The spectrogram is
    never held whole.

    Also differing from the reference only by rounding: the roll-on sum is cumulative (the
    reference sums ``seg[:counter]`` afresh for each candidate), and with a boxcar window,
    removing the segment mean only zeroes the DC bin, so DC is set to 0 directly.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n_frames = max(0, (x.shape[0] - (nperseg - overlap_step)) // overlap_step)
    if n_frames == 0:
        return np.zeros(0)
    scale = math.sqrt(1.0 / (fs * nperseg))
    n_bins = nperseg // 2 + 1
    freq = np.arange(n_bins) * (fs / nperseg)
    thresh = float(rolloff_thresh)
    fraction = float(rollon_fraction)
    level = np.empty(n_frames)
    rollon = np.empty(n_frames, dtype=np.int64)
    rolloff = np.empty(n_frames, dtype=np.int64)
    ambiguous = np.zeros(n_frames, dtype=np.bool_)
    frames64 = np.lib.stride_tricks.sliding_window_view(x, nperseg)[::overlap_step][:n_frames]

    # Float64 spectra of frames to redo, in blocks: magnitudes from the lane FFT (8 blocks per
    # call) with the C library and a power-of-two nperseg, else complex ones from scipy. DC is
    # set to 0 either way (the mean removal only zeroes it).
    lanes = use_native and nperseg >= 8 and nperseg & (nperseg - 1) == 0 and _common.use_native()
    step = 8 * block_frames if lanes else block_frames
    boxcar = np.ones(nperseg)

    def exact_rows(rows: np.ndarray) -> None:
        zero = np.zeros(n_frames)
        for lo in range(0, rows.shape[0], step):
            part = rows[lo : lo + step]
            if lanes:
                spec = stft_reduce(
                    x, 0, 1, 0, nperseg, nperseg, boxcar, False, magnitude=True,
                    starts=part * overlap_step,
                )["magnitude"]  # fmt: skip
            else:
                spec = scipy.fft.rfft(frames64[part], axis=-1)
            _bandwidth_frames(
                spec, part, scale, thresh, fraction, zero, level, rollon, rolloff, ambiguous
            )

    if exact:
        exact_rows(np.arange(n_frames))
    else:
        err = None
        if use_native and nperseg >= 8 and nperseg & (nperseg - 1) == 0:
            err = _bandwidth_native(
                x, n_frames, nperseg, overlap_step, scale, thresh, fraction, level, rollon,
                rolloff, ambiguous,
            )  # fmt: skip
        if err is None:
            starts = np.arange(n_frames) * overlap_step
            abs_sum = np.concatenate([[0.0], np.cumsum(np.abs(x))])
            err = FFT32_ERROR * (abs_sum[starts + nperseg] - abs_sum[starts]) * scale
            frames32 = np.lib.stride_tricks.sliding_window_view(x.astype(np.float32), nperseg)
            frames32 = frames32[::overlap_step][:n_frames]
            for lo in range(0, n_frames, block_frames):
                hi = min(lo + block_frames, n_frames)
                spec = scipy.fft.rfft(frames32[lo:hi], axis=-1)
                rows = np.arange(lo, hi)
                _bandwidth_frames(
                    spec, rows, scale, thresh, fraction, err, level, rollon, rolloff, ambiguous
                )
        # The summed magnitude of a frame is within n_bins * err of its float64 value. Frames
        # that could be the quietest or loudest, or whose loudness test is that close to the
        # 10 % point, are redone in float64 along with the ambiguous ones.
        level_err = n_bins * err
        low, high = level - level_err, level + level_err
        extreme = (low <= np.min(high)) | (high >= np.max(low))
        redo = ambiguous | extreme
        exact_rows(np.flatnonzero(redo))
        done = redo.copy()
        min_tpower = 0.1 * (np.max(level) - np.min(level)) + np.min(level)
        close = ~done & (np.abs(level - min_tpower) <= level_err)
        if np.any(close):
            exact_rows(np.flatnonzero(close))
    min_tpower = 0.1 * (np.max(level) - np.min(level)) + np.min(level)
    width = freq[np.maximum(rolloff, 0)] - freq[rollon]
    return np.where((level > min_tpower) & (rolloff >= 0), width, 0.0)


# --------------------------------------------------------------------------------------------
# Attack times
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _attack_segment(env):
    # (peak index, index of the last minimum before it); peak 0 means no attack.
    peak = 0
    for k in range(1, env.shape[0]):
        if env[k] > env[peak]:
            peak = k
    if peak == 0:
        return 0, 0
    mn = env[0]
    last = 0
    for k in range(1, peak):
        if env[k] <= mn:
            if env[k] < mn:
                mn = env[k]
            last = k
    return peak, last


@njit(cache=True, nogil=True)
def _first_at_least(env, lo, hi, level):
    # np.argmax(env[lo:hi] >= level): the first index reaching level, 0 if none.
    for k in range(lo, hi):
        if env[k] >= level:
            return k - lo
    return 0


@njit(cache=True, nogil=True)
def _min_effort(env, fs, thresh_no, m, max_attack_time):
    # calculate_attack_time(env, fs, max_attack_time=...) with its defaults (normalised,
    # attack segment, 'min_effort'). Returns (log10 attack time, attack start index, ok).
    n = env.shape[0]
    if n == 0:
        return 0.0, 0, False
    peak, start = _attack_segment(env)
    if peak == 0:
        return 0.0, 0, False
    # Normalising by the maximum scales every threshold equally; it is kept for identical
    # rounding.
    factor = env[peak]
    seg = np.empty(peak + 1 - start)
    for k in range(seg.shape[0]):
        seg[k] = env[start + k] / factor
    lo = seg.min()
    dyn_range = seg.max() - lo
    step = 1.0 / (thresh_no + 2)
    count = thresh_no + 1
    idxs = np.empty(count)
    for j in range(count):
        # np.linspace(step, 1 - step, count)[j]
        if j == count - 1:
            level = 1.0 - step
        else:
            level = step + j * ((1.0 - step - step) / (count - 1))
        idxs[j] = _first_at_least(seg, 0, seg.shape[0], level * dyn_range + lo)
    effort = np.empty(count - 1)
    for j in range(count - 1):
        effort[j] = idxs[j + 1] - idxs[j]
    threshold = np.mean(effort) * m
    th_start = 0
    for j in range(count - 1):
        if effort[j] <= threshold:
            th_start = j
            break
    th_end = 0
    for j in range(th_start, count - 1):
        if effort[j] >= threshold:
            th_end = j - th_start
            break
    if th_end == 0:
        th_end = (count - 1 - th_start) - 1
    th_end += th_start
    start_idx = idxs[th_start]
    end_idx = idxs[th_end]
    if start_idx == end_idx:
        start_idx = idxs[0]
        end_idx = idxs[count - 1]
    if start_idx == end_idx:
        attack = 1.0 / fs
    else:
        attack = (end_idx - start_idx + 1.0) / fs
    if max_attack_time > 0 and attack > max_attack_time:
        max_samples = int(fs * max_attack_time)
        end_idx = start_idx + max_samples
        attack = (end_idx - start_idx + 1.0) / fs
    return math.log10(attack), int(start_idx + start), True


def attack_min_effort(
    envelope: np.ndarray, fs: float, max_attack_time: float = -1, thresh_no: int = 8, m: float = 3
) -> tuple[float, int] | None:
    """``calculate_attack_time(envelope, fs, max_attack_time=...)[0, 2]`` with the reference's
    defaults (CUIDADO's minimum-effort thresholds): the log10 attack time in seconds and the
    index where the attack starts; None where the reference returns 0 (the envelope peaks at
    its first sample) or the envelope is empty."""
    env = np.ascontiguousarray(envelope, dtype=np.float64)
    log_time, start, ok = _min_effort(
        env, float(fs), int(thresh_no), float(m), float(max_attack_time)
    )
    return (float(log_time), int(start)) if ok else None


@njit(cache=True, nogil=True)
def _fixed_threshold_start(seg):
    # Attack start of calculate_attack_time(..., 'fixed_threshold'): -1 when the peak is first.
    peak, start = _attack_segment(seg)
    if peak == 0:
        return -1
    factor = seg[peak]
    part = np.empty(peak + 1 - start)
    for k in range(part.shape[0]):
        part[k] = seg[start + k] / factor
    lo = part.min()
    dyn_range = part.max() - lo
    lower = (20 * dyn_range * 0.01) + lo
    return _first_at_least(part, 0, part.shape[0], lower) + start


def attack_fixed_threshold(segment: np.ndarray) -> int | None:
    """``calculate_attack_time(segment, fs, calculation_type='fixed_threshold')[2]``: where the
    attack (last minimum before the peak up to the peak) first reaches 20 % of its range; None
    where the reference returns 0 (the peak is the first value) or the segment is empty.

    The attack time and gradient, which hardness does not use, are not computed.
    """
    seg = np.ascontiguousarray(segment, dtype=np.float64)
    if seg.shape[0] == 0:
        return None
    start = _fixed_threshold_start(seg)
    return None if start < 0 else int(start)


# --------------------------------------------------------------------------------------------
# Spectral centroid of an attack
# --------------------------------------------------------------------------------------------


def spectral_centroids(
    x: np.ndarray, segments: list[tuple[int, int]], fs: float, lf_limit: float = 20.0
) -> list[float | None]:
    """`spectral_centroid` of each ``x[start : start + length]`` for ``(start, length)`` in
    ``segments`` (inside ``x``, at least two samples long). Segments of one length are
    transformed together on the lane FFT (`stft_reduce`: a window of ones over the segment,
    zeros to the padded size)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out: list[float | None] = [None] * len(segments)
    by_length: dict[int, list[int]] = {}
    for i, (start, length) in enumerate(segments):
        if length < 2 or start < 0 or start + length > x.shape[0]:
            raise ValueError(
                f"segment {i} (start {start}, length {length}) must lie inside the signal "
                f"({x.shape[0]} samples) and hold at least two samples"
            )
        by_length.setdefault(int(length), []).append(i)
    for length, group in by_length.items():
        size = int(2 ** math.ceil(math.log2(length)))
        window = np.zeros(size)
        window[:length] = 1.0
        bins = size // 2 + 1
        freq = np.arange(bins) * (fs / (2.0 * (bins - 1)))
        first = int(np.argmax(freq >= lf_limit))
        for lo in range(0, len(group), 256):  # spectra of at most 256 segments held at once
            members = group[lo : lo + 256]
            starts = np.array([segments[i][0] for i in members], dtype=np.int64)
            spectra = stft_reduce(
                x, 0, 1, 0, size, size, window, False, magnitude=True, starts=starts
            )["magnitude"]
            for i, spectrum in zip(members, spectra, strict=True):
                if not np.sum(spectrum) > 0:
                    continue  # None: the reference returns 0 for an all-zero spectrum
                total = np.sum(spectrum[first:])
                moment = np.sum(spectrum[first:] * freq[first:])
                out[i] = float(moment / total) if total > 0 else math.nan
    return out


def spectral_centroid(audio: np.ndarray, fs: float, lf_limit: float = 20.0) -> float | None:
    """``get_spectral_features(audio, fs)[0]``: the magnitude-weighted mean frequency (Hz) of
    ``audio`` zero-padded to a power of two, over bins at or above ``lf_limit``; None where the
    reference returns 0 (an all-zero spectrum). NaN when only bins below ``lf_limit`` carry
    magnitude (the reference divides 0 by 0 there too)."""
    audio = np.ascontiguousarray(audio, dtype=np.float64)
    return spectral_centroids(audio, [(0, audio.shape[0])], fs, lf_limit)[0]
