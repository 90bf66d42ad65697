"""Chorus and flanger: a fractional delay swept by a sine LFO, with feedback and a wet/dry mix."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, NativeError, Param, native, per_clip


class ModulatedDelay(Effect):
    """A delay line read at a time swept by a sine, fed back into itself, mixed with the input.

    Per clip and channel ``c`` (0-based), with the line empty at the start::

        lfo[n] = sin(2π · rate_hz · n / sample_rate + c · π/2)
        τ[n]   = max(1, (centre_ms + depth_ms · lfo[n]) · sample_rate / 1000)   (samples)
        k      = floor(τ[n]),   f = τ[n] − k
        d[n]   = (1 − f) · v[n − k] + f · v[n − k − 1]           (v[m] = 0 for m < 0)
        v[n]   = x[n] + feedback · d[n]
        y[n]   = (1 − mix) · x[n] + mix · d[n]

    Stereo channels are a quarter LFO cycle apart (further channels continue the quarter
    steps). The delay never drops below one sample, so the read never needs ``v[n]``; where
    ``centre_ms − depth_ms`` would go lower, the sweep is flattened at one sample. The
    interpolation is continuous in ``τ``, also across whole samples.

    Output bound: ``|d| ≤ max|v|`` (a convex combination of past ``v``), so
    ``|v| ≤ max|x| / (1 − |feedback|)`` and
    ``|y| ≤ ((1 − mix) + mix / (1 − |feedback|)) · max|x| ≤ 10 · max|x|``.
    ``mix = 0`` is the identity; ``depth_ms = 0`` with ``feedback = 0`` is a pure fractional delay
    of ``centre_ms`` (linear interpolation). The C and Numba kernels compute ``lfo`` by a
    double-precision rotation re-seeded with libm's ``sin``/``cos`` every 4096 samples.

    `Chorus` and `Flanger` are this effect with different ranges.
    """

    backends = ("c", "numba", "numpy")
    neutral = {"mix": 0.0}

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        args = tuple(values[n] for n in ("rate_hz", "depth_ms", "centre_ms", "feedback", "mix"))
        kernel = {"c": modulation_c, "numba": modulation_numba}.get(backend, modulation_numpy)
        return kernel(audio, *args, sample_rate)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        return modulation_c_dot(
            audio,
            grad,
            repeat,
            *(values[n] for n in ("rate_hz", "depth_ms", "centre_ms", "feedback", "mix")),
            sample_rate,
        )


class Chorus(ModulatedDelay):
    """A copy of the input delayed by up to 40 ms and detuned by the sweep, mixed back in (see
    `ModulatedDelay` for the formulas).

    The delay stays at or above 1 sample and at most 40 ms; feedback is kept in [0, 0.9], so
    ``|y| ≤ ((1 − mix) + 10 · mix) · max|x|``.
    """

    name = "chorus"
    description = "delay (centre 5-30 ms) swept by a sine LFO, mixed with the input"
    params = (
        Param("rate_hz", 0.05, 5.0, 1.0, unit="Hz", scale="log", description="LFO rate"),
        Param("depth_ms", 0.0, 10.0, 3.0, unit="ms", description="sweep of the delay either side"),
        Param("centre_ms", 5.0, 30.0, 15.0, unit="ms", description="delay at the sweep's centre"),
        Param("feedback", 0.0, 0.9, 0.0, description="delayed signal fed back into the line"),
        Param("mix", 0.0, 1.0, 0.5, description="wet/dry balance (1 = delayed signal only)"),
    )


class Flanger(ModulatedDelay):
    """A short swept delay (up to 15 ms) with feedback of either sign: a moving comb filter (see
    `ModulatedDelay` for the formulas).

    With a delay of ``τ`` samples, the wet path alone is ``z^−τ / (1 − feedback · z^−τ)``:
    positive feedback puts resonant peaks at multiples of ``sample_rate / τ``, negative feedback
    halfway between them; ``|y| ≤ ((1 − mix) + 10 · mix) · max|x|``.
    """

    name = "flanger"
    description = "short delay (centre 0.5-10 ms) swept by a sine LFO, with feedback: a moving comb"
    params = (
        Param("rate_hz", 0.05, 5.0, 0.3, unit="Hz", scale="log", description="LFO rate"),
        Param("depth_ms", 0.0, 5.0, 2.0, unit="ms", description="sweep of the delay either side"),
        Param("centre_ms", 0.5, 10.0, 3.0, unit="ms", description="delay at the sweep's centre"),
        Param(
            "feedback",
            -0.9,
            0.9,
            0.5,
            description="delayed signal fed back into the line (sign moves the comb's peaks)",
        ),
        Param("mix", 0.0, 1.0, 0.5, description="wet/dry balance (1 = delayed signal only)"),
    )


def modulated_delays(shape, rate_hz, depth_ms, centre_ms, sample_rate):
    """``τ[n]`` in samples for every row and channel: float64 ``(batch, channels, samples)``."""
    _, channels, samples = shape
    n = np.arange(samples, dtype=np.float64)
    phase = np.arange(channels, dtype=np.float64)[:, None] * np.pi / 2.0
    rate = np.asarray(rate_hz, np.float64)[:, None, None]
    depth = np.asarray(depth_ms, np.float64)[:, None, None]
    centre = np.asarray(centre_ms, np.float64)[:, None, None]
    lfo = np.sin(2.0 * np.pi * rate * n / sample_rate + phase)
    return np.maximum(1.0, (centre + depth * lfo) * sample_rate / 1000.0)


def modulation_numpy(audio, rate_hz, depth_ms, centre_ms, feedback, mix, sample_rate):
    """The reference: float64, a Python loop over samples vectorised over rows × channels.

    The feedback path reads ``v`` as little as one sample back, so there is no block to hand to
    a vectorised filter; the loop makes this slow on long clips (seconds for the 32 × 5 s
    benchmark), which is fine for the tests it serves.

    Parameter arrays are ``(batch,)`` physical values; audio is ``(batch, channels, samples)``.
    """
    batch, channels, samples = audio.shape
    rows = batch * channels
    if samples == 0:
        return np.empty(audio.shape, np.float32)
    tau = modulated_delays(audio.shape, rate_hz, depth_ms, centre_ms, sample_rate)
    tau = tau.reshape(rows, samples).T  # (samples, rows): one contiguous row per time step
    k = np.floor(tau).astype(np.int64)
    frac = tau - k
    pad = int(k.max()) + 1  # rows of zeros standing for v[m], m < 0
    x = audio.reshape(rows, samples).T.astype(np.float64)
    fb = np.repeat(np.asarray(feedback, np.float64), channels)
    v = np.zeros((pad + samples, rows))
    d = np.empty((samples, rows))
    columns = np.arange(rows)
    newer = pad + np.arange(samples)[:, None] - k  # where v[n − k] sits in `v`
    for n in range(samples):
        i = newer[n]
        d[n] = (1.0 - frac[n]) * v[i, columns] + frac[n] * v[i - 1, columns]
        v[pad + n] = x[n] + fb * d[n]
    wet = np.repeat(np.asarray(mix, np.float64), channels)
    y = (1.0 - wet) * x + wet * d
    return np.ascontiguousarray(y.T.reshape(audio.shape), dtype=np.float32)


def modulation_c(audio, rate_hz, depth_ms, centre_ms, feedback, mix, sample_rate):
    """The C kernel (OpenMP over batch rows × channels); same arguments as the reference."""
    columns = (rate_hz, depth_ms, centre_ms, feedback, mix)
    out, failed = native.run_kernel("modulation", audio, columns, float(sample_rate))
    if failed:
        raise NativeError(f"chorus/flanger: out of memory for the delay lines of {failed} row(s)")
    return out


def modulation_c_dot(audio, grad, repeat, rate_hz, depth_ms, centre_ms, feedback, mix, sample_rate):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); the parameters have ``repeat`` rows per clip."""
    columns = (rate_hz, depth_ms, centre_ms, feedback, mix)
    dots, failed = native.run_kernel_dot(
        "modulation", audio, grad, repeat, columns, float(sample_rate)
    )
    if failed:
        raise NativeError(f"chorus/flanger: out of memory for the delay lines of {failed} row(s)")
    return dots


def modulation_numba(audio, rate_hz, depth_ms, centre_ms, feedback, mix, sample_rate):
    """The Numba kernel (parallel over batch rows × channels); same arguments as the reference."""
    from dafxkit_effects._modulation_numba import modulation_kernel

    out = np.empty_like(audio)
    columns = per_clip(
        audio.shape[0],
        rate_hz=rate_hz,
        depth_ms=depth_ms,
        centre_ms=centre_ms,
        feedback=feedback,
        mix=mix,
    )
    modulation_kernel(audio, out, *columns, float(sample_rate))
    return out
