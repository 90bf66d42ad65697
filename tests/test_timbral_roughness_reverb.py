"""Roughness (Vassilakis peak pairs) and reverb (blind RT60 + logistic class) against
timbral_models 0.4.0, plus robustness on degenerate input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dafxkit.descriptors.timbral._common import use_native
from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.descriptors.timbral.reverb import (
    COEFFICIENT,
    INTERCEPT,
    RtEstimatorParams,
    estimate_rt60,
    reverb,
    reverb_probability,
)
from dafxkit.descriptors.timbral.roughness import (
    frames_pair_sum,
    mean_roughness,
    roughness,
    vassilakis_roughness,
)
from dafxkit.signals import test_signal as music


def _reference():
    """timbral_models with its compatibility shim, or skip."""
    pytest.importorskip("timbral_models", reason="timbral_models is not installed")
    from dafxkit.descriptors.timbral_reference import load_timbral_models

    package = load_timbral_models()
    from timbral_models import Timbral_Reverb, Timbral_Roughness

    return package, Timbral_Roughness, Timbral_Reverb


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _beating_chord(seconds: float, fs: int = 44100) -> np.ndarray:
    """Close partials (a few Hz to a semitone apart): a rough sound."""
    t = np.arange(int(seconds * fs)) / fs
    freqs = [220.0, 227.0, 440.0, 466.2, 660.0, 699.0]
    return sum(np.sin(2 * np.pi * f * t) / (1 + i) for i, f in enumerate(freqs)) * 0.2


def _reverberant(seconds: float, rt60: float, fs: int = 44100, seed: int = 0) -> np.ndarray:
    """Short noise bursts each followed by an exponential tail reaching -60 dB after rt60 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    out = np.zeros(n)
    t = np.arange(n) / fs
    for start in np.arange(0.05, seconds, 1.2):
        i0 = int(start * fs)
        tt = t[i0:] - start
        out[i0:] += rng.standard_normal(n - i0) * np.exp(-6.9 * tt / rt60) * 0.5
    return out


# --------------------------------------------------------------------------------------------
# Roughness
# --------------------------------------------------------------------------------------------


def _pair_sum_reference(freqs: np.ndarray, levels: np.ndarray) -> float:
    """The reference's matrix formulation (Kronecker products, lower triangle)."""
    f2 = np.kron(np.ones([len(freqs), 1]), freqs)
    f1 = f2.T
    v2 = np.kron(np.ones([len(levels), 1]), levels)
    v1 = v2.T
    s = np.tril(0.24 / ((0.0207 * np.minimum(f1, f2)) + 18.96))
    z = np.exp(-3.51 * s * np.abs(f2 - f1)) - np.exp(-5.75 * s * np.abs(f2 - f1))
    return float(np.sum((v1 * v2) ** 0.1 * (0.5 * ((2 * v2) / (v1 + v2)) ** 3.11) * z))


@settings(max_examples=60, deadline=None)
@given(
    peaks=st.lists(
        st.tuples(st.floats(0.0, 22050.0), st.floats(1e-3, 1e3)), min_size=0, max_size=40
    )
)
def test_pair_roughness_matches_matrix_formula(peaks):
    freqs = np.array([p[0] for p in peaks])
    levels = np.array([p[1] for p in peaks])
    expected = _pair_sum_reference(freqs, levels) if len(peaks) > 1 else 0.0
    assert vassilakis_roughness(freqs, levels) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    frames=st.lists(
        st.lists(st.tuples(st.floats(0.0, 22050.0), st.floats(1e-3, 1e3)), min_size=0, max_size=40),
        min_size=1,
        max_size=6,
    ),
    native=st.booleans(),
)
def test_pair_roughness_of_many_frames_is_the_sum_of_frames(frames, native):
    """The C kernel (vectorised exponentials) and the Numba loop: each frame's pair sum as the
    reference's matrix formula has it, peaks sorted by height as the frames give them."""
    if native and not use_native():
        pytest.skip("the C kernels are not built")
    rows = [sorted(f, key=lambda p: -p[1]) for f in frames]
    positions = np.array([p[0] for r in rows for p in r])
    levels = np.array([p[1] for r in rows for p in r])
    offsets = np.cumsum([0] + [len(r) for r in rows])
    expected = sum(
        _pair_sum_reference(np.array([p[0] for p in r]), np.array([p[1] for p in r]))
        for r in rows
        if len(r) > 1
    )
    total = frames_pair_sum(positions, levels, offsets, native=native)
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    "make",
    [
        lambda: music(2.0, 44100, seed=2)[0].astype(np.float64),
        lambda: _beating_chord(1.5),
        lambda: np.stack([_beating_chord(1.0), music(1.0, 44100, seed=9)[0]]),
        lambda: np.random.default_rng(5).uniform(-1, 1, 1500),  # one frame, unwindowed
    ],
    ids=["music", "chord", "stereo", "one-frame"],
)
def test_roughness_matches_reference(make):
    _, module, _ = _reference()
    x = make()
    ref_input = x.T if x.ndim == 2 else x
    expected_mean = _quiet(module.timbral_roughness, ref_input, fs=44100, dev_output=True)[0]
    expected = _quiet(module.timbral_roughness, ref_input, fs=44100)
    an = Analysis(x, 44100)
    mean, flags = mean_roughness(an)
    assert mean == pytest.approx(expected_mean, rel=1e-9)
    value, _ = roughness(an)
    assert value == pytest.approx(expected, abs=1e-7)
    assert flags == 0


def test_roughness_streamed_over_long_clips_equals_held_spectra():
    an = Analysis(np.concatenate([_beating_chord(0.6), music(0.6, 44100, seed=4)[0]]), 44100)
    held, flags = mean_roughness(an)
    for streamed in (mean_roughness(an, block=7, stream_frames=5), mean_roughness(an, block=16)):
        assert streamed == (pytest.approx(held, rel=1e-12), flags)


def test_roughness_of_a_rough_chord_exceeds_a_pure_tone():
    t = np.arange(44100) / 44100
    pure, _ = roughness(Analysis(np.sin(2 * np.pi * 440 * t), 44100))
    rough, _ = roughness(Analysis(_beating_chord(1.0), 44100))
    assert rough > pure + 10


def test_roughness_of_a_clip_too_short_for_the_reference_is_flagged():
    value, flags = roughness(Analysis(np.random.default_rng(0).uniform(-1, 1, 50), 44100))
    assert np.isfinite(value) and flags & Flag.TOO_SHORT


# --------------------------------------------------------------------------------------------
# Reverb
# --------------------------------------------------------------------------------------------


def test_estimator_parameters_follow_the_reference():
    _, _, module = _reference()
    for fs in (44100, 48000, 53000, 96000):
        ours = RtEstimatorParams.for_rate(fs)
        theirs = module.init_rt_estimate_e(fs)
        assert (ours.down, ours.n_sub, ours.n_shift, ours.buffer_size) == (
            theirs["down"],
            theirs["N_sub"],
            theirs["N_shift"],
            theirs["buffer_size"],
        )
        np.testing.assert_array_equal(ours.t_quant, theirs["Tquant"])
        np.testing.assert_array_equal(ours.decay, theirs["a"])
        np.testing.assert_array_equal(ours.hist_limits, theirs["hist_limits"])


@pytest.mark.parametrize(
    ("make", "fs"),
    [
        (lambda: _reverberant(3.0, 0.9), 44100),
        (lambda: _reverberant(3.0, 0.3, seed=1), 44100),
        (lambda: music(2.0, 48000, seed=3)[0].astype(np.float64), 48000),
        (lambda: np.zeros(20000), 44100),  # a silent channel: no decay, the 0.2 s floor
        (lambda: np.ones(5000), 44100),  # shorter than a frame
    ],
    ids=["long-tail", "short-tail", "music-48k", "silent-channel", "too-short"],
)
def test_rt60_estimate_matches_reference(make, fs):
    _, _, module = _reference()
    x = make()
    expected = _quiet(module.estimate_RT60, x, fs)
    rt, _ = estimate_rt60(x, fs)
    assert rt == pytest.approx(expected, abs=1e-12)


def test_reverb_class_and_probability_match_reference():
    _, _, module = _reference()
    left = _reverberant(3.0, 1.0, seed=2)
    right = _reverberant(3.0, 0.25, seed=3)
    x = np.stack([left, right])
    rt_ref, p_ref = _quiet(module.timbral_reverb, x.T, fs=44100, dev_output=True)
    rt, p, flags = reverb_probability(Analysis(x, 44100))
    assert rt == pytest.approx(rt_ref, abs=1e-12)
    assert p == pytest.approx(p_ref, abs=1e-12)
    assert flags == 0
    value, _ = reverb(Analysis(x, 44100))
    assert value == _quiet(module.timbral_reverb, x.T, fs=44100)
    # the logistic model's boundary
    assert 1 / (1 + np.exp(-(COEFFICIENT * rt + INTERCEPT))) == pytest.approx(p)


def test_reverb_reads_the_raw_channels_not_the_normalised_mono_sum():
    # Opposite channels sum to silence, which the other descriptors would flag; reverb
    # analyses each channel and finds the tail.
    x = _reverberant(3.0, 1.0, seed=4)
    _, _, flags = reverb_probability(Analysis(np.stack([x, -x]), 44100))
    value, _ = reverb(Analysis(np.stack([x, -x]), 44100))
    assert value == 1.0 and not flags & Flag.SILENT


def test_reverb_flags():
    assert reverb(Analysis(np.zeros((2, 30000)), 44100)) == (0.0, int(Flag.SILENT))
    assert reverb(Analysis(np.ones(3000), 44100)) == (0.0, int(Flag.TOO_SHORT))
    t = np.arange(44100) / 44100
    assert reverb(Analysis(np.sin(2 * np.pi * 440 * t), 44100)) == (0.0, int(Flag.FALLBACK))


def test_reverb_resamples_low_rates_per_channel():
    x = _reverberant(3.0, 1.0, fs=22050, seed=5)
    rt, _, flags = reverb_probability(Analysis(np.stack([x, x]), 22050))
    rt_mono, _, _ = reverb_probability(Analysis(x, 22050))
    assert rt == pytest.approx(rt_mono) and rt > 0.5 and flags == 0


# --------------------------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------------------------


@st.composite
def degenerate_clips(draw):
    kind = draw(st.sampled_from(["silence", "dc", "clipped", "noise", "click", "sine"]))
    n = draw(st.sampled_from([1, 30, 600, 2205, 12000, 50000]))
    channels = draw(st.sampled_from([1, 2]))
    level = draw(st.sampled_from([1e-6, 0.3, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "silence":
        x = np.zeros((channels, n))
    elif kind == "dc":
        x = np.full((channels, n), level)
    elif kind == "clipped":
        wave = np.clip(8 * np.sin(2 * np.pi * 110 * np.arange(n) / 44100), -1, 1)
        x = np.repeat(wave[None], channels, axis=0)
    elif kind == "noise":
        x = level * rng.uniform(-1, 1, (channels, n))
    elif kind == "click":
        x = np.zeros((channels, n))
        x[:, draw(st.integers(0, n - 1))] = level
    else:
        x = level * np.sin(2 * np.pi * rng.uniform(20, 20000) * np.arange(n) / 44100)[None]
        x = x.repeat(channels, 0)
    return x


@settings(max_examples=40, deadline=None)
@given(x=degenerate_clips(), rate=st.sampled_from([22050, 44100, 48000]))
def test_roughness_and_reverb_never_raise_and_stay_finite(x, rate):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for func in (roughness, reverb):
            value, flags = func(Analysis(x, rate))
            assert np.isfinite(value) and isinstance(flags, int)
            if not np.any(x):
                assert flags & Flag.SILENT and value == 0.0
    assert reverb(Analysis(x, rate))[0] in (0.0, 1.0)
