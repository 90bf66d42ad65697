"""Numba kernel of the bitcrusher, imported only when the numba backend first runs."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def bitcrusher_kernel(x, out, bits, downsample, mix):
    batch, channels, samples = x.shape
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        q = 2.0 ** (bits[b] - 1.0)
        k = max(1, int(np.rint(downsample[b])))
        wet = mix[b]
        dry = 1.0 - wet
        for m in range(0, samples, k):
            v = min(max(float(x[b, c, m]), -1.0), 1.0)
            z = wet * (np.rint(v * q) / q)
            for n in range(m, min(m + k, samples)):
                out[b, c, n] = dry * float(x[b, c, n]) + z
