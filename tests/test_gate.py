"""The noise gate: C and Numba kernels against the NumPy reference, bounds, opening and closing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from dafxkit import load_effect
from tests.strategies import effect_cases

FX = load_effect("gate")
# Every backend runs envelope, smoother and gain in float64 (the C kernel with its own exp,
# relative error < 1e-14) and rounds once to float32 at the end, so outputs can differ only
# where that rounding flips: one float32 step, 1.2e-7 relative. rtol = two steps; atol only
# covers float32 subnormals. (The kernels' threshold test e ≥ 10^(T/20) equals the
# reference's 20·log10(e) ≥ T except within a double rounding of the threshold itself.)
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


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_output_is_finite_and_never_louder(backend, case):
    # gs is a convex mix of 0 and range_db ≤ 0, so the gain is at most 1 and |y| ≤ |x| holds
    # exactly, float32 rounding included.
    audio, params, rate = case
    out = FX(audio, params, rate, backend=backend)
    assert np.isfinite(out).all()
    assert (np.abs(out) <= np.abs(audio)).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_silence_in_silence_out(backend, rng):
    params = rng.uniform(0, 1, (6, FX.n_params))
    out = FX(np.zeros((6, 2, 500), np.float32), params, 44100, backend=backend)
    assert not out.any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_range_is_exactly_the_identity(backend, rng):
    audio = (3 * rng.standard_normal((5, 2, 700))).astype(np.float32)
    params = rng.uniform(0, 1, (5, FX.n_params))
    params[:, 3] = 1.0  # range 0 dB
    np.testing.assert_array_equal(FX(audio, params, 48000, backend=backend), audio)


@pytest.mark.parametrize("backend", BACKENDS)
def test_opening_and_closing_follow_the_closed_form(backend):
    # DC at a = 0.5 (above T = −20 dB) for N samples, then b = 0.001 (below). The gate opens
    # from rest: gs[n] = range · αA^(n+1). After the drop the envelope decays as a · αR^k and
    # the gate stays open while that is ≥ 10^(T/20), i.e. for k ≤ K; then it closes,
    # gs → range by αR per sample.
    rate, n_open, total = 44100, 1000, 2000
    a, b, threshold, closed = 0.5, 0.001, -20.0, -60.0
    x = np.r_[np.full(n_open, a), np.full(total - n_open, b)].astype(np.float32)[None, None]
    physical = dict(threshold_db=threshold, attack_ms=1.0, release_ms=5.0, range_db=closed)
    out = FX(x, FX.settings(1, **physical), rate, backend=backend)[0, 0]
    attack = math.exp(-1 / (0.001 * rate))
    release = math.exp(-1 / (0.005 * rate))
    hold = math.floor(math.log(10 ** (threshold / 20) / a) / math.log(release))
    first_closed = n_open + hold
    n = np.arange(total)
    gs_open = closed * attack ** (n + 1)
    gs_closing = closed + (gs_open[first_closed - 1] - closed) * release ** (n - first_closed + 1)
    gs = np.where(n < first_closed, gs_open, gs_closing)
    np.testing.assert_allclose(out, x[0, 0] * 10 ** (gs / 20), rtol=1e-6)
    assert 300 < hold < 400  # the closing really is inside the signal


def test_noise_is_gated_and_a_tone_passes():
    # A −10 dBFS tone for 0.2 s, then noise peaking at −60 dBFS; threshold −40 dB, range −40.
    rate = 44100
    rng = np.random.default_rng(7)
    tone = 10 ** (-10 / 20) * np.sin(2 * np.pi * 440 * np.arange(rate // 5) / rate)
    noise = 10 ** (-60 / 20) * rng.uniform(-1, 1, rate * 3 // 10)
    x = np.r_[tone, noise].astype(np.float32)[None, None]
    params = FX.settings(1, threshold_db=-40.0, attack_ms=1.0, release_ms=20.0, range_db=-40.0)
    out = FX(x, params, rate)[0, 0]
    # The tone passes at unity once the gate has opened (10 attack time constants).
    np.testing.assert_allclose(out[441 : rate // 5], x[0, 0, 441 : rate // 5], rtol=1e-3)
    # After the release (envelope falls ~30 dB, then the gain closes) the noise is down 40 dB.
    tail = slice(-rate // 10, None)
    gain_db = 20 * np.log10(np.sqrt(np.mean(out[tail] ** 2) / np.mean(x[0, 0, tail] ** 2)))
    assert abs(gain_db - -40.0) < 1.0


def test_noise_alone_is_attenuated_by_the_range():
    # A gate at rest is closed: noise that never reaches the threshold is down by range_db.
    x = (1e-3 * np.random.default_rng(3).uniform(-1, 1, (3, 1, 2000))).astype(np.float32)
    params = np.stack([FX.settings(threshold_db=-40.0, range_db=r) for r in (-10.0, -40, -80)])
    out = FX(x, params, 44100)
    expected = 10 ** (np.array([-10.0, -40.0, -80.0]) / 20)[:, None, None]
    np.testing.assert_allclose(out, x * expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_channels_are_linked(backend, rng):
    # A loud left channel opens the gate for a quiet right channel: one gain per clip.
    loud = rng.uniform(-1, 1, 1500).astype(np.float32)
    stereo = np.stack([loud, np.float32(1e-3) * loud])[None]
    params = FX.settings(1, threshold_db=-30.0)
    out = FX(stereo, params, 44100, backend=backend)
    alone = FX(stereo[:, :1], params, 44100, backend=backend)
    np.testing.assert_array_equal(out[:, :1], alone)
    np.testing.assert_allclose(out[0, 1], 1e-3 * alone[0, 0], rtol=1e-6, atol=1e-12)
