"""Numba kernel of the delay, imported only when the numba backend first runs."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def delay_kernel(x, out, delays, feedback, damping, mix):
    batch, channels, samples = x.shape
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        delay = delays[b]
        fb = feedback[b]
        keep = damping[b]
        take = 1.0 - damping[b]
        wet = mix[b]
        dry = 1.0 - mix[b]
        # As in native/delay.c: blocks of `delay` samples, slot j holding v[n − delay] when
        # sample n is read and v[n] once it is written.
        line = np.zeros(max(1, min(delay, samples)))
        s = 0.0
        for n0 in range(0, samples, delay):
            for j in range(min(delay, samples - n0)):
                n = n0 + j
                xn = float(x[b, c, n])
                s = take * line[j] + keep * s
                line[j] = xn + fb * s
                out[b, c, n] = dry * xn + wet * s
