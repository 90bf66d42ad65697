"""Numba kernel of the equaliser's biquad cascade, imported only when the numba backend runs."""

from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True)
def biquad_kernel(x, out, coefficients):
    batch, channels, samples = x.shape
    sections = coefficients.shape[1]
    for r in prange(batch * channels):
        b = r // channels
        c = r % channels
        z1 = [0.0] * sections
        z2 = [0.0] * sections
        for n in range(samples):
            v = float(x[b, c, n])
            for s in range(sections):
                k = coefficients[b, s]
                y = k[0] * v + z1[s]
                z1[s] = k[1] * v - k[3] * y + z2[s]
                z2[s] = k[2] * v - k[4] * y
                v = y
            out[b, c, n] = v
