"""Mel-frequency cepstral coefficients, equal to librosa's, batched and fast (C, Numba, torch).

`mfcc` computes what ``librosa.feature.mfcc(y=signal, sr=sample_rate, ...)`` returns for each
1-D signal of a batch, with librosa 0.11's defaults::

    frames  zero-pad n_fft // 2 samples on both sides (center=True, pad_mode="constant"),
            frame t starts at t · hop_length: 1 + (samples + 2 (n_fft // 2) − n_fft) // hop
            frames (1 + samples // hop_length for even n_fft)
    power   |rfft(periodic Hann window · frame)|²
    mel     Slaney mel filterbank (htk=False, norm="slaney"), as librosa.filters.mel
    dB      L = 10 log10(max(1e-10, mel)), then L = max(L, max(L) − 80)  (power_to_db with
            ref=1.0, amin=1e-10, top_db=80)
    MFCC    orthonormal DCT-II over the mel axis, first n_mfcc coefficients

The one deliberate difference: librosa takes ``max(L)`` over the whole array it is given, so a
``(batch, samples)`` array handed to librosa at once is clamped relative to the loudest clip of
the batch. Here every 1-D signal (each channel of each clip) is clamped relative to its own
maximum, which is what calling librosa on that signal alone gives.

Backends: ``"c"`` (the compiled kernel, OpenMP over signals), ``"numba"`` (the same algorithm,
signals spread over threads), ``"torch"`` (`mfcc_torch`: differentiable, any device) and
``"numpy"`` (the plain reference, scipy's rfft). The C and Numba kernels need a power-of-two
``n_fft`` (at least 2); for any other ``n_fft`` they hand over to the NumPy backend. librosa
itself is not used (the filterbank and DCT are computed here; the tests compare with it).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from dafxkit import native
from dafxkit.audio import validate_sample_rate
from dafxkit.errors import AudioError, DafxWarning, NativeError, ParameterError
from dafxkit.features import FeatureExtractor

if TYPE_CHECKING:
    import torch

__all__ = [
    "MFCC",
    "BACKENDS",
    "AMIN",
    "TOP_DB",
    "dct_matrix",
    "mel_filterbank",
    "mfcc",
    "mfcc_numpy",
    "mfcc_torch",
    "n_frames",
]

#: Accepted values of ``backend``.
BACKENDS = ("auto", "c", "numba", "torch", "numpy")
#: Power floor before the logarithm (librosa's power_to_db ``amin``): -100 dB.
AMIN = 1e-10
#: Dynamic range kept below each signal's loudest mel bin (librosa's ``top_db``), in dB.
TOP_DB = 80.0


# --------------------------------------------------------------------------------------------
# Analysis matrices


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 mel per 200 Hz) below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-300) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3.0)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


def _check_mel_args(sample_rate: float, n_fft: int, n_mels: int, fmin: float, fmax: float | None):
    n_fft = _positive_int(n_fft, "n_fft")
    n_mels = _positive_int(n_mels, "n_mels")
    fmin, fmax = _check_band(fmin, fmax)
    nyquist = sample_rate / 2.0
    fmax = nyquist if fmax is None else fmax
    if fmax > nyquist:
        raise ParameterError(
            f"fmax must be at most the Nyquist frequency sample_rate / 2 = {nyquist:g} Hz; got "
            f"{fmax!r}. Leave it None for the Nyquist frequency"
        )
    if fmin >= fmax:
        raise ParameterError(f"fmin must be below fmax; got fmin={fmin:g} Hz, fmax={fmax:g} Hz")
    return n_fft, n_mels, fmin, fmax


def _check_band(fmin: Any, fmax: Any) -> tuple[float, float | None]:
    """The checks of fmin and fmax that need no sample rate."""
    try:
        fmin = float(fmin)
        fmax = None if fmax is None else float(fmax)
    except (TypeError, ValueError):
        raise ParameterError(
            f"fmin and fmax must be frequencies in Hz (fmax may be None); got fmin={fmin!r}, "
            f"fmax={fmax!r}"
        ) from None
    if not (math.isfinite(fmin) and fmin >= 0.0):
        raise ParameterError(f"fmin must be a finite frequency >= 0 Hz; got {fmin!r}")
    if fmax is not None and not (math.isfinite(fmax) and fmax > fmin):
        raise ParameterError(
            f"fmax must be a finite frequency above fmin={fmin:g} Hz, or None; got {fmax!r}"
        )
    return fmin, fmax


def mel_filterbank(
    sample_rate: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """The Slaney-normalised mel filterbank, equal to ``librosa.filters.mel`` (float64).

    Triangular filters with edges ``n_mels + 2`` points evenly spaced on Slaney's mel scale
    from ``fmin`` to ``fmax``, each scaled by ``2 / (upper edge − lower edge)`` in Hz so that
    every band has about the same energy for white noise.

    Parameters
    ----------
    sample_rate : float
        In Hz.
    n_fft : int
        FFT size; the filters have ``1 + n_fft // 2`` bins.
    n_mels : int
        Number of bands.
    fmin, fmax : float
        Band edges in Hz; ``fmax=None`` is the Nyquist frequency.

    Returns
    -------
    np.ndarray
        float64 ``(n_mels, 1 + n_fft // 2)``, read-only (cached per argument set). Bands too
        narrow to contain an FFT bin are all zero, as in librosa.

    Examples
    --------
    >>> mel_filterbank(22050, 2048).shape
    (128, 1025)
    """
    rate = validate_sample_rate(sample_rate)
    return _filterbank(rate, *_check_mel_args(rate, n_fft, n_mels, fmin, fmax))


@functools.lru_cache(maxsize=32)
def _filterbank(sample_rate: float, n_fft: int, n_mels: int, fmin: float, fmax: float):
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - bins[None, :]  # edge frequency minus bin frequency
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    weights.setflags(write=False)
    return weights


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """The first ``n_mfcc`` rows of the orthonormal DCT-II of size ``n_mels`` (float64).

    ``D[k, m] = s_k cos(π k (2m + 1) / (2 n_mels))`` with ``s_0 = sqrt(1 / n_mels)`` and
    ``s_k = sqrt(2 / n_mels)``, so ``D @ v`` equals ``scipy.fft.dct(v, type=2, norm="ortho")
    [:n_mfcc]``. Read-only (cached).
    """
    return _dct(_positive_int(n_mfcc, "n_mfcc"), _positive_int(n_mels, "n_mels"))


@functools.lru_cache(maxsize=32)
def _dct(n_mfcc: int, n_mels: int) -> np.ndarray:
    k = np.arange(n_mfcc, dtype=np.float64)[:, None]
    m = np.arange(n_mels, dtype=np.float64)[None, :]
    d = np.cos(np.pi * k * (2.0 * m + 1.0) / (2.0 * n_mels)) * np.sqrt(2.0 / n_mels)
    d[0] = np.sqrt(1.0 / n_mels)
    d.setflags(write=False)
    return d


@functools.lru_cache(maxsize=32)
def _window(n_fft: int) -> np.ndarray:
    # The periodic Hann window (scipy's get_window("hann", n_fft, fftbins=True)).
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    w.setflags(write=False)
    return w


@functools.lru_cache(maxsize=32)
def _sparse_bands(sample_rate: float, n_fft: int, n_mels: int, fmin: float, fmax: float):
    """Each band's nonzero bin range ``[start, stop)`` and its weights, concatenated."""
    weights = _filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
    start = np.zeros(n_mels, dtype=np.int64)
    stop = np.zeros(n_mels, dtype=np.int64)
    for m, row in enumerate(weights):
        nonzero = np.flatnonzero(row)
        if nonzero.size:
            start[m], stop[m] = nonzero[0], nonzero[-1] + 1
    flat = np.concatenate([weights[m, start[m] : stop[m]] for m in range(n_mels)])
    offset = np.concatenate([[0], np.cumsum(stop - start)[:-1]]).astype(np.int64)
    for array in (start, stop, flat, offset):
        array.setflags(write=False)
    return start, stop, offset, flat


def bin_bands(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A triangular filterbank ``(n_mels, bins)`` per bin: ``(band, w0, w1)``, the first band
    holding bin k (-1: none) and the bin's weights in that band and the next (adjacent
    triangles overlap, so a bin lies in at most two bands). Read-only arrays, the form the C
    spectral kernel (``dafx_timbral_stft``) sums mel bands in."""
    n_bins = weights.shape[1]
    band = np.full(n_bins, -1, dtype=np.int64)
    w0 = np.zeros(n_bins)
    w1 = np.zeros(n_bins)
    for k in range(n_bins):
        nz = np.flatnonzero(weights[:, k])
        if nz.size == 0:
            continue
        if nz.size > 2 or (nz.size == 2 and nz[1] != nz[0] + 1):
            raise AssertionError("mel filters overlap by more than two adjacent bands")
        band[k] = nz[0]
        w0[k] = weights[nz[0], k]
        if nz.size == 2:
            w1[k] = weights[nz[1], k]
    for a in (band, w0, w1):
        a.setflags(write=False)
    return band, w0, w1


@functools.lru_cache(maxsize=32)
def _bin_bands(sample_rate: float, n_fft: int, n_mels: int, fmin: float, fmax: float):
    return bin_bands(_filterbank(sample_rate, n_fft, n_mels, fmin, fmax))


# --------------------------------------------------------------------------------------------
# Argument checks


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ParameterError(f"{name} must be a positive integer; got {value!r}")
    if value < 1:
        raise ParameterError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def n_frames(samples: int, n_fft: int = 2048, hop_length: int = 512) -> int:
    """Frames of a centred (zero-padded) analysis: ``1 + (samples + 2 (n_fft // 2) − n_fft) //
    hop_length``, which is ``1 + samples // hop_length`` for even ``n_fft``."""
    return 1 + (samples + 2 * (n_fft // 2) - n_fft) // hop_length


def _check_counts(n_mfcc: Any, n_fft: Any, hop_length: Any, n_mels: Any) -> tuple[int, ...]:
    counts = (
        _positive_int(n_mfcc, "n_mfcc"),
        _positive_int(n_fft, "n_fft"),
        _positive_int(hop_length, "hop_length"),
        _positive_int(n_mels, "n_mels"),
    )
    if counts[3] < counts[0]:
        raise ParameterError(
            f"n_mels must be at least n_mfcc (the DCT of {counts[3]} mel bands has {counts[3]} "
            f"coefficients); got n_mels={counts[3]}, n_mfcc={counts[0]}"
        )
    return counts


class _Config:
    """Checked arguments of one `mfcc` call."""

    def __init__(self, sample_rate, n_mfcc, n_fft, hop_length, n_mels, fmin, fmax):
        self.sample_rate = validate_sample_rate(sample_rate)
        self.n_mfcc, _, self.hop_length, _ = _check_counts(n_mfcc, n_fft, hop_length, n_mels)
        self.n_fft, self.n_mels, self.fmin, self.fmax = _check_mel_args(
            self.sample_rate, n_fft, n_mels, fmin, fmax
        )

    @property
    def mel_key(self) -> tuple:
        return (self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax)

    @property
    def power_of_two(self) -> bool:
        return self.n_fft >= 2 and self.n_fft & (self.n_fft - 1) == 0


def _as_rows(audio: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    """Audio ``(..., samples)`` as C-contiguous float32 or float64 rows, checked, and its
    shape."""
    if not isinstance(audio, np.ndarray):
        if hasattr(audio, "detach") and hasattr(audio, "cpu"):  # a torch tensor
            audio = audio.detach().cpu().numpy()
        else:
            audio = np.asarray(audio)
    if audio.dtype.kind != "f":
        raise AudioError(
            f"audio must be real floating point (float32 or float64); got dtype {audio.dtype}. "
            "Integer PCM must be scaled to [-1, 1] floats first, e.g. x.astype(np.float32) / "
            "32768."
        )
    if audio.ndim == 0:
        raise AudioError("audio must have a samples axis, e.g. shape (samples,); got a scalar")
    if audio.shape[-1] == 0:
        raise AudioError(f"audio must hold at least one sample per signal; got shape {audio.shape}")
    dtype = audio.dtype if audio.dtype in (np.float32, np.float64) else np.float32
    rows = np.ascontiguousarray(audio.reshape(-1, audio.shape[-1]), dtype=dtype)
    if not _all_finite(rows):
        bad = np.argwhere(~np.isfinite(audio))[0]
        raise AudioError(
            f"audio holds non-finite samples (NaN or inf), the first at index "
            f"{tuple(int(i) for i in bad)}; MFCCs need finite input"
        )
    return rows, audio.shape


def _all_finite(rows: np.ndarray) -> bool:
    # One parallel pass in C rather than a temporary bool per sample.
    if rows.dtype == np.float32 and rows.size > 65536 and native.available():
        return native.count_nonfinite(rows) == 0
    return bool(np.isfinite(rows).all())


# --------------------------------------------------------------------------------------------
# The public function


def mfcc(
    audio: np.ndarray,
    sample_rate: float,
    *,
    n_mfcc: int = 20,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    backend: str = "auto",
    fft_precision: str = "float64",
) -> np.ndarray:
    """MFCCs of every signal of a batch, equal to librosa's for each signal alone.

    Parameters
    ----------
    audio : np.ndarray
        Real float samples, finite, shape ``(batch, channels, samples)``; any shape
        ``(..., samples)`` works (``(samples,)`` for one signal, ``(channels, samples)`` for
        one clip): the last axis is time and every other index is one independent signal.
        float32 and float64 are used as given; other float types become float32.
    sample_rate : float
        In Hz.
    n_mfcc : int
        Coefficients kept (the first ``n_mfcc`` of the DCT).
    n_fft : int
        Frame and FFT length in samples. The C and Numba backends need a power of two; other
        lengths run on the NumPy backend (slower, same results).
    hop_length : int
        Samples between frame starts.
    n_mels : int
        Mel bands; at least ``n_mfcc``.
    fmin, fmax : float
        Lowest and highest filterbank edge in Hz; ``fmax=None`` is ``sample_rate / 2``.
    backend : {"auto", "c", "numba", "torch", "numpy"}
        ``"auto"`` is the C kernel when the compiled library is available, else Numba.
    fft_precision : {"float64", "float32"}
        ``"float32"`` lets the C kernel run its Fourier transforms in float32 (about a third
        less time; a mel band's power moves by about 1e-7 of the frame's, so the levels above
        the top_db floor move by a few millionths of a dB) for uses that measure rather than
        reproduce, such as similarity checks. The other backends always transform in float64.

    Returns
    -------
    np.ndarray
        float32 ``audio.shape[:-1] + (n_mfcc, frames)`` with
        ``frames = n_frames(samples, n_fft, hop_length)`` (``1 + samples // hop_length`` for
        even ``n_fft``). ``out[b, c]`` equals ``librosa.feature.mfcc(y=audio[b, c],
        sr=sample_rate, n_mfcc=..., n_fft=..., hop_length=..., n_mels=..., fmin=..., fmax=...)``
        to within float32 rounding (librosa works in float32 for float32 input; the C, Numba
        and NumPy backends work in float64 and round once at the end).

    Raises
    ------
    AudioError
        Non-float, empty or non-finite audio; a non-positive sample rate.
    ParameterError
        A non-positive ``n_fft``, ``hop_length``, ``n_mfcc`` or ``n_mels``; ``n_mels <
        n_mfcc``; ``fmin < 0``, ``fmax`` above the Nyquist frequency or ``fmin >= fmax``; an
        unknown backend or fft_precision.
    NativeError
        ``backend="c"`` without the compiled library.

    Notes
    -----
    Signals shorter than ``n_fft`` are fine: as in librosa they are zero-padded (one frame
    for fewer than ``hop_length`` samples). Digital silence gives every mel band -100 dB, so
    coefficient 0 is ``-100 · sqrt(n_mels)`` and the others are 0. librosa also accepts an
    empty signal, ``n_mels < n_mfcc`` (returning fewer rows) and ``fmax`` above Nyquist
    (empty filters); those are errors here.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((2, 1, 22050)).astype(np.float32)
    >>> mfcc(x, 22050).shape
    (2, 1, 20, 44)
    """
    if backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {BACKENDS}; got {backend!r}")
    if fft_precision not in ("float64", "float32"):
        raise ParameterError(f"fft_precision must be 'float64' or 'float32'; got {fft_precision!r}")
    config = _Config(sample_rate, n_mfcc, n_fft, hop_length, n_mels, fmin, fmax)
    rows, audio_shape = _as_rows(audio)
    chosen = backend
    if backend == "auto":
        backend = "c" if native.available() else "numba"
    if backend in ("c", "numba") and not config.power_of_two:
        if chosen != "auto":
            warnings.warn(
                f"the {backend} MFCC kernel needs a power-of-two n_fft; n_fft={config.n_fft} "
                "runs on the NumPy backend",
                DafxWarning,
                stacklevel=2,
            )
        backend = "numpy"
    if backend == "c":
        out = _mfcc_c(rows, config, single=fft_precision == "float32")
    elif backend == "numba":
        out = _mfcc_numba(rows, config)
    elif backend == "torch":
        import torch

        # In float64, as the other backends transform (and librosa, whose windowed frames are
        # float64): a float32 FFT's error, relative to the frame's loudest bin, shows in mel
        # bands 60-80 dB below a pure tone (up to 6e-3 in a coefficient).
        with torch.no_grad():
            out = mfcc_torch(
                torch.from_numpy(np.array(rows, dtype=np.float64)),
                config.sample_rate,
                n_mfcc=config.n_mfcc,
                n_fft=config.n_fft,
                hop_length=config.hop_length,
                n_mels=config.n_mels,
                fmin=config.fmin,
                fmax=config.fmax,
            ).numpy()
    else:
        out = _mfcc_numpy_rows(rows, config)
    return np.asarray(out, dtype=np.float32).reshape(*audio_shape[:-1], *out.shape[-2:])


def mfcc_numpy(audio: np.ndarray, sample_rate: float, **options: Any) -> np.ndarray:
    """The reference: `mfcc` with ``backend="numpy"`` (scipy's rfft, float64, one signal at a
    time). Same arguments and result."""
    return mfcc(audio, sample_rate, backend="numpy", **options)


def _mfcc_numpy_rows(rows: np.ndarray, config: _Config) -> np.ndarray:
    import scipy.fft

    n_fft, hop = config.n_fft, config.hop_length
    weights = _filterbank(*config.mel_key)
    dct = _dct(config.n_mfcc, config.n_mels)
    window = _window(n_fft)
    frames = n_frames(rows.shape[1], n_fft, hop)
    out = np.empty((rows.shape[0], config.n_mfcc, frames), dtype=np.float32)
    for r, x in enumerate(rows):
        padded = np.pad(x.astype(np.float64), n_fft // 2)
        framed = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:frames]
        spectrum = scipy.fft.rfft(framed * window, axis=-1)
        power = spectrum.real**2 + spectrum.imag**2  # (frames, bins)
        db = 10.0 * np.log10(np.maximum(AMIN, weights @ power.T))
        db = np.maximum(db, db.max() - TOP_DB)
        out[r] = dct @ db
    return out


# --------------------------------------------------------------------------------------------
# Compiled backends


def _mfcc_c(rows: np.ndarray, config: _Config, single: bool = False) -> np.ndarray:
    if config.n_fft < 8:  # below the C transform's smallest size: the same numbers in Numba
        return _mfcc_numba(rows, config)
    from dafxkit.descriptors.timbral._common import _fft_tables, _ip

    lib, ffi = native.lib(), native.ffi()
    band, w0, w1 = _bin_bands(*config.mel_key)
    cos_m, sin_m, cos_n, sin_n, rev = _fft_tables(config.n_fft)
    dct = _dct(config.n_mfcc, config.n_mels)
    frames = n_frames(rows.shape[1], config.n_fft, config.hop_length)
    out = np.empty((rows.shape[0], config.n_mfcc, frames), dtype=np.float32)
    is32 = rows.dtype == np.float32

    failures = lib.dafx_mfcc(
        native.float_ptr(rows) if is32 else ffi.NULL,
        ffi.NULL if is32 else native.double_ptr(rows),
        native.float_ptr(out),
        rows.shape[0],
        rows.shape[1],
        config.n_fft,
        config.hop_length,
        native.double_ptr(_window(config.n_fft)),
        native.double_ptr(cos_m),
        native.double_ptr(sin_m),
        native.double_ptr(cos_n),
        native.double_ptr(sin_n),
        _ip(rev),
        config.n_mels,
        _ip(band),
        native.double_ptr(w0),
        native.double_ptr(w1),
        config.n_mfcc,
        native.double_ptr(dct),
        AMIN,
        TOP_DB,
        int(single),
    )
    if failures:
        raise NativeError(f"dafx_mfcc could not allocate its work buffers for {failures} row(s)")
    return out


def _mfcc_numba(rows: np.ndarray, config: _Config) -> np.ndarray:
    from concurrent.futures import ThreadPoolExecutor

    import numba

    from dafxkit.descriptors._mfcc_numba import mfcc_rows

    bands = _sparse_bands(*config.mel_key)
    dct = _dct(config.n_mfcc, config.n_mels)
    window = _window(config.n_fft)
    frames = n_frames(rows.shape[1], config.n_fft, config.hop_length)
    out = np.empty((rows.shape[0], config.n_mfcc, frames), dtype=np.float32)

    def run(first: int, last: int) -> None:
        mfcc_rows(rows, out, first, last, config.hop_length, window, *bands, dct, AMIN, TOP_DB)

    # The kernel releases the GIL: one contiguous share of the signals per thread.
    threads = max(1, min(numba.get_num_threads(), rows.shape[0]))
    if threads == 1:
        run(0, rows.shape[0])
        return out
    bounds = np.linspace(0, rows.shape[0], threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        jobs = [pool.submit(run, bounds[i], bounds[i + 1]) for i in range(threads)]
        for job in jobs:
            job.result()
    return out


# --------------------------------------------------------------------------------------------
# torch


def mfcc_torch(
    x: torch.Tensor,
    sample_rate: float,
    *,
    n_mfcc: int = 20,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> torch.Tensor:
    """Differentiable MFCCs of a tensor ``(..., samples)`` on any device (`torch.stft`).

        Same definition, arguments and per-signal top_db clamp as `mfcc`, computed on ``x``'s
        device; gradients flow to ``x``. The spectrum and mel bands are computed in ``x``'s dtype
    (float32: within 3.4e-4 of librosa on music, up to 6e-3 where mel bands lie 60-80 dB below a
    pure tone, as the float32 transform's error is relative to the frame's loudest bin; pass
    float64 for librosa's precision);
        the DCT, whose 128-term sums of values near -100 dB lose up to ~1e-3 in float32, runs in
        float64 wherever the device has it (not on Apple's MPS). Where the clamp is active its
        threshold follows the signal's loudest mel bin, so that bin also receives the gradient of
        every clamped value; a silent signal has no gradient through the logarithm's floor.

        Returns
        -------
        torch.Tensor
            ``x.shape[:-1] + (n_mfcc, frames)``, dtype and device of ``x``.

        Examples
        --------
        >>> x = torch.randn(2, 1, 8000, dtype=torch.float64, requires_grad=True)
        >>> mfcc_torch(x, 16000, n_mfcc=13).shape
        torch.Size([2, 1, 13, 16])
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise AudioError(f"mfcc_torch needs a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise AudioError(f"x must be a real floating-point tensor; got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise AudioError(f"x must hold at least one sample per signal; got shape {tuple(x.shape)}")
    config = _Config(sample_rate, n_mfcc, n_fft, hop_length, n_mels, fmin, fmax)
    n_fft = config.n_fft
    rows = x.reshape(-1, x.shape[-1])
    spectrum = torch.stft(
        rows,
        n_fft,
        hop_length=config.hop_length,
        window=torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    # |X|² as re² + im², whose gradient is finite at X = 0 (that of |X| is not).
    power = torch.view_as_real(spectrum).square().sum(-1)  # (rows, bins, frames)
    weights = torch.tensor(_filterbank(*config.mel_key), dtype=x.dtype, device=x.device)
    db = 10.0 * torch.log10(torch.clamp(weights @ power, min=AMIN))
    db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - TOP_DB)
    wide = x.dtype if x.device.type == "mps" else torch.float64
    dct = torch.tensor(_dct(config.n_mfcc, config.n_mels), dtype=wide, device=x.device)
    out = (dct @ db.to(wide)).to(x.dtype)
    return out.reshape(*x.shape[:-1], *out.shape[-2:])


# --------------------------------------------------------------------------------------------
# The feature extractor


class MFCC(FeatureExtractor):
    """Mean and standard deviation over time of each MFCC, per clip.

    By default the channels of a clip are first mixed to mono (their mean, as ``librosa.load``
    and ``librosa.to_mono`` do), so a clip's row holds the statistics over frames of
    ``librosa.feature.mfcc(y=mono, sr=sample_rate, ...)``: ``mfcc{k}_mean`` for k = 0 …
    n_mfcc − 1, then ``mfcc{k}_std`` (population standard deviation, ddof=0). With
    ``channels="pool"`` every channel is analysed alone (its own top_db reference) and the
    statistics pool the frames of all channels. Mono clips give the same either way.

    Parameters
    ----------
    n_mfcc, n_fft, hop_length, n_mels, fmin, fmax, backend
        As in `mfcc`. All are checked here except ``fmax`` against the Nyquist frequency,
        which needs the sample rate and is checked at the first batch.
    channels : {"mix", "pool"}
        How a multi-channel clip is reduced.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((3, 2, 22050)).astype(np.float32)
    >>> MFCC(n_mfcc=13).extract(x, 22050).shape
    (3, 26)
    """

    name = "mfcc"
    description = "mean and standard deviation over time of each MFCC (librosa's definition)"
    thread_safe = True

    def __init__(
        self,
        n_mfcc: int = 20,
        n_fft: int = 2048,
        hop_length: int = 512,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        backend: str = "auto",
        channels: str = "mix",
    ) -> None:
        n_mfcc, n_fft, hop_length, n_mels = _check_counts(n_mfcc, n_fft, hop_length, n_mels)
        fmin, fmax = _check_band(fmin, fmax)
        if backend not in BACKENDS:
            raise ParameterError(f"backend must be one of {BACKENDS}; got {backend!r}")
        if channels not in ("mix", "pool"):
            raise ParameterError(f"channels must be 'mix' or 'pool'; got {channels!r}")
        self.options = dict(
            n_mfcc=n_mfcc,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            backend=backend,
        )
        self.channels = channels
        self.feature_names = tuple(f"mfcc{k}_mean" for k in range(n_mfcc)) + tuple(
            f"mfcc{k}_std" for k in range(n_mfcc)
        )

    def compute(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if self.channels == "mix" and audio.shape[1] > 1:
            audio = audio.mean(axis=1, keepdims=True)
        coefficients = mfcc(audio, sample_rate, **self.options)  # (batch, channels, k, frames)
        batch, _, n_mfcc, _ = coefficients.shape
        pooled = coefficients.transpose(0, 2, 1, 3).reshape(batch, n_mfcc, -1)
        pooled = pooled.astype(np.float64)
        return np.concatenate([pooled.mean(axis=-1), pooled.std(axis=-1)], axis=1)
