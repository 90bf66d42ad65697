"""The distortion and its curves: C and Numba kernels against the NumPy reference, bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from dafxkit import load_effect
from dafxkit.errors import ParameterError
from dafxkit_effects.distortion import (
    Distortion,
    distortion_c,
    distortion_numba,
    distortion_numpy,
    shape_numpy,
)
from tests.strategies import effect_cases

FX = load_effect("distortion")
VARIANTS = ["distortion", "softclip", "hardclip", "tube"]
# Peak of |shape| (the tube curve reaches 1 + tanh(0.25) and its DC blocker at most doubles it).
SHAPE_PEAK = {"distortion": 1.0, "softclip": 1.0, "hardclip": 1.0, "tube": 2.5}
# The C kernel shapes in float32 (its tanh is within 9e-8 of the exact one) and filters in
# float64; the reference is float64 throughout. Outputs reach |y| < 16 (|x| <= 4 at +12 dB),
# where one float32 step is 9.5e-7: measured worst case 1 step (Numba: 0), so 2 steps allowed.
TOLERANCE = 2e-6


def cases():
    return effect_cases(FX.n_params)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("backend", ["c", "numba"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_backend_matches_reference(backend, name, case):
    fx = load_effect(name)
    audio, params, rate = case
    reference = fx(audio, params, rate, backend="numpy")
    np.testing.assert_allclose(
        fx(audio, params, rate, backend=backend), reference, atol=TOLERANCE, rtol=0
    )


# Not the tube curve: its bias puts the float32 argument near 0.25, so the C kernel resolves it
# to 3e-8 absolute (about -150 dBFS), not relative to the input.
@pytest.mark.parametrize("mode", ["tanh", "soft", "hard"])
@pytest.mark.parametrize("amplitude", [1e-7, 1e-5, 1e-3])
def test_quiet_input_keeps_its_relative_precision(mode, amplitude, rng):
    # An absolute tolerance alone would pass a kernel that quantises fade-outs and tails.
    audio = (amplitude * rng.uniform(-1, 1, (2, 1, 3000))).astype(np.float32)
    physical = [np.array([0.0, 40.0]), np.array([18000.0] * 2), np.ones(2), np.zeros(2)]
    reference = distortion_numpy(audio, *physical, 44100, mode=mode)
    for kernel in (distortion_c, distortion_numba):
        out = kernel(audio, *physical, 44100, mode=mode)
        for row in range(2):
            error = np.abs(out[row] - reference[row]).max()
            assert error <= 1e-5 * np.abs(reference[row]).max(), (kernel.__name__, row, error)


@pytest.mark.parametrize("backend", ["c", "numba", "numpy"])
def test_public_call_rows_alone_and_neutral(backend, rng):
    fx = Distortion()
    audio = (2.0 * rng.standard_normal((4, 2, 700))).astype(np.float32)
    params = rng.uniform(0, 1, (4, fx.n_params))
    whole = fx(audio, params, 48000, backend=backend)
    assert whole.dtype == np.float32 and whole.shape == audio.shape
    for i in range(len(audio)):
        np.testing.assert_array_equal(
            whole[i : i + 1], fx(audio[i : i + 1], params[i : i + 1], 48000, backend=backend)
        )
    identity = fx(audio, fx.neutral_params(4), 48000, backend=backend)
    np.testing.assert_array_equal(identity, audio)


def test_parameter_ranges():
    fx = Distortion()
    expected = {
        "drive_db": (0.0, 40.0, 12.0, "dB", "linear"),
        "tone_hz": (200.0, 18000.0, 6000.0, "Hz", "log"),
        "mix": (0.0, 1.0, 1.0, "", "linear"),
        "output_db": (-24.0, 12.0, 0.0, "dB", "linear"),
    }
    assert fx.param_names == tuple(expected)
    for p in fx.params:
        assert (p.minimum, p.maximum, p.default, p.unit, p.scale) == expected[p.name]
        assert p.denormalise(0.0) == p.minimum and p.denormalise(1.0) == p.maximum
        assert p.description
    defaults = fx.denormalise(fx.default_params())
    for p in fx.params:
        np.testing.assert_allclose(defaults[p.name], [p.default], rtol=1e-12)
    assert fx.name == "distortion" and fx.backends == ("c", "numba", "numpy")


@settings(max_examples=80, deadline=None)
@given(case=cases())
def test_output_is_finite_and_bounded(case):
    audio, params, rate = case
    out = FX(audio, params, rate)
    level = 10.0 ** (FX.denormalise(params)["output_db"] / 20.0)
    peak = np.maximum(np.abs(audio).max(axis=(1, 2)), 1.0)
    assert np.isfinite(out).all()
    assert (np.abs(out).max(axis=(1, 2)) <= level * peak * (1 + 1e-5) + 1e-6).all()


@pytest.mark.parametrize("name", VARIANTS)
def test_silence_in_silence_out(name, rng):
    fx = load_effect(name)
    params = rng.uniform(0, 1, (6, fx.n_params))
    for backend in fx.available_backends():
        out = fx(np.zeros((6, 2, 500), np.float32), params, 44100, backend=backend)
        assert not out.any()


def test_curves():
    u = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(shape_numpy(u, "hard"), np.clip(u, -1, 1))
    soft = shape_numpy(u, "soft")
    assert soft[0] == -1.0 and soft[-1] == 1.0 and np.all(np.diff(soft) >= 0)
    np.testing.assert_allclose(shape_numpy(np.array([0.5]), "soft"), 1.5 * (0.5 - 0.125 / 3))
    tube = shape_numpy(u, "tube")
    assert tube[6] == 0.0 and tube[-1] < -tube[0]  # asymmetric: clips earlier on the positive side


def test_tube_adds_even_harmonics_and_no_dc():
    t = np.arange(44100) / 44100
    sine = (0.5 * np.sin(2 * np.pi * 441 * t)).astype(np.float32)[None, None]
    spectra = {}
    for name in ("distortion", "tube"):
        fx = load_effect(name)
        out = fx(sine, fx.settings(1, drive_db=20.0, tone_hz=18000.0), 44100)[0, 0, 22100:]
        spectra[name] = np.abs(np.fft.rfft(out))
        assert abs(out.mean()) < 1e-3  # the DC blocker removes the asymmetric curve's offset
    second = 440  # bin of 882 Hz in the last 22000 samples (220 whole periods)
    assert spectra["tube"][second] > 100 * spectra["distortion"][second]


def test_unknown_mode_is_named():
    with pytest.raises(
        ParameterError, match="mode must be one of tanh, soft, hard, tube; got 'fuzz'"
    ):
        Distortion("fuzz")
    assert load_effect("distortion", mode="hard").mode == "hard"


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


@pytest.mark.parametrize("kernel", [distortion_c, distortion_numba])
def test_kernels_refuse_parameter_arrays_of_the_wrong_length(kernel):
    audio = np.zeros((3, 1, 8), np.float32)
    ones = np.ones(3)
    with pytest.raises(ParameterError, match=r"tone_hz must have shape \(3,\).*got shape \(2,\)"):
        kernel(audio, ones, np.full(2, 1000.0), ones, ones, 44100)
