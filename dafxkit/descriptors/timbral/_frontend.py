"""The shared front end of the timbral descriptors: one clip prepared as timbral_models does it.

`Analysis` holds one clip and caches every intermediate result that more than one descriptor
uses (the loudness-normalised mono signal, envelopes, onsets, spectra), so computing several
descriptors of a clip analyses it once.

Descriptor functions have the signature ``f(an: Analysis) -> tuple[float, int]``: the value on
timbral_models' scale (not clipped to 0-100) and a bitmask of `Flag` values (0 when the value
came out of the full algorithm). They never raise on finite input.

Preparation, as the reference's ``file_read`` does it
-----------------------------------------------------
1. Channels are summed (not averaged); of more than two channels the first three.
2. Digital silence is detected (the reference raises ``ValueError``).
3. Integrated loudness (ITU-R BS.1770-4 as pyloudnorm measures it: K-weighting biquads designed
   for the clip's own rate, 400 ms blocks with 75 % overlap, -70 LUFS absolute gate, -10 LU
   relative gate) of the clip zero-padded to at least 0.4 s; the clip is scaled to -24 LUFS
   and, if a sample then exceeds 1, scaled down to a peak of exactly 1.
4. Clips below 44.1 kHz are resampled to 44.1 kHz (soxr "HQ", as ``librosa.resample``'s default,
   length ``ceil(n * 44100 / fs)``).

Flags
-----
``Flag.SILENT``
    The clip is digital silence (every sample 0). The reference raises. `Analysis.normalised`
    returns the zeros unchanged; descriptors return their documented silent value (brightness
    and depth: 0.0).
``Flag.TOO_SHORT``
    The clip is shorter than an analysis window a descriptor uses. Where the reference has a
    branch for such clips (brightness and depth analyse one zero-padded frame of the whole
    clip) the value is the reference's; where it raises or returns NaN, the descriptor returns
    a defined value computed from what there is.
``Flag.NO_ONSETS``
    No onset was found where the algorithm needs one; the onset at sample 0 is used, as the
    reference does (``calculate_onsets`` returns ``[0]``), so the value is still the
    reference's.
``Flag.FALLBACK``
    Another degenerate intermediate: every 400 ms block falls below the -70 LUFS gate (the
    reference's loudness is -inf and its normalised signal NaN; here the gain comes from the
    ungated mean square of all blocks, or from the peak if even that is zero), an empty set of
    frames to average, a zero duration or pitch estimate whose logarithm would be -inf, or a
    step where the reference would raise or loop forever. The value is the formula's result
    with the degenerate term replaced, or 0.0, as each descriptor documents.

`Analysis.flags` holds the flags of the preparation itself (SILENT, FALLBACK); descriptors
include them in their own flags.

What degenerate clips give (brightness, depth)
----------------------------------------------
==============================  ==============================  ================================
clip                            value                           flags
==============================  ==============================  ================================
digital silence                 0.0                             SILENT
below the -70 LUFS gate         the clip's value at a normal    FALLBACK (the reference raises)
                                level (both are level-free)
shorter than the window         the reference's one-frame       TOO_SHORT
(2048 / 4096 samples)           value
one sample, or power only       0.0                             FALLBACK (+ TOO_SHORT)
after the last frame
no onset found (depth)          the reference's value (decay    none (the reference's normal
                                from sample 0)                  path)
zero mean decay time (depth)    log10 of one 256-sample step    FALLBACK
no usable spectral peak         pitch term 0                    FALLBACK
(depth)
==============================  ==============================  ================================

Speed
-----
When the clip keeps its rate (>= 44.1 kHz) the K-weighting of the loudness meter, the 20 Hz
high pass and the four band filters of brightness and depth run in one pass over the mono clip
(`_common.band_filters`): they are linear, so filtering before normalising only changes
rounding once the high-passed signal is scaled to a peak of 1. Brightness and depth then need
no normalised signal at all; the other descriptors compute it on first use.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from numba import njit

from dafxkit.descriptors.timbral import _common
from dafxkit.errors import AudioError

__all__ = [
    "Analysis",
    "Flag",
    "TARGET_LOUDNESS",
    "LOWEST_RATE",
    "integrated_loudness",
    "k_weighting",
    "BAND_SOURCES",
]

#: Loudness every descriptor except reverb normalises to first (LUFS, ITU-R BS.1770).
TARGET_LOUDNESS = -24.0
#: Clips at lower rates are resampled up to this rate first, as the reference does.
LOWEST_RATE = 44100


class Flag(enum.IntFlag):
    """What was unusual about a clip for one descriptor (0: nothing).

    SILENT and FALLBACK mean the value is a defined stand-in where the reference raises or
    returns NaN. TOO_SHORT and NO_ONSETS are notes: the value is still what the reference's
    algorithm gives (for instance hardness computed over one segment from sample 0 when no
    onset is found, common in sustained orchestral music), but it rests on less evidence.
    """

    SILENT = 1  #: the clip is digital silence (the reference raises); the value is a stand-in
    TOO_SHORT = 2  #: shorter than the analysis windows: the reference's one-frame result
    NO_ONSETS = 4  #: no onset found where the algorithm looks for one
    FALLBACK = 8  #: a degenerate intermediate (all blocks gated, zero energy, …): a stand-in


# --------------------------------------------------------------------------------------------
# ITU-R BS.1770-4 integrated loudness, as pyloudnorm 0.2 measures it
# --------------------------------------------------------------------------------------------

_BLOCK_SECONDS = 0.4
_BLOCK_STEP = 0.25  # 1 - 75 % overlap
_ABSOLUTE_GATE = -70.0


@functools.lru_cache(maxsize=16)
def k_weighting(rate: float) -> np.ndarray:
    """``(2, 5)`` biquad rows ``(b0, b1, b2, a1, a2)``: the K-weighting high shelf (+4 dB,
    Q 1/sqrt 2, 1500 Hz) then high pass (Q 0.5, 38 Hz), designed for ``rate`` with the audio-EQ
    cookbook formulas, as pyloudnorm designs them (cached, read-only)."""
    rows = np.empty((2, 5))
    # High shelf.
    big_a = 10.0 ** (4.0 / 40.0)
    w0 = 2.0 * np.pi * (1500.0 / rate)
    alpha = np.sin(w0) / (2.0 * (1 / np.sqrt(2)))
    cos_w0 = np.cos(w0)
    root = np.sqrt(big_a)
    b0 = big_a * ((big_a + 1) + (big_a - 1) * cos_w0 + 2 * root * alpha)
    b1 = -2 * big_a * ((big_a - 1) + (big_a + 1) * cos_w0)
    b2 = big_a * ((big_a + 1) + (big_a - 1) * cos_w0 - 2 * root * alpha)
    a0 = (big_a + 1) - (big_a - 1) * cos_w0 + 2 * root * alpha
    a1 = 2 * ((big_a - 1) - (big_a + 1) * cos_w0)
    a2 = (big_a + 1) - (big_a - 1) * cos_w0 - 2 * root * alpha
    rows[0] = np.array([b0, b1, b2, a1, a2]) / a0
    # High pass.
    w0 = 2.0 * np.pi * (38.0 / rate)
    alpha = np.sin(w0) / (2.0 * 0.5)
    cos_w0 = np.cos(w0)
    b0 = (1 + cos_w0) / 2
    b1 = -(1 + cos_w0)
    b2 = (1 + cos_w0) / 2
    a0 = 1 + alpha
    a1 = -2 * cos_w0
    a2 = 1 - alpha
    rows[1] = np.array([b0, b1, b2, a1, a2]) / a0
    rows.setflags(write=False)
    return rows


@njit(cache=True, nogil=True)
def _block_powers(y, rate, n_blocks):
    # Mean square of each 400 ms block (75 % overlap) of the K-weighted signal y, with
    # pyloudnorm's block bounds int(0.4 * (j * 0.25) * rate) .. int(0.4 * (j * 0.25 + 1) * rate).
    n = y.shape[0]
    powers = np.empty(n_blocks)
    scale = 1.0 / (0.4 * rate)
    for j in range(n_blocks):
        lo = int(0.4 * (j * 0.25) * rate)
        hi = min(int(0.4 * (j * 0.25 + 1) * rate), n)
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        k = lo
        while k + 4 <= hi:
            a0 += y[k] * y[k]
            a1 += y[k + 1] * y[k + 1]
            a2 += y[k + 2] * y[k + 2]
            a3 += y[k + 3] * y[k + 3]
            k += 4
        while k < hi:
            a0 += y[k] * y[k]
            k += 1
        powers[j] = scale * ((a0 + a1) + (a2 + a3))
    return powers


def _block_count(n_samples: int, rate: float) -> int:
    duration = n_samples / rate
    return int(np.round((duration - _BLOCK_SECONDS) / (_BLOCK_SECONDS * _BLOCK_STEP))) + 1


def _gate(powers: np.ndarray) -> float:
    # BS.1770-4 gating of block mean squares; -inf when no block passes both gates.
    with np.errstate(divide="ignore"):
        levels = -0.691 + 10.0 * np.log10(powers)
    above = levels >= _ABSOLUTE_GATE
    if not above.any():
        return -math.inf
    relative = -0.691 + 10.0 * math.log10(np.mean(powers[above])) - 10.0
    passed = (levels > relative) & (levels > _ABSOLUTE_GATE)
    if not passed.any():
        return -math.inf
    return -0.691 + 10.0 * math.log10(np.mean(powers[passed]))


def _padded_for_loudness(x: np.ndarray, rate: float) -> np.ndarray:
    # The reference zero-pads clips shorter than one 400 ms block before measuring.
    if x.shape[0] < rate * _BLOCK_SECONDS:
        return np.concatenate([x, np.zeros(int(rate * _BLOCK_SECONDS) - x.shape[0])])
    return x


def _block_powers_of(x: np.ndarray, rate: float, weighted: np.ndarray | None = None) -> np.ndarray:
    # Block mean squares of x K-weighted (pass `weighted` when it is already at hand).
    x = np.ascontiguousarray(x, dtype=np.float64)
    if weighted is None:
        weighted = _common.lfilter_cascade_rows(k_weighting(rate), x)
    weighted = np.ascontiguousarray(weighted)
    n_blocks = max(_block_count(x.shape[0], rate), 0)
    if _common.use_native():
        j = np.arange(n_blocks)
        # pyloudnorm's bounds, with its operation order.
        lo = np.minimum((0.4 * (j * 0.25) * rate).astype(np.int64), x.shape[0])
        hi = np.minimum((0.4 * (j * 0.25 + 1) * rate).astype(np.int64), x.shape[0])
        out = np.empty(n_blocks)
        lib = _common._handles()[0]
        lib.dafx_timbral_block_powers(
            _common._dp(weighted),
            _common._ip(lo),
            _common._ip(hi),
            n_blocks,
            1.0 / (0.4 * rate),
            _common._dp(out),
        )
        return out
    return _block_powers(weighted, float(rate), n_blocks)


def integrated_loudness(x: np.ndarray, rate: float) -> float:
    """Integrated loudness of mono ``x`` in LUFS, as ``pyloudnorm.Meter(rate)
    .integrated_loudness(x)`` gives it (-inf when every block is gated out).

    Unlike pyloudnorm it accepts clips shorter than one 400 ms block (fewer samples than a block
    give no block, hence -inf).
    """
    return _gate(_block_powers_of(x, rate))


def _resample(y: np.ndarray, rate: int, target: int) -> np.ndarray:
    # librosa.resample(y, orig_sr=rate, target_sr=target) with its default soxr "HQ" filter.
    import soxr

    n_out = int(np.ceil(y.shape[0] * (float(target) / rate)))
    out = np.asarray(soxr.resample(y, rate, target, quality="soxr_hq"), dtype=np.float64)
    if out.shape[0] > n_out:
        out = out[:n_out]
    elif out.shape[0] < n_out:
        out = np.concatenate([out, np.zeros(n_out - out.shape[0])])
    return out


# --------------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------------


class _cached:
    """`functools.cached_property` without its lock: the value goes into the instance's
    ``__dict__``, which then shadows this (non-data) descriptor.

    On Python 3.11 cached_property holds one lock per property for all instances while it
    computes, so worker threads analysing different clips waited for each other (3.12 dropped
    that lock for this reason). An `Analysis` is filled by one thread, so no lock is needed.
    """

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


#: Signals `Analysis.source` knows by name without a factory.
_BUILTIN_SOURCES: dict[str, Callable[[Analysis], np.ndarray]] = {}


def _builtin(name: str):
    def register(func: Callable[[Analysis], np.ndarray]):
        _BUILTIN_SOURCES[name] = func
        return func

    return register


@_builtin("normalised")
def _source_normalised(an: Analysis) -> np.ndarray:
    return an.normalised[0]


@_builtin("highpass20")
def _source_highpass20(an: Analysis) -> np.ndarray:
    # Brightness and depth: three 20 Hz high-pass passes, then scaled to a peak of 1.
    return an._highpassed[0]


def _band_source(index: int):
    def make(an: Analysis) -> np.ndarray:
        bands, scale = an.band_signals
        return bands[index] * scale

    return make


#: Names of the band-filtered versions of "highpass20" (see `_common.BAND_FILTERS`).
BAND_SOURCES = tuple(f"highpass20/{kind}{int(fc)}" for kind, fc in _common.BAND_FILTERS)
for _index, _name in enumerate(BAND_SOURCES):
    _BUILTIN_SOURCES[_name] = _band_source(_index)


class Analysis:
    """One clip, prepared once for all timbral descriptors.

    Parameters
    ----------
    samples : np.ndarray
        ``(channels, samples)`` or ``(samples,)`` finite audio.
    sample_rate : float
        In Hz.

    Raises
    ------
    AudioError
        When ``samples`` is empty, has more than two dimensions, or holds NaN or infinity.

    Notes
    -----
    Members are computed on first use and kept:

    - `mono`, `peak`, `silent`: the channel sum, its largest absolute sample, whether it is 0;
    - `loudness` (LUFS, -inf when gated out), `gain`, `flags` (SILENT / FALLBACK);
    - `normalised` = ``(signal, fs)``, with `signal` and `sample_rate_out` as shortcuts;
    - `source` (named derived signals, built in: "normalised", "highpass20" and
      `BAND_SOURCES`), `band_signals` (the band signals before scaling);
    - `envelope`, `onset_strength`, `onsets` of any source, cached per argument.

    `memo` caches anything else under a key, so a descriptor can share a result with another
    without a new member here. An `Analysis` is not meant to be shared between threads while
    it is being filled; different clips on different threads is the intended use (the kernels
    release the GIL).
    """

    def __init__(self, samples: np.ndarray, sample_rate: float) -> None:
        samples = np.asarray(samples)
        if samples.dtype not in (np.float32, np.float64):
            samples = samples.astype(np.float64)
        if samples.ndim not in (1, 2) or samples.size == 0:
            raise AudioError(
                f"a timbral analysis needs (samples,) or (channels, samples) audio with at least "
                f"one sample; got shape {samples.shape}"
            )
        if not math.isfinite(float(sample_rate)) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive number of Hz; got {sample_rate}")
        # Kept as given (float32 or float64): converting a whole batch row costs more than
        # the analysis of brightness and depth needs; `channels` converts on demand.
        self._input = samples if samples.ndim == 2 else samples[None]
        self.sample_rate = int(round(sample_rate))
        self._memo: dict[Hashable, Any] = {}

    # -- the clip --------------------------------------------------------------------------

    @_cached
    def channels(self) -> np.ndarray:
        """``(channels, samples)`` float64 copy of the input."""
        return np.asarray(self._input, dtype=np.float64)

    @_cached
    def mono(self) -> np.ndarray:
        """Channels summed (the reference sums, it does not average; >2 channels: the first 3)."""
        rows = self._input[:3]
        mono = np.array(rows[0], dtype=np.float64)  # a contiguous copy, whatever the layout
        for row in rows[1:]:
            np.add(mono, row, out=mono)
        # max and min propagate NaN and carry inf: no temporary array for a finiteness check.
        peak = max(float(mono.max()), -float(mono.min()))
        if not math.isfinite(peak):
            raise AudioError("timbral descriptors need finite audio; the clip holds NaN or inf")
        self.__dict__["peak"] = peak
        return mono

    @_cached
    def peak(self) -> float:
        """Largest absolute sample of `mono`."""
        return max(float(self.mono.max()), -float(self.mono.min()))

    @_cached
    def silent(self) -> bool:
        """True when every sample of the mono sum is 0."""
        return self.peak == 0.0

    @_cached
    def loudness(self) -> float:
        """Integrated loudness (LUFS) of the mono clip, zero-padded to 0.4 s as the reference
        measures it; -inf for silence or when every block is gated out."""
        if self.silent:
            return -math.inf
        return _gate(self._loudness_blocks)

    @_cached
    def _fused(self) -> tuple[np.ndarray | None, np.ndarray, np.ndarray] | None:
        # One pass over the mono clip: K-weighting, 20 Hz high pass, band filters. Only when
        # the clip keeps its rate (no resampling) and needs no padding for the loudness meter;
        # the filters are linear, so filtering the clip before normalising it changes nothing
        # but rounding once the high-passed signal is scaled to a peak of 1.
        fs = self.sample_rate
        if self.silent or fs < LOWEST_RATE or self.mono.shape[0] < fs * _BLOCK_SECONDS:
            return None
        if not 1e-100 <= self.peak <= 1e100:
            # Filtering such a clip before normalising it would underflow or overflow.
            return None
        return _common.band_filters(self.mono, fs, k_weighting(fs))

    @_cached
    def _loudness_blocks(self) -> np.ndarray:
        fused = self._fused
        if fused is not None:
            blocks = _block_powers_of(self.mono, self.sample_rate, weighted=fused[0])
            self.__dict__["_fused"] = (None, fused[1], fused[2])  # the K-weighted clip is done
            return blocks
        return _block_powers_of(_padded_for_loudness(self.mono, self.sample_rate), self.sample_rate)

    @_cached
    def _highpassed(self) -> tuple[np.ndarray, np.ndarray, float]:
        # ("highpass20" scaled to a peak of 1, its four band-filtered versions unscaled, the
        # scale): scaling the bands is left to the few who need them on that scale.
        fused = self._fused
        if fused is None:
            _, hp, bands = _common.band_filters(self.signal, self.sample_rate_out)
        else:
            _, hp, bands = fused
        peak = max(float(hp.max()), -float(hp.min())) if hp.size else 0.0
        scale = 1.0 / peak if peak > 0 else 1.0
        if peak > 0:
            hp *= scale  # in place: this analysis's own array
        if not 2.0**-40 <= scale <= 2.0**40:
            # Brightness and depth transform the bands in float32, whose powers overflow past
            # about 1e38 (a peak near 1e16) and lose precision near 1e-38: bring the bands
            # within a factor of two of the scaled signal's level by a power of two, which
            # changes no value (every product is exact; powers keep their ratios).
            factor = 2.0 ** round(math.log2(scale))
            bands *= factor
            scale /= factor
        return hp, bands, scale

    @property
    def band_signals(self) -> tuple[np.ndarray, float]:
        """``(bands, scale)``: ``(4, samples)`` read-only versions of "highpass20" through each
        of `_common.BAND_FILTERS` before the scaling to a peak of 1; ``bands[i] * scale`` is
        the source ``BAND_SOURCES[i]``. Powers of these scale by ``scale ** 2``."""
        _, bands, scale = self._highpassed
        if bands.flags.writeable:
            bands.setflags(write=False)
        return bands, scale

    @_cached
    def _loudness_gain(self) -> float:
        # The gain to -24 LUFS, before peak limiting.
        loudness = self.loudness
        if not math.isfinite(loudness):
            # Every block is gated out: the reference's gain is infinite (NaN audio). Use the
            # ungated mean square of all blocks, or the peak if even that is zero.
            powers = self._loudness_blocks
            mean = float(np.mean(powers)) if powers.size else 0.0
            if not (mean > 0 and math.isfinite(mean)):
                return 1.0 / self.peak
            loudness = -0.691 + 10.0 * math.log10(mean)
        return 10.0 ** ((TARGET_LOUDNESS - loudness) / 20.0)

    @_cached
    def gain(self) -> float:
        """The factor `normalised` applies to `mono` (before resampling): to -24 LUFS, then
        down to a peak of 1 where needed. 1.0 for silence."""
        if self.silent:
            return 1.0
        gain = self._loudness_gain
        peak = self.peak * gain
        return gain / peak if peak > 1.0 else gain

    @_cached
    def flags(self) -> Flag:
        """Flags raised by the preparation itself (SILENT; FALLBACK when the loudness gate
        let no block through)."""
        if self.silent:
            return Flag.SILENT
        return Flag.FALLBACK if not math.isfinite(self.loudness) else Flag(0)

    @_cached
    def normalised(self) -> tuple[np.ndarray, int]:
        """``(signal, fs)``: mono audio normalised to -24 LUFS (peak-limited to 1), then
        resampled to >= 44.1 kHz; the zeros unchanged for silence."""
        x = self.mono
        fs = self.sample_rate
        if self.silent:
            y = x.copy()
        else:
            y = x * self._loudness_gain
            peak = np.max(np.abs(y))
            if peak > 1.0:
                y /= peak
        if fs < LOWEST_RATE:
            y = _resample(y, fs, LOWEST_RATE)
            fs = LOWEST_RATE
        y.setflags(write=False)
        return y, fs

    @property
    def signal(self) -> np.ndarray:
        """The normalised signal (read-only), ``normalised[0]``."""
        return self.normalised[0]

    @property
    def sample_rate_out(self) -> int:
        """The rate of `signal` (>= 44.1 kHz), ``normalised[1]``."""
        return max(self.sample_rate, LOWEST_RATE)

    # -- shared intermediate results -------------------------------------------------------

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``, run once per key for this clip and kept."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    def source(self, name: str, make: Callable[[Analysis], np.ndarray] | None = None) -> np.ndarray:
        """A named signal derived from the clip, at `sample_rate_out`, computed once.

        Built in: ``"normalised"`` (`signal`), ``"highpass20"`` (three 20 Hz Butterworth
        high-pass passes of `signal`, scaled to a peak of 1: what brightness and depth analyse)
        and `BAND_SOURCES` (``"highpass20/high2000"``, ``"highpass20/high100"``,
        ``"highpass20/low2000"``, ``"highpass20/low500"``: "highpass20" through three more
        Butterworth passes of that kind and crossover).
        Other names need ``make(an)`` the first time; later calls may omit it.
        """
        key = ("source", name)
        if key in self._memo:
            return self._memo[key]
        factory = make if make is not None else _BUILTIN_SOURCES.get(name)
        if factory is None:
            raise KeyError(f"unknown analysis source {name!r}: pass make= the first time")
        value = np.ascontiguousarray(factory(self), dtype=np.float64)
        self._memo[key] = value
        return value

    def envelope(
        self, source: str = "normalised", decay_time: float = 0.2, hold_time: float = 0.01
    ) -> np.ndarray:
        """``sample_and_hold_envelope_calculation`` of a source (cached per arguments)."""
        return self.memo(
            ("envelope", source, float(decay_time), float(hold_time)),
            lambda: _common.sample_and_hold_envelope(
                self.source(source), self.sample_rate_out, decay_time, hold_time
            ),
        )

    def onset_strength(self, source: str = "normalised") -> np.ndarray:
        """``librosa.onset.onset_strength(y, sr)`` of a source (cached)."""
        return self.memo(
            ("onset_strength", source),
            lambda: _common.onset_strength(self.source(source), self.sample_rate_out),
        )

    def onsets(
        self, source: str = "normalised", decay_time: float = 0.2, nperseg: int = 512
    ) -> tuple[np.ndarray, int]:
        """``calculate_onsets(signal, envelope(decay_time), fs, nperseg=nperseg)`` of a source,
        cached: ``(onsets, degenerate)``; ``onsets`` is a sorted int64 array (``[0]`` when none
        survive) and ``degenerate`` counts steps where the reference would raise or hang."""
        return self.memo(
            ("onsets", source, float(decay_time), int(nperseg)),
            lambda: _common.calculate_onsets(
                self.source(source),
                self.envelope(source, decay_time),
                self.sample_rate_out,
                nperseg=nperseg,
                strength=self.onset_strength(source),
                return_degenerate=True,
            ),
        )
