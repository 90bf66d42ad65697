"""Chorus and flanger: kernels against the reference, bounds, the delay sweep, the comb filter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dafxkit import load_effect
from dafxkit_effects.modulation import (
    modulated_delays,
    modulation_c,
    modulation_numba,
    modulation_numpy,
)
from tests.strategies import effect_cases

NAMES = ["chorus", "flanger"]
EFFECTS = {name: load_effect(name) for name in NAMES}
KERNELS = {"c": modulation_c, "numba": modulation_numba, "numpy": modulation_numpy}
ORDER = ("rate_hz", "depth_ms", "centre_ms", "feedback", "mix")
# The kernels' LFO is a double-precision rotation (within ~1e-12 of libm's sin), so the delay
# they read at differs from the reference's by under 1e-9 samples and their float64 outputs by
# far less than a float32 ulp: outputs round alike or one ulp apart. The largest output the
# strategies can give is 10 · 4 = 40 (ulp 3.8e-6); 1e-5 leaves room on that.
TOLERANCE = 1e-5


def cases(name):
    return effect_cases(EFFECTS[name].n_params)


def _values(**kwargs):
    return [np.atleast_1d(np.asarray(kwargs[name], np.float64)) for name in ORDER]


def _sample_loop(x, channel, rate_hz, depth_ms, centre_ms, feedback, mix, sample_rate):
    """The documented recursion, one sample at a time in plain Python (float64)."""
    v, out = [], []
    for n, xn in enumerate(x):
        lfo = math.sin(2 * math.pi * rate_hz * n / sample_rate + channel * math.pi / 2)
        tau = max(1.0, (centre_ms + depth_ms * lfo) * sample_rate / 1000)
        k = math.floor(tau)
        f = tau - k
        d = (1 - f) * (v[n - k] if n >= k else 0.0) + f * (v[n - k - 1] if n > k else 0.0)
        v.append(xn + feedback * d)
        out.append((1 - mix) * xn + mix * d)
    return np.array(out)


@pytest.mark.parametrize("backend", ["c", "numba"])
@pytest.mark.parametrize("name", NAMES)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_backend_matches_reference(name, backend, data):
    fx = EFFECTS[name]
    audio, params, rate = data.draw(cases(name))
    reference = fx(audio, params, rate, backend="numpy")
    np.testing.assert_allclose(
        fx(audio, params, rate, backend=backend), reference, atol=TOLERANCE, rtol=0
    )


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_kernels_match_reference_over_many_lfo_reseeds(backend, rng):
    # Two seconds at 48 kHz: 23 re-seeds of the kernels' LFO rotation, a ragged last block.
    audio = rng.uniform(-1, 1, (2, 2, 96001)).astype(np.float32)
    values = _values(
        rate_hz=[0.05, 5.0],
        depth_ms=[10.0, 5.0],
        centre_ms=[15.0, 3.0],
        feedback=[0.9, -0.9],
        mix=[1.0, 0.5],
    )
    reference = modulation_numpy(audio, *values, 48000.0)
    out = KERNELS[backend](audio, *values, 48000.0)
    np.testing.assert_allclose(out, reference, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_output_is_finite_and_bounded(name, data):
    # d is a convex combination of past v, so |v| ≤ max|x| / (1 − |feedback|) and
    # |y| ≤ ((1 − mix) + mix / (1 − |feedback|)) · max|x| (at most 10 · max|x|).
    fx = EFFECTS[name]
    audio, params, rate = data.draw(cases(name))
    values = fx.denormalise(params)
    gain = (1.0 - values["mix"]) + values["mix"] / (1.0 - np.abs(values["feedback"]))
    peak = np.abs(audio).max(axis=(1, 2))
    for backend in fx.available_backends():
        out = fx(audio, params, rate, backend=backend)
        assert np.isfinite(out).all()
        assert (np.abs(out).max(axis=(1, 2)) <= gain * peak * (1 + 1e-6) + 1e-7).all()


@pytest.mark.parametrize("name", NAMES)
def test_silence_in_silence_out(name, rng):
    fx = EFFECTS[name]
    params = rng.uniform(0, 1, (6, fx.n_params))
    for backend in fx.available_backends():
        out = fx(np.zeros((6, 2, 3000), np.float32), params, 48000, backend=backend)
        assert not out.any()


@pytest.mark.parametrize(
    "setting",
    [
        dict(rate_hz=3.0, depth_ms=8.0, centre_ms=12.0, feedback=0.7, mix=0.6),
        dict(rate_hz=40.0, depth_ms=3.0, centre_ms=1.0, feedback=-0.8, mix=1.0),  # clamped at 1
    ],
)
def test_reference_matches_the_sample_loop(setting, rng):
    x = rng.uniform(-1, 1, (1, 3, 700)).astype(np.float32)
    out = modulation_numpy(x, *_values(**setting), 8000.0)
    for c in range(3):
        expected = _sample_loop(x[0, c].astype(np.float64), c, **setting, sample_rate=8000.0)
        np.testing.assert_allclose(out[0, c], expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "c", "numba"])
def test_chorus_without_sweep_or_feedback_is_a_fractional_delay(backend, rng):
    x = rng.uniform(-1, 1, (1, 2, 2000))
    values = _values(rate_hz=1.0, depth_ms=0.0, centre_ms=12.34, feedback=0.0, mix=1.0)
    out = KERNELS[backend](x.astype(np.float32), *values, 44100.0)
    n = np.arange(2000)
    tau = 12.34 * 44.1
    for c in range(2):
        # The line is zero before the clip: interpolate from a zero at n = −1 onwards.
        known = np.concatenate([[0.0], x[0, c].astype(np.float32)])
        expected = np.interp(n - tau, np.arange(-1, 2000), known, left=0.0)
        np.testing.assert_allclose(out[0, c], expected, atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "c", "numba"])
@pytest.mark.parametrize(
    "name, setting",
    [
        ("chorus", dict(rate_hz=5.0, depth_ms=10.0, centre_ms=20.0)),
        ("chorus", dict(rate_hz=0.7, depth_ms=2.5, centre_ms=5.0)),
        ("flanger", dict(rate_hz=3.0, depth_ms=5.0, centre_ms=3.0)),  # dips below 1 sample
    ],
)
def test_the_delay_follows_the_lfo(name, setting, backend):
    # Linear interpolation of a ramp is exact: with no feedback and mix 1, a ramp x[n] = n / 4096
    # comes out as (n − τ[n]) / 4096, which gives τ[n] back; the ramp and its float32 output
    # are exact to 5e-4 samples. So rate, depth, centre, the stereo quarter cycle and the
    # one-sample floor can all be read off the output.
    fx = EFFECTS[name]
    samples, rate = 8192, 22050
    audio = np.tile((np.arange(samples) / 4096).astype(np.float32), (1, 2, 1))
    params = fx.settings(1, **setting, feedback=0.0, mix=1.0)
    tau = np.arange(samples) - 4096.0 * fx(audio, params, rate, backend=backend)[0]
    lfo = np.sin(2 * np.pi * setting["rate_hz"] * np.arange(samples) / rate + [[0.0], [np.pi / 2]])
    expected = np.maximum(1.0, (setting["centre_ms"] + setting["depth_ms"] * lfo) * rate / 1000)
    start = int(expected.max()) + 2  # before that the line still holds zeros
    np.testing.assert_allclose(tau[:, start:], expected[:, start:], atol=2e-3)
    reference = modulated_delays(audio.shape, *_values(**setting, feedback=0, mix=1)[:3], rate)
    np.testing.assert_allclose(reference[0], expected, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "c", "numba"])
@pytest.mark.parametrize("feedback", [0.0, 0.7, -0.7])
def test_flanger_is_a_comb_filter(feedback, backend):
    # Without sweep the flanger is y = (1 − m) x + m z^−τ / (1 − g z^−τ) x. With τ = 48 samples
    # at 48 kHz its peaks (g > 0) sit at multiples of 1 kHz, its dips halfway between, and with
    # g = 0 those dips are complete notches. Each cosine's steady-state response is fitted as
    # a complex gain and compared with H(e^jω).
    rate, tau, mix, samples = 48000, 48, 0.5, 3000
    freqs = np.array([250.0, 500.0, 1000.0, 1500.0, 1730.0])
    n = np.arange(samples)
    audio = np.cos(2 * np.pi * freqs[:, None] * n / rate).astype(np.float32)[:, None]
    values = _values(rate_hz=1.0, depth_ms=0.0, centre_ms=1.0, feedback=feedback, mix=mix)
    values = [np.repeat(v, len(freqs)) for v in values]
    out = KERNELS[backend](audio, *values, float(rate))[:, 0].astype(np.float64)
    z = np.exp(-1j * 2 * np.pi * freqs * tau / rate)
    expected = (1 - mix) + mix * z / (1 - feedback * z)
    tail = slice(1500, samples)  # |g|^(1500/48) < 1e-4: the start-up has died away
    basis = np.exp(1j * 2 * np.pi * freqs[:, None] * n[tail] / rate)
    measured = [
        np.linalg.lstsq(np.stack([b.real, -b.imag], 1), o[tail])[0]
        for b, o in zip(basis, out, strict=True)
    ]
    measured = np.array([m[0] + 1j * m[1] for m in measured])
    np.testing.assert_allclose(measured, expected, atol=2e-4)
    if feedback == 0.0:
        assert abs(measured[1]) < 1e-4  # the notch at 500 Hz
    if feedback > 0:
        assert abs(measured[2]) > 1.0 / (1 - feedback) * mix  # resonant peak at 1 kHz


def test_more_depth_spreads_a_sine_wider():
    # A swept delay shifts a sine's frequency by up to f0 · depth · 2π · rate; more depth, more
    # of the wet signal's energy away from f0.
    fx = EFFECTS["chorus"]
    rate, samples, f0 = 22050, 8192, 1000.0
    sine = np.sin(2 * np.pi * f0 * np.arange(samples) / rate).astype(np.float32)
    audio = np.tile(sine, (4, 1, 1))
    params = fx.normalise(
        dict(rate_hz=2.0, depth_ms=[0.0, 1.0, 4.0, 10.0], centre_ms=15.0, feedback=0.0, mix=1.0)
    )
    out = fx(audio, params, rate)[:, 0, 2000:]
    spectra = np.abs(np.fft.rfft(out * np.hanning(out.shape[1]), axis=-1)) ** 2
    k0 = round(f0 * out.shape[1] / rate)
    near = spectra[:, k0 - 4 : k0 + 5].sum(axis=-1) / spectra.sum(axis=-1)
    assert near[0] > 0.99 and np.all(np.diff(near) < 0)


@pytest.mark.parametrize("backend", ["numpy", "c", "numba"])
def test_flanger_echoes_alternate_with_negative_feedback(backend):
    # An impulse through a fixed 48-sample delay with feedback −0.6: echoes at 48 k of
    # mix · (−0.6)^(k−1).
    x = np.zeros((1, 1, 500), np.float32)
    x[0, 0, 0] = 1.0
    values = _values(rate_hz=1.0, depth_ms=0.0, centre_ms=1.0, feedback=-0.6, mix=1.0)
    out = KERNELS[backend](x, *values, 48000.0)[0, 0]
    expected = np.zeros(500)
    expected[48::48] = (-0.6) ** np.arange(len(expected[48::48]))
    np.testing.assert_allclose(out, expected, atol=1e-7, rtol=1e-6)
