"""Roughness: Vassilakis' model over spectral peak pairs, as timbral_models 0.4.0 computes it.

The loudness-normalised clip, preceded by 512 zeros, is cut into 50 ms frames (``step`` =
``int(0.05 fs)`` samples) every ``int(i step / 2)`` samples; each frame is windowed by a
Hamming window of ``step + 2`` points without its two end points and zero-padded to the next
power of two above ``step`` (4096 at 44.1 kHz). The frame count is ``int(2 n / step)``
(``n``: the padded length), so the last frame or two stay all zeros, as in the reference, and
count in the mean. Magnitude spectra are normalised to [0, 1] by the clip's smallest and
largest bin.

In each frame, peaks are picked as MIRtoolbox's mirpeaks does (contrast 0.01, see
`dafxkit.descriptors.timbral._common.detect_peaks`), with parabolic interpolation of their
frequency and (unnormalised) level. Every pair of peaks ``i > j`` (sorted by height) adds
Vassilakis' (SMC 2007) roughness::

    (A_i A_j)^0.1 · 0.5 (2 A_j / (A_i + A_j))^3.11 · (exp(-3.51 s |Δf|) - exp(-5.75 s |Δf|)),
    s = 0.24 / (0.0207 min(f_i, f_j) + 18.96)

The clip's value is the mean over frames ``R`` through the reference's regression::

    roughness = 13.98779569 log10(R) + 48.97606571545886     (0 when R < 0.01)

The spectra of clips longer than `STREAM_FRAMES` frames (about 100 s) are computed twice, once
for the magnitude range and once for the peaks, so memory stays proportional to the clip.

Degenerate input (value, flag):

- digital silence: ``(0.0, Flag.SILENT)`` (the reference raises);
- fewer than ``step / 2`` samples after padding (< 591 samples of a 44.1 kHz clip): the
  reference raises; here the padded clip, unwindowed, is the one frame (as the reference does
  for clips up to one frame long), flagged ``TOO_SHORT``;
- a spectrum without range (every bin equal): no peaks, ``(0.0, Flag.FALLBACK)``;
- a peak whose interpolation is undefined (a flat top, where the reference fails): that peak
  is left out of its frame, flagged ``FALLBACK``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft
from numba import njit

from dafxkit.descriptors.timbral._common import (
    _detect_peaks,
    _dp,
    _handles,
    _ip,
    stft_reduce,
    use_native,
)
from dafxkit.descriptors.timbral._frontend import Analysis, Flag

__all__ = ["roughness", "mean_roughness", "vassilakis_roughness", "frames_pair_sum", "COEFFICIENTS"]

#: Regression from log10(mean roughness) to the 0-100 scale: (slope, intercept).
COEFFICIENTS = (13.98779569, 48.97606571545886)
#: Mean roughness below which the reference returns 0.
FLOOR = 0.01
#: Zeros put in front of the clip.
PAD = 512
#: Peak-picking contrast threshold on the normalised spectrum.
PEAK_THRESHOLD = 0.01
#: Above this many frames (about 100 s at any rate) spectra are recomputed, not held.
STREAM_FRAMES = 4096

# Plomp-Levelt curve as parameterised by Vassilakis.
_B1 = 3.51
_B2 = 5.75
_XSTAR = 0.24
_S1 = 0.0207
_S2 = 18.96
_CUTOFF = 40.0


@njit(cache=True, nogil=True)
def _pair_sum(freqs, levels):
    # Sum over pairs i > j of (A_i A_j)^0.1 * 0.5 * (2 A_j / (A_i + A_j))^3.11 * plomp.
    # Pairs further apart than exp(-_B1 s |df|) < exp(-_CUTOFF) add under 1e-17 of a typical
    # term each and are skipped. (A_i A_j)^0.1 is taken as A_i^0.1 A_j^0.1 (one power per
    # peak instead of per pair; the terms move by rounding only, about 1e-16 relative).
    total = 0.0
    n = freqs.shape[0]
    root = np.empty(n)
    for i in range(n):
        root[i] = levels[i] ** 0.1
    for i in range(1, n):
        fi = freqs[i]
        vi = levels[i]
        ri = root[i]
        for j in range(i):
            fj = freqs[j]
            s = _XSTAR / (_S1 * min(fi, fj) + _S2)
            df = abs(fj - fi)
            if _B1 * s * df > _CUTOFF:
                continue
            vj = levels[j]
            z = math.exp(-_B1 * s * df) - math.exp(-_B2 * s * df)
            x = ri * root[j]
            y = (2.0 * vj) / (vi + vj)
            total += x * (0.5 * y**3.11) * z
    return total


def vassilakis_roughness(freqs: np.ndarray, levels: np.ndarray) -> float:
    """Roughness of one frame's peaks (``freqs`` in Hz, ``levels`` linear, sorted by height)."""
    return float(
        _pair_sum(
            np.ascontiguousarray(freqs, dtype=np.float64),
            np.ascontiguousarray(levels, dtype=np.float64),
        )
    )


@njit(cache=True, nogil=True)
def _grown(a, count, size):
    # A copy of a[:count] in a new array of `size` values.
    out = np.empty(size)
    out[:count] = a[:count]
    return out


@njit(cache=True, nogil=True)
def _frames_peaks(spec, freq, cthr, lo, span):
    # spec: (frames, bins) magnitudes; lo and span: the clip's smallest magnitude and range.
    # Returns the peaks of every frame, frame after frame, as (positions, levels, offsets,
    # whether a peak had to be dropped): frame t's are [offsets[t], offsets[t + 1]).
    frames = spec.shape[0]
    misaligned = False
    norm = np.empty(spec.shape[1])
    offsets = np.zeros(frames + 1, dtype=np.int64)
    positions = np.empty(max(frames * 32, 1))
    levels = np.empty(positions.shape[0])
    count = 0
    for t in range(frames):
        row = spec[t]
        for k in range(row.shape[0]):
            norm[k] = (row[k] - lo) / span
        _, lv, pos, has_position = _detect_peaks(norm, row, freq, cthr, True)
        if not np.all(has_position):
            # A flat-topped peak whose position the reference cannot interpolate (it then
            # fails on lists of unequal length): leave that peak out.
            misaligned = True
            lv = lv[has_position]
            pos = pos[has_position]
        if count + pos.shape[0] > positions.shape[0]:
            positions = _grown(positions, count, 2 * (count + pos.shape[0]))
            levels = _grown(levels, count, 2 * (count + pos.shape[0]))
        positions[count : count + pos.shape[0]] = pos
        levels[count : count + pos.shape[0]] = lv
        count += pos.shape[0]
        offsets[t + 1] = count
    return positions[:count].copy(), levels[:count].copy(), offsets, misaligned


@njit(cache=True, nogil=True)
def _frames_pair_sum(positions, levels, offsets):
    total = 0.0
    for t in range(offsets.shape[0] - 1):
        lo, hi = offsets[t], offsets[t + 1]
        if hi - lo > 1:
            total += _pair_sum(positions[lo:hi], levels[lo:hi])
    return total


def frames_pair_sum(
    positions: np.ndarray, levels: np.ndarray, offsets: np.ndarray, native: bool = True
) -> float:
    """Sum over frames of `vassilakis_roughness` of each frame's peaks (frame ``t``:
    ``positions[offsets[t]:offsets[t + 1]]``, levels > 0, sorted by height).

    In C where it is built and ``native`` (``dafx_roughness_pairs``: vectorised exponentials
    and powers, each within 1e-14 relative), else in Numba.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    levels = np.ascontiguousarray(levels, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if native and use_native():
        lib, ffi = _handles()
        total = ffi.new("double *")
        frames = offsets.shape[0] - 1
        if lib.dafx_roughness_pairs(_dp(positions), _dp(levels), _ip(offsets), frames, total) == 0:
            return float(total[0])
    return float(_frames_pair_sum(positions, levels, offsets))


def _frames_roughness(spec, freq, cthr, lo, span) -> tuple[float, bool]:
    # (sum over frames of the peak-pair roughness, whether a peak had to be dropped).
    positions, levels, offsets, misaligned = _frames_peaks(spec, freq, cthr, lo, span)
    return frames_pair_sum(positions, levels, offsets), misaligned


@functools.lru_cache(maxsize=8)
def _frame_setup(fs: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    # (step, nfft, window, freq); the window is zero-padded to nfft (frames are read nfft
    # samples long, the samples past step weighted by zero: the reference's zero padding).
    step = int(fs * 0.05)
    nfft = 2 ** int(np.log(step) / np.log(2) + 1)
    window = np.zeros(nfft)
    window[:step] = np.hamming(step + 2)[1:-1]
    freq = fs / 2 * np.linspace(0, 1, nfft // 2 + 1)
    window.setflags(write=False)
    freq.setflags(write=False)
    return step, nfft, window, freq


def _frame_starts(n: int, step: int) -> list[int]:
    # The reference's frame starts int(i * step / 2) while a whole frame fits.
    starts = []
    i = 0
    start = 0
    while start + step <= n:
        starts.append(start)
        i += 1
        start = int(i * (step / 2.0))
    return starts


def _spectrum_blocks(x: np.ndarray, starts: list[int], fs: int, block: int):
    # (first frame, magnitudes of frames first ... first + block - 1) of the windowed frames,
    # transformed in float64 by the lane FFT (`stft_reduce`).
    _, nfft, window, _ = _frame_setup(fs)
    at = np.asarray(starts, dtype=np.int64)
    for lo in range(0, len(starts), block):
        part = at[lo : lo + block]
        spectra = stft_reduce(x, 0, 1, 0, nfft, nfft, window, False, magnitude=True, starts=part)
        yield lo, spectra["magnitude"]


def mean_roughness(
    an: Analysis, block: int = 256, stream_frames: int = STREAM_FRAMES
) -> tuple[float, int]:
    """The mean per-frame roughness (the reference's ``dev_output`` value) and a `Flag` mask.

    Clips of more than ``stream_frames`` frames are analysed twice over (the spectra are
    recomputed after the clip's magnitude range is known) instead of holding every spectrum.
    """
    if an.silent:
        return 0.0, int(Flag.SILENT)
    y, fs = an.normalised
    step, nfft, _, freq = _frame_setup(fs)
    n = y.shape[0] + PAD
    n_frames = int(n / (step - step / 2))
    flags = Flag(an.flags)
    if n_frames == 0:
        flags |= Flag.TOO_SHORT
        n_frames = 1
    x = np.concatenate([np.zeros(PAD), y])
    if n <= step:
        # Up to one frame long: the padded clip itself, unwindowed, then zero frames.
        col = np.zeros(nfft)
        col[:n] = x
        spectra = [(0, np.abs(scipy.fft.rfft(col))[None, :])]
        starts = [0]
    else:
        starts = _frame_starts(n, step)
        spectra = (
            None if len(starts) > stream_frames else list(_spectrum_blocks(x, starts, fs, block))
        )
    # Frames past the last whole one stay zero, as in the reference: magnitude 0, no peaks.
    lo = 0.0 if len(starts) < n_frames else np.inf
    hi = 0.0 if len(starts) < n_frames else -np.inf
    for _, mags in spectra if spectra is not None else _spectrum_blocks(x, starts, fs, block):
        lo = min(lo, float(np.min(mags)))
        hi = max(hi, float(np.max(mags)))
    span = hi - lo
    if not span > 0:
        return 0.0, int(flags | Flag.FALLBACK)
    total = 0.0
    for _, mags in spectra if spectra is not None else _spectrum_blocks(x, starts, fs, block):
        part, misaligned = _frames_roughness(mags, freq, PEAK_THRESHOLD, lo, span)
        total += part
        if misaligned:
            flags |= Flag.FALLBACK
    return total / n_frames, int(flags)


def roughness(an: Analysis) -> tuple[float, int]:
    """Apparent roughness of a clip on timbral_models' scale (not clipped), and a `Flag` mask."""
    value, flags = mean_roughness(an)
    if flags & Flag.SILENT or not value >= FLOOR:
        return 0.0, flags
    slope, intercept = COEFFICIENTS
    return float(slope * math.log10(value) + intercept), flags
