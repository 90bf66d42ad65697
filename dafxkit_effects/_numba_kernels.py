"""Numba kernels of the built-in effects, imported only when the numba backend first runs."""

from __future__ import annotations

import math

from numba import njit, prange


@njit(parallel=True, cache=True)
def distortion_kernel(x, out, drive_db, tone_hz, mix, output_db, sample_rate):
    batch, channels, samples = x.shape
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        drive = 10.0 ** (drive_db[b] / 20.0)
        a = 1.0 - math.exp(-2.0 * math.pi * tone_hz[b] / sample_rate)
        level = 10.0 ** (output_db[b] / 20.0)
        wet = level * mix[b]
        dry = level * (1.0 - mix[b])
        lp = 0.0
        for n in range(samples):
            xn = float(x[b, c, n])
            lp += a * (math.tanh(drive * xn) - lp)
            out[b, c, n] = dry * xn + wet * lp
