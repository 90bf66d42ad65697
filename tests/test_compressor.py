"""The compressor: C and Numba kernels against the NumPy reference, bounds, static curve, timing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

from dafxkit import load_effect
from dafxkit_effects.compressor import gain_computer_db
from tests.strategies import effect_cases

FX = load_effect("compressor")
# Every backend computes level, static curve, smoother and gain in float64 (the C kernel with
# its own log and exp, relative error < 1e-14), and rounds once to float32 at the end. The
# outputs can then differ only where that rounding flips: one float32 step, 1.2e-7 relative.
# rtol = two steps; atol only covers float32 subnormals, where steps are not relative.
RTOL, ATOL = 2.5e-7, 1e-30
BACKENDS = ["c", "numba", "numpy"]


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
        FX(audio, params, rate, backend=backend), reference, rtol=RTOL, atol=ATOL
    )


#: Half the float32 subnormal step: the most rounding can add to a subnormal output.
HALF_SUBNORMAL_STEP = 2.0**-150


@settings(max_examples=40, deadline=None)
@given(case=cases())
# One subnormal step (2^-149) at 24 dB makeup and ratio 1: |x| · makeup is 15.85 steps, and
# every backend, the reference included, rounds it to 16 (0.95 % above the exact product).
@example(
    case=(
        np.full((1, 1, 1), 2.0**-149, np.float32),
        np.array([[0.5, 0.0, 0.5, 0.5, 0.5, 1.0]]),
        44100,
    )
)
def test_output_is_finite_and_bounded(case):
    # gs ≤ 0 (a convex mix of gains ≤ 0), so the gain never exceeds the makeup gain; the bound
    # holds before the output is rounded to float32, which may add one rounding: relative
    # (RTOL) for normal outputs, absolute (half a step) for subnormal ones.
    audio, params, rate = case
    out = FX(audio, params, rate)
    makeup = 10.0 ** (FX.denormalise(params)["makeup_db"] / 20.0)[:, None, None]
    assert np.isfinite(out).all()
    bound = np.abs(audio) * makeup * (1 + RTOL) + HALF_SUBNORMAL_STEP
    assert (np.abs(out) <= bound).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_silence_in_silence_out(backend, rng):
    params = rng.uniform(0, 1, (6, FX.n_params))
    out = FX(np.zeros((6, 2, 500), np.float32), params, 44100, backend=backend)
    assert not out.any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ratio_one_is_exactly_the_identity(backend, rng):
    audio = (3 * rng.standard_normal((5, 2, 700))).astype(np.float32)
    params = rng.uniform(0, 1, (5, FX.n_params))
    params[:, 1] = 0.0  # ratio 1
    params[:, 5] = 0.0  # makeup 0 dB
    np.testing.assert_array_equal(FX(audio, params, 48000, backend=backend), audio)


def _paper_curve(level, t, r, w):
    """G(L) as printed in Giannoulis, Massberg & Reiss (2012), eq. 4, scalar by scalar."""
    if 2 * (level - t) < -w:
        return level
    if 2 * abs(level - t) <= w:
        return level + (1 / r - 1) * (level - t + w / 2) ** 2 / (2 * w)
    return t + (level - t) / r


@pytest.mark.parametrize("knee", [0.0, 6.0, 24.0])
def test_static_curve_is_the_papers(knee):
    levels = np.linspace(-100.0, 20.0, 481)
    levels = levels[levels != -30.0] if knee == 0 else levels  # L = T is 0/0 in the paper
    got = gain_computer_db(levels, -30.0, 4.0, knee)
    expected = [_paper_curve(level, -30.0, 4.0, knee) - level for level in levels]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert (got <= 0).all() and gain_computer_db(np.array([-30.0]), -30.0, 4.0, 0.0)[0] == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_level_step_follows_the_closed_form(backend):
    # A DC step at level L1 then L2 (below the knee): the target gain is gc1 then 0, so
    # gs[n] = gc1 (1 − αA^(n+1)) while the step lasts, then decays by αR per sample.
    rate, step = 44100, 600
    a1, a2 = 0.5, 0.002
    x = np.r_[np.full(step, a1), np.full(400, a2)].astype(np.float32)[None, None]
    physical = dict(
        threshold_db=-20.0, ratio=5.0, knee_db=6.0, attack_ms=2.0, release_ms=10.0, makeup_db=3.0
    )
    out = FX(x, FX.settings(1, **physical), rate, backend=backend)[0, 0]
    level = 20 * math.log10(a1)
    gc1 = _paper_curve(level, -20.0, 5.0, 6.0) - level
    attack = math.exp(-1 / (0.002 * rate))
    release = math.exp(-1 / (0.010 * rate))
    n = np.arange(1000)
    gs = np.where(
        n < step,
        gc1 * (1 - attack ** (n + 1)),
        gc1 * (1 - attack**step) * release ** (n - step + 1),
    )
    expected = x[0, 0] * 10 ** ((gs + 3.0) / 20)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_a_steady_sine_settles_on_the_static_curve():
    # A −6 dBFS sine through T = −30 dB, R = 4, hard knee: −30 + 24 / 4 = −24 dBFS peaks.
    # The detector follows the waveform, so between peaks the release pulls the gain back up
    # and the peaks ride above the static curve: ~0.85 dB with the default 5 / 100 ms,
    # ~0.1 dB with attack 1 ms and release 500 ms (used here). Never below the curve.
    rate = 44100
    t = np.arange(rate // 2) / rate
    sine = (10 ** (-6 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None, None]
    ratios = [2.0, 4.0, 8.0, 20.0]
    audio = np.repeat(sine, len(ratios), axis=0)
    params = np.stack(
        [
            FX.settings(threshold_db=-30.0, ratio=r, knee_db=0.0, attack_ms=1.0, release_ms=500.0)
            for r in ratios
        ]
    )
    out = FX(audio, params, rate)
    peak_db = 20 * np.log10(np.abs(out[:, 0, -rate // 10 :]).max(axis=-1))
    expected_db = -30.0 + 24.0 / np.array(ratios)
    assert (peak_db - expected_db > -1e-3).all() and (peak_db - expected_db < 0.5).all()
    assert (np.diff(peak_db) < 0).all()  # more ratio, lower output


def test_makeup_is_a_plain_gain(rng):
    audio = rng.uniform(-1, 1, (2, 1, 800)).astype(np.float32)
    params = np.stack([FX.settings(makeup_db=0.0), FX.settings(makeup_db=12.0)])
    out = FX(audio[[0, 0]], params, 44100)
    np.testing.assert_allclose(out[1], out[0] * 10 ** (12 / 20), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_channels_are_linked(backend, rng):
    # The quiet channel gets the loud channel's gain: one gain per clip.
    loud = rng.uniform(-1, 1, 1500).astype(np.float32)
    stereo = np.stack([loud, np.float32(0.1) * loud])[None]
    params = FX.settings(1, threshold_db=-30.0, ratio=8.0)
    out = FX(stereo, params, 44100, backend=backend)
    alone = FX(stereo[:, :1], params, 44100, backend=backend)
    np.testing.assert_array_equal(out[:, :1], alone)
    np.testing.assert_allclose(out[0, 1], 0.1 * alone[0, 0], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_level_on_the_threshold_with_a_vanishing_knee(backend):
    # L = T exactly (a full-scale DC at T = 0 dB) inside a subnormal-wide knee: the knee
    # formula's (L − T + W/2)² / (2W) must give 0 there, not 0 · inf = NaN.
    params = np.array([[1.0, 0.5, 0.5, 0.5, 5e-324, 0.0], [1.0, 0.5, 0.5, 0.5, 0.0, 0.0]])
    out = FX(np.ones((2, 1, 64), np.float32), params, 44100, backend=backend)
    np.testing.assert_array_equal(out, 1.0)
