"""The delay: C and Numba kernels against the NumPy reference, bounds, echoes, damping."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings

from dafxkit import load_effect
from dafxkit_effects.delay import delay_c, delay_numba, delay_numpy, delay_samples
from tests.strategies import effect_cases

FX = load_effect("delay")
KERNELS = {"c": delay_c, "numba": delay_numba, "numpy": delay_numpy}
# Every backend runs the same double-precision operations in the same order (SciPy's one-pole
# lfilter computes (1 − damping)·d + damping·s as the loops do), so in practice the outputs are
# bit-identical. The tolerance still allows one float32 ulp of the largest output the strategies
# can give, 20 · 4 = 80 (ulp 7.6e-6), should a compiler reorder a product.
TOLERANCE = 1e-5


def cases():
    return effect_cases(FX.n_params)


def _values(**kwargs):
    return {k: np.atleast_1d(np.asarray(v, np.float64)) for k, v in kwargs.items()}


def _sample_loop(x, delay, feedback, damping, mix):
    """The documented recursion, one sample at a time in plain Python (float64)."""
    v, s_prev, out = [], 0.0, []
    for n, xn in enumerate(x):
        d = v[n - delay] if n >= delay else 0.0
        s = (1.0 - damping) * d + damping * s_prev
        v.append(xn + feedback * s)
        out.append((1.0 - mix) * xn + mix * s)
        s_prev = s
    return np.array(out)


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


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_output_is_finite_and_bounded(case):
    # s is a convex combination of past v, so |v|, |s| ≤ max|x| / (1 − feedback) and
    # |y| ≤ ((1 − mix) + mix / (1 − feedback)) · max|x| (at most 20 · max|x|).
    audio, params, rate = case
    values = FX.denormalise(params)
    gain = (1.0 - values["mix"]) + values["mix"] / (1.0 - values["feedback"])
    for backend in FX.available_backends():
        out = FX(audio, params, rate, backend=backend)
        assert np.isfinite(out).all()
        peak = np.abs(audio).max(axis=(1, 2))
        assert (np.abs(out).max(axis=(1, 2)) <= gain * peak * (1 + 1e-6) + 1e-7).all()


def test_silence_in_silence_out(rng):
    params = rng.uniform(0, 1, (6, FX.n_params))
    for backend in FX.available_backends():
        out = FX(np.zeros((6, 2, 3000), np.float32), params, 22050, backend=backend)
        assert not out.any()


@pytest.mark.parametrize("delay", [1, 2, 7, 64, 300])
@pytest.mark.parametrize("backend", ["numpy", "c", "numba"])
def test_kernels_match_the_sample_loop_and_the_transfer_function(backend, delay, rng):
    # A sample rate of 1 kHz makes time_ms = delay samples; 300 is longer than the clip.
    x = rng.uniform(-1, 1, (1, 2, 257)).astype(np.float32)
    fb, damp, mix = 0.9, 0.35, 0.7
    values = _values(time_ms=delay, feedback=fb, damping=damp, mix=mix)
    out = KERNELS[backend](x, *values.values(), 1000.0)
    # S/X = (1 − damping) z^−D / (1 − damping z^−1 − feedback (1 − damping) z^−D)
    b = np.zeros(delay + 1)
    b[delay] = 1.0 - damp
    a = np.zeros(delay + 1)
    a[0] = 1.0
    a[1] -= damp
    a[delay] -= fb * (1.0 - damp)
    for c in range(2):
        xc = x[0, c].astype(np.float64)
        expected = _sample_loop(xc, delay, fb, damp, mix)
        np.testing.assert_allclose(out[0, c], expected, atol=1e-6, rtol=1e-6)
        s = scipy.signal.lfilter(b, a, xc)
        np.testing.assert_allclose(out[0, c], (1.0 - mix) * xc + mix * s, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "c", "numba"])
def test_impulse_gives_echoes_decaying_by_the_feedback(backend):
    rate, delay, samples = 44100, 441, 3000
    x = np.zeros((1, 1, samples), np.float32)
    x[0, 0, 0] = 1.0
    values = _values(time_ms=10.0, feedback=0.6, damping=0.0, mix=0.5)
    out = KERNELS[backend](x, *values.values(), rate)[0, 0]
    expected = np.zeros(samples)
    expected[0] = 0.5
    for k in range(1, samples // delay + 1):  # echo k at k·D: mix · feedback^(k−1)
        expected[k * delay] = 0.5 * 0.6 ** (k - 1)
    np.testing.assert_allclose(out, expected, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "c", "numba"])
def test_delay_rounds_half_up_in_every_backend(backend):
    # 5 ms at 44.1 kHz is 220.5 samples: every backend must take 221 (NumPy's round would give
    # 220, C's lround 221, so the rule is written out as floor(t + 0.5)).
    assert delay_samples(np.array([5.0, 0.001]), 44100).tolist() == [221, 1]
    x = np.zeros((1, 1, 400), np.float32)
    x[0, 0, 0] = 1.0
    out = KERNELS[backend](x, *_values(time_ms=5.0, feedback=0, damping=0, mix=1).values(), 44100)
    assert np.flatnonzero(out[0, 0]).tolist() == [221]


def test_more_damping_makes_darker_echoes(rng):
    # The same noise burst, echoed with more and more damping: the wet signal's share of energy
    # above a quarter of the sample rate falls.
    burst = np.zeros(4000)
    burst[:200] = rng.uniform(-1, 1, 200)
    audio = np.tile(burst.astype(np.float32), (4, 1, 1))
    params = FX.normalise(
        {"time_ms": 20.0, "feedback": 0.5, "damping": [0.0, 0.2, 0.5, 0.8], "mix": 1.0}
    )
    out = FX(audio, params, 44100)[:, 0]
    spectra = np.abs(np.fft.rfft(out, axis=-1)) ** 2
    high_share = spectra[:, spectra.shape[1] // 2 :].sum(axis=-1) / spectra.sum(axis=-1)
    assert np.all(np.diff(high_share) < 0)


def test_more_feedback_means_a_longer_tail():
    x = np.zeros((3, 1, 5000), np.float32)
    x[:, 0, 0] = 1.0
    params = FX.normalise(
        {"time_ms": 10.0, "feedback": [0.0, 0.5, 0.9], "damping": 0.3, "mix": 1.0}
    )
    out = FX(x, params, 44100)[:, 0]
    tail = (out[:, 1000:] ** 2).sum(axis=-1)  # after the second echo (at 882 samples)
    assert tail[0] == 0.0 and 0.0 < tail[1] < tail[2]
