"""Numba kernel of the phaser, imported only when the numba backend first runs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def phaser_kernel(
    x,
    out,
    rate_hz,
    depth,
    centre_hz,
    feedback,
    stages,
    mix,
    sample_rate,
    control,
    min_hz,
    max_fraction,
    max_stages,
):
    batch, channels, samples = x.shape
    top = max_fraction * sample_rate
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        n_stages = min(max(2 * int(np.rint(stages[b] / 2.0)), 2), max_stages)
        offset = c * math.pi / 2
        fb = feedback[b]
        wet = mix[b]
        dry = 1.0 - wet
        state = np.zeros(n_stages)
        p = 0.0
        a = 0.0
        for n in range(samples):
            if n % control == 0:
                lfo = math.sin(2.0 * math.pi * rate_hz[b] * n / sample_rate + offset)
                f = centre_hz[b] * 2.0 ** (2.0 * depth[b] * lfo)
                f = min(max(f, min_hz), top)
                t = math.tan(math.pi * f / sample_rate)
                a = (t - 1.0) / (t + 1.0)
            xn = float(x[b, c, n])
            u = xn + fb * p
            for k in range(n_stages):
                stage = a * u + state[k]
                state[k] = u - a * stage
                u = stage
            p = u
            out[b, c, n] = dry * xn + wet * p
