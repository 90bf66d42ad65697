"""Noise gate: instant-attack peak envelope, smoothed open/closed gain, stereo-linked."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, Param, native, per_clip

#: Floor of the envelope's level: 1e-6 is -120 dB, below every threshold (>= -80 dB).
LEVEL_FLOOR = 1e-6


class NoiseGate(Effect):
    """Attenuate a clip by ``range_db`` while its level stays below the threshold.

    Per clip, one gain for all its channels, with ``α = exp(−1 / (0.001 · time_ms · fs))``
    for ``αA`` (attack_ms) and ``αR`` (release_ms)::

        e[n]   = max(max_c |x_c[n]|, αR · e[n−1]),   e[−1] = 0     (instant attack, release)
        L[n]   = 20 · log10(max(e[n], 1e-6))
        gt[n]  = 0 if L[n] ≥ threshold_db else range_db           (open / closed, in dB)
        gs[n]  = αA · gs[n−1] + (1 − αA) · gt[n]   if gt[n] > gs[n−1]   (opening: attack)
               = αR · gs[n−1] + (1 − αR) · gt[n]   otherwise            (closing: release)
        gs[−1] = range_db                                          (a gate at rest is closed)
        y_c[n] = x_c[n] · 10 ** (gs[n] / 20)

    ``gs`` stays in ``[range_db, 0]``, so ``|y| ≤ |x|`` sample by sample; silence stays silence;
    ``range_db = 0`` is the identity (exactly). The C and Numba kernels test
    ``e[n] ≥ 10 ** (threshold_db / 20)`` instead of taking a log per sample (the same test:
    the 1e-6 floor lies below every threshold), and the C kernel's exp is its own
    double-precision one (relative error below 1e-14).
    """

    name = "gate"
    description = "noise gate with instant-attack envelope and range, channels linked"
    params = (
        Param(
            "threshold_db",
            -80.0,
            0.0,
            -50.0,
            unit="dB",
            description="envelope level at which the gate opens",
        ),
        Param(
            "attack_ms",
            0.1,
            50.0,
            1.0,
            unit="ms",
            scale="log",
            description="time constant of the gate opening",
        ),
        Param(
            "release_ms",
            5.0,
            1000.0,
            100.0,
            unit="ms",
            scale="log",
            description="time constant of the envelope's decay and of the gate closing",
        ),
        Param("range_db", -80.0, 0.0, -80.0, unit="dB", description="attenuation when closed"),
    )
    backends = ("c", "numba", "numpy")
    neutral = {"range_db": 0.0}

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        args = [values[p.name] for p in self.params]
        kernel = {"c": gate_c, "numba": gate_numba}.get(backend, gate_numpy)
        return kernel(audio, *args, sample_rate)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        return gate_c_dot(audio, grad, repeat, *(values[p.name] for p in self.params), sample_rate)


def smoothing_coefficient(time_ms: float, sample_rate: float) -> float:
    """The one-pole coefficient exp(−1 / (τ · fs)) of a time constant τ in milliseconds."""
    return math.exp(-1.0 / (0.001 * time_ms * sample_rate))


def gate_numpy(audio, threshold_db, attack_ms, release_ms, range_db, sample_rate):
    """The reference: float64, the envelope and smoother as a Python loop over samples.

    All parameter arrays are ``(batch,)`` physical values; audio is ``(batch, channels, samples)``.
    The loop over samples makes it slow (seconds per minute of audio): it is for tests.
    """
    out = np.empty(audio.shape, dtype=np.float32)
    for b in range(audio.shape[0]):
        x = audio[b].astype(np.float64)
        keep_a = smoothing_coefficient(attack_ms[b], sample_rate)
        keep_r = smoothing_coefficient(release_ms[b], sample_rate)
        closed = float(range_db[b])
        env, gs = 0.0, closed
        smoothed = []
        for peak in np.abs(x).max(axis=0).tolist():
            env = max(peak, keep_r * env)
            level = 20.0 * math.log10(max(env, LEVEL_FLOOR))
            target = 0.0 if level >= threshold_db[b] else closed
            if target > gs:
                gs = keep_a * gs + (1.0 - keep_a) * target
            else:
                gs = keep_r * gs + (1.0 - keep_r) * target
            smoothed.append(gs)
        out[b] = x * 10.0 ** (np.array(smoothed) / 20.0)
    return out


def gate_c(audio, threshold_db, attack_ms, release_ms, range_db, sample_rate):
    """The C kernel (OpenMP over batch rows); same arguments as the reference."""
    columns = (threshold_db, attack_ms, release_ms, range_db)
    return native.run_kernel("gate", audio, columns, float(sample_rate))[0]


def gate_c_dot(audio, grad, repeat, threshold_db, attack_ms, release_ms, range_db, sample_rate):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); the parameters have ``repeat`` rows per clip."""
    columns = (threshold_db, attack_ms, release_ms, range_db)
    return native.run_kernel_dot("gate", audio, grad, repeat, columns, float(sample_rate))[0]


def gate_numba(audio, threshold_db, attack_ms, release_ms, range_db, sample_rate):
    """The Numba kernel (parallel over batch rows); same arguments as the reference."""
    from dafxkit_effects._gate_numba import gate_kernel

    out = np.empty_like(audio)
    columns = per_clip(
        audio.shape[0],
        threshold_db=threshold_db,
        attack_ms=attack_ms,
        release_ms=release_ms,
        range_db=range_db,
    )
    gate_kernel(audio, out, *columns, float(sample_rate))
    return out
