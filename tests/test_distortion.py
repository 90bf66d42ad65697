"""The distortion: C and Numba kernels against the NumPy reference, bounds, identities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dafxkit import load_effect
from dafxkit_effects.distortion import distortion_numpy
from tests.strategies import SAMPLE_RATES, audio_batches, param_matrices

FX = load_effect("distortion")
# The C kernel's tanh is a float32 approximation (abs. error < 3e-7) and the reference runs in
# float64; 1e-5 leaves room for float32 rounding of outputs up to |y| ~ 16.
TOLERANCE = 1e-5


@st.composite
def cases(draw):
    audio = draw(audio_batches())
    params = draw(param_matrices(audio.shape[0], FX.n_params))
    return audio, params, draw(SAMPLE_RATES)


@pytest.mark.parametrize("backend", ["c", "numba"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_backend_matches_reference(backend, case):
    audio, params, rate = case
    reference = FX(audio, params, rate, backend="numpy")
    np.testing.assert_allclose(
        FX(audio, params, rate, backend=backend), reference, atol=TOLERANCE, rtol=0
    )


@settings(max_examples=60, deadline=None)
@given(case=cases())
def test_output_is_finite_and_bounded(case):
    audio, params, rate = case
    out = FX(audio, params, rate)
    level = 10.0 ** (FX.denormalise(params)["output_db"] / 20.0)
    peak = np.maximum(np.abs(audio).max(axis=(1, 2)), 1.0)
    assert np.isfinite(out).all()
    assert (np.abs(out).max(axis=(1, 2)) <= level * peak * (1 + 1e-5) + 1e-6).all()


def test_silence_in_silence_out(rng):
    params = rng.uniform(0, 1, (6, FX.n_params))
    for backend in FX.available_backends():
        out = FX(np.zeros((6, 2, 500), np.float32), params, 44100, backend=backend)
        assert not out.any()


def test_reference_matches_the_documented_formula():
    x = np.array([[[0.5, -0.25, 1.0]]], np.float32)
    values = {
        k: np.array([v])
        for k, v in dict(drive_db=20.0, tone_hz=1000.0, mix=0.75, output_db=-6.0).items()
    }
    out = distortion_numpy(
        x, values["drive_db"], values["tone_hz"], values["mix"], values["output_db"], 8000.0
    )
    a = 1 - np.exp(-2 * np.pi * 1000 / 8000)
    lp, expected = 0.0, []
    for xn in x[0, 0].astype(np.float64):
        lp += a * (np.tanh(10 * xn) - lp)
        expected.append(10 ** (-6 / 20) * (0.25 * xn + 0.75 * lp))
    np.testing.assert_allclose(out[0, 0], expected, rtol=1e-6)


def test_more_drive_means_more_distortion(rng):
    t = np.arange(4410) / 44100
    sine = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None, None]
    audio = np.repeat(sine, 3, axis=0)
    params = np.stack([FX.settings(drive_db=d, tone_hz=18000.0) for d in (0.0, 20.0, 40.0)])
    out = FX(audio, params, 44100)
    spectra = np.abs(np.fft.rfft(out[:, 0], axis=-1))
    harmonic_energy = spectra[:, 400:].sum(axis=-1) / spectra.sum(axis=-1)  # above ~4 kHz
    assert harmonic_energy[0] < harmonic_energy[1] < harmonic_energy[2]
