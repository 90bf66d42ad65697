"""Reverb: a blind reverberation-time estimate and a logistic classifier, as timbral_models 0.4.0.

Unlike the other descriptors, reverb analyses the clip as it is: no loudness normalisation and
no sum to mono. Each of the first two channels (the only one of a mono clip) gets a blind RT60
estimate after Löllmann et al. (IWAENC 2010) with the Laplacian likelihood of Jan and Wang
(EUSIPCO 2012):

1. The channel is cut into frames of ``7 N_sub`` samples after 2:1 decimation (plain sample
   dropping; ``N_sub`` = 700 samples at 24 kHz, scaled with the rate), hopping
   ``N_shift`` = 200 samples at 24 kHz (scaled, halved).
2. In each frame, successive sub-frames are tested for a sound decay (variance and maximum
   falling, minimum rising); after 3 to 5 decaying sub-frames the RT is the maximum
   likelihood value among 0.2, 0.3, … 1.1 s of a Laplacian decay ``a**n``.
3. Those estimates feed a histogram of the last ``buffer_size`` estimates; its mode, smoothed
   recursively (``alpha`` = 0.995, starting from 0.3 s), is the frame's RT.
4. The channel's RT is the mean of the smoothed RT over the frames that gave an estimate.

The clip's RT60 is the mean over channels; the class is 1 (reverberant) when
``1 / (1 + exp(-(2.97126461 RT60 - 1.45082989))) >= 0.5``, i.e. RT60 >= 0.4883 s, else 0.

Degenerate input (value, flag):

- digital silence (every channel all zeros): ``(0.0, Flag.SILENT)`` (the reference raises);
- a channel shorter than one frame (``14 N_sub`` samples, 0.41 s at 44.1 kHz): that channel's
  RT is the shortest considered, 0.2 s, as in the reference; flagged ``TOO_SHORT`` when it
  applies to every analysed channel;
- no sound decay found in any frame of any analysed channel: RT 0.2 s as in the reference
  (class 0), flagged ``FALLBACK``.

Clips below 44.1 kHz are resampled to 44.1 kHz per channel first (the reference resamples
mono input the same way; for multichannel input it resamples along the wrong axis).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dafxkit.descriptors.timbral._common import min_max
from dafxkit.descriptors.timbral._frontend import LOWEST_RATE, Analysis, Flag

__all__ = [
    "reverb",
    "reverb_probability",
    "estimate_rt60",
    "RtEstimatorParams",
    "COEFFICIENT",
    "INTERCEPT",
]

#: Logistic regression from the mean RT60 (s) to the probability of sounding reverberant.
COEFFICIENT = 2.97126461
INTERCEPT = -1.45082989


def _round_half_even(x: float) -> int:
    # The reference's Python 3 round(): halves go to the even neighbour.
    return int(round(x))


@dataclass(frozen=True)
class RtEstimatorParams:
    """The frame-wise RT estimator's settings for one sample rate (as the reference derives them).

    All lengths are in samples; ``n_sub``, ``n_frame`` and ``buffer_size`` count samples after
    decimation by ``down``, ``n_shift`` before it.
    """

    sample_rate: int
    down: int
    n_sub: int
    n_shift: int
    nos_min: int = 3
    nos_max: int = 7
    buffer_size: int = 0
    alpha: float = 0.995
    rt_initial: float = 0.3
    t_quant: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decay: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hist_limits: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_frame(self) -> int:
        """Frame length after decimation (``nos_max`` sub-frames)."""
        return self.nos_max * self.n_sub

    @property
    def block_length(self) -> int:
        """Frame length before decimation; a channel must be longer than this."""
        return self.n_frame * self.down

    @classmethod
    def for_rate(cls, sample_rate: float) -> RtEstimatorParams:
        fs = float(sample_rate)
        scale = fs / 24000.0
        down = 2 if fs > 8e3 else 1
        t_min, t_max, step = 0.2, 1.1, 0.1
        t_quant = np.arange(t_min, t_max + step / 2, step)
        decay = np.exp(-3.0 * np.log(10) / (t_quant * (fs / down)))
        hist_limits = np.arange(t_min - step / 2.0, t_max + step, step)
        return cls(
            sample_rate=int(sample_rate),
            down=down,
            n_sub=_round_half_even(scale * 700 / down),
            n_shift=_round_half_even(scale * 200 / down),
            buffer_size=_round_half_even(scale * 800 / down),
            t_quant=t_quant,
            decay=decay,
            hist_limits=hist_limits,
        )


@njit(cache=True, nogil=True)
def _variance(d, lo, hi):
    # Two passes (mean, then mean squared deviation), as numpy's var.
    n = hi - lo
    acc = 0.0
    for k in range(lo, hi):
        acc += d[k]
    mean = acc / n
    var = 0.0
    for k in range(lo, hi):
        e = d[k] - mean
        var += e * e
    return var / n


@njit(cache=True, nogil=True)
def _max_loglf(d, lo, n, inv_powers_t, log_powers_cum, t_quant):
    # Maximum-likelihood RT among t_quant for a Laplacian decay a**k over h = d[lo:lo + n]:
    #   ll = -n log 2 - n log(sigma) - sum_k log(a^k) - (1/sigma) sum_k a^-k |h_k|
    # with sigma = (1/n) sum_k a^-k |h_k|. inv_powers_t[k, i] = a_i^-k. The sums for every a_i
    # advance together (each still in k order), so they do not wait on one another.
    best = -np.inf
    best_idx = 0
    n_t = t_quant.shape[0]
    sums = np.zeros(n_t)
    for k in range(n):
        h = abs(d[lo + k])
        for i in range(n_t):
            sums[i] += inv_powers_t[k, i] * h
    for i in range(n_t):
        s1 = sums[i]
        sigma = s1 / n
        ll = -n * math.log(2.0) - n * math.log(sigma) - log_powers_cum[i, n] - (1.0 / sigma) * s1
        if i == 0 or ll > best:  # the first maximum, as np.argmax
            best = ll
            best_idx = i
    return t_quant[best_idx]


@njit(cache=True, nogil=True)
def _rt_channel(
    phases,
    length,
    down,
    n_sub,
    n_shift,
    nos_min,
    nos_max,
    buffer_size,
    alpha,
    rt_initial,
    t_quant,
    hist_limits,
    inv_powers_t,
    log_powers_cum,
):
    # phases[p] holds x[p::down] (zero-padded to a common length). A frame starting at sample
    # s of x is phases[s % down][s // down : s // down + nos_max * n_sub].
    # Returns (mean smoothed RT over the frames with an ML estimate, number of such frames).
    n_frame = nos_max * n_sub
    block = n_frame * down
    n_bins = t_quant.shape[0]
    hist = np.zeros(n_bins)
    ring = np.zeros(buffer_size, dtype=np.int64)  # the reference's buffer, initially zeros
    ring_pos = 0
    hist_counter = 0
    rt_last = rt_initial
    rt_raw = rt_initial
    total = 0.0
    count = 0
    for start in range(0, length - block + 1, n_shift):
        d = phases[start % down]
        base = start // down
        cnt = 0
        rt_ml = -1.0
        min_pre, max_pre = min_max(d, base, base + n_sub)
        var_pre = -1.0  # computed when first needed
        for k in range(2, nos_max):
            lo = base + (k - 1) * n_sub
            hi = base + min(k * n_sub + 1, n_frame)
            min_cur, max_cur = min_max(d, lo, hi)
            decaying = max_pre > max_cur and min_pre < min_cur
            if decaying:
                if var_pre < 0:
                    var_pre = _variance(d, base, base + n_sub)
                var_cur = _variance(d, lo, hi)
                decaying = var_pre > var_cur
            if decaying:
                cnt += 1
                var_pre = var_cur
                max_pre = max_cur
                min_pre = min_cur
            else:
                if cnt >= nos_min:
                    rt_ml = _max_loglf(d, base, cnt * n_sub, inv_powers_t, log_powers_cum, t_quant)
                break
        if rt_ml >= 0:
            hist_counter += 1
            index = 0
            for i in range(n_bins):
                if rt_ml >= hist_limits[i] and rt_ml <= hist_limits[i + 1]:
                    index = i
                    break
            hist[index] += 1
            if hist_counter > buffer_size + 1:
                hist[ring[ring_pos]] -= 1
            ring[ring_pos] = index
            ring_pos += 1
            if ring_pos == buffer_size:
                ring_pos = 0
            best = 0
            for i in range(1, n_bins):
                if hist[i] > hist[best]:
                    best = i
            rt_raw = t_quant[best]
        rt = alpha * rt_last + (1 - alpha) * rt_raw
        rt_last = rt
        if rt_ml > 0:
            total += rt
            count += 1
    if count == 0:
        return t_quant[0], 0
    return total / count, count


@functools.lru_cache(maxsize=16)
def _tables(sample_rate: int) -> tuple[RtEstimatorParams, np.ndarray, np.ndarray]:
    # a_i^-k as [k, i] for k < n_frame, and cumulative sums of log(a_i^k) as [i, k], per rate:
    # the likelihood's terms, computed with numpy's power as the reference computes them per
    # frame.
    par = RtEstimatorParams.for_rate(sample_rate)
    k = np.arange(par.n_frame)
    inv_powers = np.ascontiguousarray((par.decay[:, None] ** (-1.0 * k[None, :])).T)
    log_powers = np.log(par.decay[:, None] ** k[None, :])
    log_powers_cum = np.zeros((par.decay.shape[0], par.n_frame + 1))
    np.cumsum(log_powers, axis=1, out=log_powers_cum[:, 1:])
    inv_powers.setflags(write=False)
    log_powers_cum.setflags(write=False)
    return par, inv_powers, log_powers_cum


def estimate_rt60(x: np.ndarray, sample_rate: float) -> tuple[float, int]:
    """Blind RT60 estimate (s) of one channel, as the reference's ``estimate_RT60``.

    Returns
    -------
    (float, int)
        The RT and the number of frames that found a sound decay; a channel too short for one
        frame, or with no decay, gives ``(0.2, 0)`` as in the reference.
    """
    par, inv_powers, log_powers_cum = _tables(int(round(sample_rate)))
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.shape[0] <= par.block_length:
        return float(par.t_quant[0]), 0
    down = par.down
    width = -(-x.shape[0] // down)
    phases = np.zeros((down, width))
    for p in range(down):
        part = x[p::down]
        phases[p, : part.shape[0]] = part
    rt, count = _rt_channel(
        phases,
        x.shape[0],
        par.down,
        par.n_sub,
        par.n_shift,
        par.nos_min,
        par.nos_max,
        par.buffer_size,
        par.alpha,
        par.rt_initial,
        par.t_quant,
        par.hist_limits,
        inv_powers,
        log_powers_cum,
    )
    return float(rt), int(count)


def _channels_at_rate(an: Analysis) -> tuple[np.ndarray, int]:
    # The clip's first two channels (unnormalised), resampled to >= 44.1 kHz per channel.
    channels = an.channels[:2]
    fs = an.sample_rate
    if fs < LOWEST_RATE:
        from dafxkit.descriptors.timbral._frontend import _resample

        channels = np.stack([_resample(np.ascontiguousarray(c), fs, LOWEST_RATE) for c in channels])
        fs = LOWEST_RATE
    return channels, fs


def _mean_rt60(an: Analysis) -> tuple[float, int]:
    def compute() -> tuple[float, int]:
        channels, fs = _channels_at_rate(an)
        par = RtEstimatorParams.for_rate(fs)
        estimates = [estimate_rt60(c, fs) for c in channels]
        flags = Flag(0)
        if channels.shape[1] <= par.block_length:
            flags |= Flag.TOO_SHORT
        elif all(count == 0 for _, count in estimates):
            flags |= Flag.FALLBACK
        return float(np.mean([rt for rt, _ in estimates])), int(flags)

    return an.memo(("reverb", "rt60"), compute)


def reverb_probability(an: Analysis) -> tuple[float, float, int]:
    """``(mean RT60 in s, probability of sounding reverberant, Flag mask)`` of a clip (the
    reference's ``dev_output=True`` result, plus flags)."""
    if not np.any(an.channels):
        return float(RtEstimatorParams.for_rate(LOWEST_RATE).t_quant[0]), 0.0, int(Flag.SILENT)
    rt60, flags = _mean_rt60(an)
    logit = COEFFICIENT * rt60 + INTERCEPT
    probability = math.exp(logit) / (1.0 + math.exp(logit))
    return rt60, probability, flags


def reverb(an: Analysis) -> tuple[float, int]:
    """1.0 when a clip sounds reverberant, else 0.0 (timbral_models' class), and a `Flag` mask."""
    _, probability, flags = reverb_probability(an)
    if flags & Flag.SILENT:
        return 0.0, flags
    return (0.0 if probability < 0.5 else 1.0), flags
