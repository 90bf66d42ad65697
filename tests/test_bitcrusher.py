"""The bitcrusher: C and Numba kernels against the NumPy reference, bounds, levels and holds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from dafxkit import load_effect
from dafxkit_effects.bitcrusher import bitcrusher_numpy, hold_factors
from tests.strategies import effect_cases

FX = load_effect("bitcrusher")
# Every backend runs the same double-precision operations in the same order, with half-to-even
# rounding and libm's pow, so they agree bit for bit here. The tolerance allows one float32
# rounding step of outputs up to |y| = 8, should a compiler fuse the final multiply-add.
TOLERANCE = 1e-6


def cases():
    return effect_cases(FX.n_params)


def _values(**kwargs):
    return {k: np.atleast_1d(np.asarray(v, np.float64)) for k, v in kwargs.items()}


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
def test_backends_round_ties_to_even(backend):
    # x · q lands exactly on k + 0.5 for every k: the half-to-even rule decides every sample.
    q = 2.0**5
    x = ((np.arange(-64, 64) + 0.5) / q).astype(np.float32)[None, None]
    params = FX.settings(1, bits=6.0, downsample=1.0, mix=1.0)
    out = FX(x, params, 44100, backend=backend)
    np.testing.assert_array_equal(out, FX(x, params, 44100, backend="numpy"))
    np.testing.assert_array_equal(out[0, 0] * q % 2, 0.0)  # even multiples of 1/q only


@pytest.mark.parametrize("backend", ["c", "numba"])
@pytest.mark.parametrize("bits", [2.0, 2.4, 7.7, 16.0])
def test_backends_clip_huge_input(backend, bits):
    # The C kernel clips after rounding (same result, faster code); its rounding trick is exact
    # only below 2^51, so check inputs far beyond that land on the top level too.
    big = [3e38, 1e30, 2.0**51, 1.5 * 2.0**52, 1e16, 1.0, 0.999]
    x = np.array(big + [-v for v in big], np.float32)[None, None]
    params = FX.settings(1, bits=bits, mix=1.0)
    np.testing.assert_array_equal(
        FX(x, params, 44100, backend=backend), FX(x, params, 44100, backend="numpy")
    )


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_output_is_finite_and_bounded(case):
    # The input is clipped to ±1, so |round(x·q)| ≤ round(q) and |z| ≤ round(q) / q: 1 for a
    # whole bit depth, up to 1.2 between them (q just above 2.5 rounds up to 3).
    audio, params, rate = case
    out = FX(audio, params, rate)
    values = FX.denormalise(params)
    mix = values["mix"]
    q = 2.0 ** (values["bits"] - 1.0)
    top = np.round(q) / q
    assert (top < 1.2).all()
    bound = (1.0 - mix) * np.abs(audio).max(axis=(1, 2)) + mix * top
    assert np.isfinite(out).all()
    assert (np.abs(out).max(axis=(1, 2)) <= bound * (1 + 1e-6)).all()


def test_top_level_of_a_non_integer_depth():
    # bits 2.4: q = 2^1.4 ≈ 2.64, round(q) = 3, so a full-scale input maps to 3 / 2.64 ≈ 1.14.
    x = np.ones((1, 1, 4), np.float32)
    out = FX(x, FX.settings(1, bits=2.4, mix=1.0), 44100)
    np.testing.assert_allclose(out, 3 / 2**1.4, rtol=1e-6)


def test_silence_in_silence_out(rng):
    params = rng.uniform(0, 1, (6, FX.n_params))
    for backend in FX.available_backends():
        out = FX(np.zeros((6, 2, 500), np.float32), params, 44100, backend=backend)
        assert not out.any()


def test_hold_factors():
    # round half to even, never below 1.
    np.testing.assert_array_equal(
        hold_factors(np.array([1.0, 1.49, 1.5, 2.5, 2.51, 31.7, 32.0])), [1, 1, 2, 2, 3, 32, 32]
    )


def test_reference_by_hand():
    # bits 2: q = 2, levels −1, −0.5, 0, 0.5, 1. Hold 3: samples 0 and 3 are the ones kept.
    x = np.array([[[0.3, 0.9, -0.9, -0.8, 0.1, 0.2, 1.7]]], np.float32)
    v = _values(bits=2.0, downsample=3.0, mix=1.0)
    out = bitcrusher_numpy(x, v["bits"], v["downsample"], v["mix"], 44100)
    # 0.3·2 = 0.6 -> 1; −0.8·2 = −1.6 -> −2; 1.7 clips to 1, 1·2 = 2 -> 2.
    np.testing.assert_array_equal(out[0, 0], [0.5, 0.5, 0.5, -1.0, -1.0, -1.0, 1.0])
    # Ties: 0.25·2 = 0.5 -> 0 and 0.75·2 = 1.5 -> 2 (half to even); then a 30 % dry mix.
    x = np.array([[[0.25, 0.75, -0.25]]], np.float32)
    v = _values(bits=2.0, downsample=1.0, mix=0.7)
    out = bitcrusher_numpy(x, v["bits"], v["downsample"], v["mix"], 44100)
    np.testing.assert_allclose(out[0, 0], [0.3 * 0.25, 0.3 * 0.75 + 0.7, -0.3 * 0.25], rtol=1e-6)
    # A non-integer depth: bits 2.5 gives q = 2^1.5 ≈ 2.83, levels k / 2.83.
    x = np.array([[[0.3]]], np.float32)
    v = _values(bits=2.5, downsample=1.0, mix=1.0)
    out = bitcrusher_numpy(x, v["bits"], v["downsample"], v["mix"], 44100)
    assert out[0, 0, 0] == pytest.approx(1 / 2**1.5)


def test_fewer_bits_and_more_downsampling_mean_more_error(rng):
    t = np.arange(2000) / 44100
    sine = (0.8 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    audio = np.tile(sine, (7, 1, 1))
    bits = np.array([16.0, 12.0, 8.0, 7.5, 4.0, 16.0, 16.0])
    downsample = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 4.0, 16.0])
    params = FX.normalise({"bits": bits, "downsample": downsample, "mix": np.ones(7)})
    out = FX(audio, params, 44100)
    error = np.sqrt(((out - audio) ** 2).mean(axis=(1, 2)))
    assert error[0] < error[1] < error[2] < error[3] < error[4]  # 7.5 bits lies between 8 and 7
    assert error[0] < error[5] < error[6]
    # The held output is constant over each block of k samples.
    held = out[6, 0, :1984].reshape(-1, 16)
    assert (held == held[:, :1]).all()
