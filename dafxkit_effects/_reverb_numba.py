"""Numba kernel of the reverb, imported only when the numba backend first runs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

INPUT_GAIN = 0.015
WET_SCALE = 3.0
ALLPASS_GAIN = 0.5
#: Rows run this many at a time, as in the C kernel: their delay lines interleaved slot by slot
#: (rows of one call share every delay length), so the inner loops run across rows.
LANES = 4
BLOCK = 128


@njit(cache=True)
def _tank_run(memory, start, length, at, store, n_combs, u, wet, count, feedback, keep, damp):
    """wet[:count] <- the tank's output for u[:count]; lines 0..n_combs-1 are combs, the rest
    all-passes; line i is memory[start[i] : start[i] + length[i]] and its next slot is at[i]."""
    lines = len(start)
    f0, f1, f2, f3 = feedback[0], feedback[1], feedback[2], feedback[3]
    k0, k1, k2, k3 = keep[0], keep[1], keep[2], keep[3]
    d0, d1, d2, d3 = damp[0], damp[1], damp[2], damp[3]
    j = 0
    while j < count:
        run = count - j
        for i in range(lines):
            run = min(run, length[i] - at[i])
        for k in range(run):
            # Four named lanes (LANES == 4) rather than an array: LLVM keeps them in registers.
            t0 = t1 = t2 = t3 = 0.0
            u0, u1, u2, u3 = u[j + k, 0], u[j + k, 1], u[j + k, 2], u[j + k, 3]
            for i in range(n_combs):
                slot = start[i] + at[i] + k
                o0, o1, o2, o3 = memory[slot, 0], memory[slot, 1], memory[slot, 2], memory[slot, 3]
                s0 = o0 * k0 + store[i, 0] * d0
                s1 = o1 * k1 + store[i, 1] * d1
                s2 = o2 * k2 + store[i, 2] * d2
                s3 = o3 * k3 + store[i, 3] * d3
                store[i, 0], store[i, 1], store[i, 2], store[i, 3] = s0, s1, s2, s3
                memory[slot, 0] = u0 + s0 * f0
                memory[slot, 1] = u1 + s1 * f1
                memory[slot, 2] = u2 + s2 * f2
                memory[slot, 3] = u3 + s3 * f3
                t0 += o0
                t1 += o1
                t2 += o2
                t3 += o3
            for i in range(n_combs, lines):
                slot = start[i] + at[i] + k
                h0, h1, h2, h3 = memory[slot, 0], memory[slot, 1], memory[slot, 2], memory[slot, 3]
                memory[slot, 0] = t0 + h0 * ALLPASS_GAIN
                memory[slot, 1] = t1 + h1 * ALLPASS_GAIN
                memory[slot, 2] = t2 + h2 * ALLPASS_GAIN
                memory[slot, 3] = t3 + h3 * ALLPASS_GAIN
                t0, t1, t2, t3 = h0 - t0, h1 - t1, h2 - t2, h3 - t3
            wet[j + k, 0], wet[j + k, 1], wet[j + k, 2], wet[j + k, 3] = t0, t1, t2, t3
        for i in range(lines):
            at[i] += run
            if at[i] == length[i]:
                at[i] = 0
        j += run


@njit(parallel=True, cache=True)
def reverb_kernel(
    x,
    out,
    room_size,
    damping,
    pre_delay_ms,
    width,
    mix,
    sample_rate,
    comb_l,
    allpass_l,
    comb_r,
    allpass_r,
):
    batch, channels, samples = x.shape
    n_combs = len(comb_l)
    length_l = np.concatenate((comb_l, allpass_l))
    length_r = np.concatenate((comb_r, allpass_r))
    start_l = np.zeros(len(length_l), np.int64)
    start_r = np.zeros(len(length_r), np.int64)
    for i in range(1, len(length_l)):
        start_l[i] = start_l[i - 1] + length_l[i - 1]
        start_r[i] = start_r[i - 1] + length_r[i - 1]
    groups = (batch + LANES - 1) // LANES
    for g in prange(groups):
        first = g * LANES
        lanes = min(LANES, batch - first)
        rows = np.empty(LANES, np.int64)
        pre = np.empty(LANES, np.int64)
        feedback = np.empty(LANES)
        damp = np.empty(LANES)
        keep = np.empty(LANES)
        for lane in range(LANES):
            # Missing lanes of the last group repeat its first row; their output is dropped.
            b = first + (lane if lane < lanes else 0)
            rows[lane] = b
            pre[lane] = min(samples, int(math.floor(pre_delay_ms[b] * sample_rate / 1000.0 + 0.5)))
            feedback[lane] = 0.7 + 0.28 * room_size[b]
            damp[lane] = 0.4 * damping[b]
            keep[lane] = 1.0 - damp[lane]
        memory_l = np.zeros((length_l.sum(), LANES))
        store_l = np.zeros((n_combs, LANES))
        at_l = np.zeros(len(length_l), np.int64)
        stereo = channels == 2
        memory_r = np.zeros((length_r.sum() if stereo else 0, LANES))
        store_r = np.zeros((n_combs, LANES))
        at_r = np.zeros(len(length_r), np.int64)
        u = np.empty((BLOCK, LANES))
        wet_l = np.empty((BLOCK, LANES))
        wet_r = np.empty((BLOCK, LANES))
        for n0 in range(0, samples, BLOCK):
            count = min(BLOCK, samples - n0)
            for lane in range(LANES):
                b = rows[lane]
                for k in range(count):
                    at = n0 + k - pre[lane]
                    s = 0.0
                    if at >= 0:
                        for c in range(channels):
                            s += x[b, c, at]
                        u[k, lane] = INPUT_GAIN * s
                    else:
                        u[k, lane] = 0.0
            _tank_run(
                memory_l, start_l, length_l, at_l, store_l, n_combs, u, wet_l, count,
                feedback, keep, damp,
            )  # fmt: skip
            if stereo:
                _tank_run(
                    memory_r, start_r, length_r, at_r, store_r, n_combs, u, wet_r, count,
                    feedback, keep, damp,
                )  # fmt: skip
            for lane in range(lanes):
                b = rows[lane]
                dry = 1.0 - mix[b]
                gain = mix[b] * WET_SCALE
                if not stereo:
                    for k in range(count):
                        out[b, 0, n0 + k] = dry * x[b, 0, n0 + k] + gain * wet_l[k, lane]
                else:
                    w1 = width[b] / 2.0 + 0.5
                    w2 = (1.0 - width[b]) / 2.0
                    for k in range(count):
                        left = wet_l[k, lane] * w1 + wet_r[k, lane] * w2
                        right = wet_r[k, lane] * w1 + wet_l[k, lane] * w2
                        out[b, 0, n0 + k] = dry * x[b, 0, n0 + k] + gain * left
                        out[b, 1, n0 + k] = dry * x[b, 1, n0 + k] + gain * right
