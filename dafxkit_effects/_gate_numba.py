"""Numba kernel of the noise gate, imported only when the numba backend first runs."""

from __future__ import annotations

import math

from numba import njit, prange

NEPER_PER_DB = math.log(10.0) / 20.0


@njit(parallel=True, cache=True)
def gate_kernel(x, out, threshold_db, attack_ms, release_ms, range_db, sample_rate):
    batch, channels, samples = x.shape
    for b in prange(batch):
        # L >= threshold_db tested as e >= 10^(threshold_db / 20): no log per sample.
        open_level = 10.0 ** (threshold_db[b] / 20.0)
        closed = range_db[b]
        keep_a = math.exp(-1.0 / (0.001 * attack_ms[b] * sample_rate))
        keep_r = math.exp(-1.0 / (0.001 * release_ms[b] * sample_rate))
        env = 0.0
        gs = closed
        for n in range(samples):
            peak = 0.0
            for c in range(channels):
                peak = max(peak, abs(float(x[b, c, n])))
            env = max(peak, keep_r * env)
            target = 0.0 if env >= open_level else closed
            if target > gs:
                gs = keep_a * gs + (1.0 - keep_a) * target
            else:
                gs = keep_r * gs + (1.0 - keep_r) * target
            g = math.exp(gs * NEPER_PER_DB)
            for c in range(channels):
                out[b, c, n] = x[b, c, n] * g
