"""Distortion: a waveshaper (four curves) with a tone filter, wet/dry mix and output level."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, Param, ParameterError, native, per_clip

#: Waveshaper curves by name, with their code in the kernels.
MODES = {"tanh": 0, "soft": 1, "hard": 2, "tube": 3}
#: Bias of the asymmetric "tube" curve, tanh(u + b) − tanh(b).
TUBE_BIAS = 0.25
#: Corner of the tube mode's DC blocker (one-pole high-pass), in Hz.
DC_BLOCK_HZ = 10.0


class Distortion(Effect):
    """Drive into a waveshaper, low-pass the result, mix it with the dry signal.

    Per clip and channel, with every filter starting from rest::

        g      = 10 ** (drive_db / 20)
        w[n]   = shape(g · x[n])
        a      = 1 − exp(−2π · tone_hz / sample_rate)
        lp[n]  = lp[n−1] + a · (w[n] − lp[n−1]),   lp[−1] = 0
        y[n]   = 10 ** (output_db / 20) · ((1 − mix) · x[n] + mix · lp[n])

    ``shape`` is set by ``mode`` and fixed for the instance, so that every parameter stays
    continuous for SPSA; each curve is also registered as an effect of its own:

    ==========  ============  ===================================================
    mode        registered    shape(u)
    ==========  ============  ===================================================
    ``tanh``    distortion    tanh(u)
    ``soft``    softclip      1.5 · (c − c³/3), c = clip(u, −1, 1): cubic, knee-free
    ``hard``    hardclip      clip(u, −1, 1)
    ``tube``    tube          tanh(u + 0.25) − tanh(0.25), then a 10 Hz DC blocker:
                              asymmetric, so even harmonics, as in a triode stage
    ==========  ============  ===================================================

    Output bound: ``10 ** (output_db / 20) · max(max|x|, 2.5)`` in every mode (the tube curve
    reaches 1.25 and its DC blocker at most doubles a peak; the others stay within 1).
    ``mix = 0`` with ``output_db = 0`` is the identity.

    Parameters
    ----------
    mode : {"tanh", "soft", "hard", "tube"}
        The waveshaper curve.
    """

    name = "distortion"
    description = "waveshaper (tanh) with tone filter, mix and output level"
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

    def __init__(self, mode: str = "tanh") -> None:
        if mode not in MODES:
            raise ParameterError(f"distortion mode must be one of {', '.join(MODES)}; got {mode!r}")
        self.mode = mode
        if mode != "tanh":
            self.name = {"soft": "softclip", "hard": "hardclip", "tube": "tube"}[mode]
            self.description = f"waveshaper ({mode}) with tone filter, mix and output level"

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        args = (values["drive_db"], values["tone_hz"], values["mix"], values["output_db"])
        kernel = {"c": distortion_c, "numba": distortion_numba}.get(backend, distortion_numpy)
        return kernel(audio, *args, sample_rate, mode=self.mode)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        args = (values["drive_db"], values["tone_hz"], values["mix"], values["output_db"])
        return distortion_c_dot(audio, grad, repeat, *args, sample_rate, mode=self.mode)


class SoftClip(Distortion):
    """The distortion with the cubic soft-clip curve (see `Distortion`)."""

    def __init__(self) -> None:
        super().__init__("soft")


class HardClip(Distortion):
    """The distortion with the hard-clip curve (see `Distortion`)."""

    def __init__(self) -> None:
        super().__init__("hard")


class Tube(Distortion):
    """The distortion with the asymmetric tube-like curve and DC blocker (see `Distortion`)."""

    def __init__(self) -> None:
        super().__init__("tube")


def shape_numpy(u: np.ndarray, mode: str) -> np.ndarray:
    """The waveshaper curves in float64 (the reference for the kernels)."""
    if mode == "soft":
        c = np.clip(u, -1.0, 1.0)
        return 1.5 * (c - c * c * c / 3.0)
    if mode == "hard":
        return np.clip(u, -1.0, 1.0)
    if mode == "tube":
        return np.tanh(u + TUBE_BIAS) - np.tanh(TUBE_BIAS)
    return np.tanh(u)


def distortion_numpy(audio, drive_db, tone_hz, mix, output_db, sample_rate, mode="tanh"):
    """The reference: float64 NumPy waveshaper and SciPy's lfilter, one batch row at a time.

    Slow and obvious on purpose; the tests hold the C and Numba kernels to it.

    Parameters
    ----------
    audio : np.ndarray
        float32 ``(batch, channels, samples)``.
    drive_db, tone_hz, mix, output_db : np.ndarray
        float64 ``(batch,)`` physical values, one per clip (see `Distortion.params`).
    sample_rate : float
        In Hz.
    mode : {"tanh", "soft", "hard", "tube"}
        The waveshaper curve.

    Returns
    -------
    np.ndarray
        float32 ``(batch, channels, samples)``; every filter starts from rest.
    """
    import scipy.signal  # half a second to import, and only the reference needs it

    out = np.empty(audio.shape, dtype=np.float32)
    for b in range(audio.shape[0]):
        x = audio[b].astype(np.float64)
        wet = shape_numpy(10.0 ** (drive_db[b] / 20.0) * x, mode)
        if mode == "tube":
            r = np.exp(-2.0 * np.pi * DC_BLOCK_HZ / sample_rate)
            wet = scipy.signal.lfilter([1.0, -1.0], [1.0, -r], wet, axis=-1)
        a = 1.0 - np.exp(-2.0 * np.pi * tone_hz[b] / sample_rate)
        wet = scipy.signal.lfilter([a], [1.0, a - 1.0], wet, axis=-1)
        level = 10.0 ** (output_db[b] / 20.0)
        out[b] = level * ((1.0 - mix[b]) * x + mix[b] * wet)
    return out


def distortion_c(audio, drive_db, tone_hz, mix, output_db, sample_rate, mode="tanh"):
    """The C kernel (OpenMP over batch rows × channels); same arguments as `distortion_numpy`.

    ``audio`` must already be C-contiguous float32 (a `NativeError` says so otherwise, and when
    the C library is unavailable).
    """
    columns = per_clip(
        audio.shape[0], drive_db=drive_db, tone_hz=tone_hz, mix=mix, output_db=output_db
    )
    return native.run_kernel("distortion", audio, columns, float(sample_rate), MODES[mode])[0]


def distortion_c_dot(
    audio, grad, repeat, drive_db, tone_hz, mix, output_db, sample_rate, mode="tanh"
):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); the parameters have ``repeat`` rows per clip."""
    columns = per_clip(
        audio.shape[0] * repeat, drive_db=drive_db, tone_hz=tone_hz, mix=mix, output_db=output_db
    )
    dots, _ = native.run_kernel_dot(
        "distortion", audio, grad, repeat, columns, float(sample_rate), MODES[mode]
    )
    return dots


def distortion_numba(audio, drive_db, tone_hz, mix, output_db, sample_rate, mode="tanh"):
    """The Numba kernel (parallel over batch rows × channels); same arguments as `distortion_numpy`.

    Compiled on first use (cached on disk afterwards); importing this module does not load Numba.
    """
    from dafxkit_effects._distortion_numba import distortion_kernel

    out = np.empty_like(audio)
    columns = per_clip(
        audio.shape[0], drive_db=drive_db, tone_hz=tone_hz, mix=mix, output_db=output_db
    )
    distortion_kernel(audio, out, *columns, float(sample_rate), MODES[mode], TUBE_BIAS, DC_BLOCK_HZ)
    return out
