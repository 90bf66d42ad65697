"""Equaliser: low shelf, two peaking bands and a high shelf (Audio EQ Cookbook biquads)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, NativeError, Param, native

#: Centre and corner frequencies are clamped to this fraction of the sample rate.
MAX_FRACTION = 0.45
#: The four bands, in processing order: (prefix, kind).
BANDS = (("low", "lowshelf"), ("mid1", "peaking"), ("mid2", "peaking"), ("high", "highshelf"))


def _gain(name: str) -> Param:
    return Param(f"{name}_gain_db", -12.0, 12.0, 0.0, unit="dB", description=f"{name} band gain")


def _freq(name: str, low: float, high: float, default: float, what: str) -> Param:
    return Param(f"{name}_freq_hz", low, high, default, unit="Hz", scale="log", description=what)


def _q(name: str) -> Param:
    return Param(f"{name}_q", 0.3, 6.0, 1.0, scale="log", description=f"{name} band Q")


class Equaliser(Effect):
    """Four biquads in series per clip and channel: low shelf, peaking, peaking, high shelf.

    Coefficients follow R. Bristow-Johnson's Audio EQ Cookbook, recomputed for every batch row
    (`biquad_coefficients`): ``A = 10 ** (gain_db / 40)``, ``w0 = 2π · f0 / sample_rate`` with
    ``f0`` clamped to at most ``0.45 · sample_rate`` (at 22.05 kHz the top of the high shelf's
    range lies above Nyquist), shelves with slope ``S = 1``, peaking bands with their own Q.
    Each section runs in transposed direct form II in double precision from rest.

    All gains at 0 dB make every section's numerator equal its denominator: the identity.
    Output bound: ``|y| ≤ ‖h‖₁ · max|x|`` with ``h`` the cascade's impulse response; with
    ±12 dB per band ‖h‖₁ peaks near 47 over the parameter range (all gains at +12 dB; the tests
    check 64).
    """

    name = "equaliser"
    description = "low shelf, two peaking bands, high shelf (Audio EQ Cookbook)"
    params = (
        _gain("low"),
        _freq("low", 30.0, 500.0, 100.0, "low shelf corner frequency"),
        _gain("mid1"),
        _freq("mid1", 100.0, 2000.0, 400.0, "first peaking band centre"),
        _q("mid1"),
        _gain("mid2"),
        _freq("mid2", 500.0, 10000.0, 2500.0, "second peaking band centre"),
        _q("mid2"),
        _gain("high"),
        _freq("high", 2000.0, 16000.0, 8000.0, "high shelf corner frequency"),
    )
    backends = ("c", "numba", "numpy")
    neutral = {"low_gain_db": 0.0, "mid1_gain_db": 0.0, "mid2_gain_db": 0.0, "high_gain_db": 0.0}

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        sos = equaliser_sections(values, sample_rate)
        kernel = {"c": biquads_c, "numba": biquads_numba}.get(backend, biquads_numpy)
        return kernel(audio, sos)


def biquad_coefficients(
    kind: str, gain_db: np.ndarray, freq_hz: np.ndarray, q: np.ndarray | float, sample_rate: float
) -> np.ndarray:
    """Audio EQ Cookbook biquads, one per row: ``(batch, 6)`` as b0, b1, b2, 1, a1, a2.

    Parameters
    ----------
    kind : {"lowshelf", "peaking", "highshelf"}
    gain_db, freq_hz : np.ndarray
        ``(batch,)``; frequencies are clamped to ``0.45 · sample_rate``.
    q : np.ndarray or float
        Peaking bandwidth; shelves use slope 1 and ignore it.
    sample_rate : float
        In Hz.
    """
    a = np.power(10.0, np.asarray(gain_db, np.float64) / 40.0)
    w0 = 2.0 * np.pi * np.minimum(freq_hz, MAX_FRACTION * sample_rate) / sample_rate
    cw, sw = np.cos(w0), np.sin(w0)
    if kind == "peaking":
        alpha = sw / (2.0 * np.asarray(q, np.float64))
        b = (1.0 + alpha * a, -2.0 * cw, 1.0 - alpha * a)
        den = (1.0 + alpha / a, -2.0 * cw, 1.0 - alpha / a)
    elif kind in ("lowshelf", "highshelf"):
        root = 2.0 * np.sqrt(a) * (sw / 2.0 * np.sqrt(2.0))  # 2·√A·α with S = 1
        sign = 1.0 if kind == "lowshelf" else -1.0
        b = (
            a * ((a + 1.0) - sign * (a - 1.0) * cw + root),
            sign * 2.0 * a * ((a - 1.0) - sign * (a + 1.0) * cw),
            a * ((a + 1.0) - sign * (a - 1.0) * cw - root),
        )
        den = (
            (a + 1.0) + sign * (a - 1.0) * cw + root,
            -sign * 2.0 * ((a - 1.0) + sign * (a + 1.0) * cw),
            (a + 1.0) + sign * (a - 1.0) * cw - root,
        )
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    a0 = den[0]
    return np.stack(
        [b[0] / a0, b[1] / a0, b[2] / a0, np.ones_like(a0), den[1] / a0, den[2] / a0], 1
    )


def equaliser_sections(values: Mapping[str, np.ndarray], sample_rate: float) -> np.ndarray:
    """The four bands' second-order sections per row: ``(batch, 4, 6)`` in SciPy's sos layout."""
    sections = []
    for prefix, kind in BANDS:
        q = values.get(f"{prefix}_q", 1.0)
        sections.append(
            biquad_coefficients(
                kind, values[f"{prefix}_gain_db"], values[f"{prefix}_freq_hz"], q, sample_rate
            )
        )
    return np.stack(sections, axis=1)


def biquads_numpy(audio: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """The reference: SciPy's sosfilt in float64, one batch row (all channels) at a time."""
    import scipy.signal  # slow to import, and only the reference needs it

    out = np.empty(audio.shape, dtype=np.float32)
    for b in range(audio.shape[0]):
        out[b] = scipy.signal.sosfilt(sos[b], audio[b].astype(np.float64), axis=-1)
    return out


def _kernel_coefficients(sos: np.ndarray) -> np.ndarray:
    # The kernels take b0, b1, b2, a1, a2 (a0 = 1 is implied).
    return np.ascontiguousarray(sos[..., [0, 1, 2, 4, 5]], dtype=np.float64)


def biquads_c(audio: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """The C kernel (OpenMP over rows × channels, four rows interleaved per task)."""
    coefficients = _kernel_coefficients(sos)
    out, skipped = native.run_kernel(
        "biquad_cascade", audio, (coefficients,), coefficients.shape[1]
    )
    if skipped:
        raise NativeError(f"biquad cascade: {coefficients.shape[1]} sections is more than 8")
    return out


def biquads_numba(audio: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """The Numba kernel (parallel over rows × channels)."""
    from dafxkit_effects._equaliser_numba import biquad_kernel

    out = np.empty_like(audio)
    biquad_kernel(audio, out, _kernel_coefficients(sos))
    return out
