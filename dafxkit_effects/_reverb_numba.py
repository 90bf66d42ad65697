"""Numba kernel of the reverb, imported only when the numba backend first runs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

INPUT_GAIN = 0.015
WET_SCALE = 3.0
ALLPASS_GAIN = 0.5


@njit(cache=True)
def _tank(u, wet, feedback, damp, comb_len, ap_len):
    combs = [np.zeros(n) for n in comb_len]
    allpasses = [np.zeros(n) for n in ap_len]
    comb_at = np.zeros(len(comb_len), np.int64)
    ap_at = np.zeros(len(ap_len), np.int64)
    store = np.zeros(len(comb_len))
    keep = 1.0 - damp
    for n in range(len(u)):
        total = 0.0
        for i in range(len(comb_len)):
            out = combs[i][comb_at[i]]
            store[i] = out * keep + store[i] * damp
            combs[i][comb_at[i]] = u[n] + store[i] * feedback
            comb_at[i] += 1
            if comb_at[i] == comb_len[i]:
                comb_at[i] = 0
            total += out
        for i in range(len(ap_len)):
            held = allpasses[i][ap_at[i]]
            allpasses[i][ap_at[i]] = total + held * ALLPASS_GAIN
            total = held - total
            ap_at[i] += 1
            if ap_at[i] == ap_len[i]:
                ap_at[i] = 0
        wet[n] = total


@njit(parallel=True, cache=True)
def reverb_kernel(
    x, out, room_size, damping, pre_delay_ms, width, mix, sample_rate, comb_l, comb_r, ap_l, ap_r
):
    batch, channels, samples = x.shape
    for b in prange(batch):
        pre = min(samples, int(math.floor(pre_delay_ms[b] * sample_rate / 1000.0 + 0.5)))
        u = np.zeros(samples)
        for n in range(pre, samples):
            s = 0.0
            for c in range(channels):
                s += x[b, c, n - pre]
            u[n] = INPUT_GAIN * s
        feedback = 0.7 + 0.28 * room_size[b]
        damp = 0.4 * damping[b]
        dry = 1.0 - mix[b]
        left = np.empty(samples)
        _tank(u, left, feedback, damp, comb_l, ap_l)
        if channels == 1:
            for n in range(samples):
                out[b, 0, n] = dry * x[b, 0, n] + mix[b] * WET_SCALE * left[n]
        else:
            right = np.empty(samples)
            _tank(u, right, feedback, damp, comb_r, ap_r)
            w1 = width[b] / 2.0 + 0.5
            w2 = (1.0 - width[b]) / 2.0
            for n in range(samples):
                wl = left[n] * w1 + right[n] * w2
                wr = right[n] * w1 + left[n] * w2
                out[b, 0, n] = dry * x[b, 0, n] + mix[b] * WET_SCALE * wl
                out[b, 1, n] = dry * x[b, 1, n] + mix[b] * WET_SCALE * wr
