"""The tremolo: C and Numba kernels against the NumPy reference, bounds, the gain curve."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from dafxkit import load_effect
from dafxkit_effects.tremolo import tremolo_numpy
from tests.strategies import effect_cases

FX = load_effect("tremolo")
# The kernels' cos comes from a double-precision rotation (error below 1e-13 against libm's cos),
# so their gain and the reference's round to the same float32 output or one ulp apart: 6e-8
# relative, 2.4e-7 at the strategies' largest |x| of 4. 1e-6 leaves room on that.
TOLERANCE = 1e-6


def cases():
    return effect_cases(FX.n_params)


@pytest.mark.parametrize("backend", ["c", "numba"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_backend_matches_reference(backend, case):
    audio, params, rate = case
    reference = FX(audio, params, rate, backend="numpy")
    np.testing.assert_allclose(
        FX(audio, params, rate, backend=backend), reference, atol=TOLERANCE, rtol=0
    )


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_rotation_does_not_drift_over_a_long_clip(backend):
    # Five seconds at 48 kHz: many re-seeds (every 4096 samples) and a ragged tail. On a
    # constant input the output is the gain itself.
    samples = 5 * 48000 + 3
    rates = np.array([0.1, 1.234, 7.0, 20.0])
    params = FX.normalise({"rate_hz": rates, "depth": np.ones(4)})
    audio = np.ones((4, 1, samples), np.float32)
    out = FX(audio, params, 48000, backend=backend)
    reference = FX(audio, params, 48000, backend="numpy")
    np.testing.assert_allclose(out, reference, atol=2e-7, rtol=0)


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_output_is_finite_and_never_louder_than_the_input(case):
    # 0 ≤ gain ≤ 1, and rounding x·gain to float32 is monotone, so |y| ≤ |x| holds exactly.
    audio, params, rate = case
    out = FX(audio, params, rate)
    assert np.isfinite(out).all()
    assert (np.abs(out) <= np.abs(audio)).all()


def test_silence_in_silence_out(rng):
    params = rng.uniform(0, 1, (6, FX.n_params))
    for backend in FX.available_backends():
        out = FX(np.zeros((6, 2, 500), np.float32), params, 44100, backend=backend)
        assert not out.any()


def test_reference_gain_by_hand():
    # 10 Hz at 80 Hz sampling: a period of 8 samples, cos(2πn/8) known in closed form.
    depth = 0.6
    x = np.full((1, 2, 9), 2.0, np.float32)
    out = tremolo_numpy(x, np.array([10.0]), np.array([depth]), 80.0)
    cosines = [1, math.sqrt(0.5), 0, -math.sqrt(0.5), -1, -math.sqrt(0.5), 0, math.sqrt(0.5), 1]
    expected = [2.0 * (1 - depth * (0.5 - 0.5 * c)) for c in cosines]
    for channel in out[0]:
        np.testing.assert_allclose(channel, expected, rtol=1e-6)
    assert out[0, 0, 0] == 2.0 and out[0, 0, 4] == pytest.approx(2.0 * (1 - depth))


def test_depth_sets_the_dip_and_rate_sets_the_dips_per_second():
    rate = 44100
    depths = np.array([0.0, 0.3, 0.9, 0.9])
    rates_hz = np.array([5.0, 5.0, 5.0, 12.0])
    audio = np.ones((4, 1, rate), np.float32)
    gain = FX(audio, FX.normalise({"rate_hz": rates_hz, "depth": depths}), rate)[:, 0]
    np.testing.assert_allclose(gain.min(axis=-1), 1 - depths, atol=1e-6)
    np.testing.assert_allclose(gain.max(axis=-1), 1.0, atol=1e-6)
    for row in (1, 2, 3):
        g = gain[row]
        troughs = np.sum((g[1:-1] < g[:-2]) & (g[1:-1] <= g[2:]))
        assert troughs == rates_hz[row]  # one trough per LFO period, none at the start
