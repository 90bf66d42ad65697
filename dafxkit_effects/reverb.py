"""Reverb: a Freeverb-style network of low-pass-feedback combs and all-passes."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import AudioError, Effect, NativeError, Param, native, per_clip

#: Comb and all-pass delays in samples at 44.1 kHz (scaled to the sample rate).
COMB_TUNING = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASS_TUNING = (556, 441, 341, 225)
#: Extra delay of every line in the right tank, in samples at 44.1 kHz.
STEREO_SPREAD = 23
INPUT_GAIN = 0.015
WET_SCALE = 3.0
ALLPASS_GAIN = 0.5


class Reverb(Effect):
    """A Schroeder/Moorer reverberator in the Freeverb arrangement, per clip.

    For each batch row, with every delay line and filter starting silent::

        P      = round(pre_delay_ms · sample_rate / 1000)
        u[n]   = 0.015 · Σ_c x_c[n − P]        (mono sum, pre-delayed; 0 for n < P)
        f      = 0.7 + 0.28 · room_size,   d = 0.4 · damping
        comb   out = buf[n − N];  s = (1 − d)·out + d·s;  buf[n] = u[n] + f·s
               H(z) = z⁻ᴺ (1 − d z⁻¹) / (1 − d z⁻¹ − f (1 − d) z⁻ᴺ)
        tank   = Σ of 8 combs (N = 1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617), then
                 4 all-passes in series (M = 556, 441, 341, 225):
                 b = buf[n − M];  out = b − in;  buf[n] = in + b/2
                 H(z) = (−1 + 1.5 z⁻ᴹ) / (1 − 0.5 z⁻ᴹ)
        y_c    = (1 − mix) · x_c + mix · 3 · wet_c

    Delays are given at 44.1 kHz and scaled to the sample rate, ``round(N · fs / 44100)``;
    every rounding here is half up. Stereo clips run two tanks on the same ``u``, the right one
    with every delay 23 samples longer (before scaling), and mix them by ``width``:
    ``wetL = L·w1 + R·w2``, ``wetR = R·w1 + L·w2`` with ``w1 = width/2 + 1/2``,
    ``w2 = (1 − width)/2``. Mono clips use the left tank alone: ``width`` has no effect.
    Only 1 or 2 channels are accepted (`AudioError` otherwise).

    Edge cases: the output has the input's length, so the tail past the end is cut, and a
    pre-delay longer than the clip leaves it dry. Silence in gives silence out exactly.
    ``mix = 0`` is the identity.

    The network is linear, time-invariant and stable (each comb's loop gain
    ``f (1 − d) / (1 − d z⁻¹)`` has magnitude at most ``f ≤ 0.98``), so
    ``|y| ≤ ((1 − mix) + mix · 3 · 0.015 · C · G) · max|x|`` with ``C`` channels and ``G`` the
    1-norm of one tank's impulse response. Each comb's response is non-negative with sum
    ``1/(1 − f) ≤ 50`` and each all-pass's 1-norm is 3, so ``G ≤ 8 · 50 · 3⁴ = 32 400`` at any
    rate; computed from the reference, ``G`` peaks at 19 100 (room_size 1, damping 0, right
    tank, 48 kHz) over 22.05, 44.1 and 48 kHz. Real peaks stay near the input's level.
    """

    name = "reverb"
    description = "Freeverb-style comb + all-pass reverb with pre-delay and stereo width"
    params = (
        Param("room_size", 0.0, 1.0, 0.5, description="comb feedback: larger means longer decay"),
        Param("damping", 0.0, 1.0, 0.5, description="high-frequency loss inside the combs"),
        Param("pre_delay_ms", 0.0, 100.0, 0.0, unit="ms", description="delay before the tank"),
        Param("width", 0.0, 1.0, 1.0, description="stereo width of the wet signal"),
        Param("mix", 0.0, 1.0, 0.3, description="wet/dry balance"),
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
        if audio.shape[1] > 2:
            raise AudioError(
                f"reverb takes mono or stereo clips; got {audio.shape[1]} channels "
                "(mix down, or process the channels in pairs)"
            )
        kernel = {"c": reverb_c, "numba": reverb_numba}.get(backend, reverb_numpy)
        return kernel(audio, *(values[p.name] for p in self.params), sample_rate)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        if audio.shape[1] > 2:
            raise AudioError(
                f"reverb takes mono or stereo clips; got {audio.shape[1]} channels "
                "(mix down, or process the channels in pairs)"
            )
        return reverb_c_dot(
            audio, grad, repeat, *(values[p.name] for p in self.params), sample_rate
        )


def scaled_delays(tuning, sample_rate: float, spread: int = 0) -> list[int]:
    """Delay lengths in samples at ``sample_rate``: ``(d + spread)`` scaled from 44.1 kHz,
    rounded half up, at least 1."""
    return [max(1, int(np.floor((d + spread) * sample_rate / 44100.0 + 0.5))) for d in tuning]


def comb_numpy(u: np.ndarray, delay: int, feedback: float, damp: float) -> np.ndarray:
    """One low-pass-feedback comb (see `Reverb`) on a float64 signal, in blocks of ``delay``.

    Its transfer function has a denominator of degree ``delay``, which ``lfilter`` would run
    at ``delay`` operations per sample (about a minute for the benchmark workload). Within a
    block, though, every ``buf[n − N]`` was written in the block before, so the only recursion
    left is the damping one-pole, which ``lfilter`` runs with its state carried across blocks.
    """
    import scipy.signal  # half a second to import, and only the reference needs it

    out = np.zeros_like(u)
    buf = np.empty_like(u)
    state = np.zeros(1)
    for n0 in range(0, len(u), delay):
        n1 = min(n0 + delay, len(u))
        if n0 >= delay:
            out[n0:n1] = buf[n0 - delay : n1 - delay]
        s, state = scipy.signal.lfilter([1.0 - damp], [1.0, -damp], out[n0:n1], zi=state)
        buf[n0:n1] = u[n0:n1] + feedback * s
    return out


def allpass_numpy(v: np.ndarray, delay: int) -> np.ndarray:
    """One all-pass of gain 1/2 (see `Reverb`) on a float64 signal.

    Polyphase: cut into rows of ``delay`` samples, ``buf[n] = v[n] + buf[n − M]/2`` is a
    one-pole down the columns, ``buf_k = v_k + buf_{k−1}/2``, which one ``lfilter`` call runs.
    """
    import scipy.signal

    rows = -(-len(v) // delay)
    padded = np.zeros(rows * delay)
    padded[: len(v)] = v
    padded = padded.reshape(rows, delay)
    buf = scipy.signal.lfilter([1.0], [1.0, -ALLPASS_GAIN], padded, axis=0)
    held = np.zeros_like(buf)
    held[1:] = buf[:-1]
    return (held - padded).reshape(-1)[: len(v)]


def tank_numpy(
    u: np.ndarray, feedback: float, damp: float, sample_rate: float, spread: int = 0
) -> np.ndarray:
    """One tank on a float64 signal: 8 combs in parallel, summed, then 4 all-passes in series."""
    wet = np.zeros_like(u)
    for n in scaled_delays(COMB_TUNING, sample_rate, spread):
        wet += comb_numpy(u, n, feedback, damp)
    for n in scaled_delays(ALLPASS_TUNING, sample_rate, spread):
        wet = allpass_numpy(wet, n)
    return wet


def reverb_numpy(audio, room_size, damping, pre_delay_ms, width, mix, sample_rate):
    """The reference: float64 NumPy/SciPy, one batch row at a time.

    Parameters
    ----------
    audio : np.ndarray
        float32 ``(batch, channels, samples)`` with 1 or 2 channels.
    room_size, damping, pre_delay_ms, width, mix : np.ndarray
        float64 ``(batch,)`` physical values, one per clip (see `Reverb.params`).
    sample_rate : float
        In Hz.

    Returns
    -------
    np.ndarray
        float32 ``(batch, channels, samples)``; every delay line starts silent.
    """
    out = np.empty(audio.shape, dtype=np.float32)
    batch, channels, samples = audio.shape
    for b in range(batch):
        x = audio[b].astype(np.float64)
        pre = min(samples, int(np.floor(pre_delay_ms[b] * sample_rate / 1000.0 + 0.5)))
        u = np.zeros(samples)
        u[pre:] = INPUT_GAIN * x.sum(axis=0)[: samples - pre]
        feedback, damp = 0.7 + 0.28 * room_size[b], 0.4 * damping[b]
        left = tank_numpy(u, feedback, damp, sample_rate)
        if channels == 1:
            wet = left[None]
        else:
            right = tank_numpy(u, feedback, damp, sample_rate, STEREO_SPREAD)
            w1, w2 = width[b] / 2.0 + 0.5, (1.0 - width[b]) / 2.0
            wet = np.stack([left * w1 + right * w2, right * w1 + left * w2])
        out[b] = (1.0 - mix[b]) * x + mix[b] * WET_SCALE * wet
    return out


def reverb_c(audio, room_size, damping, pre_delay_ms, width, mix, sample_rate):
    """The C kernel (OpenMP over groups of 4 batch rows); same arguments as `reverb_numpy`.

    ``audio`` must already be C-contiguous float32 (a `NativeError` says so otherwise, and when
    the C library is unavailable).
    """
    columns = per_clip(
        audio.shape[0],
        room_size=room_size,
        damping=damping,
        pre_delay_ms=pre_delay_ms,
        width=width,
        mix=mix,
    )
    out, failed = native.run_kernel("reverb", audio, columns, float(sample_rate))
    if failed:
        raise NativeError(f"reverb: out of memory for the delay lines of {failed} clip(s)")
    return out


def reverb_c_dot(audio, grad, repeat, room_size, damping, pre_delay_ms, width, mix, sample_rate):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); the parameters have ``repeat`` rows per clip."""
    columns = (room_size, damping, pre_delay_ms, width, mix)
    dots, failed = native.run_kernel_dot("reverb", audio, grad, repeat, columns, float(sample_rate))
    if failed:
        raise NativeError(f"reverb: out of memory for the delay lines of {failed} clip(s)")
    return dots


def reverb_numba(audio, room_size, damping, pre_delay_ms, width, mix, sample_rate):
    """The Numba kernel (parallel over groups of batch rows); same arguments as `reverb_numpy`.

    Compiled on first use (cached on disk afterwards); importing this module does not load Numba.
    """
    from dafxkit_effects._reverb_numba import reverb_kernel

    columns = per_clip(
        audio.shape[0],
        room_size=room_size,
        damping=damping,
        pre_delay_ms=pre_delay_ms,
        width=width,
        mix=mix,
    )
    lengths = [
        np.array(scaled_delays(tuning, sample_rate, spread), np.int64)
        for spread in (0, STEREO_SPREAD)
        for tuning in (COMB_TUNING, ALLPASS_TUNING)
    ]
    out = np.empty_like(audio)
    reverb_kernel(audio, out, *columns, float(sample_rate), *lengths)
    return out
