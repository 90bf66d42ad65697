"""Delay: a feedback echo with a damping low-pass in the loop and a wet/dry mix."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, NativeError, Param, native, per_clip


class Delay(Effect):
    """Echoes every ``time_ms``, each one ``feedback`` times the last and darker by ``damping``.

    Per clip and channel (channels independent), with the delay line empty at the start::

        D      = max(1, floor(time_ms · sample_rate / 1000 + 0.5))     (whole samples)
        d[n]   = v[n − D]                      (0 for n < D)
        s[n]   = (1 − damping) · d[n] + damping · s[n−1],   s[−1] = 0
        v[n]   = x[n] + feedback · s[n]
        y[n]   = (1 − mix) · x[n] + mix · s[n]

    that is ``S/X = (1 − damping) z^−D / (1 − damping z^−1 − feedback (1 − damping) z^−D)``.
    The delay is rounded half up in every backend so that all agree on ties. An impulse gives
    echoes at ``k·D`` (``k ≥ 1``); with ``damping = 0`` they are exactly ``mix · feedback^(k−1)``,
    and damping spreads each one out through the one-pole low-pass (its DC gain stays 1).

    Output bound: ``s`` is a convex combination of past ``v``, so ``|v|, |s| ≤ max|x| /
    (1 − feedback) ≤ 20 · max|x|`` and ``|y| ≤ ((1 − mix) + mix / (1 − feedback)) · max|x|``.
    ``mix = 0`` is the identity. A delay longer than the clip leaves ``s = 0``: ``y = (1 − mix) x``.
    """

    name = "delay"
    description = "feedback echo with a damping low-pass in the loop"
    params = (
        Param(
            "time_ms",
            1.0,
            1000.0,
            250.0,
            unit="ms",
            scale="log",
            description="time between echoes",
        ),
        Param("feedback", 0.0, 0.95, 0.4, description="level of each echo relative to the last"),
        Param(
            "damping",
            0.0,
            1.0,
            0.3,
            description="one-pole low-pass in the loop: later echoes get darker (1 = no echo)",
        ),
        Param("mix", 0.0, 1.0, 0.5, description="wet/dry balance (1 = echoes only)"),
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
        args = (values["time_ms"], values["feedback"], values["damping"], values["mix"])
        kernel = {"c": delay_c, "numba": delay_numba}.get(backend, delay_numpy)
        return kernel(audio, *args, sample_rate)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        return delay_c_dot(
            audio,
            grad,
            repeat,
            *(values[n] for n in ("time_ms", "feedback", "damping", "mix")),
            sample_rate,
        )


def delay_samples(time_ms: np.ndarray, sample_rate: float) -> np.ndarray:
    """The delay in whole samples, ``max(1, floor(time_ms · rate / 1000 + 0.5))``, as int64."""
    t = np.floor(np.asarray(time_ms, np.float64) * sample_rate / 1000.0 + 0.5)
    return np.maximum(t, 1.0).astype(np.int64)


def delay_numpy(audio, time_ms, feedback, damping, mix, sample_rate):
    """The reference: float64, one row at a time, in blocks of ``D`` samples.

    Within a block every ``d[n] = v[n − D]`` is already known (it lies in the previous block), so
    the loop's only recursion left is the damping one-pole, which SciPy's ``lfilter`` runs
    (vectorised over channels, its state carried from block to block). Filtering with the whole
    transfer function instead would cost ``O(D)`` per sample.

    All parameter arrays are ``(batch,)`` physical values; audio is ``(batch, channels, samples)``.
    """
    import scipy.signal  # slow to import, and only the reference needs it

    out = np.empty(audio.shape, dtype=np.float32)
    channels, samples = audio.shape[1:]
    delays = delay_samples(time_ms, sample_rate)
    for b in range(audio.shape[0]):
        x = audio[b].astype(np.float64)
        delay, fb, damp = int(delays[b]), float(feedback[b]), float(damping[b])
        v = x.copy()  # v = x until the first echo, s = 0 before it
        s = np.zeros_like(x)
        state = np.zeros((channels, 1))
        for n0 in range(delay, samples, delay):
            n1 = min(n0 + delay, samples)
            s[:, n0:n1], state = scipy.signal.lfilter(
                [1.0 - damp], [1.0, -damp], v[:, n0 - delay : n1 - delay], axis=-1, zi=state
            )
            v[:, n0:n1] += fb * s[:, n0:n1]
        out[b] = (1.0 - mix[b]) * x + mix[b] * s
    return out


def delay_c(audio, time_ms, feedback, damping, mix, sample_rate):
    """The C kernel (OpenMP over batch rows × channels); same arguments as the reference."""
    columns = (time_ms, feedback, damping, mix)
    out, failed = native.run_kernel("delay", audio, columns, float(sample_rate))
    if failed:
        raise NativeError(f"delay: out of memory for the delay lines of {failed} row(s)")
    return out


def delay_c_dot(audio, grad, repeat, time_ms, feedback, damping, mix, sample_rate):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); the parameters have ``repeat`` rows per clip."""
    columns = (time_ms, feedback, damping, mix)
    dots, failed = native.run_kernel_dot("delay", audio, grad, repeat, columns, float(sample_rate))
    if failed:
        raise NativeError(f"delay: out of memory for the delay lines of {failed} row(s)")
    return dots


def delay_numba(audio, time_ms, feedback, damping, mix, sample_rate):
    """The Numba kernel (parallel over batch rows × channels); same arguments as the reference."""
    from dafxkit_effects._delay_numba import delay_kernel

    out = np.empty_like(audio)
    delays = delay_samples(time_ms, sample_rate)
    delay_kernel(
        audio, out, delays, *per_clip(audio.shape[0], feedback=feedback, damping=damping, mix=mix)
    )
    return out
