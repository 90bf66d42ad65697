"""Numba kernel of the chorus and flanger, imported only when the numba backend first runs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# As in native/modulation.c: the LFO from a double-precision rotation, re-seeded every RESEED.
RESEED = 4096


@njit(parallel=True, cache=True)
def modulation_kernel(x, out, rate_hz, depth_ms, centre_ms, feedback, mix, sample_rate):
    batch, channels, samples = x.shape
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        rate = rate_hz[b]
        depth = depth_ms[b]
        centre = centre_ms[b]
        fb = feedback[b]
        wet = mix[b]
        dry = 1.0 - mix[b]
        phase = c * math.pi / 2.0
        w = 2.0 * math.pi * rate / sample_rate
        step_c = math.cos(w)
        step_s = math.sin(w)
        longest = (centre + depth) * sample_rate / 1000.0
        size = 4
        while size < longest + 4.0:
            size *= 2
        mask = size - 1
        line = np.zeros(size)
        for n0 in range(0, samples, RESEED):
            n1 = min(samples, n0 + RESEED)
            arg = 2.0 * math.pi * rate * n0 / sample_rate + phase
            sn = math.sin(arg)
            cs = math.cos(arg)
            for n in range(n0, n1):
                tau = max(1.0, (centre + depth * sn) * sample_rate / 1000.0)
                k = int(tau)
                frac = tau - k
                d = (1.0 - frac) * line[(n - k) & mask] + frac * line[(n - k - 1) & mask]
                xn = float(x[b, c, n])
                line[n & mask] = xn + fb * d
                out[b, c, n] = dry * xn + wet * d
                nxt = cs * step_c - sn * step_s
                sn = sn * step_c + cs * step_s
                cs = nxt
