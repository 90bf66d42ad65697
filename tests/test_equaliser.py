"""The equaliser: cookbook coefficients, C and Numba against SciPy's sosfilt, bounds, responses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings

from dafxkit import load_effect
from dafxkit.errors import ParameterError
from dafxkit_effects.equaliser import (
    PARAM_NAMES,
    Equaliser,
    biquad_coefficients,
    equaliser_c,
    equaliser_numba,
    equaliser_numpy,
    equaliser_sections,
)
from tests.strategies import effect_cases

FX = load_effect("equaliser")
# The C and Numba kernels run the very float64 operations of SciPy's sosfilt, in its order (no
# FMA contraction: gcc under -std=c11, Numba without fastmath), and round to float32 once:
# measured worst case 0, bit for bit. The tolerance still allows a build that contracts
# multiply-adds: float64 rounding differences, even times a narrow band's round-off gain
# (~1e3), stay below 1e-9 and so move an output by at most one float32 step (2 allowed).
RTOL = 2.4e-7
ATOL = 1e-8
# ‖h‖₁ of the cascade stays below this over the parameter range (largest found: 65; see the
# Equaliser docstring).
L1_BOUND = 80.0
# Long enough for every setting's impulse response to decay below 1e-7 of its peak (the
# slowest pole: a +12 dB peaking band at 100 Hz, Q 6, 48 kHz decays by e every ~1800 samples).
IMPULSE_SAMPLES = 1 << 15


def cases():
    return effect_cases(FX.n_params)


def _physical(params):
    values = FX.denormalise(np.atleast_2d(params))
    return [values[name] for name in PARAM_NAMES]


def _sos(params, rate):
    """(batch, 4, 6) sections for a normalised parameter matrix."""
    return equaliser_sections(*_physical(params), rate)


def _impulse_responses(params, rate, n=IMPULSE_SAMPLES):
    """The cascade's impulse response per row, in float64 (SciPy, no float32 rounding)."""
    impulse = np.zeros(n)
    impulse[0] = 1.0
    return np.array([scipy.signal.sosfilt(sos, impulse) for sos in _sos(params, rate)])


def _response_db(params, freqs_hz, rate):
    _, h = scipy.signal.sosfreqz(_sos(params, rate)[0], worN=np.asarray(freqs_hz, float), fs=rate)
    return 20 * np.log10(np.abs(h))


# -- the kernels against the reference ----------------------------------------------------


@pytest.mark.parametrize("backend", ["c", "numba"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_backend_matches_reference(backend, case):
    audio, params, rate = case
    reference = FX(audio, params, rate, backend="numpy")
    np.testing.assert_allclose(
        FX(audio, params, rate, backend=backend), reference, rtol=RTOL, atol=ATOL
    )


@pytest.mark.parametrize("amplitude", [1e-7, 1e-5, 1e-3])
def test_quiet_input_keeps_its_relative_precision(amplitude, rng):
    # An absolute tolerance alone would pass a kernel that quantises fade-outs and tails.
    audio = (amplitude * rng.uniform(-1, 1, (3, 2, 2000))).astype(np.float32)
    physical = _physical(rng.uniform(0, 1, (3, FX.n_params)))
    reference = equaliser_numpy(audio, *physical, 44100)
    for kernel in (equaliser_c, equaliser_numba):
        out = kernel(audio, *physical, 44100)
        for row in range(3):
            error = np.abs(out[row] - reference[row]).max()
            assert error <= 1e-6 * np.abs(reference[row]).max(), (kernel.__name__, row, error)


@pytest.mark.parametrize("backend", ["c", "numba", "numpy"])
def test_rows_and_channels_alone_and_exact_neutral(backend, rng):
    fx = Equaliser()
    # 11 rows × 3 channels: the C kernel's groups of eight rows end part-filled.
    audio = (2.0 * rng.standard_normal((11, 3, 700))).astype(np.float32)
    params = rng.uniform(0, 1, (11, fx.n_params))
    whole = fx(audio, params, 48000, backend=backend)
    assert whole.dtype == np.float32 and whole.shape == audio.shape
    for i in range(len(audio)):
        np.testing.assert_array_equal(
            whole[i : i + 1], fx(audio[i : i + 1], params[i : i + 1], 48000, backend=backend)
        )
    swapped = fx(audio[:, ::-1].copy(), params, 48000, backend=backend)
    np.testing.assert_array_equal(swapped, whole[:, ::-1])  # channels never mix
    identity = fx(audio, fx.neutral_params(11), 48000, backend=backend)
    np.testing.assert_array_equal(identity, audio)  # b = a bit for bit at 0 dB


@pytest.mark.parametrize("kernel", [equaliser_numpy, equaliser_c, equaliser_numba])
def test_kernels_refuse_parameter_arrays_of_the_wrong_length(kernel):
    audio = np.zeros((3, 1, 8), np.float32)
    physical = [np.full(3, p.default) for p in FX.params]
    physical[4] = np.ones(2)
    with pytest.raises(ParameterError, match=r"mid1_q must have shape \(3,\).*got shape \(2,\)"):
        kernel(audio, *physical, 44100)


def test_parameter_ranges():
    fx = Equaliser()
    gain = (-12.0, 12.0, 0.0, "dB", "linear")
    q = (0.3, 6.0, 1.0, "", "log")
    expected = {
        "low_gain_db": gain,
        "low_freq_hz": (30.0, 500.0, 100.0, "Hz", "log"),
        "mid1_gain_db": gain,
        "mid1_freq_hz": (100.0, 2000.0, 400.0, "Hz", "log"),
        "mid1_q": q,
        "mid2_gain_db": gain,
        "mid2_freq_hz": (500.0, 10000.0, 2500.0, "Hz", "log"),
        "mid2_q": q,
        "high_gain_db": gain,
        "high_freq_hz": (2000.0, 16000.0, 8000.0, "Hz", "log"),
    }
    assert fx.param_names == tuple(expected) == PARAM_NAMES
    for p in fx.params:
        assert (p.minimum, p.maximum, p.default, p.unit, p.scale) == expected[p.name]
        assert p.denormalise(0.0) == p.minimum and p.denormalise(1.0) == p.maximum
        assert p.description
    assert fx.name == "equaliser" and fx.backends == ("c", "numba", "numpy")
    assert fx.neutral == {n: 0.0 for n in PARAM_NAMES if n.endswith("_gain_db")}


# -- bounds ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_output_is_finite_and_bounded_by_the_impulse_response_norm(case):
    # y = h * x, so |y[n]| ≤ Σ|h| · max|x| for the exact filter; the float64 recursion's
    # round-off and the float32 rounding of y add a relative 1e-7 at most.
    audio, params, rate = case
    out = FX(audio, params, rate)
    assert np.isfinite(out).all()
    l1 = np.abs(_impulse_responses(params, rate)).sum(axis=1)
    peak_in = np.abs(audio).max(axis=(1, 2)).astype(np.float64)
    assert (np.abs(out).max(axis=(1, 2)) <= l1 * peak_in * (1 + 1e-6)).all()


def test_impulse_response_norm_over_the_range(rng):
    corners = np.array(np.meshgrid(*[[0.0, 1.0]] * FX.n_params)).reshape(FX.n_params, -1).T
    # The largest a numerical search found (48 kHz): stacked +12 dB boosts near 2-3.4 kHz.
    worst = FX.normalise(
        dict(
            low_gain_db=12.0,
            low_freq_hz=30.0,
            mid1_gain_db=12.0,
            mid1_freq_hz=2000.0,
            mid1_q=0.3,
            mid2_gain_db=12.0,
            mid2_freq_hz=3430.0,
            mid2_q=0.3,
            high_gain_db=12.0,
            high_freq_hz=2000.0,
        )
    )
    params = np.concatenate([corners, rng.uniform(0, 1, (100, FX.n_params)), worst])
    for rate in (22050, 48000):
        h = _impulse_responses(params, rate)
        # Decayed: the tail past the measured length cannot add anything that matters.
        assert np.abs(h[:, -100:]).max() < 1e-7 * np.abs(h).max()
        l1 = np.abs(h).sum(axis=1)
        assert l1.max() < L1_BOUND, (rate, l1.max())
    assert l1[-1] > 60.0  # the docstring's 65 is real, not a loose guess


def test_silence_in_silence_out(rng):
    params = rng.uniform(0, 1, (4, FX.n_params))
    for backend in FX.available_backends():
        assert not FX(np.zeros((4, 2, 300), np.float32), params, 44100, backend=backend).any()


# -- the cookbook coefficients on their own -------------------------------------------------


def _cookbook(kind, gain_db, f0, q, fs):
    """Audio EQ Cookbook, transcribed term by term in scalar code: (b0, b1, b2, a0, a1, a2)."""
    big_a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / fs
    cw = math.cos(w0)
    if kind == "peaking":
        alpha = math.sin(w0) / (2 * q)
        b = (1 + alpha * big_a, -2 * cw, 1 - alpha * big_a)
        return (*b, 1 + alpha / big_a, -2 * cw, 1 - alpha / big_a)
    slope = 1.0
    alpha = math.sin(w0) / 2 * math.sqrt((big_a + 1 / big_a) * (1 / slope - 1) + 2)
    t = 2 * math.sqrt(big_a) * alpha
    if kind == "lowshelf":
        return (
            big_a * ((big_a + 1) - (big_a - 1) * cw + t),
            2 * big_a * ((big_a - 1) - (big_a + 1) * cw),
            big_a * ((big_a + 1) - (big_a - 1) * cw - t),
            (big_a + 1) + (big_a - 1) * cw + t,
            -2 * ((big_a - 1) + (big_a + 1) * cw),
            (big_a + 1) + (big_a - 1) * cw - t,
        )
    return (
        big_a * ((big_a + 1) + (big_a - 1) * cw + t),
        -2 * big_a * ((big_a - 1) + (big_a + 1) * cw),
        big_a * ((big_a + 1) + (big_a - 1) * cw - t),
        (big_a + 1) - (big_a - 1) * cw + t,
        2 * ((big_a - 1) - (big_a + 1) * cw),
        (big_a + 1) - (big_a - 1) * cw - t,
    )


@pytest.mark.parametrize("kind", ["lowshelf", "peaking", "highshelf"])
def test_coefficients_match_the_cookbook(kind, rng):
    gains = rng.uniform(-12, 12, 20)
    freqs = rng.uniform(30, 9000, 20)
    qs = rng.uniform(0.3, 6, 20)
    for fs in (22050.0, 44100.0, 48000.0):
        got = biquad_coefficients(kind, gains, freqs, qs, fs)
        for row, g, f, q in zip(got, gains, freqs, qs, strict=True):
            b0, b1, b2, a0, a1, a2 = _cookbook(kind, g, f, q, fs)
            expected = [b0 / a0, b1 / a0, b2 / a0, 1.0, a1 / a0, a2 / a0]
            np.testing.assert_allclose(row, expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize("band", ["mid1", "mid2"])
def test_peaking_band_has_its_gain_at_its_centre(rate, band):
    for gain, freq, q in ((9.0, 1000.0, 2.0), (-9.0, 1800.0, 0.3), (12.0, 600.0, 6.0)):
        params = FX.settings(
            1, **{f"{band}_gain_db": gain, f"{band}_freq_hz": freq, f"{band}_q": q}
        )
        assert _response_db(params, [freq], rate)[0] == pytest.approx(gain, abs=1e-9)


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_shelves_reach_their_gain_at_dc_or_nyquist(rate):
    # The bilinear transform maps DC and Nyquist exactly and the cookbook pre-warps f0, so the
    # analogue shelf's values hold exactly: full gain at one end, 0 dB at the other, and half
    # the gain in dB at f0.
    ends = [0.0, 200.0, rate / 2]
    low = FX.settings(1, low_gain_db=6.0, low_freq_hz=200.0)
    np.testing.assert_allclose(_response_db(low, ends, rate), [6.0, 3.0, 0.0], atol=1e-9)
    ends = [0.0, 4000.0, rate / 2]
    high = FX.settings(1, high_gain_db=6.0, high_freq_hz=4000.0)
    np.testing.assert_allclose(_response_db(high, ends, rate), [0.0, 3.0, 6.0], atol=1e-9)
    cut = FX.settings(1, high_gain_db=-12.0, high_freq_hz=4000.0)
    np.testing.assert_allclose(_response_db(cut, ends, rate), [0.0, -6.0, -12.0], atol=1e-9)


def test_zero_gain_sections_are_the_identity_bit_for_bit():
    for kind in ("lowshelf", "peaking", "highshelf"):
        c = biquad_coefficients(kind, np.zeros(3), np.array([50.0, 1000.0, 9000.0]), 0.7, 44100)
        np.testing.assert_array_equal(c[:, :3], c[:, 3:])


def test_frequencies_are_clamped_below_nyquist():
    # 16 kHz at 22.05 kHz is above Nyquist: it runs at 0.45 · 22050 = 9922.5 Hz instead.
    c = biquad_coefficients("highshelf", np.array([6.0]), np.array([16000.0]), 1.0, 22050)
    np.testing.assert_array_equal(
        c, biquad_coefficients("highshelf", np.array([6.0]), np.array([9922.5]), 1.0, 22050)
    )
    poles = np.roots(c[0, 3:])
    assert np.all(np.abs(poles) < 1.0)
    with pytest.raises(ValueError, match="lowshelf, peaking or highshelf; got 'notch'"):
        biquad_coefficients("notch", np.zeros(1), np.ones(1), 1.0, 44100)


# -- the reference on hand-checkable cases ---------------------------------------------------


def test_reference_matches_a_direct_form_recursion(rng):
    # The textbook difference equation y = b·x − a·y per section, in plain Python: independent
    # of SciPy's sosfilt and of the transposed form the kernels use.
    x = rng.uniform(-1, 1, 300).astype(np.float32)
    params = rng.uniform(0, 1, (1, FX.n_params))
    out = equaliser_numpy(x[None, None], *_physical(params), 44100)[0, 0]
    signal = x.astype(np.float64)
    for b0, b1, b2, _, a1, a2 in _sos(params, 44100)[0]:
        y = np.zeros_like(signal)
        for n in range(len(signal)):
            y[n] = b0 * signal[n]
            if n >= 1:
                y[n] += b1 * signal[n - 1] - a1 * y[n - 1]
            if n >= 2:
                y[n] += b2 * signal[n - 2] - a2 * y[n - 2]
        signal = y
    np.testing.assert_allclose(out, signal, rtol=1e-6, atol=1e-7)


def test_steady_state_sine_gain_matches_the_response(rng):
    rate = 44100
    t = np.arange(rate) / rate
    tail = slice(rate // 2, None)  # transients have decayed by e^-12 or more
    for freq in (60.0, 440.0, 2500.0, 9000.0):
        params = rng.uniform(0, 1, (1, FX.n_params))
        sine = np.sin(2 * np.pi * freq * t).astype(np.float32)[None, None]
        out = FX(sine, params, rate)[0, 0, tail].astype(np.float64)
        # Amplitude of the output at `freq`, by least squares on sin and cos.
        basis = np.stack([np.sin(2 * np.pi * freq * t[tail]), np.cos(2 * np.pi * freq * t[tail])])
        coef, *_ = np.linalg.lstsq(basis.T, out, rcond=None)
        gain_db = 20 * np.log10(np.hypot(*coef))
        assert gain_db == pytest.approx(_response_db(params, [freq], rate)[0], abs=1e-3), freq


def test_band_gain_boosts_its_own_frequency_only():
    rate = 44100
    t = np.arange(rate // 2) / rate
    tones = {
        freq: np.sin(2 * np.pi * freq * t).astype(np.float32)[None, None]
        for freq in (50.0, 1000.0, 12000.0)
    }
    gains = np.array([-12.0, -6.0, 0.0, 6.0, 12.0])
    params = FX.normalise(
        {
            **{p.name: p.default for p in FX.params},
            "mid1_gain_db": gains,
            "mid1_freq_hz": 1000.0,
            "mid1_q": 2.0,
        }
    )
    levels = {}
    for freq, tone in tones.items():
        out = FX(np.repeat(tone, len(gains), axis=0), params, rate)[:, 0, rate // 4 :]
        levels[freq] = 20 * np.log10(np.sqrt(2) * out.std(axis=-1))
    # More mid1 gain: louder at its centre, by the gain in dB ...
    np.testing.assert_allclose(levels[1000.0], gains, atol=0.05)
    # ... and hardly any change two octaves and more away.
    assert np.ptp(levels[50.0]) < 0.5 and np.ptp(levels[12000.0]) < 0.5
