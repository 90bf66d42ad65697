"""Hardness and its kernels (HPSS median filters, bandwidth array, attack times) against
timbral_models 0.4.0 and scipy, plus robustness on degenerate input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st

from dafxkit import native
from dafxkit.descriptors.timbral import _hardness_util as H
from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.descriptors.timbral.hardness import (
    FEATURES,
    SHORTEST,
    hardness,
    hardness_features,
)
from dafxkit.signals import test_signal as music


def _reference():
    """timbral_models with its compatibility shim, or skip."""
    pytest.importorskip("timbral_models", reason="timbral_models is not installed")
    from dafxkit.descriptors.timbral_reference import load_timbral_models

    package = load_timbral_models()
    from timbral_models import Timbral_Hardness, timbral_util

    return package, timbral_util, Timbral_Hardness


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _drums(seconds: float, fs: int = 44100, seed: int = 0) -> np.ndarray:
    """Struck tones and noise hits with sharp attacks over a soft pad: onsets of varied hardness."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    out = 0.05 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))
    for start in np.arange(0.1, seconds - 0.2, 0.37):
        i0 = int(start * fs)
        tt = t[i0:] - start
        if rng.random() < 0.5:
            out[i0:] += 0.6 * rng.standard_normal(n - i0) * np.exp(-tt * 30)
        else:
            f0 = rng.uniform(80, 400)
            out[i0:] += (
                0.8 * np.sin(2 * np.pi * f0 * tt * (1 + 0.5 * np.exp(-tt * 20))) * np.exp(-tt * 8)
            )
    return out


# --------------------------------------------------------------------------------------------
# Median filter
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from([np.float64, np.float32]),
    rows=st.integers(4, 70),
    cols=st.integers(1, 40),  # several groups of vector lanes and a partial one
    axis=st.sampled_from([0, 1]),
    ties=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_median_filter_equals_scipy_reflect(dtype, rows, cols, axis, ties, seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 4, (rows, cols)) if ties else rng.random((rows, cols))
    s = s.astype(dtype)
    if axis == 1:
        s = np.ascontiguousarray(s.T)  # lines of >= 4 values along the filtered axis
    size = (31, 1) if axis == 0 else (1, 31)
    expected = scipy.ndimage.median_filter(s, size=size, mode="reflect")
    got = H.median_filter_31(s, axis=axis)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_median_filter_numba_fallback_equals_native(monkeypatch, rng, dtype):
    s = rng.random((57, 45)).astype(dtype)
    fast = [H.median_filter_31(s, axis=a) for a in (0, 1)]
    monkeypatch.setenv(native.DISABLE_ENV, "1")
    slow = [H.median_filter_31(s, axis=a) for a in (0, 1)]
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)


def test_median_filter_on_lines_of_two_uses_periodic_reflection():
    # scipy reads outside its buffer here. The reflected line a b | b a a b b a ... puts 16
    # copies of the other value and 15 of its own in the 31 samples around either sample.
    s = np.array([[1.0, 5.0], [0.0, 7.0]])
    np.testing.assert_array_equal(H.median_filter_31(s, axis=0), [[0.0, 7.0], [1.0, 5.0]])


def test_median_filter_rejects_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        H.median_filter_31(np.ones((5, 5)), axis=0, width=4)
    with pytest.raises(ValueError, match="2-D"):
        H.median_filter_31(np.ones(5), axis=0)


# --------------------------------------------------------------------------------------------
# Kernels against the reference's timbral_util
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["music", "drums", "noise"])
def test_percussive_ratio_matches_reference(kind, rng):
    _, util, _ = _reference()
    if kind == "music":
        y = music(1.5, 44100, seed=4)[0].astype(np.float64)
    elif kind == "drums":
        y = _drums(1.5)
    else:
        y = rng.uniform(-0.5, 0.5, 30000)
    expected = _quiet(util.get_percussive_audio, y, return_ratio=True)
    assert H.percussive_ratio(y, exact=True) == pytest.approx(expected, rel=1e-9)
    assert H.percussive_ratio(y) == pytest.approx(expected, rel=1e-5)  # float32 spectra


def test_percussive_ratio_float32_routes_agree(monkeypatch):
    """The lane FFT route (C library) and scipy's float32 route: the same ratio to float32
    rounding, in one pass and in chunks."""
    from dafxkit.descriptors.timbral import _common

    if not _common.use_native():
        pytest.skip("the C kernels are not built")
    y = music(3.0, 44100, seed=3)[0].astype(np.float64)
    lanes = [H.percussive_ratio(y, chunk_frames=c) for c in (10_000, 40)]
    monkeypatch.setattr(_common, "use_native", lambda: False)
    scipy_route = [H.percussive_ratio(y, chunk_frames=c) for c in (10_000, 40)]
    exact = H.percussive_ratio(y, exact=True)
    for got, other in zip(lanes, scipy_route, strict=True):
        assert got == pytest.approx(other, rel=2e-6)
        assert got == pytest.approx(exact, rel=2e-6)


def test_percussive_ratio_in_chunks_equals_one_pass():
    y = _drums(3.0, seed=8)  # 259 frames
    whole = H.percussive_ratio(y, exact=True, chunk_frames=10_000)
    for chunk in (31, 100):
        assert H.percussive_ratio(y, exact=True, chunk_frames=chunk) == pytest.approx(
            whole, rel=1e-13
        )


def test_percussive_ratio_is_nan_without_a_block():
    for exact in (False, True):
        assert np.isnan(H.percussive_ratio(np.ones(300), exact=exact))
        assert np.isnan(H.percussive_ratio(np.zeros(5000), exact=exact))


@pytest.mark.parametrize("seconds", [0.2, 1.3])
def test_bandwidth_array_matches_reference(seconds):
    _, util, _ = _reference()
    x = np.concatenate([np.zeros(4097), _drums(seconds, seed=2)])
    thresh = util.db2mag(-75)
    expected = _quiet(
        util.get_bandwidth_array,
        x,
        44100,
        nperseg=4096,
        overlap_step=128,
        rolloff_thresh=thresh,
        normalisation_method="none",
    )[0]
    got = H.bandwidth_array(x, 44100, 4096, 128, rolloff_thresh=thresh)
    np.testing.assert_allclose(got, np.asarray(expected, dtype=float), rtol=0, atol=1e-9)


@st.composite
def bandwidth_signals(draw):
    n = draw(st.integers(4096, 30000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = np.arange(n) / 44100
    kind = draw(st.sampled_from(["noise", "tones", "clicks", "fade"]))
    level = draw(st.sampled_from([1e-4, 1e-2, 0.5]))
    if kind == "noise":
        x = rng.standard_normal(n)
    elif kind == "tones":
        x = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(50, 20000, 5))
    elif kind == "clicks":
        x = np.zeros(n)
        x[rng.integers(0, n, 8)] = rng.uniform(-1, 1, 8)
    else:
        x = rng.standard_normal(n) * np.linspace(0, 1, n) ** 4
    return level * x


@settings(max_examples=30, deadline=None)
@given(x=bandwidth_signals(), db=st.sampled_from([-75.0, -40.0, -100.0]))
def test_bandwidth_array_float32_route_equals_float64(x, db):
    thresh = 10 ** (db / 20)
    fast = H.bandwidth_array(x, 44100, rolloff_thresh=thresh)
    exact = H.bandwidth_array(x, 44100, rolloff_thresh=thresh, exact=True)
    np.testing.assert_array_equal(fast, exact)


def test_bandwidth_array_of_a_clip_shorter_than_a_frame_is_empty():
    assert H.bandwidth_array(np.ones(100), 44100).shape == (0,)


needs_native = pytest.mark.skipif(not native.available(), reason="the C library is not built")


@settings(max_examples=30, deadline=None)
@given(x=bandwidth_signals(), db=st.sampled_from([-75.0, -40.0, -100.0]))
def test_bandwidth_array_scipy_float32_route_equals_float64(x, db):
    thresh = 10 ** (db / 20)
    fast = H.bandwidth_array(x, 44100, rolloff_thresh=thresh, use_native=False)
    exact = H.bandwidth_array(x, 44100, rolloff_thresh=thresh, exact=True)
    np.testing.assert_array_equal(fast, exact)


@needs_native
@settings(max_examples=40, deadline=None)
@given(
    x=bandwidth_signals(),
    nperseg=st.sampled_from([8, 64, 512, 1024, 1000]),  # 1000: the scipy route
    hop=st.sampled_from([1, 3, 32, 100, 128]),
    offset=st.sampled_from([0.0, 0.3, -2.0]),
    db=st.sampled_from([-75.0, -20.0, -120.0]),
)
def test_bandwidth_array_native_route_equals_float64_for_any_framing(x, nperseg, hop, offset, db):
    # Hops that do not divide the frame, DC offsets (the boxcar's mean removal only zeroes DC)
    # and thresholds near the spectrum's level all reach the C kernel's ambiguity tests.
    if hop > nperseg:
        hop = nperseg
    x = x[: 40 * hop + nperseg] + offset * np.max(np.abs(x))
    thresh = 10 ** (db / 20)
    args = (x, 44100, nperseg, hop, thresh)
    fast = H.bandwidth_array(*args)
    exact = H.bandwidth_array(*args, exact=True)
    np.testing.assert_array_equal(fast, exact)


@needs_native
@settings(max_examples=25, deadline=None)
@given(
    x=bandwidth_signals(),
    nperseg=st.sampled_from([8, 512, 1024]),
    hop=st.sampled_from([3, 100, 128]),
    db=st.sampled_from([-75.0, -20.0]),
)
def test_bandwidth_array_float64_spectra_from_lanes_equal_scipys(x, nperseg, hop, db):
    """The float64 frames (all of them with exact=True, the undecided ones otherwise) come from
    the lane FFT with the C library and from scipy without it: the same bandwidths."""
    from dafxkit.descriptors.timbral import _common

    x = x[: 40 * hop + nperseg]
    args = (x, 44100, nperseg, hop, 10 ** (db / 20))
    # block_frames=2: the float64 frames go through several lane calls of 16.
    lanes = [H.bandwidth_array(*args, exact=True, block_frames=2), H.bandwidth_array(*args)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_common, "use_native", lambda: False)
        scipy_route = [H.bandwidth_array(*args, exact=True), H.bandwidth_array(*args)]
    for a, b in zip(lanes, scipy_route, strict=True):
        np.testing.assert_array_equal(a, b)


@needs_native
def test_bandwidth_array_native_route_on_extreme_levels():
    rng = np.random.default_rng(11)
    n = 4096 + 128 * 40
    quiet = rng.standard_normal(n) * np.logspace(-30, 0, n)  # frames below the float range too
    loud = np.sign(rng.standard_normal(n)) * 1e6
    steps = np.repeat(rng.uniform(-1, 1, n // 64 + 1), 64)[:n]  # equal magnitudes: ties
    for x in (quiet, loud, steps, np.zeros(n)):
        for thresh in (1e-12, 1e-4, 1.0):
            fast = H.bandwidth_array(x, 44100, rolloff_thresh=thresh)
            exact = H.bandwidth_array(x, 44100, rolloff_thresh=thresh, exact=True)
            np.testing.assert_array_equal(fast, exact)


@needs_native
@pytest.mark.parametrize("seed", range(12))
def test_bandwidth_array_native_route_on_thresholds_at_a_magnitude(seed):
    # A roll-off threshold equal to one bin's float64 magnitude, or a roll-on fraction equal to
    # one cumulative sum's, in a frame that is neither the loudest nor the quietest (those are
    # always redone in float64): the float transform lands on either side of the threshold,
    # so only the ambiguity tests keep the result exact.
    rng = np.random.default_rng(seed)
    nperseg, hop, frames = 512, 64, 9
    x = rng.standard_normal(nperseg + (frames - 1) * hop)
    scale = np.sqrt(1.0 / (44100 * nperseg))
    seg = np.lib.stride_tricks.sliding_window_view(x, nperseg)[::hop]
    mags = np.abs(np.fft.rfft(seg, axis=-1)) * scale
    mags[:, 0] = 0.0
    j = int(np.argsort(mags.sum(axis=1))[frames // 2])
    thresh, fraction = 1e-3, 0.05
    if seed % 2:
        thresh = mags[j, rng.integers(100, 200) :].max()
    else:
        fraction = np.cumsum(mags[j])[rng.integers(5, 40)] / mags[j].sum()
    args = (x, 44100, nperseg, hop, thresh, fraction)
    np.testing.assert_array_equal(H.bandwidth_array(*args), H.bandwidth_array(*args, exact=True))


@needs_native
@settings(max_examples=60, deadline=None)
@given(
    frames=st.integers(1, 40),
    bins=st.integers(1, 70),
    zeros=st.floats(0.0, 1.0),
    ties=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_percussive_mask_native_equals_numba(frames, bins, zeros, ties, seed):
    rng = np.random.default_rng(seed)
    spec = (rng.standard_normal((frames, bins)) + 1j * rng.standard_normal((frames, bins))).astype(
        np.complex64
    )
    if ties:
        harm = rng.integers(0, 3, (frames, bins)).astype(np.float32)
        perc = rng.integers(0, 3, (frames, bins)).astype(np.float32)
    else:
        harm = rng.exponential(1.0, (frames, bins)).astype(np.float32)
        perc = rng.exponential(1.0, (frames, bins)).astype(np.float32)
    drop = rng.random((frames, bins)) < zeros
    harm[drop] = 0.0
    perc[drop & (rng.random((frames, bins)) < 0.7)] = 0.0
    harm[0, 0] = perc[0, 0] = np.float32(1e-42)  # subnormal
    expected = spec.copy()
    H._apply_percussive_mask(expected, harm, perc, H._TINY)
    got = spec.copy()
    assert H._percussive_mask_native(got, harm, perc)
    np.testing.assert_array_equal(got.view(np.float32), expected.view(np.float32))


def _normalise_overlap_plain(buf, n_frames, window, hop, tiny):
    # The definition: per output sample, the squared windows of the frames covering it summed
    # frame by frame.
    size = window.shape[0]
    out = np.empty(hop * (n_frames - 1))
    for i in range(out.shape[0]):
        pos = i + size // 2
        total = 0.0
        for t in range(n_frames):
            if t * hop <= pos < t * hop + size:
                w = window[pos - t * hop]
                total += w * w
        out[i] = buf[pos] / total if total > tiny else buf[pos]
    return out


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 40),
    hop=st.integers(1, 40),
    n_frames=st.integers(1, 30),
    gaps=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_normalise_overlap_equals_its_definition(size, hop, n_frames, gaps, seed):
    rng = np.random.default_rng(seed)
    window = rng.random(size)
    if gaps:
        window[rng.random(size) < 0.3] = 0.0  # zero sums: left undivided
    buf = rng.standard_normal(size + hop * (n_frames - 1))
    got = H._normalise_overlap(buf, n_frames, window, hop, H._TINY)
    expected = _normalise_overlap_plain(buf, n_frames, window, hop, H._TINY)
    np.testing.assert_array_equal(got, expected)


envelopes = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=400).map(np.array)


@settings(max_examples=80, deadline=None)
@given(env=envelopes, max_attack=st.sampled_from([-1.0, 0.1, 0.002]))
def test_attack_min_effort_matches_reference(env, max_attack):
    _, util, _ = _reference()
    fs = 44100.0
    if not np.max(env) > 0:
        return  # the reference divides by zero
    expected = _quiet(util.calculate_attack_time, env.copy(), fs, max_attack_time=max_attack)
    got = H.attack_min_effort(env, fs, max_attack_time=max_attack)
    if isinstance(expected, int):
        assert got is None
    else:
        assert got is not None
        assert got[0] == pytest.approx(expected[0], abs=1e-12)
        assert got[1] == expected[2]


@settings(max_examples=80, deadline=None)
@given(seg=envelopes)
def test_attack_fixed_threshold_matches_reference(seg):
    _, util, _ = _reference()
    if not np.max(seg) > 0:
        return
    expected = _quiet(
        util.calculate_attack_time,
        seg.copy(),
        344.5,
        calculation_type="fixed_threshold",
        max_attack_time=0.1,
    )
    got = H.attack_fixed_threshold(seg)
    if isinstance(expected, int):
        assert got is None
    else:
        assert got == expected[2]


@pytest.mark.parametrize("n", [513, 4096, 5512])
def test_spectral_centroid_matches_reference(n, rng):
    _, util, _ = _reference()
    audio = rng.standard_normal(n) * np.exp(-np.arange(n) / 800)
    expected = util.get_spectral_features(audio, 44100)[0]
    assert H.spectral_centroid(audio, 44100) == pytest.approx(expected, rel=1e-12)
    assert H.spectral_centroid(np.zeros(600), 44100) is None


# --------------------------------------------------------------------------------------------
# The descriptor
# --------------------------------------------------------------------------------------------


def _centroid_direct(seg: np.ndarray, fs: float) -> float | None:
    size = int(2 ** np.ceil(np.log2(seg.shape[0])))
    spectrum = np.abs(np.fft.rfft(seg, n=size))
    if not spectrum.sum() > 0:
        return None
    freq = np.arange(spectrum.shape[0]) * (fs / (2.0 * (spectrum.shape[0] - 1)))
    keep = freq >= 20.0
    return float(np.sum(spectrum[keep] * freq[keep]) / np.sum(spectrum[keep]))


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(600, 20000),
    picks=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(2, 6000)), min_size=0, max_size=8),
    silent=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_spectral_centroids_of_segments_equal_each_alone(n, picks, silent, seed):
    """Segments of a signal (equal lengths transformed together, any order, overlapping): each
    centroid as the reference's formula gives it for that segment alone; None for silence."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    if silent:
        x[: n // 2] = 0.0
    segments = []
    for where, length in picks:
        length = min(length, n)
        segments.append((int(where * (n - length)), length))
    got = H.spectral_centroids(x, segments, 44100)
    assert len(got) == len(segments)
    for (start, length), value in zip(segments, got, strict=True):
        expected = _centroid_direct(x[start : start + length], 44100)
        if expected is None:
            assert value is None
        else:
            assert value == pytest.approx(expected, rel=1e-11, nan_ok=True)


def test_spectral_centroids_of_many_segments_in_several_calls(rng):
    x = rng.standard_normal(30000)
    segments = [(int(s), 700) for s in rng.integers(0, 29300, 300)]  # more than one call's 256
    got = H.spectral_centroids(x, segments, 44100)
    for (start, length), value in zip(segments, got, strict=True):
        assert value == pytest.approx(_centroid_direct(x[start : start + length], 44100), rel=1e-11)


def test_spectral_centroids_refuse_segments_outside_the_signal():
    with pytest.raises(ValueError, match="segment 1 .* inside the signal"):
        H.spectral_centroids(np.ones(100), [(0, 50), (60, 50)], 44100)
    with pytest.raises(ValueError, match="at least two samples"):
        H.spectral_centroid(np.ones(1), 44100)


@pytest.mark.parametrize(
    "make",
    [
        lambda: music(2.0, 44100, seed=1)[0].astype(np.float64),
        lambda: _drums(2.0, seed=5),
        lambda: np.stack([_drums(1.2, seed=6), music(1.2, 44100, seed=7)[0]]),  # stereo
    ],
    ids=["music", "drums", "stereo"],
)
def test_hardness_matches_reference(make):
    package, _, module = _reference()
    x = make()
    fs = 44100
    ref_input = x.T if x.ndim == 2 else x
    expected = _quiet(module.timbral_hardness, ref_input, fs=fs, dev_output=True)
    features, flags = hardness_features(Analysis(x, fs))
    np.testing.assert_allclose(features, expected, rtol=0, atol=1e-7)
    value, _ = hardness(Analysis(x, fs))
    assert value == pytest.approx(_quiet(package.timbral_hardness, ref_input, fs=fs), abs=1e-6)
    assert flags & ~int(Flag.NO_ONSETS) == 0
    assert len(FEATURES) == len(features)


def test_hardness_of_silence_is_zero_and_flagged():
    value, flags = hardness(Analysis(np.zeros((2, 5000)), 44100))
    assert value == 0.0 and flags & Flag.SILENT


def test_hardness_of_a_clip_too_short_for_hpss_is_flagged():
    rng = np.random.default_rng(3)
    value, flags = hardness(Analysis(rng.uniform(-1, 1, SHORTEST - 1), 44100))
    assert np.isfinite(value) and flags & Flag.TOO_SHORT
    value, flags = hardness(Analysis(rng.uniform(-1, 1, 100), 44100))
    assert value == 0.0 and flags & Flag.TOO_SHORT and flags & Flag.FALLBACK


def test_hardness_of_a_click_at_the_very_end_falls_back():
    # No onset strength anywhere: the reference takes log10(0) and returns -inf.
    x = np.zeros(44100)
    x[-1] = 1.0
    value, flags = hardness(Analysis(x, 44100))
    assert value == 0.0 and flags & Flag.FALLBACK


@st.composite
def degenerate_clips(draw):
    kind = draw(st.sampled_from(["silence", "dc", "clipped", "noise", "click", "sine", "short"]))
    n = draw(st.sampled_from([1, 40, 700, 2205, 9000, 30000]))
    level = draw(st.sampled_from([1e-6, 0.3, 1.0]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if kind == "silence":
        x = np.zeros(n)
    elif kind == "dc":
        x = np.full(n, level)
    elif kind == "clipped":
        x = np.clip(8 * np.sin(2 * np.pi * 110 * np.arange(n) / 44100), -1, 1)
    elif kind == "noise":
        x = level * rng.uniform(-1, 1, n)
    elif kind == "click":
        x = np.zeros(n)
        x[draw(st.integers(0, n - 1))] = level
    elif kind == "sine":
        x = level * np.sin(2 * np.pi * rng.uniform(20, 20000) * np.arange(n) / 44100)
    else:
        x = level * rng.uniform(-1, 1, min(n, 2205))  # 50 ms
    return x


@settings(max_examples=40, deadline=None)
@given(x=degenerate_clips())
def test_hardness_never_raises_and_stays_finite(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0/0 or log(0) along the way
        value, flags = hardness(Analysis(x, 44100))
        features, _ = hardness_features(Analysis(x, 44100))
    assert np.isfinite(value)
    assert isinstance(flags, int)
    if not np.any(x):
        assert flags & Flag.SILENT and value == 0.0
    elif not np.all(np.isfinite(features)):
        assert flags & Flag.FALLBACK and value == 0.0
    if x.shape[0] < SHORTEST and np.any(x):
        assert flags & Flag.TOO_SHORT


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(0, 300),
    step=st.integers(1, 40),
    hop=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_rms_envelope_blocks_equal_their_definition(n, step, hop, seed):
    # The kernel sums four blocks side by side; each block must still be summed in sample
    # order, so the result is the plain loop's to the bit.
    from dafxkit.descriptors.timbral._common import _rms_envelope

    x = np.random.default_rng(seed).standard_normal(n)
    expected = []
    i = 0
    while i < n - step:
        acc = 0.0
        for v in x[i : i + step]:
            acc += v * v
        expected.append(np.sqrt(acc / step))
        i += hop
    acc = 0.0
    for v in x[i:]:
        acc += v * v
    expected.append(np.sqrt(acc / (n - i)) if n > i else 0.0)
    np.testing.assert_array_equal(_rms_envelope(x, step, hop), expected)
