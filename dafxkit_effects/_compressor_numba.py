"""Numba kernel of the compressor, imported only when the numba backend first runs."""

from __future__ import annotations

import math

from numba import njit, prange

DB_PER_NEPER = 20.0 / math.log(10.0)
NEPER_PER_DB = math.log(10.0) / 20.0
LEVEL_FLOOR = 1e-6
KNEE_FLOOR = 1e-300


@njit(cache=True, inline="always")
def _gain_computer(level_db, threshold_db, knee_db, slope):
    d = level_db - threshold_db
    if 2.0 * d < -knee_db:
        return 0.0
    if 2.0 * d > knee_db:
        return slope * d
    k = d + 0.5 * knee_db
    return slope * k * k / (2.0 * max(knee_db, KNEE_FLOOR))  # W = 0: only d = 0 gets here


@njit(parallel=True, cache=True)
def compressor_kernel(
    x, out, threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db, sample_rate
):
    batch, channels, samples = x.shape
    for b in prange(batch):
        slope = 1.0 / ratio[b] - 1.0
        keep_a = math.exp(-1.0 / (0.001 * attack_ms[b] * sample_rate))
        keep_r = math.exp(-1.0 / (0.001 * release_ms[b] * sample_rate))
        gs = 0.0
        for n in range(samples):
            peak = LEVEL_FLOOR
            for c in range(channels):
                peak = max(peak, abs(float(x[b, c, n])))
            gc = _gain_computer(DB_PER_NEPER * math.log(peak), threshold_db[b], knee_db[b], slope)
            if gc < gs:
                gs = keep_a * gs + (1.0 - keep_a) * gc
            else:
                gs = keep_r * gs + (1.0 - keep_r) * gc
            g = math.exp((gs + makeup_db[b]) * NEPER_PER_DB)
            for c in range(channels):
                out[b, c, n] = x[b, c, n] * g
