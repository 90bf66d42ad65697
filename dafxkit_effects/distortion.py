"""Distortion: a tanh waveshaper with a tone filter, wet/dry mix and output level."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.signal

from dafxkit import Effect, Param, native


class Distortion(Effect):
    """Drive into a tanh waveshaper, low-pass the result, mix it with the dry signal.

    Per clip and channel, with every filter starting from rest::

        g      = 10 ** (drive_db / 20)
        w[n]   = tanh(g · x[n])
        a      = 1 − exp(−2π · tone_hz / sample_rate)
        lp[n]  = lp[n−1] + a · (w[n] − lp[n−1]),   lp[−1] = 0
        y[n]   = 10 ** (output_db / 20) · ((1 − mix) · x[n] + mix · lp[n])

    The output is bounded by ``10 ** (output_db / 20) · max(max|x|, 1)``; ``mix = 0`` and
    ``output_db = 0`` give the identity.
    """

    name = "distortion"
    description = "tanh waveshaper with tone filter, mix and output level"
    params = (
        Param("drive_db", 0.0, 40.0, 12.0, unit="dB", description="input gain into the waveshaper"),
        Param(
            "tone_hz",
            200.0,
            18000.0,
            6000.0,
            unit="Hz",
            scale="log",
            description="cutoff of the one-pole low-pass after the waveshaper",
        ),
        Param("mix", 0.0, 1.0, 1.0, description="wet/dry balance (1 = all distorted)"),
        Param("output_db", -24.0, 12.0, 0.0, unit="dB", description="output level"),
    )
    backends = ("c", "numba", "numpy")
    neutral = {"mix": 0.0, "output_db": 0.0}

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        args = (values["drive_db"], values["tone_hz"], values["mix"], values["output_db"])
        if backend == "c":
            return distortion_c(audio, *args, sample_rate)
        if backend == "numba":
            return distortion_numba(audio, *args, sample_rate)
        return distortion_numpy(audio, *args, sample_rate)


def distortion_numpy(audio, drive_db, tone_hz, mix, output_db, sample_rate):
    """The reference: float64 NumPy waveshaper and SciPy's lfilter, one row at a time.

    All parameter arrays are ``(batch,)`` physical values; audio is ``(batch, channels, samples)``.
    """
    out = np.empty(audio.shape, dtype=np.float32)
    for b in range(audio.shape[0]):
        x = audio[b].astype(np.float64)
        wet = np.tanh(10.0 ** (drive_db[b] / 20.0) * x)
        a = 1.0 - np.exp(-2.0 * np.pi * tone_hz[b] / sample_rate)
        wet = scipy.signal.lfilter([a], [1.0, a - 1.0], wet, axis=-1)
        level = 10.0 ** (output_db[b] / 20.0)
        out[b] = level * ((1.0 - mix[b]) * x + mix[b] * wet)
    return out


def distortion_c(audio, drive_db, tone_hz, mix, output_db, sample_rate):
    """The C kernel (OpenMP over batch rows × channels); same arguments as the reference."""
    out = np.empty_like(audio)
    batch, channels, samples = audio.shape
    native.lib().dafx_distortion(
        native.float_ptr(audio),
        native.float_ptr(out),
        batch,
        channels,
        samples,
        *(
            native.double_ptr(np.ascontiguousarray(v, np.float64))
            for v in (drive_db, tone_hz, mix, output_db)
        ),
        float(sample_rate),
    )
    return out


def distortion_numba(audio, drive_db, tone_hz, mix, output_db, sample_rate):
    """The Numba kernel (parallel over batch rows × channels); same arguments as the reference."""
    from dafxkit_effects._numba_kernels import distortion_kernel

    out = np.empty_like(audio)
    distortion_kernel(
        audio,
        out,
        *(np.ascontiguousarray(v, np.float64) for v in (drive_db, tone_hz, mix, output_db)),
        float(sample_rate),
    )
    return out
