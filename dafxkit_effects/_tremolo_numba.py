"""Numba kernel of the tremolo, imported only when the numba backend first runs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# As in native/tremolo.c: cos(w n) from LANES interleaved rotations, re-seeded every RESEED.
LANES = 8
RESEED = 4096


@njit(parallel=True, cache=True)
def tremolo_kernel(x, out, rate_hz, depth, sample_rate):
    batch, channels, samples = x.shape
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        w = 2.0 * math.pi * rate_hz[b] / sample_rate
        d = depth[b]
        step_c = math.cos(LANES * w)
        step_s = math.sin(LANES * w)
        lane_c = np.empty(LANES)
        lane_s = np.empty(LANES)
        for j in range(LANES):
            lane_c[j] = math.cos(j * w)
            lane_s[j] = math.sin(j * w)
        cs = np.empty(LANES)
        sn = np.empty(LANES)
        for n0 in range(0, samples, RESEED):
            nb = min(RESEED, samples - n0)
            c0 = math.cos(w * n0)
            s0 = math.sin(w * n0)
            for j in range(LANES):
                cs[j] = c0 * lane_c[j] - s0 * lane_s[j]
                sn[j] = s0 * lane_c[j] + c0 * lane_s[j]
            for n in range(0, nb, LANES):
                for j in range(min(LANES, nb - n)):
                    i = n0 + n + j
                    out[b, c, i] = float(x[b, c, i]) * (1.0 - d * (0.5 - 0.5 * cs[j]))
                    cn = cs[j] * step_c - sn[j] * step_s
                    sn[j] = sn[j] * step_c + cs[j] * step_s
                    cs[j] = cn
