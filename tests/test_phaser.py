"""The phaser: C and Numba kernels against the NumPy reference, bounds, notches."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings

from dafxkit import load_effect
from dafxkit_effects.phaser import phaser_numpy, stage_counts
from tests.strategies import effect_cases

FX = load_effect("phaser")
# The kernels run the reference's double-precision operations in the same order with the same
# libm calls (they agree bit for bit here). The tolerance allows one float32 rounding step of
# the output, should a compiler or libm round a coefficient differently: 1e-6 of the peak.
RELATIVE_TOLERANCE = 1e-6
# Peak gain of the feedback loop, G in the class docstring: the largest 1-norm of its impulse
# response over the parameter ranges is 46 (static coefficient; 12 stages, feedback 0.9), and
# the largest gain measured with the LFO sweeping was 16. 100 leaves a factor of two over both.
LOOP_GAIN_BOUND = 100.0


def cases(max_samples=1000):
    # The reference loops over samples in Python (~40 µs each): short clips keep this fast.
    return effect_cases(FX.n_params, max_samples=max_samples)


@pytest.mark.parametrize("backend", ["c", "numba"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_backend_matches_reference(backend, case):
    audio, params, rate = case
    reference = FX(audio, params, rate, backend="numpy")
    atol = RELATIVE_TOLERANCE * max(1.0, float(np.abs(reference).max()))
    np.testing.assert_allclose(
        FX(audio, params, rate, backend=backend), reference, atol=atol, rtol=0
    )


@settings(max_examples=40, deadline=None)
@given(case=cases(max_samples=2000))
def test_output_is_finite_and_bounded(case):
    audio, params, rate = case
    out = FX(audio, params, rate)
    mix = FX.denormalise(params)["mix"]
    bound = ((1.0 - mix) + mix * LOOP_GAIN_BOUND) * np.abs(audio).max(axis=(1, 2))
    assert np.isfinite(out).all()
    assert (np.abs(out).max(axis=(1, 2)) <= bound * (1 + 1e-6) + 1e-6).all()


def test_silence_in_silence_out(rng):
    params = rng.uniform(0, 1, (6, FX.n_params))
    for backend in FX.available_backends():
        out = FX(np.zeros((6, 2, 300), np.float32), params, 44100, backend=backend)
        assert not out.any()


def test_stage_counts():
    stages = np.array([2.0, 2.9, 3.0, 5.0, 5.1, 7.0, 11.0, 12.0])
    # round half to even: 3/2 = 1.5 -> 2, 5/2 = 2.5 -> 2, 7/2 = 3.5 -> 4, 11/2 = 5.5 -> 6.
    np.testing.assert_array_equal(stage_counts(stages), [2, 2, 4, 4, 6, 8, 12, 12])


def test_stages_is_piecewise_constant(rng):
    audio = np.repeat(rng.uniform(-1, 1, (1, 1, 500)).astype(np.float32), 3, axis=0)
    params = np.stack([FX.settings(stages=s) for s in (3.2, 4.8, 5.2)])  # 4, 4 and 6 stages
    out = FX(audio, params, 44100)
    np.testing.assert_array_equal(out[0], out[1])
    assert np.abs(out[2] - out[1]).max() > 1e-3


@pytest.mark.parametrize("n_stages", [2, 4])
@pytest.mark.parametrize("feedback", [0.0, 0.7])
def test_static_reference_matches_its_transfer_function(n_stages, feedback, rng):
    # With depth 0 the filter is time-invariant:
    #   H(z) = (1 − mix) + mix · N / (D − feedback · z⁻¹ · N),  N = (a + z⁻¹)^S, D = (1 + a z⁻¹)^S
    rate, centre, mix = 44100.0, 800.0, 0.7
    x = rng.uniform(-1, 1, (1, 1, 1500)).astype(np.float32)
    t = math.tan(math.pi * centre / rate)
    a = (t - 1) / (t + 1)
    num = np.poly1d([1.0])
    den = np.poly1d([1.0])
    for _ in range(n_stages):  # polynomials in z⁻¹, highest power first
        num *= np.poly1d([1.0, a])
        den *= np.poly1d([a, 1.0])
    loop = den - feedback * num * np.poly1d([1.0, 0.0])
    total = (1 - mix) * loop + mix * num
    # poly1d holds highest power of z⁻¹ first; lfilter wants ascending powers.
    b = total.coeffs[::-1]
    d = np.pad(loop.coeffs, (len(b) - len(loop.coeffs), 0))[::-1]
    expected = scipy.signal.lfilter(b, d, x[0, 0].astype(np.float64))
    one = np.ones(1)
    out = phaser_numpy(
        x, 0.5 * one, 0.0 * one, centre * one, feedback * one, n_stages * one, mix * one, rate
    )
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-6, rtol=0)


def test_reference_matches_the_documented_formula():
    # A direct transcription of the class docstring, one sample at a time, with a fast LFO,
    # two channels (the second a quarter period ahead) and a sweep that hits the upper clamp.
    rate, lfo_hz, depth, centre, feedback, mix = 8000.0, 40.0, 1.0, 2000.0, 0.5, 0.8
    x = np.random.default_rng(7).uniform(-1, 1, (1, 2, 200)).astype(np.float32)
    one = np.ones(1)
    out = phaser_numpy(
        x, lfo_hz * one, depth * one, centre * one, feedback * one, 4 * one, mix * one, rate
    )
    for c in range(2):
        state, p, a = [0.0] * 4, 0.0, 0.0
        for n, xn in enumerate(x[0, c].astype(np.float64)):
            if n % 16 == 0:
                lfo = math.sin(2 * math.pi * lfo_hz * n / rate + c * math.pi / 2)
                f = min(max(centre * 2 ** (2 * depth * lfo), 20.0), 0.45 * rate)
                t = math.tan(math.pi * f / rate)
                a = (t - 1) / (t + 1)
            u = xn + feedback * p
            for k in range(4):
                stage_out = a * u + state[k]
                state[k] = u - a * stage_out
                u = stage_out
            p = u
            assert out[0, c, n] == pytest.approx((1 - mix) * xn + mix * p, abs=1e-6)


def _notch_hz(centre, n_stages, rate):
    # Each all-pass has phase −2·atan(tan(πf/fs) / tan(πf_c/fs)); the chain reaches −180° where
    # each stage gives −180°/S.
    t = math.tan(math.pi * centre / rate) * math.tan(math.pi / (2 * n_stages))
    return rate * math.atan(t) / math.pi


@pytest.mark.parametrize("n_stages", [2, 4])
@pytest.mark.parametrize("rate", [22050, 48000])
def test_static_phaser_notches_where_the_chain_phase_is_minus_180(n_stages, rate):
    centre = 800.0
    notch = _notch_hz(centre, n_stages, rate)
    if n_stages == 2:
        assert notch == pytest.approx(centre)
    t = np.arange(rate // 2) / rate
    tones = np.stack([np.sin(2 * np.pi * f * t) for f in (notch, notch / 8)])
    audio = (0.5 * tones).astype(np.float32)[:, None]
    params = FX.settings(2, depth=0.0, feedback=0.0, mix=0.5, centre_hz=centre, stages=n_stages)
    out = FX(audio, params, rate)[:, 0, rate // 4 :]  # steady state
    rms = np.sqrt((out.astype(np.float64) ** 2).mean(axis=-1))
    assert 20 * np.log10(rms[0] / rms[1]) < -20.0
