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

    For each batch row, with every delay line starting silent::

        P      = round(pre_delay_ms · sample_rate / 1000)
        u[n]   = 0.015 · Σ_c x_c[n − P]                  (mono sum, pre-delayed)
        f      = 0.7 + 0.28 · room_size,   d = 0.4 · damping
        comb   out = buf[n − N];  s = (1 − d)·out + d·s;  buf[n] = u[n] + f·s
        tank   = Σ of 8 combs (N = 1116 … 1617), then 4 all-passes in series
                 (M = 556, 441, 341, 225):  b = buf[n − M]; out = b − in; buf[n] = in + b/2
        y_c    = (1 − mix) · x_c + mix · 3 · wet_c

    Delays are given at 44.1 kHz and scaled to the sample rate. Stereo clips use two tanks, the
    right one with every delay 23 samples longer, mixed by ``width``:
    ``wetL = L·(width/2 + 1/2) + R·(1 − width)/2`` and the mirror for ``wetR``; mono clips use
    the left tank alone (``width`` has no effect). The output has the input's length: the tail
    past the end is cut. Silence in gives silence out. Only 1 or 2 channels are accepted.

    Output bound: ``|y| ≤ ((1 − mix) + mix · 3 · 0.015 · C · G) · max|x|`` with ``G`` the 1-norm
    of one tank's impulse response, at most 8 · (1 + d)/(1 − f) · 3⁴ ≤ 45 360 (each comb's
    1-norm times each all-pass's). That bound is loose; real peaks stay near the input's level.
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
        args = [values[p.name] for p in self.params]
        return kernel(audio, *args, sample_rate)


def scaled_delays(tuning, sample_rate: float, spread: int = 0) -> list[int]:
    """Delay lengths in samples at ``sample_rate`` (rounded half up, at least 1)."""
    return [max(1, int(np.floor((d + spread) * sample_rate / 44100.0 + 0.5))) for d in tuning]


def _comb_numpy(u: np.ndarray, delay: int, feedback: float, damp: float) -> np.ndarray:
    """One low-pass-feedback comb, in blocks of ``delay`` samples.

    Within a block every ``buf[n − N]`` was written in the previous block, so the only
    recursion left is the damping one-pole, which SciPy's lfilter runs with carried state.
    """
    import scipy.signal

    out = np.zeros_like(u)
    buf = np.zeros_like(u)
    state = np.zeros(1)
    for n0 in range(0, len(u), delay):
        n1 = min(n0 + delay, len(u))
        if n0 >= delay:
            out[n0:n1] = buf[n0 - delay : n1 - delay]
        s, state = scipy.signal.lfilter([1.0 - damp], [1.0, -damp], out[n0:n1], zi=state)
        buf[n0:n1] = u[n0:n1] + feedback * s
    return out


def _allpass_numpy(v: np.ndarray, delay: int) -> np.ndarray:
    """One all-pass (gain 1/2), in blocks of ``delay`` samples (no recursion within a block)."""
    out = np.empty_like(v)
    buf = np.zeros_like(v)
    for n0 in range(0, len(v), delay):
        n1 = min(n0 + delay, len(v))
        held = buf[n0 - delay : n1 - delay] if n0 >= delay else np.zeros(n1 - n0)
        buf[n0:n1] = v[n0:n1] + ALLPASS_GAIN * held
        out[n0:n1] = held - v[n0:n1]
    return out


def tank_numpy(u: np.ndarray, feedback: float, damp: float, sample_rate: float, spread: int = 0):
    """One tank (8 combs in parallel, 4 all-passes in series) in float64."""
    wet = sum(
        _comb_numpy(u, n, feedback, damp) for n in scaled_delays(COMB_TUNING, sample_rate, spread)
    )
    for n in scaled_delays(ALLPASS_TUNING, sample_rate, spread):
        wet = _allpass_numpy(wet, n)
    return wet


def reverb_numpy(audio, room_size, damping, pre_delay_ms, width, mix, sample_rate):
    """The reference: float64 NumPy/SciPy, one batch row at a time (see `Reverb`)."""
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
    """The C kernel (OpenMP over batch rows); same arguments as the reference."""
    columns = (room_size, damping, pre_delay_ms, width, mix)
    out, failed = native.run_kernel("reverb", audio, columns, float(sample_rate))
    if failed:
        raise NativeError(f"reverb: out of memory for the delay lines of {failed} row(s)")
    return out


def reverb_numba(audio, room_size, damping, pre_delay_ms, width, mix, sample_rate):
    """The Numba kernel (parallel over batch rows); same arguments as the reference."""
    from dafxkit_effects._reverb_numba import reverb_kernel

    out = np.empty_like(audio)
    reverb_kernel(
        audio,
        out,
        *per_clip(
            audio.shape[0],
            room_size=room_size,
            damping=damping,
            pre_delay_ms=pre_delay_ms,
            width=width,
            mix=mix,
        ),
        float(sample_rate),
        np.array(scaled_delays(COMB_TUNING, sample_rate), np.int64),
        np.array(scaled_delays(COMB_TUNING, sample_rate, STEREO_SPREAD), np.int64),
        np.array(scaled_delays(ALLPASS_TUNING, sample_rate), np.int64),
        np.array(scaled_delays(ALLPASS_TUNING, sample_rate, STEREO_SPREAD), np.int64),
    )
    return out
