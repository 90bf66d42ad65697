"""Numba kernel of the equaliser's biquad cascade, imported only when the numba backend runs."""

from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True)
def equaliser_kernel(x, out, coefficients):
    """Four biquads in series per (batch row, channel), transposed direct form II in float64.

    ``coefficients`` is ``(batch, 4, 5)``: b0, b1, b2, a1, a2 per section (a0 = 1). The four
    sections are written out so their coefficients and states stay in registers.
    """
    batch, channels, samples = x.shape
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        k = coefficients[b]
        b00, b01, b02, a01, a02 = k[0, 0], k[0, 1], k[0, 2], k[0, 3], k[0, 4]
        b10, b11, b12, a11, a12 = k[1, 0], k[1, 1], k[1, 2], k[1, 3], k[1, 4]
        b20, b21, b22, a21, a22 = k[2, 0], k[2, 1], k[2, 2], k[2, 3], k[2, 4]
        b30, b31, b32, a31, a32 = k[3, 0], k[3, 1], k[3, 2], k[3, 3], k[3, 4]
        s01 = s02 = s11 = s12 = s21 = s22 = s31 = s32 = 0.0
        for n in range(samples):
            v = float(x[b, c, n])
            u = b00 * v + s01
            s01 = b01 * v - a01 * u + s02
            s02 = b02 * v - a02 * u
            v = b10 * u + s11
            s11 = b11 * u - a11 * v + s12
            s12 = b12 * u - a12 * v
            u = b20 * v + s21
            s21 = b21 * v - a21 * u + s22
            s22 = b22 * v - a22 * u
            v = b30 * u + s31
            s31 = b31 * u - a31 * v + s32
            s32 = b32 * u - a32 * v
            out[b, c, n] = v
