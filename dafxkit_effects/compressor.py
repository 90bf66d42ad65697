"""Compressor: feed-forward, soft-knee, log-domain detection, stereo-linked (Giannoulis et al.)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, Param, native, per_clip

#: Floor of the detected peak level: 1e-6 is -120 dB, far below any knee (threshold >= -60 dB).
LEVEL_FLOOR = 1e-6
#: Floor of the knee width in the knee formula's divisor (see `gain_computer_db`).
KNEE_FLOOR = 1e-300


class Compressor(Effect):
    """Feed-forward dynamic range compressor, one gain per clip for all its channels.

    The standard digital design (Giannoulis, Massberg & Reiss, JAES 2012): peak level in dB,
    a soft-knee static curve, and attack/release smoothing of the gain in dB. Per clip, with
    ``T = threshold_db``, ``R = ratio``, ``W = knee_db``::

        L[n]  = 20 · log10(max(max_c |x_c[n]|, 1e-6))               (floor −120 dB)
        G(L)  = L                               if 2 (L − T) < −W
              = L + (1/R − 1) · (L − T + W/2)² / (2W)   if 2 |L − T| ≤ W
              = T + (L − T) / R                 if 2 (L − T) > W
        gc[n] = G(L[n]) − L[n]   (≤ 0; computed as (1/R − 1)·(…) so that R = 1 gives 0 exactly)
        αA    = exp(−1 / (0.001 · attack_ms · sample_rate)),  αR likewise from release_ms
        gs[n] = αA · gs[n−1] + (1 − αA) · gc[n]   if gc[n] < gs[n−1]   (gain falling: attack)
              = αR · gs[n−1] + (1 − αR) · gc[n]   otherwise            (release),  gs[−1] = 0
        y_c[n] = x_c[n] · 10 ** ((gs[n] + makeup_db) / 20)

    ``W = 0`` is a hard knee: the knee branch then holds only ``L = T``, where the gain is 0
    (the divisor ``2W`` is floored at 2e-300, so no 0/0 there or for subnormal knees). Since
    ``gs ≤ 0``, ``|y| ≤ |x| · 10 ** (makeup_db / 20)`` sample by sample, up to the rounding of
    the output to float32 (relative 2⁻²⁴; for a subnormal output an absolute half step,
    2⁻¹⁵⁰, which can exceed the product by far more than 2⁻²⁴ of it); silence stays
    silence; ``ratio = 1`` with ``makeup_db = 0`` is the identity (exactly). The C kernel
    computes the level and the gain with its own double-precision log and exp (relative error
    below 1e-14), so all backends agree to float32 rounding (measured: bit for bit).
    """

    name = "compressor"
    description = "feed-forward soft-knee compressor, channels linked"
    params = (
        Param(
            "threshold_db",
            -60.0,
            0.0,
            -20.0,
            unit="dB",
            description="peak level above which the gain is reduced",
        ),
        Param("ratio", 1.0, 20.0, 4.0, scale="log", description="input dB per output dB above"),
        Param(
            "attack_ms",
            0.1,
            100.0,
            5.0,
            unit="ms",
            scale="log",
            description="time constant of falling gain (compression setting in)",
        ),
        Param(
            "release_ms",
            5.0,
            1000.0,
            100.0,
            unit="ms",
            scale="log",
            description="time constant of rising gain (compression letting go)",
        ),
        Param("knee_db", 0.0, 24.0, 6.0, unit="dB", description="width of the soft knee"),
        Param("makeup_db", 0.0, 24.0, 0.0, unit="dB", description="gain after compression"),
    )
    backends = ("c", "numba", "numpy")
    neutral = {"ratio": 1.0, "makeup_db": 0.0}

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        args = [values[p.name] for p in self.params]
        kernel = {"c": compressor_c, "numba": compressor_numba}.get(backend, compressor_numpy)
        return kernel(audio, *args, sample_rate)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        return compressor_c_dot(
            audio, grad, repeat, *(values[p.name] for p in self.params), sample_rate
        )


def smoothing_coefficient(time_ms: float, sample_rate: float) -> float:
    """The one-pole coefficient exp(−1 / (τ · fs)) of a time constant τ in milliseconds."""
    return math.exp(-1.0 / (0.001 * time_ms * sample_rate))


def gain_computer_db(level_db, threshold_db, ratio, knee_db):
    """The static curve's gain G(L) − L in dB (≤ 0) for levels ``level_db`` (float64 array)."""
    d = np.asarray(level_db, np.float64) - threshold_db
    slope = 1.0 / ratio - 1.0
    gain = np.where(2.0 * d > knee_db, slope * d, 0.0)
    knee = 2.0 * np.abs(d) <= knee_db
    # The floor on W guards the division: a narrower knee holds only |d| ≤ 1e-300 (W = 0: only
    # d = 0), where the squared term is 0 anyway.
    gain[knee] = slope * (d[knee] + 0.5 * knee_db) ** 2 / (2.0 * max(knee_db, KNEE_FLOOR))
    return gain


def compressor_numpy(
    audio, threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db, sample_rate
):
    """The reference: level and static curve in float64 NumPy, the smoother as a Python loop.

    All parameter arrays are ``(batch,)`` physical values; audio is ``(batch, channels, samples)``.
    The loop over samples makes it slow (seconds per minute of audio): it is for tests.
    """
    out = np.empty(audio.shape, dtype=np.float32)
    for b in range(audio.shape[0]):
        x = audio[b].astype(np.float64)
        level = 20.0 * np.log10(np.maximum(np.abs(x).max(axis=0), LEVEL_FLOOR))
        target = gain_computer_db(level, threshold_db[b], ratio[b], knee_db[b])
        keep_a = smoothing_coefficient(attack_ms[b], sample_rate)
        keep_r = smoothing_coefficient(release_ms[b], sample_rate)
        gs = 0.0
        smoothed = []
        for gc in target.tolist():
            if gc < gs:
                gs = keep_a * gs + (1.0 - keep_a) * gc
            else:
                gs = keep_r * gs + (1.0 - keep_r) * gc
            smoothed.append(gs)
        out[b] = x * 10.0 ** ((np.array(smoothed) + makeup_db[b]) / 20.0)
    return out


def compressor_c(
    audio, threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db, sample_rate
):
    """The C kernel (OpenMP over batch rows); same arguments as the reference."""
    return native.run_kernel(
        "compressor",
        audio,
        (threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db),
        float(sample_rate),
    )[0]


def compressor_c_dot(
    audio, grad, repeat, threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db, sample_rate
):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); the parameters have ``repeat`` rows per clip."""
    columns = (threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db)
    return native.run_kernel_dot("compressor", audio, grad, repeat, columns, float(sample_rate))[0]


def compressor_numba(
    audio, threshold_db, ratio, attack_ms, release_ms, knee_db, makeup_db, sample_rate
):
    """The Numba kernel (parallel over batch rows); same arguments as the reference."""
    from dafxkit_effects._compressor_numba import compressor_kernel

    out = np.empty_like(audio)
    columns = per_clip(
        audio.shape[0],
        threshold_db=threshold_db,
        ratio=ratio,
        attack_ms=attack_ms,
        release_ms=release_ms,
        knee_db=knee_db,
        makeup_db=makeup_db,
    )
    compressor_kernel(audio, out, *columns, float(sample_rate))
    return out
