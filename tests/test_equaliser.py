"""The equaliser: cookbook coefficients, C and Numba against SciPy's sosfilt, bounds, responses."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dafxkit import load_effect
from dafxkit_effects.equaliser import biquad_coefficients, equaliser_sections
from tests.strategies import SAMPLE_RATES, audio_batches, param_matrices

FX = load_effect("equaliser")
# Every backend runs the same double-precision recursion in the same order (SciPy's sosfilt
# included) and rounds to float32 once: they agree to one float32 step of outputs up to ~100.
TOLERANCE = 1e-5
# A bound on ‖h‖₁ of the cascade over the parameter range: the largest measured in
# test_l1_norm_bound (all 1024 corners and 200 random settings, at 22.05 and 48 kHz) is 46.6.
L1_BOUND = 64.0


@st.composite
def cases(draw):
    audio = draw(audio_batches())
    return audio, draw(param_matrices(audio.shape[0], FX.n_params)), draw(SAMPLE_RATES)


@pytest.mark.parametrize("backend", ["c", "numba"])
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_backend_matches_reference(backend, case):
    audio, params, rate = case
    reference = FX(audio, params, rate, backend="numpy")
    np.testing.assert_allclose(FX(audio, params, rate, backend=backend), reference, atol=TOLERANCE)


@settings(max_examples=50, deadline=None)
@given(case=cases())
def test_output_is_finite_and_bounded(case):
    audio, params, rate = case
    out = FX(audio, params, rate)
    assert np.isfinite(out).all()
    assert np.abs(out).max() <= L1_BOUND * np.abs(audio).max() + 1e-6


def _impulse_response(params, rate, n=16384):
    impulse = np.zeros((len(params), 1, n), np.float32)
    impulse[:, 0, 0] = 1.0
    return FX(impulse, params, rate, backend="numpy")[:, 0].astype(np.float64)


def test_l1_norm_bound(rng):
    corners = np.array(np.meshgrid(*[[0.0, 1.0]] * FX.n_params)).reshape(FX.n_params, -1).T
    params = np.concatenate([corners, rng.uniform(0, 1, (200, FX.n_params))])
    worst = max(
        np.abs(_impulse_response(params, rate)).sum(axis=1).max() for rate in (22050, 48000)
    )
    assert 1.0 < worst < L1_BOUND, worst


def _response_db(params, freqs_hz, rate):
    sos = equaliser_sections(FX.denormalise(params), rate)[0]
    _, h = scipy.signal.sosfreqz(sos, worN=np.asarray(freqs_hz, float), fs=rate)
    return 20 * np.log10(np.abs(h))


def test_cookbook_responses():
    rate = 48000
    peak = FX.settings(1, mid1_gain_db=9.0, mid1_freq_hz=1000.0, mid1_q=2.0)
    np.testing.assert_allclose(_response_db(peak, [1000.0], rate), [9.0], atol=1e-9)
    low = FX.settings(1, low_gain_db=6.0, low_freq_hz=200.0)
    dc, top = _response_db(low, [1.0, 23000.0], rate)
    assert abs(dc - 6.0) < 0.01 and abs(top) < 0.01
    np.testing.assert_allclose(_response_db(low, [200.0], rate), [3.0], atol=0.05)  # half gain
    high = FX.settings(1, high_gain_db=-6.0, high_freq_hz=4000.0)
    dc, top = _response_db(high, [1.0, 23999.0], rate)
    assert abs(dc) < 0.01 and abs(top + 6.0) < 0.05


def test_shelves_and_peaks_reduce_to_identity_at_zero_gain():
    for kind in ("lowshelf", "peaking", "highshelf"):
        c = biquad_coefficients(kind, np.zeros(3), np.array([50.0, 1000.0, 9000.0]), 0.7, 44100)
        np.testing.assert_allclose(c[:, :3], c[:, 3:], rtol=1e-15)


def test_frequencies_above_nyquist_are_clamped():
    c = biquad_coefficients("highshelf", np.array([6.0]), np.array([16000.0]), 1.0, 22050)
    assert np.isfinite(c).all()
    np.testing.assert_array_equal(
        c, biquad_coefficients("highshelf", np.array([6.0]), np.array([0.45 * 22050]), 1.0, 22050)
    )


def test_steady_state_sine_gain_matches_the_response():
    rate, freq = 44100, 2500.0
    params = FX.settings(1, mid2_gain_db=-9.0, mid2_freq_hz=freq, high_gain_db=4.0)
    t = np.arange(rate) / rate
    sine = np.sin(2 * np.pi * freq * t).astype(np.float32)[None, None]
    out = FX(sine, params, rate)[0, 0, rate // 2 :]
    gain_db = 20 * np.log10(np.sqrt(2) * out.std())
    np.testing.assert_allclose(gain_db, _response_db(params, [freq], rate)[0], atol=0.05)


def test_silence_in_silence_out(rng):
    params = rng.uniform(0, 1, (4, FX.n_params))
    for backend in FX.available_backends():
        assert not FX(np.zeros((4, 2, 300), np.float32), params, 44100, backend=backend).any()
