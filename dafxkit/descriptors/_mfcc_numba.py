"""Numba kernel of the MFCC, imported only when the numba backend first runs.

The same algorithm as the C kernel (native/mfcc.c), in float64: LANES frames at a time, each
transformed in its own lane by an in-place radix-4 decimation-in-frequency FFT of n_fft / 2
points (bit-reversed output) followed by the real-input split, then the power spectrum, the
sparse mel filterbank, dB, the per-signal top_db clamp and the DCT.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Frames transformed together, one per lane. The inner loops take their lane count from the
#: arrays' shape: a compile-time count gets fully unrolled and left scalar, a run-time one is
#: vectorised (16 lanes measured faster than 8 here, which rarely reach the vector body).
LANES = 16


@njit(cache=True, nogil=True)
def _tables(m):
    """FFT twiddles cos/sin(2 pi t / m), split twiddles cos/sin(pi k / m), bit reversal."""
    log2m = 0
    while (1 << log2m) < m:
        log2m += 1
    cos_m = np.empty(m)
    sin_m = np.empty(m)
    bitrev = np.empty(m, dtype=np.int64)
    for t in range(m):
        cos_m[t] = math.cos(2.0 * math.pi * t / m)
        sin_m[t] = math.sin(2.0 * math.pi * t / m)
        rev = 0
        for bit in range(log2m):
            rev |= ((t >> bit) & 1) << (log2m - 1 - bit)
        bitrev[t] = rev
    cos_n = np.empty(m + 1)
    sin_n = np.empty(m + 1)
    for k in range(m + 1):
        cos_n[k] = math.cos(2.0 * math.pi * k / (2 * m))
        sin_n[k] = math.sin(2.0 * math.pi * k / (2 * m))
    return log2m, cos_m, sin_m, cos_n, sin_n, bitrev


@njit(cache=True, nogil=True)
def _load(x, t0, frames, hop, window, re, im):
    """Windowed frames t0, t0 + 1, ... in the lanes (zeros past the end) as even/odd samples."""
    m, lanes = re.shape
    n_fft = 2 * m
    samples = x.size
    first = t0 * hop - m
    if t0 + lanes <= frames and first >= 0 and first + (lanes - 1) * hop + n_fft <= samples:
        for n in range(m):  # all lanes inside the signal: whole rows of re and im at a time
            we = window[2 * n]
            wo = window[2 * n + 1]
            for f in range(lanes):
                i = first + f * hop + 2 * n
                re[n, f] = we * np.float64(x[i])
                im[n, f] = wo * np.float64(x[i + 1])
        return
    for f in range(lanes):  # frames reaching into the zero padding
        start = first + f * hop
        live = t0 + f < frames
        for n in range(n_fft):
            i = start + n
            v = 0.0
            if live and i >= 0 and i < samples:
                v = window[n] * np.float64(x[i])
            if n & 1:
                im[n >> 1, f] = v
            else:
                re[n >> 1, f] = v


@njit(cache=True, nogil=True)
def _fft(re, im, log2m, cos_m, sin_m):
    """In-place DIF FFT of every lane (column); output in bit-reversed order."""
    m, lanes = re.shape
    size = m
    if log2m & 1:
        h = m // 2
        for j in range(h):
            wr = cos_m[j]
            wi = -sin_m[j]
            for f in range(lanes):
                dr = re[j, f] - re[j + h, f]
                di = im[j, f] - im[j + h, f]
                re[j, f] += re[j + h, f]
                im[j, f] += im[j + h, f]
                re[j + h, f] = dr * wr - di * wi
                im[j + h, f] = dr * wi + di * wr
        size = h
    while size > 4:
        q = size // 4
        stride = m // size
        for b in range(0, m, size):
            for j in range(q):
                w1r = cos_m[j * stride]
                w1i = -sin_m[j * stride]
                w2r = cos_m[2 * j * stride]
                w2i = -sin_m[2 * j * stride]
                w3r = cos_m[3 * j * stride]
                w3i = -sin_m[3 * j * stride]
                a, c, d, e = b + j, b + j + q, b + j + 2 * q, b + j + 3 * q
                for f in range(lanes):
                    t0r = re[a, f] + re[d, f]
                    t0i = im[a, f] + im[d, f]
                    t1r = re[a, f] - re[d, f]
                    t1i = im[a, f] - im[d, f]
                    t2r = re[c, f] + re[e, f]
                    t2i = im[c, f] + im[e, f]
                    t3r = im[c, f] - im[e, f]  # -i (a1 - a3)
                    t3i = re[e, f] - re[c, f]
                    ur = t0r - t2r
                    ui = t0i - t2i
                    vr = t1r + t3r
                    vi = t1i + t3i
                    sr = t1r - t3r
                    si = t1i - t3i
                    re[a, f] = t0r + t2r
                    im[a, f] = t0i + t2i
                    re[c, f] = ur * w2r - ui * w2i
                    im[c, f] = ur * w2i + ui * w2r
                    re[d, f] = vr * w1r - vi * w1i
                    im[d, f] = vr * w1i + vi * w1r
                    re[e, f] = sr * w3r - si * w3i
                    im[e, f] = sr * w3i + si * w3r
        size = q
    if size == 4:  # the last stage: twiddles all 1
        for b in range(0, m, 4):
            for f in range(lanes):
                t0r = re[b, f] + re[b + 2, f]
                t0i = im[b, f] + im[b + 2, f]
                t1r = re[b, f] - re[b + 2, f]
                t1i = im[b, f] - im[b + 2, f]
                t2r = re[b + 1, f] + re[b + 3, f]
                t2i = im[b + 1, f] + im[b + 3, f]
                t3r = im[b + 1, f] - im[b + 3, f]
                t3i = re[b + 3, f] - re[b + 1, f]
                re[b, f] = t0r + t2r
                im[b, f] = t0i + t2i
                re[b + 1, f] = t0r - t2r
                im[b + 1, f] = t0i - t2i
                re[b + 2, f] = t1r + t3r
                im[b + 2, f] = t1i + t3i
                re[b + 3, f] = t1r - t3r
                im[b + 3, f] = t1i - t3i


@njit(cache=True, nogil=True)
def _power(re, im, cos_n, sin_n, bitrev, power):
    """4 × the power spectrum, bins 0 .. m of every lane, from the bit-reversed transform Z of
    z[n] = x[2n] + i x[2n + 1]; bins k and m - k come from Z[k] and Z[m - k] together."""
    m, lanes = re.shape
    for f in range(lanes):
        x0 = 2.0 * (re[0, f] + im[0, f])
        xm = 2.0 * (re[0, f] - im[0, f])
        power[0, f] = x0 * x0
        power[m, f] = xm * xm
    for k in range(1, (m + 1) // 2):
        z = bitrev[k]
        y = bitrev[m - k]
        c = cos_n[k]
        s = sin_n[k]
        for f in range(lanes):
            a = re[z, f] + re[y, f]  # 2 E[k]
            e = im[z, f] - im[y, f]
            o_r = im[z, f] + im[y, f]  # 2 O[k]
            o_i = re[y, f] - re[z, f]
            b = c * o_r + s * o_i
            d = c * o_i - s * o_r
            power[k, f] = (a + b) * (a + b) + (e + d) * (e + d)
            power[m - k, f] = (a - b) * (a - b) + (d - e) * (d - e)
    if m >= 2:  # k = m / 2 pairs with itself
        z = bitrev[m // 2]
        for f in range(lanes):
            power[m // 2, f] = 4.0 * (re[z, f] * re[z, f] + im[z, f] * im[z, f])


@njit(cache=True, nogil=True)
def _mel_db(power, t0, frames, start, stop, offset, weights, amin, db, acc):
    """Mel bands of the live lanes in dB into db[band, t0 + f]; returns their maximum.
    ``acc`` is scratch space of one value per lane."""
    lanes = power.shape[1]
    peak = -np.inf
    used = min(lanes, frames - t0)
    for band in range(start.size):
        acc[:] = 0.0
        base = offset[band] - start[band]
        for k in range(start[band], stop[band]):
            w = weights[base + k]
            for f in range(lanes):
                acc[f] += w * power[k, f]
        for f in range(used):
            level = 10.0 * math.log10(max(0.25 * acc[f], amin))
            db[band, t0 + f] = level
            peak = max(peak, level)
    return peak


@njit(cache=True, nogil=True)
def mfcc_rows(x, out, first, last, hop, window, start, stop, offset, weights, dct, amin, top_db):
    """MFCCs of rows ``first .. last - 1`` of ``x`` ``(rows, samples)`` into ``out``
    ``(rows, n_mfcc, frames)``.

    ``window`` is the periodic Hann window of power-of-two length n_fft; the mel filterbank is
    given sparsely: band b weighs bins ``start[b] .. stop[b] - 1`` with
    ``weights[offset[b] : offset[b] + stop[b] - start[b]]``. ``dct`` is ``(n_mfcc, n_mels)``.
    """
    n_fft = window.size
    m = n_fft // 2
    frames = out.shape[2]
    n_mels = start.size
    log2m, cos_m, sin_m, cos_n, sin_n, bitrev = _tables(m)
    re = np.empty((m, LANES))
    im = np.empty((m, LANES))
    power = np.empty((m + 1, LANES))
    db = np.empty((n_mels, frames))
    acc = np.empty(frames)
    lane_acc = np.empty(LANES)
    for r in range(first, last):
        row = x[r]
        peak = -np.inf
        for t0 in range(0, frames, LANES):
            _load(row, t0, frames, hop, window, re, im)
            _fft(re, im, log2m, cos_m, sin_m)
            _power(re, im, cos_n, sin_n, bitrev, power)
            level = _mel_db(power, t0, frames, start, stop, offset, weights, amin, db, lane_acc)
            peak = max(peak, level)
        floor = peak - top_db
        for band in range(n_mels):
            for t in range(frames):
                db[band, t] = max(db[band, t], floor)
        for c in range(dct.shape[0]):
            acc[:] = 0.0
            for band in range(n_mels):
                d = dct[c, band]
                for t in range(frames):
                    acc[t] += d * db[band, t]
            for t in range(frames):
                out[r, c, t] = acc[t]
