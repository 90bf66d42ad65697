"""Bitcrusher: sample-and-hold downsampling and amplitude quantisation, mixed with the input."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, Param, native, per_clip


class Bitcrusher(Effect):
    """Hold every k-th sample, round it to ``bits`` of resolution, mix with the dry signal.

    Per clip and channel::

        q    = 2 ** (bits − 1)
        k    = max(1, round(downsample))
        m    = k · floor(n / k)                      (the first sample of n's block of k)
        z[n] = round(clip(x[m], −1, 1) · q) / q
        y[n] = (1 − mix) · x[n] + mix · z[n]

    ``round`` is half to even in every backend (NumPy's ``np.round``, ``rint`` in C), so the
    backends pick the same level. ``bits`` is continuous: a non-integer bit depth gives a
    level spacing ``1 / q`` that is not a power of two (``2q + 1`` levels from −1 to 1, the
    ends included), so the effect changes smoothly between whole bit depths. ``downsample`` is
    piecewise constant: it changes the output only where ``k`` steps, so SPSA sees no gradient
    for it within a step. Input beyond ±1 is clipped before quantising, so
    ``|z| ≤ round(q) / q`` and ``|y| ≤ (1 − mix) · max|x| + mix · round(q) / q``. That top level
    is 1 for a whole bit depth but up to 1.2 between them, where ``q`` rounds up (bits 2.4:
    ``q ≈ 2.64``, full scale maps to 3 / 2.64 ≈ 1.14). ``mix = 0`` is the identity.
    """

    name = "bitcrusher"
    description = "sample-and-hold downsampling and bit-depth reduction, mixed with the input"
    params = (
        Param("bits", 2.0, 16.0, 8.0, unit="bit", description="amplitude resolution"),
        Param(
            "downsample",
            1.0,
            32.0,
            1.0,
            scale="log",
            description="sample-and-hold factor (used rounded to a whole number)",
        ),
        Param("mix", 0.0, 1.0, 1.0, description="wet/dry balance (1 = all crushed)"),
    )
    backends = ("c", "numba", "numpy")
    neutral = {"mix": 0.0}

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        kernel = {"c": bitcrusher_c, "numba": bitcrusher_numba}.get(backend, bitcrusher_numpy)
        return kernel(audio, values["bits"], values["downsample"], values["mix"], sample_rate)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        args = (values["bits"], values["downsample"], values["mix"])
        return bitcrusher_c_dot(audio, grad, repeat, *args, sample_rate)


def hold_factors(downsample: np.ndarray) -> np.ndarray:
    """The sample-and-hold factor ``k`` each ``downsample`` value selects, as int64."""
    return np.maximum(1, np.round(np.asarray(downsample, np.float64))).astype(np.int64)


def bitcrusher_numpy(audio, bits, downsample, mix, sample_rate):
    """The reference: float64 NumPy, one clip at a time (``sample_rate`` is unused).

    Parameter arrays are ``(batch,)`` physical values; audio is ``(batch, channels, samples)``.
    """
    out = np.empty(audio.shape, dtype=np.float32)
    samples = audio.shape[-1]
    q = np.power(2.0, np.asarray(bits, np.float64) - 1.0)
    for b, k in enumerate(hold_factors(downsample)):
        x = audio[b].astype(np.float64)
        held = np.repeat(x[:, ::k], k, axis=-1)[:, :samples]
        z = np.round(np.clip(held, -1.0, 1.0) * q[b]) / q[b]
        out[b] = (1.0 - mix[b]) * x + mix[b] * z
    return out


def bitcrusher_c(audio, bits, downsample, mix, sample_rate):
    """The C kernel (OpenMP over rows × channels); same arguments as the reference."""
    return native.run_kernel("bitcrusher", audio, (bits, downsample, mix))[0]


def bitcrusher_c_dot(audio, grad, repeat, bits, downsample, mix, sample_rate):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); the parameters have ``repeat`` rows per clip."""
    return native.run_kernel_dot("bitcrusher", audio, grad, repeat, (bits, downsample, mix))[0]


def bitcrusher_numba(audio, bits, downsample, mix, sample_rate):
    """The Numba kernel (parallel over rows × channels); same arguments as the reference."""
    from dafxkit_effects._bitcrusher_numba import bitcrusher_kernel

    out = np.empty_like(audio)
    bitcrusher_kernel(
        audio, out, *per_clip(audio.shape[0], bits=bits, downsample=downsample, mix=mix)
    )
    return out
