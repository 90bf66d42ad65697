"""Tremolo: amplitude modulation by a raised-cosine LFO."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, Param, native, per_clip


class Tremolo(Effect):
    """Multiply every channel by a gain that swings between 1 and ``1 − depth``.

    Per clip, the same gain for every channel::

        g[n] = 1 − depth · (0.5 − 0.5 · cos(2π · rate_hz · n / sample_rate))
        y[n] = g[n] · x[n]

    The gain starts at 1 (``n = 0``) and dips to ``1 − depth`` half a period later, so
    ``|y| ≤ |x|`` sample by sample; ``depth = 1`` silences the troughs, ``depth = 0`` is the
    identity. The C and Numba kernels get ``cos`` from a rotation recurrence in double
    precision, re-seeded with libm's ``cos``/``sin`` every 4096 samples (drift below 1e-13).
    """

    name = "tremolo"
    description = "amplitude modulation by a raised-cosine LFO"
    params = (
        Param("rate_hz", 0.1, 20.0, 5.0, unit="Hz", scale="log", description="LFO rate"),
        Param("depth", 0.0, 1.0, 0.5, description="gain dip at the LFO's trough (1 = silence)"),
    )
    backends = ("c", "numba", "numpy")
    neutral = {"depth": 0.0}

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        kernel = {"c": tremolo_c, "numba": tremolo_numba}.get(backend, tremolo_numpy)
        return kernel(audio, values["rate_hz"], values["depth"], sample_rate)


def tremolo_numpy(audio, rate_hz, depth, sample_rate):
    """The reference: the gain curve in float64 NumPy, all clips at once.

    Parameter arrays are ``(batch,)`` physical values; audio is ``(batch, channels, samples)``.
    """
    n = np.arange(audio.shape[-1], dtype=np.float64)
    rate = np.asarray(rate_hz, np.float64)[:, None]
    d = np.asarray(depth, np.float64)[:, None]
    gain = 1.0 - d * (0.5 - 0.5 * np.cos(2.0 * np.pi * rate * n / sample_rate))
    return (audio.astype(np.float64) * gain[:, None, :]).astype(np.float32)


def tremolo_c(audio, rate_hz, depth, sample_rate):
    """The C kernel (OpenMP over rows × channels); same arguments as the reference."""
    return native.run_kernel("tremolo", audio, (rate_hz, depth), float(sample_rate))[0]


def tremolo_numba(audio, rate_hz, depth, sample_rate):
    """The Numba kernel (parallel over rows × channels); same arguments as the reference."""
    from dafxkit_effects._tremolo_numba import tremolo_kernel

    out = np.empty_like(audio)
    tremolo_kernel(
        audio, out, *per_clip(audio.shape[0], rate_hz=rate_hz, depth=depth), float(sample_rate)
    )
    return out
