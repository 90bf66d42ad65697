"""Phaser: a chain of LFO-swept first-order all-passes with feedback, mixed with the dry signal."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, Param, native, per_clip

#: Samples between coefficient updates (the LFO's control rate).
CONTROL = 16
#: Lowest break frequency, in Hz; the highest is ``MAX_FRACTION · sample_rate``.
MIN_HZ = 20.0
MAX_FRACTION = 0.45
#: The most all-pass stages (the upper end of ``stages``).
MAX_STAGES = 12


class Phaser(Effect):
    """Sweep the notches of an all-pass chain with a sine LFO; mix the chain with the input.

    Per clip and channel ``c``, with every state starting from rest (``p[−1] = 0``)::

        S     = 2 · round(stages / 2), clipped to [2, 12]      (round half to even)
        lfo   = sin(2π · rate_hz · n / sample_rate + c · π/2)
        f     = centre_hz · 2 ** (2 · depth · lfo), clipped to [20, 0.45 · sample_rate]
        t     = tan(π · f / sample_rate),   a = (t − 1) / (t + 1)
        u[n]  = x[n] + feedback · p[n−1]
        p[n]  = A_S(u)[n],   S all-passes (a + z⁻¹) / (1 + a·z⁻¹) in series
        y[n]  = (1 − mix) · x[n] + mix · p[n]

    Each all-pass runs in transposed form, ``out = a·in + s; s = in − a·out``. The coefficient
    is recomputed at control rate: at every ``n`` with ``n % 16 == 0`` from the LFO value at
    that ``n``, and held for the next 16 samples. The LFO of channel ``c`` is a quarter period
    ahead of channel ``c − 1``, so a stereo clip sweeps in quadrature.

    Each all-pass has phase −90° at ``f``, so the chain's phase reaches −180° (where the mix
    with the dry signal cancels: a notch) at ``f`` for 2 stages, and S/2 notches in all;
    ``depth`` sweeps ``f`` up to two octaves either side of ``centre_hz``; ``feedback``
    sharpens the notches and adds peaks between them.

    ``stages`` is piecewise constant: it changes the output only where ``S`` steps, so SPSA
    sees no gradient for it within a step (it sees the jump when a perturbation crosses one).

    Output bound: ``|y| ≤ ((1 − mix) + mix · G) · max|x|`` with ``G`` the 1-norm of the
    loop's impulse response, ``A_S / (1 − feedback · z⁻¹ · A_S)``. Every all-pass has unit gain
    but the loop does not: measured over the whole parameter range with a static coefficient,
    ``G`` peaks at 46 (12 stages, feedback 0.9, ``f`` near 50 Hz); with the LFO sweeping, the
    largest peak gain measured was 16. ``feedback ≤ 0.9 < 1`` keeps the loop stable, and
    ``mix = 0`` is the identity.
    """

    name = "phaser"
    description = "LFO-swept all-pass chain with feedback, mixed with the dry signal"
    params = (
        Param("rate_hz", 0.05, 5.0, 0.5, unit="Hz", scale="log", description="LFO rate"),
        Param("depth", 0.0, 1.0, 0.7, description="sweep width (1 = two octaves either side)"),
        Param(
            "centre_hz",
            100.0,
            4000.0,
            800.0,
            unit="Hz",
            scale="log",
            description="break frequency of the all-passes at the centre of the sweep",
        ),
        Param("feedback", 0.0, 0.9, 0.3, description="share of the chain's output fed back"),
        Param(
            "stages",
            2.0,
            12.0,
            4.0,
            description="all-pass stages (used as the nearest even number, 2 to 12)",
        ),
        Param("mix", 0.0, 1.0, 0.5, description="wet/dry balance (0.5 = deepest notches)"),
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
        args = [values[p.name] for p in self.params]
        kernel = {"c": phaser_c, "numba": phaser_numba}.get(backend, phaser_numpy)
        return kernel(audio, *args, sample_rate)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        return phaser_c_dot(
            audio, grad, repeat, *(values[p.name] for p in self.params), sample_rate
        )


def stage_counts(stages: np.ndarray) -> np.ndarray:
    """The even number of all-passes each ``stages`` value selects, as int64."""
    return np.clip(2 * np.round(np.asarray(stages, np.float64) / 2), 2, MAX_STAGES).astype(np.int64)


def allpass_coefficients(rate_hz, depth, centre_hz, offset, n, sample_rate):
    """The all-pass coefficient ``a`` at sample ``n`` (arrays broadcast), in float64."""
    lfo = np.sin(2.0 * np.pi * rate_hz * n / sample_rate + offset)
    f = centre_hz * 2.0 ** (2.0 * depth * lfo)
    t = np.tan(np.pi * np.clip(f, MIN_HZ, MAX_FRACTION * sample_rate) / sample_rate)
    return (t - 1.0) / (t + 1.0)


def phaser_numpy(audio, rate_hz, depth, centre_hz, feedback, stages, mix, sample_rate):
    """The reference: float64, a Python loop over samples vectorised over rows × channels.

    Slow (~40 µs a sample): fine for tests, ~9 s for 32 clips of 5 s at 44.1 kHz. All parameter
    arrays are ``(batch,)`` physical values; audio is ``(batch, channels, samples)``.
    """
    batch, channels, samples = audio.shape
    b = np.repeat(np.arange(batch), channels)
    offset = np.tile(np.arange(channels), batch) * np.pi / 2
    rate, dep, centre, fb, wet = (
        np.asarray(v, np.float64)[b] for v in (rate_hz, depth, centre_hz, feedback, mix)
    )
    n_stages = stage_counts(stages)[b]
    x = audio.reshape(batch * channels, samples).T.astype(np.float64)  # (samples, rows)
    y = np.empty_like(x)
    state = np.zeros((MAX_STAGES, batch * channels))
    p = np.zeros(batch * channels)
    for n in range(samples):
        if n % CONTROL == 0:
            a = allpass_coefficients(rate, dep, centre, offset, n, sample_rate)
        u = x[n] + fb * p
        for k in range(int(n_stages.max())):
            active = k < n_stages  # rows with fewer stages pass this one by
            out = a * u + state[k]
            state[k] = np.where(active, u - a * out, 0.0)
            u = np.where(active, out, u)
        p = u
        y[n] = (1.0 - wet) * x[n] + wet * p
    return y.T.reshape(audio.shape).astype(np.float32)


def phaser_c(audio, rate_hz, depth, centre_hz, feedback, stages, mix, sample_rate):
    """The C kernel (OpenMP over groups of 8 rows × channels); same arguments as the reference."""
    columns = (rate_hz, depth, centre_hz, feedback, stages, mix)
    return native.run_kernel("phaser", audio, columns, float(sample_rate))[0]


def phaser_c_dot(
    audio, grad, repeat, rate_hz, depth, centre_hz, feedback, stages, mix, sample_rate
):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); the parameters have ``repeat`` rows per clip."""
    columns = (rate_hz, depth, centre_hz, feedback, stages, mix)
    return native.run_kernel_dot("phaser", audio, grad, repeat, columns, float(sample_rate))[0]


def phaser_numba(audio, rate_hz, depth, centre_hz, feedback, stages, mix, sample_rate):
    """The Numba kernel (parallel over rows × channels); same arguments as the reference."""
    from dafxkit_effects._phaser_numba import phaser_kernel

    out = np.empty_like(audio)
    columns = per_clip(
        audio.shape[0],
        rate_hz=rate_hz,
        depth=depth,
        centre_hz=centre_hz,
        feedback=feedback,
        stages=stages,
        mix=mix,
    )
    phaser_kernel(
        audio, out, *columns, float(sample_rate), CONTROL, MIN_HZ, MAX_FRACTION, MAX_STAGES
    )
    return out
