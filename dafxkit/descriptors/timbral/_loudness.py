"""Zwicker specific loudness of 4096-sample windows, batched over all windows of a clip.

Sharpness, boominess and warmth describe a clip through the specific loudness (sone/Bark, on
240 steps of 0.1 Bark) of each 4096-sample window, computed as timbral_models 0.4.0 does it:

1. a one-third-octave filter bank (25 Hz … 12.5 kHz, 28 bands): the four bands from 6.3 kHz
   up are 4th-order Butterworth band-passes (8th-order transfer functions) run at the full
   rate; every lower group of three bands reuses the 6.3, 8 and 10 kHz filters after halving
   the rate again (2nd-order 0.1 dB Chebyshev I anti-aliasing filter at 0.4 × Nyquist, then
   keeping every odd sample), down to 16 samples for the 25-40 Hz bands. A band's level is
   ``20 log10(rms) + 100`` dB, or −inf where its output never rises above zero;
2. the loudness model of ISO 532 B / DIN 45631 (Zwicker's BASIC program, J. Acoust. Soc. Jpn
   (E) 12, 1991): equal-loudness corrections of the lowest eleven bands, the three lowest
   critical bands formed from them, core loudness per critical band, and the upper masking
   slopes that spread it onto the 0.1 Bark grid.

Every window is filtered from rest, so a clip's windows are independent: the filter bank runs
all of them at once (Numba, with the windows as the vectorised inner axis), which gives the
same levels as filtering window by window to the last bit or so. The loudness model then runs
per window in Numba. `windowed_loudness` caches the result on an `Analysis`, so the three
descriptors of a clip (and boominess' low-frequency level) share one computation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np

__all__ = [
    "WINDOW_LENGTH",
    "REFERENCE_DB",
    "N_BANDS",
    "BAND_CENTRES_HZ",
    "N_BARK_STEPS",
    "BARK_STEP",
    "WindowedLoudness",
    "window_audio",
    "third_octave_levels",
    "loudness_from_levels",
    "specific_loudness",
    "bark_weighting",
    "weighted_bark_level",
    "windowed_loudness",
]

#: Window length (samples) of the loudness analysis.
WINDOW_LENGTH = 4096
#: dB added to every band level: the model's calibration (full-scale rms sine → 97 dB).
REFERENCE_DB = 100.0
#: Nominal centre frequencies (Hz) of the one-third-octave bands.
BAND_CENTRES_HZ = np.array(
    [25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250,
     1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500]
)  # fmt: skip
N_BANDS = len(BAND_CENTRES_HZ)
#: Points of the specific-loudness pattern (0.1 … 24 Bark).
N_BARK_STEPS = 240
#: Bark spacing of those points.
BARK_STEP = 0.1

# Exact band centres 1000 * 2^(j/3) Hz, j = -16 … 11.
_EXACT_CENTRES_HZ = 1000.0 * 2.0 ** (np.arange(-16, 12) / 3.0)
_FIRST_DIRECT_BAND = 24  # 6.3 kHz: bands from here up are filtered at the full rate
_N_OCTAVE_STEPS = 8  # halvings of the rate for bands 23 … 0, three bands each
_BAND_ORDER = 4  # Butterworth prototype order of each band-pass (8th-order filter)
_SOLVER_CAPACITY = 1024  # room for the 0.1-Bark pattern (240 points are used)
_BLOCK_WINDOWS = 64  # windows filtered together (about 2 MB of samples)
_LANE_WINDOWS = 32  # the vectorised loop over windows handles this many at a time

# ----------------------------------------------------------------------------------------
# Tables of the loudness model (ISO 532 B, Zwicker's program as published in 1991)
# ----------------------------------------------------------------------------------------

# Level ranges for the low-frequency equal-loudness corrections, and the corrections (dB)
# of the eleven bands 25-250 Hz within each range.
_RAP = np.array([45, 55, 65, 71, 80, 90, 100, 120], dtype=np.float64)
_DLL = np.array(
    [[-32, -24, -16, -10, -5, 0, -7, -3, 0, -2, 0],
     [-29, -22, -15, -10, -4, 0, -7, -2, 0, -2, 0],
     [-27, -19, -14, -9, -4, 0, -6, -2, 0, -2, 0],
     [-25, -17, -12, -9, -3, 0, -5, -2, 0, -2, 0],
     [-23, -16, -11, -7, -3, 0, -4, -1, 0, -1, 0],
     [-20, -14, -10, -6, -3, 0, -4, -1, 0, -1, 0],
     [-18, -12, -9, -6, -2, 0, -3, -1, 0, -1, 0],
     [-15, -10, -8, -4, -2, 0, -3, -1, 0, -1, 0]],
    dtype=np.float64,
)  # fmt: skip
# Threshold in quiet of each of the 20 critical bands (dB).
_LTQ = np.array([30, 18, 12, 8, 7, 6, 5, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], dtype=np.float64)
# Free-field transmission to the ear (dB).
_A0 = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.5, -1.6, -3.2, -5.4, -5.6, -4, -1.5, 2, 5, 12])
# Free-field to diffuse-field level difference (dB).
_DDF = np.array(
    [0, 0, 0.5, 0.9, 1.2, 1.6, 2.3, 2.8, 3, 2, 0, -1.4, -2, -1.9, -1, 0.5, 3, 4, 4.3, 4]
)
# Third-octave versus critical-band level correction (dB).
_DCB = np.array(
    [-0.25, -0.6, -0.8, -0.8, -0.5, 0, 0.5, 1.1, 1.5, 1.7, 1.8, 1.8, 1.7, 1.6, 1.4, 1.2, 0.8,
     0.5, 0, -0.5]
)  # fmt: skip
# Upper edges (Bark) of the approximated critical bands.
_ZUP = np.array(
    [0.9, 1.8, 2.8, 3.5, 4.4, 5.4, 6.6, 7.9, 9.2, 10.6, 12.3, 13.8, 15.2, 16.7, 18.1, 19.3, 20.6,
     21.8, 22.7, 23.6, 24]
)  # fmt: skip
# Specific-loudness ranges (sone/Bark) selecting a row of the slope table.
_RNS = np.array(
    [21.5, 18, 15.1, 11.5, 9, 6.1, 4.4, 3.1, 2.13, 1.36, 0.82, 0.42, 0.30, 0.22, 0.15, 0.10,
     0.035, 0]
)  # fmt: skip
# Steepness (sone/Bark per Bark) of the upper masking slopes: row = loudness range, column =
# critical band (the last column serves every band from the 8th up).
_USL = np.array(
    [[13.0, 8.2, 6.3, 5.5, 5.5, 5.5, 5.5, 5.5],
     [9.0, 7.5, 6.0, 5.1, 4.5, 4.5, 4.5, 4.5],
     [7.8, 6.7, 5.6, 4.9, 4.4, 3.9, 3.9, 3.9],
     [6.2, 5.4, 4.6, 4.0, 3.5, 3.2, 3.2, 3.2],
     [4.5, 3.8, 3.6, 3.2, 2.9, 2.7, 2.7, 2.7],
     [3.7, 3.0, 2.8, 2.35, 2.2, 2.2, 2.2, 2.2],
     [2.9, 2.3, 2.1, 1.9, 1.8, 1.7, 1.7, 1.7],
     [2.4, 1.7, 1.5, 1.35, 1.3, 1.3, 1.3, 1.3],
     [1.95, 1.45, 1.3, 1.15, 1.1, 1.1, 1.1, 1.1],
     [1.5, 1.2, 0.94, 0.86, 0.82, 0.82, 0.82, 0.82],
     [0.72, 0.67, 0.64, 0.63, 0.62, 0.62, 0.62, 0.62],
     [0.59, 0.53, 0.51, 0.50, 0.42, 0.42, 0.42, 0.42],
     [0.40, 0.33, 0.26, 0.24, 0.24, 0.22, 0.22, 0.22],
     [0.27, 0.21, 0.20, 0.18, 0.17, 0.17, 0.17, 0.17],
     [0.16, 0.15, 0.14, 0.12, 0.11, 0.11, 0.11, 0.11],
     [0.12, 0.11, 0.10, 0.08, 0.08, 0.08, 0.08, 0.08],
     [0.09, 0.08, 0.07, 0.06, 0.06, 0.06, 0.06, 0.05],
     [0.06, 0.05, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02]]
)  # fmt: skip


# ----------------------------------------------------------------------------------------
# Windowing
# ----------------------------------------------------------------------------------------


def window_audio(samples: np.ndarray, window_length: int = WINDOW_LENGTH) -> np.ndarray:
    """Cut ``(samples,)`` into ``(n_windows, window_length)`` rows, zero-padding the last one.

    As the reference does it, the padding is always added: a length that is already a
    multiple of ``window_length`` gains one whole window of zeros (it counts in unweighted
    means over windows).
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"window_audio needs a 1-D signal; got shape {samples.shape}")
    if window_length < 1:
        raise ValueError(f"window_length must be at least 1; got {window_length}")
    n_windows = len(samples) // window_length + 1
    out = np.zeros(n_windows * window_length)
    out[: len(samples)] = samples
    return out.reshape(n_windows, window_length)


# ----------------------------------------------------------------------------------------
# One-third-octave filter bank
# ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _filter_bank(sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Band-pass filters of bands 24 … 27 at ``sample_rate``, and the anti-aliasing filter.

    Returns ``(band_b, band_a, alias_b, alias_a)`` with ``band_*`` of shape ``(4, 9)``, rows in
    band order 24 (6.3 kHz) … 27 (12.5 kHz).
    """
    import scipy.signal

    nyquist = sample_rate / 2.0
    band_b = np.empty((N_BANDS - _FIRST_DIRECT_BAND, 2 * _BAND_ORDER + 1))
    band_a = np.empty_like(band_b)
    for row, band in enumerate(range(_FIRST_DIRECT_BAND, N_BANDS)):
        centre = _EXACT_CENTRES_HZ[band]
        low = 2.0 ** (-1.0 / 6.0) * centre / nyquist
        high = 2.0 ** (1.0 / 6.0) * centre / nyquist
        high = min(high, 0.9999999999)  # the band edge may not reach Nyquist
        b, a = scipy.signal.butter(_BAND_ORDER, [low, high], "bandpass")
        band_b[row], band_a[row] = b / a[0], a / a[0]
    alias_b, alias_a = scipy.signal.cheby1(2, 0.1, 0.4)
    return band_b, band_a, alias_b / alias_a[0], alias_a / alias_a[0]


@numba.njit(cache=True, nogil=True)
def _band_level(x, m, b, a, out, reference_db):
    """Level (dB) of each column of ``x[:m]`` (samples, windows) through one 8th-order filter.

    Direct form II transposed with the update order of scipy.signal.lfilter; the windows are
    the inner loop so the compiler vectorises across them.
    """
    n_windows = x.shape[1]
    z = np.zeros((8, n_windows))
    z0, z1, z2, z3, z4, z5, z6, z7 = z[0], z[1], z[2], z[3], z[4], z[5], z[6], z[7]
    energy = np.zeros(n_windows)
    peak = np.full(n_windows, -np.inf)
    b0, b1, b2, b3, b4, b5, b6, b7, b8 = b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]
    a1, a2, a3, a4, a5, a6, a7, a8 = a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]
    for t in range(m):
        xt = x[t]
        for w in range(n_windows):
            xi = xt[w]
            y = z0[w] + b0 * xi
            z0[w] = z1[w] + xi * b1 - y * a1
            z1[w] = z2[w] + xi * b2 - y * a2
            z2[w] = z3[w] + xi * b3 - y * a3
            z3[w] = z4[w] + xi * b4 - y * a4
            z4[w] = z5[w] + xi * b5 - y * a5
            z5[w] = z6[w] + xi * b6 - y * a6
            z6[w] = z7[w] + xi * b7 - y * a7
            z7[w] = xi * b8 - y * a8
            energy[w] += y * y
            peak[w] = max(peak[w], y)
    for w in range(n_windows):
        if peak[w] > 0.0:
            out[w] = 20.0 * np.log10(np.sqrt(energy[w] / m)) + reference_db
        else:
            out[w] = -np.inf


@numba.njit(cache=True, nogil=True)
def _decimate_in_place(x, m, b, a):
    """Anti-aliasing filter (2nd order, from rest) of ``x[:m]`` along axis 0; every odd sample
    of the result goes to ``x[:m // 2]`` (row t // 2 is written only after row t is read)."""
    n_windows = x.shape[1]
    z0 = np.zeros(n_windows)
    z1 = np.zeros(n_windows)
    b0, b1, b2, a1, a2 = b[0], b[1], b[2], a[1], a[2]
    for t in range(m):
        xt = x[t]
        keep = t % 2 == 1
        out = x[t // 2]
        for w in range(n_windows):
            xi = xt[w]
            y = z0[w] + b0 * xi
            z0[w] = z1[w] + xi * b1 - y * a1
            z1[w] = xi * b2 - y * a2
            if keep:
                out[w] = y


@numba.njit(cache=True, nogil=True)
def _filter_bank_levels(x, band_b, band_a, alias_b, alias_a, reference_db, levels, power):
    """Band levels ``levels`` (28, windows) and mean square ``power`` (windows,) of the columns
    of ``x`` (samples, windows), which the decimation overwrites."""
    m, n_windows = x.shape
    for w in range(n_windows):
        power[w] = 0.0
    for t in range(m):
        xt = x[t]
        for w in range(n_windows):
            power[w] += xt[w] * xt[w]
    for w in range(n_windows):
        power[w] /= m
    for row in range(band_b.shape[0]):
        band = _FIRST_DIRECT_BAND + row
        _band_level(x, m, band_b[row], band_a[row], levels[band], reference_db)
    top = _FIRST_DIRECT_BAND - 1
    for step in range(_N_OCTAVE_STEPS):
        _decimate_in_place(x, m, alias_b, alias_a)
        m //= 2
        band = top - 3 * step
        # The 10, 8 and 6.3 kHz filters at half the rate serve the three bands an octave down.
        for offset in range(3):
            row = 2 - offset
            _band_level(x, m, band_b[row], band_a[row], levels[band - offset], reference_db)


def _check_rate(sample_rate: float) -> int:
    rate = int(round(sample_rate))
    # Below this the 12.5 kHz band is above Nyquist and the model would lose bands.
    if not rate >= 25000:
        raise ValueError(
            f"the loudness filter bank needs a sample rate of at least 25000 Hz (the 12.5 kHz "
            f"band must fit below Nyquist); got {sample_rate}"
        )
    return rate


def _run_filter_bank(fill, n_windows, length, sample_rate, reference_db):
    """Levels ``(n_windows, 28)`` and input mean squares ``(n_windows,)`` of windows that
    ``fill(lo, hi, block)`` writes, as columns, into the zeroed ``block[:, :hi - lo]``."""
    rate = _check_rate(sample_rate)
    band_b, band_a, alias_b, alias_a = _filter_bank(rate)
    levels = np.empty((N_BANDS, n_windows))
    power = np.empty(n_windows)
    # Blocks of at most _BLOCK_WINDOWS windows keep a block's samples in cache. The compiled
    # loop over windows is vectorised _LANE_WINDOWS at a time; windows beyond a multiple of
    # that ran about four times slower per window (measured), so a block is padded with silent
    # windows (dropped afterwards) unless it is so small that the slow loop costs less.
    n_blocks = -(-n_windows // _BLOCK_WINDOWS)
    buffer = None
    for block in range(n_blocks):
        lo = block * n_windows // n_blocks
        hi = (block + 1) * n_windows // n_blocks
        width = hi - lo
        if width >= _LANE_WINDOWS // 4:
            width = -(-width // _LANE_WINDOWS) * _LANE_WINDOWS
        if buffer is None or buffer.shape[1] != width:
            buffer = np.empty((length, width))
        buffer.fill(0.0)
        fill(lo, hi, buffer)
        block_levels = np.empty((N_BANDS, width))
        block_power = np.empty(width)
        _filter_bank_levels(
            buffer, band_b, band_a, alias_b, alias_a, float(reference_db), block_levels, block_power
        )
        levels[:, lo:hi] = block_levels[:, : hi - lo]
        power[lo:hi] = block_power[: hi - lo]
    return levels.T.copy(), power


def third_octave_levels(
    windows: np.ndarray, sample_rate: float, reference_db: float = REFERENCE_DB
) -> np.ndarray:
    """One-third-octave band levels (dB) of each window.

    Parameters
    ----------
    windows : np.ndarray
        ``(n_windows, samples)`` float64, each filtered from rest; 4096 samples in the
        descriptors (the lowest three bands are then measured on 16 samples, after eight
        halvings of the rate).
    sample_rate : float
        In Hz, at least 25 kHz (upper band edges beyond Nyquist are pulled just below it).
    reference_db : float
        Added to every level.

    Returns
    -------
    np.ndarray
        ``(n_windows, 28)`` levels for `BAND_CENTRES_HZ`; −inf for a band whose output never
        rises above zero (a silent window).
    """
    windows = np.asarray(windows, dtype=np.float64)
    if windows.ndim != 2:
        raise ValueError(
            f"third_octave_levels needs (n_windows, samples); got shape {windows.shape}"
        )

    def fill(lo: int, hi: int, block: np.ndarray) -> None:
        block[:, : hi - lo] = windows[lo:hi].T

    n_windows, length = windows.shape
    return _run_filter_bank(fill, n_windows, length, sample_rate, reference_db)[0]


# ----------------------------------------------------------------------------------------
# Loudness model
# ----------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _arange_count(start, stop, step):
    """Length of numpy's ``arange(start, stop, step)``."""
    count = math.ceil((stop - start) / step)
    return max(count, 0)


@numba.njit(cache=True, nogil=True)
def _arange_value(start, step, delta, index):
    """Element ``index`` of numpy's float ``arange``: start, start + step, start + i·delta."""
    if index == 0:
        return start
    if index == 1:
        return start + step
    return start + index * delta


@numba.njit(cache=True, nogil=True)
def _window_loudness(levels, diffuse_field, pattern):
    """Total loudness (sone, rounded as the program rounds it) of one window.

    Fills ``pattern`` (240,) with the specific loudness.
    """
    # Low-frequency equal-loudness corrections of bands 0 … 10 (25-250 Hz), as intensities.
    intensity = np.zeros(11)
    for i in range(11):
        j = 0
        while levels[i] > _RAP[j] - _DLL[j, i] and j < 7:
            j += 1
        intensity[i] = 10.0 ** ((levels[i] + _DLL[j, i]) / 10.0)
    # The three lowest critical bands: 25-80 Hz, 100-160 Hz, 200-250 Hz.
    grouped = np.empty(3)
    grouped[0] = (
        intensity[0] + intensity[1] + intensity[2] + intensity[3] + intensity[4] + intensity[5]
    )
    grouped[1] = intensity[6] + intensity[7] + intensity[8]
    grouped[2] = intensity[9] + intensity[10]
    critical_low = np.zeros(3)
    for i in range(3):
        if grouped[i] > 0.0:
            critical_low[i] = 10.0 * np.log10(grouped[i])

    # Core loudness of each critical band.
    core = np.zeros(21)
    for i in range(20):
        level = critical_low[i] if i <= 2 else levels[i + 8]
        transmitted = level - _A0[i]
        if diffuse_field:
            level = level + _DDF[i]
        if level > _LTQ[i]:
            excitation = transmitted - _DCB[i]
            mp1 = 0.0635 * 10.0 ** (0.025 * _LTQ[i])
            mp2 = (1.0 - 0.25 + 0.25 * 10.0 ** (0.1 * (excitation - _LTQ[i]))) ** 0.25 - 1.0
            core[i] = max(mp1 * mp2, 0.0)
    korry = min(0.4 + 0.32 * core[0] ** 0.2, 1.0)
    core[0] = core[0] * korry

    # Spread the core loudness onto the 0.1-Bark grid with the upper masking slopes.
    ns = np.zeros(_SOLVER_CAPACITY)
    ns_len = 0
    total = 0.0
    z1 = 0.0
    n1 = 0.0
    n2 = 0.0
    z2 = 0.0
    j = 17
    iz = 0
    z = 0.1
    k = 0.0
    for i in range(21):
        # Band 0 reads the slope table at column -1, i.e. the last one, as the program does.
        column = 7 if i == 0 else min(i - 1, 7)
        control = 1
        guard = 0
        while (z1 < _ZUP[i] or control == 1) and guard < 10000:
            guard += 1
            if n1 < core[i]:
                j = 0
                while _RNS[j] > core[i]:
                    j += 1
            if n1 <= core[i]:
                # Flat top of the band.
                z2 = _ZUP[i]
                n2 = core[i]
                total += n2 * (z2 - z1)
                stop = z2 + 0.01
                count = _arange_count(z, stop, 0.1)
                delta = (z + 0.1) - z
                for q in range(count):
                    k = _arange_value(z, 0.1, delta, q)
                    if iz == ns_len and ns_len < _SOLVER_CAPACITY:
                        ns[ns_len] = n2
                        ns_len += 1
                    elif iz < ns_len:
                        ns[iz] = n2
                    if k < z2 - 0.05:
                        iz += 1
                z = np.rint(k * 10.0) * 0.1
            else:
                # Upper slope down towards the next loudness range or the band's own core.
                slope = _USL[j, column]
                n2 = _RNS[j]
                if n2 < core[i]:
                    n2 = core[i]
                dz = np.rint((n1 - n2) / slope * 10.0) * 0.1
                if dz == 0.0:
                    dz = 0.1
                z2 = z1 + dz
                if z2 > _ZUP[i]:
                    z2 = _ZUP[i]
                    dz = z2 - z1
                    n2 = n1 - dz * slope
                total += dz * (n1 + n2) / 2.0
                stop = z2 + 0.01
                count = _arange_count(z, stop, 0.1)
                delta = (z + 0.1) - z
                for q in range(count):
                    k = _arange_value(z, 0.1, delta, q)
                    value = n1 - (k - z1) * slope
                    if iz == ns_len and ns_len < _SOLVER_CAPACITY:
                        ns[ns_len] = value
                        ns_len += 1
                    elif iz < ns_len:
                        ns[iz] = value
                    if k < z2 - 0.05:
                        iz += 1
                z = np.rint(k * 10.0) * 0.1
            if n2 == _RNS[j]:
                j += 1
            if j > 17:
                j = 17
            n1 = n2
            z1 = np.rint(z2 * 10.0) * 0.1
            control += 1

    for q in range(N_BARK_STEPS):
        pattern[q] = ns[q] if q < ns_len else 0.0

    if total < 0.0:
        total = 0.0
    if total <= 16.0:
        total = np.floor(total * 1000.0 + 0.5) / 1000.0
    else:
        total = np.floor(total * 100.0 + 0.05) / 100.0
    return total


@numba.njit(cache=True, nogil=True)
def _loudness_batch(levels, diffuse_field):
    n_windows = levels.shape[0]
    total = np.empty(n_windows)
    pattern = np.empty((n_windows, N_BARK_STEPS))
    for w in range(n_windows):
        total[w] = _window_loudness(levels[w], diffuse_field, pattern[w])
    return total, pattern


def loudness_from_levels(
    levels: np.ndarray, diffuse_field: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Zwicker loudness from one-third-octave levels.

    Parameters
    ----------
    levels : np.ndarray
        ``(n_windows, 28)`` band levels in dB (`third_octave_levels`).
    diffuse_field : bool
        Diffuse-field correction of the threshold test (the reference's ``Mod=1``).

    Returns
    -------
    (np.ndarray, np.ndarray)
        Total loudness ``(n_windows,)`` in sone, rounded as the reference rounds it, and
        specific loudness ``(n_windows, 240)`` in sone/Bark at 0.1 … 24 Bark.
    """
    levels = np.ascontiguousarray(levels, dtype=np.float64)
    if levels.ndim != 2 or levels.shape[1] != N_BANDS:
        raise ValueError(
            f"loudness_from_levels needs (n_windows, {N_BANDS}) levels; got {levels.shape}"
        )
    return _loudness_batch(levels, bool(diffuse_field))


def specific_loudness(
    windows: np.ndarray,
    sample_rate: float,
    reference_db: float = REFERENCE_DB,
    diffuse_field: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Total and specific loudness of every window (``(n_windows,)``, ``(n_windows, 240)``).

    The batched equivalent of calling timbral_models' ``specific_loudness(window, Pref, fs,
    Mod)`` on each row of ``windows``.
    """
    return loudness_from_levels(
        third_octave_levels(windows, sample_rate, reference_db), diffuse_field
    )


# ----------------------------------------------------------------------------------------
# Bark-band weighting
# ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def bark_weighting(low_band: int, high_band: int) -> np.ndarray:
    """A bump over pattern points ``low_band`` … ``high_band - 1``: 0 at its ends, 1 at its peak.

    A Gaussian-shaped curve whose exponent the reference scales by θ² instead of dividing by
    it (θ = 0.01), which makes it a shallow parabola-like bump; then shifted to a minimum of 0
    and scaled to a maximum of 1. Zero outside the range. Read-only ``(240,)`` array.
    """
    if not 0 <= low_band < high_band <= N_BARK_STEPS:
        raise ValueError(
            f"bark band range must satisfy 0 <= low < high <= {N_BARK_STEPS}; "
            f"got {low_band}, {high_band}"
        )
    theta = 0.01
    centre = (low_band + high_band) / 2.0
    bands = np.arange(low_band, high_band)
    curve = (1.0 / (theta * np.sqrt(2.0 * np.pi))) * np.exp(
        (-1.0 * ((bands - centre) ** 2.0)) / 2.0 * (theta**2.0)
    )
    curve -= np.min(curve)
    peak = np.max(curve)
    if peak > 0:
        curve /= peak
    weights = np.zeros(N_BARK_STEPS)
    weights[low_band:high_band] = curve
    weights.flags.writeable = False
    return weights


def weighted_bark_level(
    pattern: np.ndarray, rms: np.ndarray, low_band: int = 0, high_band: int = N_BARK_STEPS
) -> tuple[float, float]:
    """Mean over windows of the `bark_weighting`-weighted sum of specific loudness.

    Parameters
    ----------
    pattern : np.ndarray
        ``(n_windows, 240)`` specific loudness.
    rms : np.ndarray
        ``(n_windows,)`` rms of each window, the weights of the second mean.

    Returns
    -------
    (float, float)
        The plain mean and the rms-weighted mean (NaN when every rms is 0).
    """
    values = np.asarray(pattern) @ bark_weighting(low_band, high_band)
    rms = np.asarray(rms, dtype=np.float64)
    total_weight = np.sum(rms)
    weighted = float(np.sum(values * rms) / total_weight) if total_weight > 0 else math.nan
    return float(np.mean(values)), weighted


# ----------------------------------------------------------------------------------------
# Per-clip cache
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowedLoudness:
    """The loudness analysis of one clip's 4096-sample windows.

    Attributes
    ----------
    rms : np.ndarray
        ``(n_windows,)`` rms of each window (zero padding included in the last).
    total : np.ndarray
        ``(n_windows,)`` total loudness in sone (rounded as the reference rounds it).
    pattern : np.ndarray
        ``(n_windows, 240)`` specific loudness in sone/Bark.
    """

    rms: np.ndarray
    total: np.ndarray
    pattern: np.ndarray


@numba.njit(cache=True, nogil=True)
def _fill_columns(samples, lo, hi, length, block):
    # Windows lo .. hi - 1 of samples (the last zero-padded) into the columns of the zeroed
    # block, 64 samples of every window at a time (a tile of block's rows stays in cache).
    n = samples.shape[0]
    for t0 in range(0, length, 64):
        t1 = min(t0 + 64, length)
        for w in range(hi - lo):
            base = (lo + w) * length
            stop = min(t1, n - base)
            for t in range(t0, stop):
                block[t, w] = samples[base + t]


def loudness_of_signal(samples: np.ndarray, sample_rate: float) -> WindowedLoudness:
    """`WindowedLoudness` of a mono signal cut as `window_audio` cuts it (without the copy)."""
    samples = np.ascontiguousarray(samples, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"loudness_of_signal needs a 1-D signal; got shape {samples.shape}")
    length = WINDOW_LENGTH
    n_windows = len(samples) // length + 1

    def fill(lo: int, hi: int, block: np.ndarray) -> None:
        _fill_columns(samples, lo, hi, length, block)

    levels, power = _run_filter_bank(fill, n_windows, length, sample_rate, REFERENCE_DB)
    total, pattern = loudness_from_levels(levels)
    return WindowedLoudness(rms=np.sqrt(power), total=total, pattern=pattern)


def windowed_loudness(an) -> WindowedLoudness:
    """`WindowedLoudness` of an `Analysis`' loudness-normalised signal, computed once per clip."""
    return an.memo("windowed_loudness", lambda: loudness_of_signal(*an.normalised))
