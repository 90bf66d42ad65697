"""Numba kernel of the distortion, imported only when the numba backend first runs."""

from __future__ import annotations

import math

from numba import njit, prange


@njit(cache=True, inline="always")
def _shape(u, mode, bias):
    if mode == 1:  # soft: cubic
        c = min(max(u, -1.0), 1.0)
        return 1.5 * (c - c * c * c / 3.0)
    if mode == 2:  # hard
        return min(max(u, -1.0), 1.0)
    if mode == 3:  # tube: asymmetric
        return math.tanh(u + bias) - math.tanh(bias)
    return math.tanh(u)


@njit(parallel=True, cache=True)
def distortion_kernel(
    x, out, drive_db, tone_hz, mix, output_db, sample_rate, mode, tube_bias, dc_block_hz
):
    batch, channels, samples = x.shape
    r_dc = math.exp(-2.0 * math.pi * dc_block_hz / sample_rate)
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        drive = 10.0 ** (drive_db[b] / 20.0)
        a = 1.0 - math.exp(-2.0 * math.pi * tone_hz[b] / sample_rate)
        level = 10.0 ** (output_db[b] / 20.0)
        wet = level * mix[b]
        dry = level * (1.0 - mix[b])
        lp = 0.0
        prev_in = 0.0
        prev_out = 0.0
        for n in range(samples):
            xn = float(x[b, c, n])
            w = _shape(drive * xn, mode, tube_bias)
            if mode == 3:  # DC blocker
                prev_out = w - prev_in + r_dc * prev_out
                prev_in = w
                w = prev_out
            lp += a * (w - lp)
            out[b, c, n] = dry * xn + wet * lp
