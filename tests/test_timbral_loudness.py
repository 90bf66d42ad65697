"""Zwicker loudness of windows, and the sharpness, boominess and warmth descriptors built on it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from dafxkit.descriptors.timbral import _loudness as L
from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.descriptors.timbral.boominess import boominess
from dafxkit.descriptors.timbral.sharpness import sharpness
from dafxkit.descriptors.timbral.warmth import _segment_stats, segment_spectra, warmth
from dafxkit.signals import test_signal as music

DESCRIPTORS = {"sharpness": sharpness, "boominess": boominess, "warmth": warmth}
REFERENCE_NAMES = {
    "sharpness": "timbral_sharpness",
    "boominess": "timbral_booming",
    "warmth": "timbral_warmth",
}


def _reference():
    """timbral_models with its compatibility shim, or skip."""
    pytest.importorskip("timbral_models", reason="timbral_models is not installed")
    from dafxkit.descriptors.timbral_reference import load_timbral_models

    package = load_timbral_models()
    from timbral_models import timbral_util

    return package, timbral_util


def _levels_slow(windows: np.ndarray, sample_rate: int, reference_db: float = 100.0) -> np.ndarray:
    """The filter bank window by window with scipy.signal.lfilter (the obvious implementation)."""
    nyquist = sample_rate / 2
    centres = 1000.0 * 2.0 ** (np.arange(-16, 12) / 3.0)
    filters = {}
    for band in range(24, 28):
        edges = [
            2 ** (-1 / 6) * centres[band] / nyquist,
            min(2 ** (1 / 6) * centres[band] / nyquist, 0.9999999999),
        ]
        filters[band] = scipy.signal.butter(4, edges, "bandpass")
    alias = scipy.signal.cheby1(2, 0.1, 0.4)

    def level(y):
        if np.max(y) <= 0:
            return -np.inf
        return 20 * np.log10(np.sqrt(np.sum(y**2) / len(y))) + reference_db

    out = np.empty((len(windows), 28))
    for w, x in enumerate(windows):
        for band in range(24, 28):
            out[w, band] = level(scipy.signal.lfilter(*filters[band], x))
        for top in range(23, 1, -3):
            x = scipy.signal.lfilter(*alias, x)[1::2]
            for offset, band in enumerate((26, 25, 24)):
                out[w, top - offset] = level(scipy.signal.lfilter(*filters[band], x))
    return out


def _windows(rng: np.random.Generator, n: int, sample_rate: int = 44100) -> np.ndarray:
    """Music, noise, tones, silence and clicks at levels from -90 dBFS to full scale."""
    clip = music(n * 4096 / sample_rate + 0.1, sample_rate, seed=int(rng.integers(1000)))[0]
    windows = L.window_audio(clip.astype(np.float64))[:n].copy()
    t = np.arange(4096) / sample_rate
    windows[0] = rng.standard_normal(4096) * 0.3
    windows[1] = np.sin(2 * np.pi * 60.0 * t)
    windows[2] = np.sin(2 * np.pi * 9000.0 * t) * 1e-3
    windows[3] = 0.0
    windows[4] = 0.0
    windows[4, 100] = 1.0
    windows[5] = 1.0  # DC step from rest
    windows *= 10.0 ** (rng.uniform(-90, 0, size=(n, 1)) / 20.0)
    windows[6] = np.clip(rng.standard_normal(4096) * 4, -1, 1)
    return windows


# ---------------------------------------------------------------------------------------------
# the loudness model
# ---------------------------------------------------------------------------------------------


def test_window_audio_pads_and_adds_a_zero_window_on_exact_multiples():
    x = np.arange(1.0, 8193.0)
    w = L.window_audio(x)
    assert w.shape == (3, 4096) and np.array_equal(w[:2].ravel(), x) and not w[2].any()
    w = L.window_audio(x[:5000])
    assert (
        w.shape == (2, 4096)
        and np.array_equal(w.ravel()[:5000], x[:5000])
        and not w.ravel()[5000:].any()
    )
    with pytest.raises(ValueError, match="1-D"):
        L.window_audio(np.zeros((2, 10)))


@pytest.mark.parametrize("sample_rate", [44100, 48000, 96000])
def test_filter_bank_matches_lfilter_window_by_window(rng, sample_rate):
    windows = _windows(rng, 12, sample_rate)
    fast = L.third_octave_levels(windows, sample_rate)
    slow = _levels_slow(windows, sample_rate)
    assert np.array_equal(np.isinf(fast), np.isinf(slow))
    finite = np.isfinite(slow)
    np.testing.assert_allclose(fast[finite], slow[finite], rtol=0, atol=1e-9)
    assert np.all(np.isneginf(fast[3]))  # a silent window has no level in any band


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_windows=st.integers(1, 9),
    level_db=st.floats(-120.0, 6.0),
)
def test_filter_bank_matches_lfilter_on_random_windows(seed, n_windows, level_db):
    rng = np.random.default_rng(seed)
    windows = rng.standard_normal((n_windows, 4096)) * 10.0 ** (level_db / 20)
    fast = L.third_octave_levels(windows, 44100)
    slow = _levels_slow(windows, 44100)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)


def test_specific_loudness_equals_timbral_models(rng):
    _, util = _reference()
    for sample_rate in (44100, 48000):
        windows = _windows(rng, 16, sample_rate)
        total, pattern = L.specific_loudness(windows, sample_rate)
        assert total.shape == (16,) and pattern.shape == (16, 240)
        for w, x in enumerate(windows):
            ref_total, ref_pattern = util.specific_loudness(x, Pref=100.0, fs=sample_rate, Mod=0)
            assert total[w] == ref_total
            # Same operations in the same order: agreement to rounding (bound 1e-9 relative).
            np.testing.assert_allclose(pattern[w], ref_pattern, rtol=1e-9, atol=1e-12)
        assert total[3] == 0 and not pattern[3].any()


def test_diffuse_field_option_equals_timbral_models(rng):
    _, util = _reference()
    windows = _windows(rng, 8)
    total, pattern = L.specific_loudness(windows, 44100, diffuse_field=True)
    for w, x in enumerate(windows):
        ref_total, ref_pattern = util.specific_loudness(x, Pref=100.0, fs=44100, Mod=1)
        assert total[w] == ref_total
        np.testing.assert_allclose(pattern[w], ref_pattern, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seconds", [0.05, 1.0, 7.3])
def test_loudness_of_signal_equals_the_cut_windows(seconds, rng):
    """The windows filled straight from the signal (in blocks, the last zero-padded) give the
    numbers of `window_audio`'s copies."""
    x = rng.standard_normal(int(seconds * 44100)) * 0.1
    loud = L.loudness_of_signal(x, 44100)
    windows = L.window_audio(x)
    total, pattern = L.specific_loudness(windows, 44100)
    np.testing.assert_array_equal(loud.total, total)
    np.testing.assert_array_equal(loud.pattern, pattern)
    np.testing.assert_allclose(loud.rms, np.sqrt(np.mean(windows**2, axis=1)), rtol=1e-12)


@pytest.mark.parametrize("bands", [(0, 70), (10, 40), (80, 240), (0, 240)])
def test_weighted_bark_level_equals_timbral_models(bands):
    _, util = _reference()
    x = music(1.5, 44100, seed=7)[0].astype(np.float64)
    loud = L.loudness_of_signal(x, 44100)
    mine = L.weighted_bark_level(loud.pattern, loud.rms, *bands)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = util.weighted_bark_level(x, 44100, *bands)
    np.testing.assert_allclose(mine, ref, rtol=1e-9)


def test_bark_weighting_is_a_unit_bump_and_checks_its_range():
    w = L.bark_weighting(10, 40)
    assert w[:10].sum() == 0 and w[40:].sum() == 0
    assert w[10] == 0 and w.max() == 1.0 and np.argmax(w) == 25
    with pytest.raises(ValueError, match="bark band range"):
        L.bark_weighting(50, 40)


def test_low_sample_rate_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="12.5 kHz band"):
        L.third_octave_levels(np.zeros((1, 4096)), 22050)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["noise", "tone", "click", "dc", "silence", "clipped"]),
    level_db=st.floats(-150.0, 0.0),
)
def test_loudness_is_finite_and_non_negative_for_any_window(seed, kind, level_db):
    rng = np.random.default_rng(seed)
    x = np.zeros(4096)
    if kind == "noise":
        x = rng.standard_normal(4096)
    elif kind == "tone":
        x = np.sin(2 * np.pi * rng.uniform(20, 20000) * np.arange(4096) / 44100)
    elif kind == "click":
        x[rng.integers(4096)] = 1.0
    elif kind == "dc":
        x[:] = 1.0
    elif kind == "clipped":
        x = np.clip(rng.standard_normal(4096) * 100, -1, 1)
    total, pattern = L.specific_loudness(x[None] * 10 ** (level_db / 20), 44100)
    assert np.isfinite(total).all() and np.isfinite(pattern).all()
    assert total[0] >= 0 and pattern.min() > -1.0  # slopes may end a rounding step below 0


# ---------------------------------------------------------------------------------------------
# warmth's segment analysis
# ---------------------------------------------------------------------------------------------


def test_segment_spectra_match_scipy_spectrogram(rng):
    x = rng.standard_normal(100000)
    lengths = [1, 2, 9, 100, 4097, 8191, 8192, 8193, 15360, 15361, 30000]
    starts = np.cumsum([0, *lengths[:-1]])
    bounds = [(int(a), int(a + n)) for a, n in zip(starts, lengths, strict=True)]
    mine = segment_spectra(x, bounds)
    assert mine.shape == (len(bounds), 4097)
    for (start, stop), row in zip(bounds, mine, strict=True):
        segment = x[start:stop]
        nperseg = min(len(segment), 8192)
        _, _, spec = scipy.signal.spectrogram(segment, 44100, nperseg=nperseg, nfft=8192)
        ref = spec.sum(axis=1)
        if not ref.any():  # one sample: the frame mean removes everything
            assert not row.any()
            continue
        np.testing.assert_allclose(row / row.max(), ref / ref.max(), rtol=1e-9, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), fundamental=st.floats(20.0, 5000.0), zeros=st.booleans())
def test_segment_stats_match_numpy_and_scikit_learn(seed, fundamental, zeros):
    rng = np.random.default_rng(seed)
    freq = np.fft.rfftfreq(8192, 1 / 44100)
    spectrum = rng.uniform(0.0, 1.0, len(freq)) ** 4 / (1 + freq / 500)
    if zeros:
        spectrum[rng.integers(0, len(freq), 20)] = 0.0
    spectrum /= spectrum.max()
    index = int(np.searchsorted(freq, fundamental))
    with np.errstate(divide="ignore"):
        ratio, centroid, decay, zero_bins = _segment_stats(
            spectrum, np.log10(spectrum), freq, np.log10(freq), fundamental, index, 12000.0
        )
    total = np.sum(spectrum)
    top = np.flatnonzero(freq > 260)[0]
    assert ratio == pytest.approx(np.sum(spectrum[index:top]) / total if fundamental < 260 else 0)
    assert centroid == pytest.approx(np.sum(freq * spectrum) / total, rel=1e-12)
    first = np.flatnonzero(freq > min(3.5 * fundamental, 12000.0))[0]
    keep = spectrum[first:] > 0
    assert zero_bins == (not keep.all())
    x = np.log10(freq[first:][keep])
    y = np.log10(spectrum[first:][keep])
    try:
        from sklearn.linear_model import LinearRegression
    except ImportError:
        slope, intercept = np.polyfit(x, y, 1)
        expected = 1 - np.sum((y - slope * x - intercept) ** 2) / np.sum((y - y.mean()) ** 2)
    else:
        design = np.stack([x, np.ones_like(x)], axis=1)
        expected = LinearRegression(fit_intercept=False).fit(design, y).score(design, y)
    assert decay == pytest.approx(expected, abs=1e-10)


# ---------------------------------------------------------------------------------------------
# the descriptors
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def musical_clips():
    """Three seeded music-like clips of 2.5 s, one of them stereo, one at 48 kHz."""
    a = music(2.5, 44100, seed=1)[0].astype(np.float64)
    b = music(2.5, 44100, seed=2)[0].astype(np.float64)
    c = music(2.5, 48000, seed=3)[0].astype(np.float64)
    return [(a, 44100), (np.stack([b, 0.5 * a]), 44100), (c, 48000)]


@pytest.mark.parametrize("name", list(DESCRIPTORS))
def test_descriptor_agrees_with_timbral_models(name, musical_clips):
    package, _ = _reference()
    for samples, rate in musical_clips:
        value, flags = DESCRIPTORS[name](Analysis(samples, rate))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(package, REFERENCE_NAMES[name])(samples.T, fs=rate)
        assert flags == 0
        # Same operations in the same order: agreement to rounding (measured ~1e-12).
        assert value == pytest.approx(ref, rel=1e-6, abs=1e-6), (name, rate)


@pytest.mark.parametrize("name", list(DESCRIPTORS))
def test_silence_gives_zero_and_the_silent_flag(name):
    value, flags = DESCRIPTORS[name](Analysis(np.zeros(44100), 44100))
    assert value == 0.0 and flags & Flag.SILENT


def _robustness_signal(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = max(1, int(seconds * 44100))
    if kind == "noise":
        return rng.standard_normal(n)
    if kind == "dc":
        return np.full(n, rng.choice([-1.0, 1.0]))
    if kind == "clipped":
        return np.clip(rng.standard_normal(n) * 50, -1.0, 1.0)
    if kind == "click":
        x = np.zeros(n)
        x[rng.integers(n)] = 1.0
        return x
    if kind == "tone":
        return np.sin(2 * np.pi * rng.uniform(30, 15000) * np.arange(n) / 44100)
    if kind == "hf":
        return np.sin(2 * np.pi * 16000 * np.arange(n) / 44100)  # nothing below 280 Hz
    if kind == "sub":
        return np.sin(2 * np.pi * 15 * np.arange(n) / 44100)  # below the lowest band
    return music(seconds, 44100, seed=int(rng.integers(100)))[0].astype(np.float64)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(
        ["noise", "dc", "clipped", "click", "tone", "hf", "sub", "music", "silence"]
    ),
    seconds=st.sampled_from([0.0001, 0.05, 0.3, 1.0]),
    seed=st.integers(0, 2**32 - 1),
    scale_db=st.floats(-200.0, 40.0),
    sample_rate=st.sampled_from([22050, 44100, 96000]),
)
def test_descriptors_never_raise_and_stay_finite(kind, seconds, seed, scale_db, sample_rate):
    x = _robustness_signal(kind, seconds, np.random.default_rng(seed)) * 10.0 ** (scale_db / 20)
    if kind == "silence":
        x = np.zeros_like(x)
    an = Analysis(x, sample_rate)
    for name, func in DESCRIPTORS.items():
        value, flags = func(an)
        assert np.isfinite(value), (name, kind)
        assert isinstance(flags, int) and flags & ~int(Flag.SILENT | Flag.FALLBACK) == 0
        assert bool(flags & Flag.SILENT) == (not np.any(x))


def test_long_clip_matches_its_windows_and_is_not_flagged():
    x = np.tile(music(5.0, 44100, seed=11)[0].astype(np.float64), 12)  # one minute, 646 windows
    an = Analysis(x, 44100)
    for func in DESCRIPTORS.values():
        value, flags = func(an)
        assert np.isfinite(value) and flags == 0
    loud = L.windowed_loudness(an)
    windows = L.window_audio(an.signal)
    # Blocks of windows are filtered together: a block boundary changes nothing.
    for w in (0, 63, 64, 645):
        total, pattern = L.specific_loudness(windows[w : w + 1], 44100)
        assert total[0] == loud.total[w] and np.array_equal(pattern[0], loud.pattern[w])


def test_degenerate_cases_are_flagged_where_the_reference_fails():
    t = np.arange(44100) / 44100
    # Only 22 kHz: no loudness below 280 Hz in any window (the reference gives -inf).
    assert boominess(Analysis(np.sin(2 * np.pi * 22000 * t), 44100)) == (0.0, int(Flag.FALLBACK))
    # A constant clip: every segment spectrum is 0 after the frame mean is removed (the
    # reference raises); a one-sample clip likewise.
    for x in (np.ones(44100), np.array([0.5])):
        value, flags = warmth(Analysis(x, 44100))
        assert value == 0.0 and flags == Flag.FALLBACK
    # Alternating samples: zero power between DC and Nyquist, log of 0 in the decay fit
    # (the reference raises): a finite value from the bins with power, flagged.
    value, flags = warmth(Analysis(np.cos(np.pi * np.arange(44100)), 44100))
    assert np.isfinite(value) and flags == Flag.FALLBACK


def test_sharpness_without_any_loudness_falls_back():
    an = Analysis(np.ones(8192), 44100)
    zeros = L.WindowedLoudness(rms=np.ones(3), total=np.zeros(3), pattern=np.zeros((3, 240)))
    an.memo("windowed_loudness", lambda: zeros)
    assert sharpness(an) == (0.0, int(Flag.FALLBACK))
    assert boominess(an) == (0.0, int(Flag.FALLBACK))


def test_loudness_is_computed_once_per_clip():
    an = Analysis(music(1.0, 44100, seed=5)[0], 44100)
    sharpness(an)
    first = L.windowed_loudness(an)
    boominess(an)
    warmth(an)
    assert L.windowed_loudness(an) is first
