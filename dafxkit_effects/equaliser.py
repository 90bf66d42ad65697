"""Equaliser: low shelf, two peaking bands and a high shelf (Audio EQ Cookbook biquads)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, Param, native, per_clip

#: Corner and centre frequencies are clamped to this fraction of the sample rate.
MAX_FREQ_FRACTION = 0.45
#: ``√2 / 2``: the shelves' ``alpha = sin(w0)/2 · √((A + 1/A)(1/S − 1) + 2)`` at slope S = 1.
SHELF_ALPHA_FACTOR = np.sqrt(2.0) / 2.0


def _gain(band: str) -> Param:
    return Param(f"{band}_gain_db", -12.0, 12.0, 0.0, unit="dB", description=f"{band} band gain")


def _freq(band: str, low: float, high: float, default: float, what: str) -> Param:
    return Param(f"{band}_freq_hz", low, high, default, unit="Hz", scale="log", description=what)


def _q(band: str) -> Param:
    return Param(f"{band}_q", 0.3, 6.0, 1.0, scale="log", description=f"{band} band Q (sharpness)")


class Equaliser(Effect):
    """Four biquads in series per clip and channel: low shelf, peaking, peaking, high shelf.

    Coefficients follow R. Bristow-Johnson's Audio EQ Cookbook, recomputed for every batch row
    (`biquad_coefficients`), then each section runs in transposed direct form II in float64,
    every channel on its own and from rest::

        A      = 10 ** (gain_db / 40)
        w0     = 2π · min(f0, 0.45 · sample_rate) / sample_rate
        alpha  = sin(w0) / (2 Q)          peaking bands
        alpha  = sin(w0) / 2 · √2         shelves (slope S = 1, the steepest without overshoot)
        peaking:     b = (1 + αA, −2 cos w0, 1 − αA),  a = (1 + α/A, −2 cos w0, 1 − α/A)
        low shelf:   b = A·((A+1) − (A−1)c + 2√A α,  2((A−1) − (A+1)c),  (A+1) − (A−1)c − 2√A α)
                     a = (A+1) + (A−1)c + 2√A α,  −2((A−1) + (A+1)c),  (A+1) + (A−1)c − 2√A α
        high shelf:  b = A·((A+1) + (A−1)c + 2√A α,  −2((A−1) + (A+1)c),  (A+1) + (A−1)c − 2√A α)
                     a = (A+1) − (A−1)c + 2√A α,  2((A−1) − (A+1)c),  (A+1) − (A−1)c − 2√A α
        (c = cos w0; every section divided by its a0)
        out    = b0·v + z1;   z1 = b1·v − a1·out + z2;   z2 = b2·v − a2·out

    So a peaking band has gain ``gain_db`` at ``f0``; a low shelf has ``gain_db`` at DC, 0 dB at
    Nyquist and half the gain (in dB) at ``f0``; a high shelf the reverse.

    Edge cases: ``f0`` is clamped to ``0.45 · sample_rate`` because at 22.05 kHz the top of the
    high shelf's range (16 kHz) lies above Nyquist, where ``w0 ≥ π`` would put the poles on or
    outside the unit circle; below the clamp every section is a bilinear transform of a stable
    analogue prototype, so stable. All gains at 0 dB make every section's numerator equal its
    denominator, bit for bit: the identity, exactly. Silence in gives silence out.

    Output bound: ``|y| ≤ ‖h‖₁ · max|x|`` with ``h`` the cascade's impulse response (the sum of
    its absolute values). Over the parameter range ‖h‖₁ stays below 80: the largest a numerical
    search found is 65 (48 kHz, every gain +12 dB, low shelf at 30 Hz, both peaking bands at
    Q 0.3 near 2 and 3.4 kHz over a 2 kHz high shelf: three 4x boosts stacked, 36 dB). The
    product of the sections' own 1-norms (at most about 4.3, 5.3, 5.3 and 6.7) bounds it by 800.
    """

    name = "equaliser"
    description = "low shelf, two peaking bands, high shelf (Audio EQ Cookbook biquads)"
    params = (
        _gain("low"),
        _freq("low", 30.0, 500.0, 100.0, "low shelf corner frequency"),
        _gain("mid1"),
        _freq("mid1", 100.0, 2000.0, 400.0, "first peaking band centre frequency"),
        _q("mid1"),
        _gain("mid2"),
        _freq("mid2", 500.0, 10000.0, 2500.0, "second peaking band centre frequency"),
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
        args = [values[name] for name in self.param_names]
        kernel = {"c": equaliser_c, "numba": equaliser_numba}.get(backend, equaliser_numpy)
        return kernel(audio, *args, sample_rate)

    def process_dot(self, audio, values, grad, sample_rate, backend, *, repeat=1, workspace=None):
        if backend != "c":
            return super().process_dot(
                audio, values, grad, sample_rate, backend, repeat=repeat, workspace=workspace
            )
        return equaliser_c_dot(
            audio, grad, repeat, *(values[name] for name in self.param_names), sample_rate
        )


#: The parameter names in the order the kernels and `equaliser_sections` take them.
PARAM_NAMES = tuple(p.name for p in Equaliser.params)


def biquad_coefficients(
    kind: str,
    gain_db: np.ndarray,
    freq_hz: np.ndarray,
    q: np.ndarray | float,
    sample_rate: float,
) -> np.ndarray:
    """Audio EQ Cookbook biquads, one per row, normalised by a0.

    Parameters
    ----------
    kind : {"lowshelf", "peaking", "highshelf"}
        The cookbook filter type.
    gain_db, freq_hz : np.ndarray
        ``(batch,)`` gains in dB and corner/centre frequencies in Hz; frequencies above
        ``0.45 · sample_rate`` are clamped to it.
    q : np.ndarray or float
        The peaking bandwidth, ``(batch,)`` or a scalar; shelves use slope S = 1 and ignore it.
    sample_rate : float
        In Hz.

    Returns
    -------
    np.ndarray
        float64 ``(batch, 6)``: ``b0, b1, b2, 1, a1, a2`` (a row of SciPy's ``sos`` layout).

    Examples
    --------
    >>> biquad_coefficients("peaking", np.array([0.0]), np.array([1e3]), 1.0, 48e3)[0, :3]
    array([ 1.        , -1.86140844,  0.87747046])
    """
    a = np.power(10.0, np.asarray(gain_db, dtype=np.float64) / 40.0)
    f0 = np.minimum(np.asarray(freq_hz, dtype=np.float64), MAX_FREQ_FRACTION * sample_rate)
    w0 = 2.0 * np.pi * f0 / sample_rate
    cos_w0, sin_w0 = np.cos(w0), np.sin(w0)
    if kind == "peaking":
        alpha = sin_w0 / (2.0 * np.asarray(q, dtype=np.float64))
        b = (1.0 + alpha * a, -2.0 * cos_w0, 1.0 - alpha * a)
        den = (1.0 + alpha / a, -2.0 * cos_w0, 1.0 - alpha / a)
    elif kind in ("lowshelf", "highshelf"):
        root_alpha = 2.0 * np.sqrt(a) * (sin_w0 * SHELF_ALPHA_FACTOR)  # 2·√A·α
        up, down = a + 1.0, a - 1.0
        if kind == "lowshelf":
            b = (
                a * (up - down * cos_w0 + root_alpha),
                2.0 * a * (down - up * cos_w0),
                a * (up - down * cos_w0 - root_alpha),
            )
            den = (
                up + down * cos_w0 + root_alpha,
                -2.0 * (down + up * cos_w0),
                up + down * cos_w0 - root_alpha,
            )
        else:
            b = (
                a * (up + down * cos_w0 + root_alpha),
                -2.0 * a * (down + up * cos_w0),
                a * (up + down * cos_w0 - root_alpha),
            )
            den = (
                up - down * cos_w0 + root_alpha,
                2.0 * (down - up * cos_w0),
                up - down * cos_w0 - root_alpha,
            )
    else:
        raise ValueError(f"biquad kind must be lowshelf, peaking or highshelf; got {kind!r}")
    a0 = den[0]
    one = np.ones_like(a0)
    return np.stack([b[0] / a0, b[1] / a0, b[2] / a0, one, den[1] / a0, den[2] / a0], axis=-1)


def equaliser_sections(
    low_gain_db,
    low_freq_hz,
    mid1_gain_db,
    mid1_freq_hz,
    mid1_q,
    mid2_gain_db,
    mid2_freq_hz,
    mid2_q,
    high_gain_db,
    high_freq_hz,
    sample_rate,
) -> np.ndarray:
    """The four bands' second-order sections per clip, in processing order.

    Parameters are physical values in `Equaliser.params` order, ``(batch,)`` arrays or scalars
    (broadcast together), then the sample rate in Hz. Returns float64 ``(batch, 4, 6)`` in
    SciPy's ``sos`` layout (``b0, b1, b2, 1, a1, a2``): the low shelf, the two peaking bands,
    the high shelf.
    """
    return np.stack(
        [
            biquad_coefficients("lowshelf", low_gain_db, low_freq_hz, 1.0, sample_rate),
            biquad_coefficients("peaking", mid1_gain_db, mid1_freq_hz, mid1_q, sample_rate),
            biquad_coefficients("peaking", mid2_gain_db, mid2_freq_hz, mid2_q, sample_rate),
            biquad_coefficients("highshelf", high_gain_db, high_freq_hz, 1.0, sample_rate),
        ],
        axis=-2,
    )


def _sections(batch: int, sample_rate: float, *values: np.ndarray) -> np.ndarray:
    # One (batch,) column per parameter, checked (a ParameterError names a wrong-length one).
    columns = per_clip(batch, **dict(zip(PARAM_NAMES, values, strict=True)))
    return equaliser_sections(*columns, sample_rate)


def equaliser_numpy(
    audio,
    low_gain_db,
    low_freq_hz,
    mid1_gain_db,
    mid1_freq_hz,
    mid1_q,
    mid2_gain_db,
    mid2_freq_hz,
    mid2_q,
    high_gain_db,
    high_freq_hz,
    sample_rate,
):
    """The reference: SciPy's ``sosfilt`` in float64, one batch row (all channels) per call.

    Parameters
    ----------
    audio : np.ndarray
        float32 ``(batch, channels, samples)``.
    low_gain_db, low_freq_hz, mid1_gain_db, ..., high_freq_hz : np.ndarray
        float64 ``(batch,)`` physical values, one per clip, in `Equaliser.params` order.
    sample_rate : float
        In Hz.

    Returns
    -------
    np.ndarray
        float32 ``(batch, channels, samples)``; every section starts from rest.
    """
    import scipy.signal  # half a second to import, and only the reference needs it

    sos = _sections(
        audio.shape[0],
        sample_rate,
        low_gain_db,
        low_freq_hz,
        mid1_gain_db,
        mid1_freq_hz,
        mid1_q,
        mid2_gain_db,
        mid2_freq_hz,
        mid2_q,
        high_gain_db,
        high_freq_hz,
    )
    out = np.empty(audio.shape, dtype=np.float32)
    for b in range(audio.shape[0]):
        out[b] = scipy.signal.sosfilt(sos[b], audio[b].astype(np.float64), axis=-1)
    return out


def _kernel_coefficients(sos: np.ndarray) -> np.ndarray:
    # The kernels take b0, b1, b2, a1, a2 per section (a0 = 1 is implied): (batch, 4, 5).
    return np.ascontiguousarray(sos[..., [0, 1, 2, 4, 5]], dtype=np.float64)


def equaliser_c(
    audio,
    low_gain_db,
    low_freq_hz,
    mid1_gain_db,
    mid1_freq_hz,
    mid1_q,
    mid2_gain_db,
    mid2_freq_hz,
    mid2_q,
    high_gain_db,
    high_freq_hz,
    sample_rate,
):
    """The C kernel (OpenMP over groups of eight batch-row × channel rows filtered together);
    same arguments as `equaliser_numpy`. Coefficients come from `equaliser_sections`.

    ``audio`` must already be C-contiguous float32 (a `NativeError` says so otherwise, and when
    the C library is unavailable).
    """
    sos = _sections(
        audio.shape[0],
        sample_rate,
        low_gain_db,
        low_freq_hz,
        mid1_gain_db,
        mid1_freq_hz,
        mid1_q,
        mid2_gain_db,
        mid2_freq_hz,
        mid2_q,
        high_gain_db,
        high_freq_hz,
    )
    coefficients = _kernel_coefficients(sos)
    return native.run_kernel("equaliser", audio, (coefficients,))[0]


def equaliser_c_dot(audio, grad, repeat, *values_and_rate):
    """The C kernel folded into ``⟨grad[r // repeat], y_r⟩`` per parameter row ``r`` (see
    `dafxkit.Effect.process_dot`); then the parameters (as for `equaliser_c`) with ``repeat``
    rows per clip, and the sample rate."""
    *values, sample_rate = values_and_rate
    sos = _sections(audio.shape[0] * repeat, sample_rate, *values)
    coefficients = _kernel_coefficients(sos)
    return native.run_kernel_dot("equaliser", audio, grad, repeat, (coefficients,))[0]


def equaliser_numba(
    audio,
    low_gain_db,
    low_freq_hz,
    mid1_gain_db,
    mid1_freq_hz,
    mid1_q,
    mid2_gain_db,
    mid2_freq_hz,
    mid2_q,
    high_gain_db,
    high_freq_hz,
    sample_rate,
):
    """The Numba kernel (parallel over batch rows × channels); same arguments as
    `equaliser_numpy`.

    Compiled on first use (cached on disk afterwards); importing this module does not load Numba.
    """
    from dafxkit_effects._equaliser_numba import equaliser_kernel

    sos = _sections(
        audio.shape[0],
        sample_rate,
        low_gain_db,
        low_freq_hz,
        mid1_gain_db,
        mid1_freq_hz,
        mid1_q,
        mid2_gain_db,
        mid2_freq_hz,
        mid2_q,
        high_gain_db,
        high_freq_hz,
    )
    coefficients = _kernel_coefficients(sos)
    out = np.empty_like(audio)
    equaliser_kernel(audio, out, coefficients)
    return out
