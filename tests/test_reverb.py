"""The reverb: the reference against its difference equations and transfer functions, C and Numba
against the reference, the output bound, and what each parameter does."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings

from dafxkit import AudioError, load_effect
from dafxkit.errors import ParameterError
from dafxkit_effects.reverb import (
    ALLPASS_TUNING,
    COMB_TUNING,
    Reverb,
    allpass_numpy,
    comb_numpy,
    reverb_c,
    reverb_numba,
    reverb_numpy,
    scaled_delays,
    tank_numpy,
)
from tests.strategies import effect_cases

FX = load_effect("reverb")
# 1-norm of one tank's impulse response at its worst: room_size 1 (f = 0.98), damping 0, the
# right tank at 48 kHz, 19 098.4 (20 s of response plus a bound on the rest; see
# test_tank_l1_norm_at_the_worst_setting). Damping only lowers it (damping 0.4: 5 980), and so do
# 44.1 kHz (18 930) and 22.05 kHz (14 660). Rounded up.
TANK_L1_BOUND = 19_200.0


def one_float32_step(reference: np.ndarray) -> float:
    """The spacing of float32 numbers at the reference's peak (at least at 1.0)."""
    return float(np.spacing(np.float32(max(1.0, float(np.abs(reference).max())))))


def cases():
    return effect_cases(FX.n_params)


@pytest.mark.parametrize("backend", ["c", "numba"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_backend_matches_reference(backend, case):
    # Every backend runs the same double-precision operations in the same order (the comb's
    # one-pole as lfilter computes it, the sums comb by comb) and rounds once to float32, so
    # they agree exactly (measured: 0); one float32 step at the output's peak is allowed.
    audio, params, rate = case
    reference = FX(audio, params, rate, backend="numpy")
    out = FX(audio, params, rate, backend=backend)
    np.testing.assert_allclose(out, reference, rtol=0, atol=one_float32_step(reference))


@settings(max_examples=40, deadline=None)
@given(case=cases())
def test_output_is_finite_and_bounded(case):
    # Linear and stable: |y_c| <= (1 - mix)·max|x| + mix·3·|u|max·G, |u| <= 0.015·C·max|x|.
    audio, params, rate = case
    out = FX(audio, params, rate)
    mix = FX.denormalise(params)["mix"][:, None, None]
    peak = np.abs(audio).max(axis=(1, 2), keepdims=True)
    gain = (1 - mix) + mix * 3 * 0.015 * audio.shape[1] * TANK_L1_BOUND
    assert np.isfinite(out).all()
    assert (np.abs(out) <= gain * peak * (1 + 1e-6) + 1e-30).all()


def test_tank_l1_norm_at_the_worst_setting():
    rate, f = 48000, 0.98
    impulse = np.zeros(20 * rate)
    impulse[0] = 1.0
    combs = [comb_numpy(impulse, n, f, 0.0) for n in scaled_delays(COMB_TUNING, rate, 23)]
    # A comb's feedback path is a positive gain times a low-pass with a positive response, so
    # its response is non-negative and sums to its DC gain 1/(1 - f) = 50.
    assert all((c >= 0).all() and 49.99 < c.sum() <= 50.0 for c in combs)
    comb_sum = np.concatenate([sum(combs), np.zeros(200 * 600)])  # all-pass tails: 0.5^200
    wet = comb_sum
    for n in scaled_delays(ALLPASS_TUNING, rate, 23):
        wet = allpass_numpy(wet, n)
    # The comb sum's response past 20 s has 1-norm 400 - (its sum so far), and the 4 all-passes
    # amplify a 1-norm at most 3^4 times.
    l1 = np.abs(wet).sum() + 3**4 * (400.0 - comb_sum.sum())
    assert 19_000 < l1 < TANK_L1_BOUND
    # More damping, a lower rate and the left tank all give less.
    short = impulse[: 5 * rate]
    assert np.abs(tank_numpy(short, f, 0.4, rate, 23)).sum() < 0.35 * l1
    assert np.abs(tank_numpy(impulse[: 10 * 22050], f, 0.0, 22050, 23)).sum() < l1


def _comb_loop(u, n, f, d):
    buf, s, out = np.zeros(len(u)), 0.0, np.zeros(len(u))
    for i in range(len(u)):
        out[i] = buf[i - n] if i >= n else 0.0
        s = (1 - d) * out[i] + d * s
        buf[i] = u[i] + f * s
    return out


def _allpass_loop(v, m):
    buf, out = np.zeros(len(v)), np.zeros(len(v))
    for i in range(len(v)):
        held = buf[i - m] if i >= m else 0.0
        buf[i] = v[i] + 0.5 * held
        out[i] = held - v[i]
    return out


def test_comb_follows_its_difference_equation_and_transfer_function(rng):
    u = rng.standard_normal(700)
    n, f, d = 37, 0.84, 0.3
    np.testing.assert_array_equal(comb_numpy(u, n, f, d), _comb_loop(u, n, f, d))
    # H(z) = z^-N (1 - d z^-1) / (1 - d z^-1 - f (1 - d) z^-N)
    b = np.zeros(n + 2)
    b[n], b[n + 1] = 1.0, -d
    a = np.zeros(n + 1)
    a[0], a[1], a[n] = 1.0, -d, -f * (1 - d)
    np.testing.assert_allclose(comb_numpy(u, n, f, d), scipy.signal.lfilter(b, a, u), atol=1e-12)
    # Its impulse response by hand: silent until N, then u[0], then (1-d) f, ...
    impulse = np.zeros(3 * n)
    impulse[0] = 1.0
    h = comb_numpy(impulse, n, f, d)
    assert not h[:n].any() and h[n] == 1.0 and not h[n + 1 : 2 * n].any()
    assert h[2 * n] == pytest.approx((1 - d) * f) and h[2 * n + 1] == pytest.approx(d * (1 - d) * f)


def test_allpass_follows_its_difference_equation_and_transfer_function(rng):
    v = rng.standard_normal(700)
    for m in (1, 23, 699, 700, 900):
        np.testing.assert_array_equal(allpass_numpy(v, m), _allpass_loop(v, m))
        # H(z) = (-1 + 1.5 z^-M) / (1 - 0.5 z^-M): all-pass, |H| = 1 on the unit circle
        b = np.zeros(m + 1)
        b[0], b[m] = -1.0, 1.5
        a = np.zeros(m + 1)
        a[0], a[m] = 1.0, -0.5
        np.testing.assert_allclose(allpass_numpy(v, m), scipy.signal.lfilter(b, a, v), atol=1e-12)


def _reverb_loop(x, room_size, damping, pre_delay_ms, width, mix, rate):
    """The spec written out sample by sample for one clip (channels, samples), independently."""
    half_up = lambda v: math.floor(v + 0.5)  # noqa: E731
    channels, samples = x.shape
    pre = half_up(pre_delay_ms * rate / 1000)
    u = np.array([0.015 * x[:, n - pre].sum() if n >= pre else 0.0 for n in range(samples)])
    f, d = 0.7 + 0.28 * room_size, 0.4 * damping
    tanks = []
    for spread in (0, 23)[:channels]:
        wet = sum(_comb_loop(u, half_up((n + spread) * rate / 44100), f, d) for n in COMB_TUNING)
        for m in ALLPASS_TUNING:
            wet = _allpass_loop(wet, half_up((m + spread) * rate / 44100))
        tanks.append(wet)
    if channels == 2:
        w1, w2 = width / 2 + 0.5, (1 - width) / 2
        tanks = [tanks[0] * w1 + tanks[1] * w2, tanks[1] * w1 + tanks[0] * w2]
    return (1 - mix) * x + mix * 3 * np.array(tanks)


@pytest.mark.parametrize("channels", [1, 2])
def test_reference_matches_a_plain_sample_loop(channels, rng):
    x = rng.uniform(-1, 1, (channels, 2500)).astype(np.float32)
    setting = dict(room_size=0.9, damping=0.6, pre_delay_ms=7.3, width=0.7, mix=0.8)
    expected = _reverb_loop(x.astype(np.float64), *setting.values(), 22050)
    out = reverb_numpy(x[None], *(np.array([v]) for v in setting.values()), 22050)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", ["c", "numba", "numpy"])
def test_first_echo_by_hand(backend):
    # An impulse reaches the output first through the shortest comb (u[0] = 0.015 after N
    # samples) and the all-passes' direct paths ((-1)^4): y = 3 · 0.015 there, 0 before. The
    # right tank's lines are 23 samples longer.
    impulse = np.zeros((1, 2, 1500), np.float32)
    impulse[0, 0, 0] = 1.0
    out = FX(impulse, FX.settings(1, mix=1.0, width=1.0), 44100, backend=backend)[0]
    for channel, first in enumerate((1116, 1116 + 23)):
        assert not out[channel, :first].any()
        assert out[channel, first] == np.float32(3 * 0.015)


@pytest.mark.parametrize("backend", ["c", "numba", "numpy"])
def test_pre_delay_shifts_the_wet_onset_exactly(backend):
    rate = 48000
    impulse = np.zeros((1, 2, 6000), np.float32)
    impulse[0, :, 0] = 1.0
    shift = round(0.0371 * rate)  # 1781 samples
    plain = FX(impulse, FX.settings(1, mix=1.0), rate, backend=backend)[0]
    delayed = FX(impulse, FX.settings(1, mix=1.0, pre_delay_ms=37.1), rate, backend=backend)[0]
    assert not delayed[:, : shift + 1215].any()  # 1215: the shortest comb at 48 kHz
    np.testing.assert_array_equal(delayed[:, shift:], plain[:, :-shift])


def _tail(params, rate=22050, seconds=1.5):
    burst = np.zeros((1, 1, int(seconds * rate)), np.float32)
    burst[0, 0, :200] = np.random.default_rng(0).uniform(-1, 1, 200)
    return FX(burst, params, rate)[0, 0, int(0.5 * rate) :]


def test_larger_room_decays_longer():
    energy = [(_tail(FX.settings(1, room_size=r, mix=1.0)) ** 2).sum() for r in (0.1, 0.5, 0.9)]
    assert 10 * energy[0] < energy[1] and 10 * energy[1] < energy[2]


def test_more_damping_darkens_the_tail():
    def high_share(x):  # energy above a quarter of the band (2.76 kHz at 22.05 kHz)
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        return spectrum[len(spectrum) // 4 :].sum() / spectrum.sum()

    shares = [high_share(_tail(FX.settings(1, room_size=0.8, damping=d))) for d in (0, 0.5, 1)]
    assert shares[0] > 2 * shares[1] and shares[1] > 2 * shares[2]


def test_width(rng):
    x = rng.uniform(-1, 1, (1, 2, 4000)).astype(np.float32)
    narrow = FX(x, FX.settings(1, width=0.0, mix=1.0), 44100)[0]
    np.testing.assert_array_equal(narrow[0], narrow[1])  # both sides get (L + R)/2
    wide = FX(x, FX.settings(1, width=1.0, mix=1.0), 44100)[0]
    assert np.abs(wide[0] - wide[1]).max() > 1e-3
    # Mono clips use the left tank alone, so width does nothing there.
    mono = x[:, :1].copy()
    np.testing.assert_array_equal(
        FX(mono, FX.settings(1, width=0.0), 44100), FX(mono, FX.settings(1, width=1.0), 44100)
    )


@pytest.mark.parametrize("backend", ["c", "numba", "numpy"])
def test_rows_alone_neutral_and_silence(backend, rng):
    # Five rows: the C and Numba kernels run rows four at a time, so the last group is partial.
    audio = rng.uniform(-1, 1, (5, 2, 1800)).astype(np.float32)
    params = rng.uniform(0, 1, (5, FX.n_params))
    whole = FX(audio, params, 22050, backend=backend)
    assert whole.dtype == np.float32 and whole.shape == audio.shape
    for i in range(len(audio)):
        np.testing.assert_array_equal(
            whole[i : i + 1], FX(audio[i : i + 1], params[i : i + 1], 22050, backend=backend)
        )
    np.testing.assert_array_equal(FX(audio, FX.neutral_params(5), 22050, backend=backend), audio)
    assert not FX(np.zeros_like(audio), params, 22050, backend=backend).any()


def test_parameter_ranges():
    fx = Reverb()
    expected = {
        "room_size": (0.0, 1.0, 0.5, "", "linear"),
        "damping": (0.0, 1.0, 0.5, "", "linear"),
        "pre_delay_ms": (0.0, 100.0, 0.0, "ms", "linear"),
        "width": (0.0, 1.0, 1.0, "", "linear"),
        "mix": (0.0, 1.0, 0.3, "", "linear"),
    }
    assert fx.param_names == tuple(expected)
    for p in fx.params:
        assert (p.minimum, p.maximum, p.default, p.unit, p.scale) == expected[p.name]
        assert p.description
    assert fx.name == "reverb" and fx.backends == ("c", "numba", "numpy")
    assert fx.neutral == {"mix": 0.0}


@pytest.mark.parametrize("backend", ["c", "numba", "numpy"])
def test_more_than_two_channels_is_refused(backend):
    with pytest.raises(AudioError, match="mono or stereo clips; got 3 channels"):
        FX(np.zeros((1, 3, 100), np.float32), FX.default_params(), 44100, backend=backend)


@pytest.mark.parametrize("kernel", [reverb_c, reverb_numba])
def test_kernels_refuse_parameter_arrays_of_the_wrong_length(kernel):
    audio = np.zeros((3, 1, 8), np.float32)
    ones = np.ones(3)
    with pytest.raises(ParameterError, match=r"damping must have shape \(3,\).*got shape \(2,\)"):
        kernel(audio, ones, np.ones(2), ones, ones, ones, 44100)
