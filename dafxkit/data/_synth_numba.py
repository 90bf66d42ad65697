"""Numba kernels of the synthetic music generator: notes into the mix buses, and the master."""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["CONTROL_BLOCK", "add_notes", "master", "note_controls"]

MODE_TABLE = 0
MODE_FM = 1
#: Envelopes, filter sweeps, FM index and vibrato are computed exactly every this many
#: samples and interpolated linearly in between (a synthesiser's control rate).
CONTROL_BLOCK = 32
_CUT_FADE_S = 0.005
# One period of a sine with a guard point: FM reads it instead of calling sin() twice per
# sample (linear interpolation over 4096 points is accurate to about 3e-7).
_SINE = np.sin(2.0 * np.pi * np.arange(4097) / 4096.0)


@numba.njit(cache=True, nogil=True)
def note_controls(
    t: float,
    attack_s: float,
    decay_s: float,
    sustain: float,
    release_s: float,
    duration_s: float,
    cut_s: float,
    filter_decay_s: float,
    fm_index: float,
    fm_decay_s: float,
    fm_floor: float,
    vibrato_depth: float,
    vibrato_hz: float,
) -> tuple[float, float, float, float]:
    """The control signals of a note ``t`` seconds after its onset: envelope, filter-sweep
    weight (1 = bright table, 0 = dark), FM index, and the vibrato's time offset (seconds)."""
    if t < attack_s:
        held = t / attack_s
    else:
        held = sustain + (1.0 - sustain) * math.exp(-(t - attack_s) / decay_s)
    if t < duration_s:
        env = held
    else:
        if duration_s < attack_s:
            at_off = duration_s / attack_s
        else:
            at_off = sustain + (1.0 - sustain) * math.exp(-(duration_s - attack_s) / decay_s)
        env = at_off * math.exp(-(t - duration_s) / release_s)
    if t > cut_s:
        env *= max(0.0, 1.0 - (t - cut_s) / _CUT_FADE_S)
    sweep = math.exp(-t / filter_decay_s) if filter_decay_s > 0.0 else 1.0
    index = fm_index * math.exp(-t / fm_decay_s) + fm_floor
    wobble = 0.0
    if vibrato_depth > 0.0:
        w = 2.0 * math.pi * vibrato_hz
        fade = t / 0.3 if t < 0.3 else 1.0
        wobble = fade * vibrato_depth * (1.0 - math.cos(w * t)) / w
    return env, sweep, index, wobble


@numba.njit(cache=True, nogil=True)
def add_notes(
    dry: np.ndarray,
    send: np.ndarray,
    lo: int,
    hi: int,
    onset: int,
    sample_rate: float,
    mode: int,
    tables: np.ndarray,
    darks: np.ndarray,
    filter_decay_s: float,
    detune_ratio: float,
    f0: np.ndarray,
    vibrato_depth: float,
    vibrato_hz: float,
    fm_ratio: float,
    fm_index: float,
    fm_decay_s: float,
    fm_floor: float,
    attack_s: float,
    decay_s: float,
    sustain: float,
    release_s: float,
    duration_s: float,
    velocity: float,
    noise: np.ndarray,
    noise_amount: float,
    drive: float,
    cut_s: float,
    gain_left: np.ndarray,
    gain_right: np.ndarray,
    gain_send: float,
) -> None:
    """Add a note of one or more voices (a chord), sounding from sample ``onset``, to
    ``dry[:, lo:hi]`` and ``send[lo:hi]``.

    Voice ``v`` plays at ``f0[v]`` from ``tables[v]`` (crossfaded into ``darks[v]`` with time
    constant ``filter_decay_s`` when that is positive; a second, detuned reading when
    ``detune_ratio != 1``), or two-operator FM in ``MODE_FM``, panned by ``gain_left[v]`` and
    ``gain_right[v]``. All voices share one envelope: attack (linear), decay (exponential to
    ``sustain``), and after ``duration_s`` an exponential release; from ``cut_s`` on (the next
    note of a monophonic part) the note fades out linearly over 5 ms. Vibrato fades in over
    0.3 s. Control signals come from `note_controls` every `CONTROL_BLOCK` samples.
    """
    voices = f0.size
    use_dark = filter_decay_s > 0.0
    detuned = detune_ratio != 1.0
    drive_norm = math.tanh(1.0 + drive) if drive > 0.0 else 1.0
    n_noise = noise.size
    dt = 1.0 / sample_rate
    fm = mode == MODE_FM
    size = (_SINE.shape[0] if fm else tables.shape[1]) - 1
    fm_scale = size / (2.0 * math.pi)  # radians of phase modulation → table positions
    i = lo
    env0, sweep0, index0, wob0 = note_controls(
        (i - onset) * dt, attack_s, decay_s, sustain, release_s, duration_s, cut_s,
        filter_decay_s, fm_index, fm_decay_s, fm_floor, vibrato_depth, vibrato_hz,
    )  # fmt: skip
    # Oscillator phases in table positions [0, size), advanced by an increment per sample
    # (cheaper than wrapping f0·t every sample): the voice's own, its detuned twin's, and
    # in FM the modulator's.
    t_lo = (i - onset) * dt + wob0
    phase = np.empty(voices)
    twin = np.empty(voices)
    for v in range(voices):
        p = f0[v] * t_lo
        phase[v] = (p - math.floor(p)) * size
        q = (p * (detune_ratio if detuned else fm_ratio)) + (0.37 if detuned else 0.0)
        twin[v] = (q - math.floor(q)) * size
    step = np.empty(voices)
    while i < hi:
        j = min(i + CONTROL_BLOCK, hi)
        env1, sweep1, index1, wob1 = note_controls(
            (j - onset) * dt, attack_s, decay_s, sustain, release_s, duration_s, cut_s,
            filter_decay_s, fm_index, fm_decay_s, fm_floor, vibrato_depth, vibrato_hz,
        )  # fmt: skip
        scale = 1.0 / (j - i)
        d_env = (env1 - env0) * scale
        d_sweep = (sweep1 - sweep0) * scale
        d_index = (index1 - index0) * scale
        # Seconds of waveform per sample in this block: one sample plus the vibrato's share.
        advance = dt + (wob1 - wob0) * scale
        for v in range(voices):
            step[v] = f0[v] * advance * size
        twin_ratio = detune_ratio if detuned else fm_ratio
        if voices == 1:  # most notes: phases stay in registers
            ph, tw = phase[0], twin[0]
            step0, twin_step = step[0], step[0] * twin_ratio
            gl, gr = gain_left[0], gain_right[0]
            for k in range(j - i):
                n = i + k
                # (Written out here and below: as a function call this costs ten times more.)
                if fm:
                    inner = _read(_SINE, tw)
                    pos = ph + (index0 + k * d_index) * inner * fm_scale
                    y = _read(_SINE, pos - math.floor(pos / size) * size)
                else:
                    y = _read2(tables, 0, ph)
                    if use_dark:
                        yd = _read2(darks, 0, ph)
                        y = yd + (sweep0 + k * d_sweep) * (y - yd)
                    if detuned:
                        y = 0.5 * (y + _read2(tables, 0, tw))
                    if noise_amount > 0.0:
                        y += noise_amount * noise[(n - onset) % n_noise]
                if drive > 0.0:
                    y = math.tanh((1.0 + drive) * y) / drive_norm
                amp = velocity * (env0 + k * d_env) * y
                dry[0, n] += gl * amp
                dry[1, n] += gr * amp
                send[n] += gain_send * (gl + gr) * amp
                ph += step0
                if ph >= size:
                    ph -= size
                tw += twin_step
                if tw >= size:
                    tw -= size
            phase[0], twin[0] = ph, tw
        else:
            for k in range(j - i):
                n = i + k
                left = 0.0
                right = 0.0
                for v in range(voices):
                    ph = phase[v]
                    tw = twin[v]
                    if fm:
                        inner = _read(_SINE, tw)
                        pos = ph + (index0 + k * d_index) * inner * fm_scale
                        y = _read(_SINE, pos - math.floor(pos / size) * size)
                    else:
                        y = _read2(tables, v, ph)
                        if use_dark:
                            yd = _read2(darks, v, ph)
                            y = yd + (sweep0 + k * d_sweep) * (y - yd)
                        if detuned:
                            y = 0.5 * (y + _read2(tables, v, tw))
                        if noise_amount > 0.0:
                            y += noise_amount * noise[(n - onset) % n_noise]
                    if drive > 0.0:
                        y = math.tanh((1.0 + drive) * y) / drive_norm
                    left += gain_left[v] * y
                    right += gain_right[v] * y
                    ph += step[v]
                    phase[v] = ph - size if ph >= size else ph
                    tw += step[v] * twin_ratio
                    twin[v] = tw - size if tw >= size else tw
                amp = velocity * (env0 + k * d_env)
                dry[0, n] += amp * left
                dry[1, n] += amp * right
                send[n] += gain_send * amp * (left + right)
        env0, sweep0, index0, wob0 = env1, sweep1, index1, wob1
        i = j


@numba.njit(cache=True, nogil=True, inline="always")
def _read2(tables: np.ndarray, v: int, pos: float) -> float:
    """Row ``v`` of ``tables`` at a fractional position, linearly interpolated."""
    i = int(pos)
    lo = tables[v, i]
    return lo + (pos - i) * (tables[v, i + 1] - lo)


@numba.njit(cache=True, nogil=True, inline="always")
def _read(table: np.ndarray, pos: float) -> float:
    """``table`` at a fractional position in [0, size), linearly interpolated."""
    i = int(pos)
    lo = table[i]
    return lo + (pos - i) * (table[i + 1] - lo)


@numba.njit(cache=True, nogil=True)
def master(
    dry: np.ndarray,
    pre: int,
    wet: np.ndarray,
    noise: np.ndarray,
    noise_offset: int,
    noise_gain: float,
    gain: float,
    out: np.ndarray,
) -> None:
    """``out[c, i] = soft_clip(gain · (dry[c, pre + i] + wet[c, pre + i] + noise floor))``,
    float32.

    ``wet`` is as long as ``dry``, or has no samples (no reverb). The noise floor reads
    ``noise`` from ``noise_offset`` forwards on the left and backwards on the right
    (uncorrelated).
    """
    n = out.shape[1]
    n_noise = noise.size
    has_wet = wet.shape[1] > 0
    for i in range(n):
        k = (noise_offset + i) % n_noise
        left = dry[0, pre + i] + noise_gain * noise[k]
        right = dry[1, pre + i] + noise_gain * noise[n_noise - 1 - k]
        if has_wet:
            left += wet[0, pre + i]
            right += wet[1, pre + i]
        out[0, i] = _soft_clip(gain * left)
        out[1, i] = _soft_clip(gain * right)


@numba.njit(cache=True, nogil=True, inline="always")
def _soft_clip(x: float) -> float:
    """A rational approximation of tanh (within 2.5 %, exactly ±1 beyond ±3, odd, monotonic):
    the master's saturation, at a fraction of tanh's cost."""
    if x >= 3.0:
        return 1.0
    if x <= -3.0:
        return -1.0
    x2 = x * x
    return x * (27.0 + x2) / (27.0 + 9.0 * x2)
