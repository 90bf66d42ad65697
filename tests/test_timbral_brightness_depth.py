"""Brightness and depth against timbral_models 0.4.0, and their behaviour on degenerate clips."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dafxkit.descriptors.timbral import _common
from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.descriptors.timbral.brightness import brightness
from dafxkit.descriptors.timbral.depth import depth
from dafxkit.signals import test_signal as music_signal
from tests.conftest import music_clip_paths

FS = 44100
DESCRIPTORS = {"brightness": brightness, "depth": depth}


def _reference():
    """timbral_models with its compatibility shim, or skip."""
    pytest.importorskip("timbral_models", reason="timbral_models is not installed")
    from dafxkit.descriptors.timbral_reference import load_timbral_models

    return load_timbral_models()


def _reference_value(name: str, x: np.ndarray, fs: int) -> float:
    """The reference's value, NaN when it raises or gives a non-finite number."""
    tm = _reference()
    func = getattr(tm, f"timbral_{name}")
    # Mono as (samples,): the reference leaves a (samples, 1) array two-dimensional.
    samples = x if x.ndim == 1 else (x[0] if x.shape[0] == 1 else x.T)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = float(func(samples, fs=fs))
    except Exception:  # the reference raises many kinds on degenerate clips
        return math.nan
    return value if math.isfinite(value) else math.nan


def music(seconds: float, seed: int, fs: int = FS, channels: int = 1) -> np.ndarray:
    rows = [music_signal(seconds, fs, seed + c)[0].astype(np.float64) for c in range(channels)]
    return np.stack(rows)


@pytest.fixture(params=["native", "fallback"])
def backend(request, monkeypatch):
    if request.param == "native":
        if not _common.use_native():
            pytest.skip("the C kernels are not built")
    else:
        monkeypatch.setattr(_common, "use_native", lambda: False)
    return request.param


@pytest.mark.parametrize("name", DESCRIPTORS)
@pytest.mark.parametrize(
    "seconds,seed,fs,channels",
    [
        (3.0, 0, FS, 1),
        (3.0, 1, FS, 2),
        (2.0, 2, 48000, 1),
        (2.0, 3, 22050, 2),
        (0.03, 4, FS, 1),
        (0.5, 5, 16000, 1),
    ],
)
def test_agrees_with_the_reference(name, seconds, seed, fs, channels, backend):
    x = music(seconds, seed, fs, channels)
    x += 0.05 * np.random.default_rng(seed).standard_normal(x.shape)
    expected = _reference_value(name, x, fs)
    value, flags = DESCRIPTORS[name](Analysis(x, fs))
    assert math.isfinite(expected)
    assert value == pytest.approx(expected, abs=1e-5)
    assert not flags & (Flag.FALLBACK | Flag.SILENT)


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_short_clips_are_flagged_too_short(name):
    x = music(0.03, 6)  # 1323 samples: shorter than either window
    value, flags = DESCRIPTORS[name](Analysis(x, FS))
    assert flags & Flag.TOO_SHORT
    assert value == pytest.approx(_reference_value(name, x, FS), abs=1e-5)


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_silence_is_zero_and_flagged(name):
    value, flags = DESCRIPTORS[name](Analysis(np.zeros((2, 5000)), FS))
    assert value == 0.0 and flags & Flag.SILENT


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_clip_below_the_loudness_gate_is_flagged(name):
    """The reference's loudness is -inf and it raises; the value is the normalised clip's."""
    x = music(2.0, 7)
    quiet = 1e-6 * x
    value, flags = DESCRIPTORS[name](Analysis(quiet, FS))
    assert flags & Flag.FALLBACK
    assert math.isnan(_reference_value(name, quiet, FS))
    # Brightness and depth do not depend on the level: the same as the clip at normal level.
    assert value == pytest.approx(DESCRIPTORS[name](Analysis(x, FS))[0], abs=1e-6)


def test_a_click_after_the_last_frame_has_no_analysable_power():
    x = np.zeros(FS)
    x[-1] = 1.0
    for name, func in DESCRIPTORS.items():
        value, flags = func(Analysis(x, FS))
        assert value == 0.0 and flags & Flag.FALLBACK, name
        assert math.isnan(_reference_value(name, x, FS))


KINDS = ["silence", "dc", "clipped", "noise", "click", "sine", "music", "tiny"]


@st.composite
def degenerate_clips(draw):
    kind = draw(st.sampled_from(KINDS))
    n = draw(
        st.one_of(
            st.integers(1, 64), st.integers(65, 6000), st.sampled_from([2205, 4096, 4097, 22050])
        )
    )
    fs = draw(st.sampled_from([16000, 22050, 44100, 48000]))
    seed = draw(st.integers(0, 2**16))
    amplitude = draw(st.sampled_from([1e-7, 1e-3, 0.5, 1.0, 30.0]))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    if kind == "silence":
        x = np.zeros(n)
    elif kind == "dc":
        x = np.full(n, rng.choice([-1.0, 1.0]))
    elif kind == "clipped":
        x = np.clip(8 * np.sin(2 * np.pi * rng.uniform(40, 4000) * t), -1, 1)
    elif kind == "noise":
        x = rng.uniform(-1, 1, n)
    elif kind == "click":
        x = np.zeros(n)
        x[rng.integers(0, n)] = 1.0
    elif kind == "sine":
        x = np.sin(2 * np.pi * rng.uniform(20, 0.45 * fs) * t)
    elif kind == "music":
        x = music_signal(n / fs + 0.01, fs, seed)[0, :n].astype(np.float64)
    else:
        x = 1e-300 * rng.standard_normal(n)
    channels = draw(st.integers(1, 2))
    return np.tile(amplitude * x, (channels, 1)), fs, kind


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=degenerate_clips())
def test_degenerate_clips_give_finite_values_and_match_the_reference_where_it_works(case):
    x, fs, kind = case
    for name, func in DESCRIPTORS.items():
        value, flags = func(Analysis(x, fs))
        assert isinstance(value, float) and math.isfinite(value), (name, kind)
        assert isinstance(flags, int) and 0 <= flags < 16
        if kind == "silence":
            assert value == 0.0 and flags & Flag.SILENT
            continue
        expected = _reference_value(name, x, fs)
        if math.isnan(expected):
            assert flags & (Flag.FALLBACK | Flag.SILENT), (name, kind)
        elif not flags & Flag.FALLBACK:
            assert value == pytest.approx(expected, abs=1e-5, rel=1e-6), (name, kind)


def test_a_long_clip_runs():
    rng = np.random.default_rng(8)
    x = np.concatenate([music(5.0, s)[0] for s in range(12)]) + 0.01 * rng.standard_normal(
        12 * 5 * FS
    )
    an = Analysis(x, FS)
    for func in DESCRIPTORS.values():
        value, flags = func(an)
        assert math.isfinite(value) and flags == 0


@pytest.mark.slow
@pytest.mark.skipif(not music_clip_paths(), reason="no real music clips (DAFXKIT_MUSIC_CLIPS)")
def test_real_music_clips_agree_with_the_reference():
    import soundfile as sf

    ours = {name: [] for name in DESCRIPTORS}
    refs = {name: [] for name in DESCRIPTORS}
    for path in music_clip_paths():
        x, fs = sf.read(path)
        x = np.atleast_2d(x.T)
        an = Analysis(x, fs)
        for name, func in DESCRIPTORS.items():
            expected = _reference_value(name, x, fs)
            if math.isfinite(expected):
                ours[name].append(func(an)[0])
                refs[name].append(expected)
    for name in DESCRIPTORS:
        a, b = np.array(ours[name]), np.array(refs[name])
        assert len(a) >= 50
        assert np.corrcoef(a, b)[0, 1] >= 0.999
        assert np.mean(np.abs(a - b)) <= 1e-3
