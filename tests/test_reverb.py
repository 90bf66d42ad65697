"""The reverb: reference against the difference equations, C and Numba against the reference,
bounds, and what each parameter does."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dafxkit import AudioError, load_effect
from dafxkit_effects.reverb import _allpass_numpy, _comb_numpy, tank_numpy
from tests.strategies import SAMPLE_RATES, audio_batches, param_matrices

FX = load_effect("reverb")
# Every backend runs the same double-precision operations in the same order and rounds once.
TOLERANCE = 1e-6
# A bound on the 1-norm of one tank's impulse response: each comb's is at most
# (1 + d) / (1 − f) ≤ 1.4 / 0.02, each all-pass's (−1, then 1, ½, ¼, …) is 3, so
# 8 · 70 · 3⁴. Loose (real peaks stay near the input's level) but true for every setting.
TANK_L1_BOUND = 8 * (1.4 / 0.02) * 3**4


@st.composite
def cases(draw):
    audio = draw(audio_batches(max_samples=3000))
    return audio, draw(param_matrices(audio.shape[0], FX.n_params)), draw(SAMPLE_RATES)


@pytest.mark.parametrize("backend", ["c", "numba"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_backend_matches_reference(backend, case):
    audio, params, rate = case
    reference = FX(audio, params, rate, backend="numpy")
    np.testing.assert_allclose(FX(audio, params, rate, backend=backend), reference, atol=TOLERANCE)


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_output_is_finite_and_bounded(case):
    audio, params, rate = case
    out = FX(audio, params, rate)
    mix = FX.denormalise(params)["mix"][:, None, None]
    channels = audio.shape[1]
    bound = ((1 - mix) + mix * 3 * 0.015 * channels * TANK_L1_BOUND) * np.abs(audio).max()
    assert np.isfinite(out).all()
    assert (np.abs(out) <= bound + 1e-6).all()


def test_tank_l1_norm():
    impulse = np.zeros(480000)
    impulse[0] = 1.0
    for damping in (0.0, 0.4):
        response = tank_numpy(impulse, 0.98, damping, 48000)
        assert 1000 < np.abs(response).sum() < TANK_L1_BOUND


def test_comb_and_allpass_follow_their_difference_equations(rng):
    u = rng.standard_normal(700)
    n, f, d = 37, 0.84, 0.3
    buf, s, expected = np.zeros(len(u)), 0.0, []
    for i in range(len(u)):
        out = buf[i - n] if i >= n else 0.0
        s = (1 - d) * out + d * s
        buf[i] = u[i] + f * s
        expected.append(out)
    np.testing.assert_allclose(_comb_numpy(u, n, f, d), expected, atol=1e-12)
    # … and the comb's transfer function z^-N (1 - d z^-1) / (1 - d z^-1 - f (1 - d) z^-N)
    b = np.zeros(n + 2)
    b[n], b[n + 1] = 1.0, -d
    a = np.zeros(n + 1)
    a[0], a[1], a[n] = 1.0, -d, -f * (1 - d)
    np.testing.assert_allclose(_comb_numpy(u, n, f, d), scipy.signal.lfilter(b, a, u), atol=1e-10)
    m = 23
    buf, expected = np.zeros(len(u)), []
    for i in range(len(u)):
        held = buf[i - m] if i >= m else 0.0
        buf[i] = u[i] + 0.5 * held
        expected.append(held - u[i])
    np.testing.assert_allclose(_allpass_numpy(u, m), expected, atol=1e-12)


def test_pre_delay_shifts_the_wet_onset_exactly():
    rate = 44100
    impulse = np.zeros((1, 1, 8000), np.float32)
    impulse[0, 0, 0] = 1.0
    wet_only = FX.settings(1, mix=1.0, pre_delay_ms=0.0)
    delayed = FX.settings(1, mix=1.0, pre_delay_ms=50.0)
    shift = round(0.05 * rate)
    a = FX(impulse, wet_only, rate)[0, 0]
    b = FX(impulse, delayed, rate)[0, 0]
    np.testing.assert_array_equal(b[:shift], 0.0)
    np.testing.assert_allclose(b[shift:], a[: len(a) - shift], atol=1e-7)


def _tail_energy(params, rate=22050, seconds=1.5):
    burst = np.zeros((1, 1, int(seconds * rate)), np.float32)
    burst[0, 0, :200] = np.random.default_rng(0).uniform(-1, 1, 200)
    return FX(burst, params, rate)[0, 0, int(0.5 * rate) :]


def test_room_size_lengthens_and_damping_darkens_the_tail():
    small = _tail_energy(FX.settings(1, room_size=0.1, mix=1.0))
    large = _tail_energy(FX.settings(1, room_size=0.9, mix=1.0))
    assert (large**2).sum() > 10 * (small**2).sum()
    bright = _tail_energy(FX.settings(1, room_size=0.8, damping=0.0, mix=1.0))
    dark = _tail_energy(FX.settings(1, room_size=0.8, damping=1.0, mix=1.0))

    def high_share(x):
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        return spectrum[len(spectrum) // 4 :].sum() / spectrum.sum()

    assert high_share(dark) < 0.5 * high_share(bright)


def test_width_zero_makes_the_wet_signal_mono(rng):
    x = rng.uniform(-1, 1, (1, 2, 4000)).astype(np.float32)
    out = FX(x, FX.settings(1, width=0.0, mix=1.0), 44100)
    np.testing.assert_allclose(out[0, 0], out[0, 1], atol=1e-7)
    wide = FX(x, FX.settings(1, width=1.0, mix=1.0), 44100)
    assert np.abs(wide[0, 0] - wide[0, 1]).max() > 1e-3


def test_silence_in_silence_out(rng):
    params = rng.uniform(0, 1, (3, FX.n_params))
    for backend in FX.available_backends():
        assert not FX(np.zeros((3, 2, 3000), np.float32), params, 48000, backend=backend).any()


def test_more_than_two_channels_is_refused():
    with pytest.raises(AudioError, match="mono or stereo clips; got 3 channels"):
        FX(np.zeros((1, 3, 100), np.float32), FX.default_params(), 44100)
