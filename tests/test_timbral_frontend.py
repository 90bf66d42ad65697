"""The timbral front end (Analysis, loudness) and the shared kernels of _common, against the
functions they re-implement: timbral_models' timbral_util, librosa 0.11, scipy and pyloudnorm."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dafxkit.descriptors.timbral import _common as C
from dafxkit.descriptors.timbral._frontend import (
    BAND_SOURCES,
    TARGET_LOUDNESS,
    Analysis,
    Flag,
    integrated_loudness,
    k_weighting,
)
from dafxkit.errors import AudioError
from dafxkit.signals import test_signal as music_signal
from tests.conftest import music_clip_paths

FS = 44100


def _util():
    """timbral_models' timbral_util (with the numpy 2 / librosa 0.11 shim), or skip."""
    pytest.importorskip("timbral_models", reason="timbral_models is not installed")
    from dafxkit.descriptors.timbral_reference import load_timbral_models

    load_timbral_models()
    from timbral_models import timbral_util

    return timbral_util


def music(seconds: float = 3.0, seed: int = 0, fs: int = FS) -> np.ndarray:
    return music_signal(seconds, fs, seed)[0].astype(np.float64)


def highpassed(x: np.ndarray, fs: int = FS) -> np.ndarray:
    """What brightness and depth analyse: three 20 Hz high-pass passes, peak 1."""
    y = C.filter_cascade(x, fs, [("high", 20.0, 3)])
    return y / np.max(np.abs(y))


@pytest.fixture(params=["native", "fallback"])
def backend(request, monkeypatch):
    """Run a test on the C kernels and again on the Numba / NumPy paths."""
    if request.param == "native":
        if not C.use_native():
            pytest.skip("the C kernels are not built")
    else:
        monkeypatch.setattr(C, "use_native", lambda: False)
    return request.param


# --------------------------------------------------------------------------------------------
# Filters and envelopes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fs", [22050, 44100, 48000])
@pytest.mark.parametrize("kind,crossover", [("high", 20.0), ("high", 2000.0), ("low", 500.0)])
def test_butterworth_passes_match_reference(kind, crossover, fs):
    tu = _util()
    x = music(1.0, seed=1, fs=fs)
    ours = (C.filter_audio_highpass if kind == "high" else C.filter_audio_lowpass)(x, crossover, fs)
    ref = (tu.filter_audio_highpass if kind == "high" else tu.filter_audio_lowpass)(
        x, crossover, fs
    )
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_lfilter_matches_scipy_for_any_order(rng):
    x = rng.standard_normal(3000)
    for order in (1, 3, 4):
        b, a = scipy.signal.butter(order, 0.1)
        np.testing.assert_allclose(C.lfilter(b, a, x), scipy.signal.lfilter(b, a, x), atol=1e-12)
    b, a = [2.0, 1.0], [2.0, -0.5]  # unnormalised a[0]
    np.testing.assert_allclose(C.lfilter(b, a, x), scipy.signal.lfilter(b, a, x), atol=1e-12)


def test_band_filters_equal_successive_passes(backend):
    fs = 48000
    x = music(2.0, seed=2, fs=fs)
    kw, hp, bands = C.band_filters(x, fs, k_weighting(fs))
    expect_hp = x
    for _ in range(3):
        expect_hp = scipy.signal.lfilter(
            *scipy.signal.butter(2, 20.0 / (fs / 2), "high"), expect_hp
        )
    np.testing.assert_allclose(hp, expect_hp, atol=1e-12)
    for (kind, fc), band in zip(C.BAND_FILTERS, bands, strict=True):
        expect = expect_hp
        for _ in range(3):
            expect = scipy.signal.lfilter(*scipy.signal.butter(2, fc / (fs / 2), kind), expect)
        np.testing.assert_allclose(band, expect, atol=1e-12)
    rows = k_weighting(fs)
    expect_kw = scipy.signal.lfilter(
        rows[1, :3], [1, *rows[1, 3:]], scipy.signal.lfilter(rows[0, :3], [1, *rows[0, 3:]], x)
    )
    np.testing.assert_allclose(kw, expect_kw, atol=1e-12)


@pytest.mark.parametrize("decay", [0.2, 0.1])
def test_sample_and_hold_envelope_matches_reference(decay):
    tu = _util()
    y = highpassed(music(2.0, seed=3))
    np.testing.assert_array_equal(
        C.sample_and_hold_envelope(y, FS, decay_time=decay),
        tu.sample_and_hold_envelope_calculation(y, FS, decay_time=decay),
    )


@pytest.mark.parametrize("n", [1, 100, 256, 257, 5000, 44100])
def test_rms_envelope_matches_reference(n, rng):
    tu = _util()
    x = rng.standard_normal(n)
    np.testing.assert_allclose(
        C.rms_envelope(x, 256), tu.calculate_rms_enveope(x, step_size=256), rtol=1e-13
    )


# --------------------------------------------------------------------------------------------
# Spectra
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nfft,hop", [(2048, 512), (4096, 1024), (64, 16)])
def test_stft_reductions_match_scipy_spectrogram(nfft, hop, backend, rng):
    x = rng.standard_normal(20000) + 0.3  # an offset for the detrending to remove
    window = C.hamming_window(nfft)
    _, _, spec = scipy.signal.spectrogram(
        x, FS, "hamming", nfft, nfft - hop, nfft, "constant", True, "spectrum"
    )
    spec = spec.T * np.sum(window) ** 2  # (frames, bins), without the scaling
    frames = C.frame_count(x.shape[0], nfft, nfft - hop)
    assert frames == spec.shape[0]
    for single, rtol in ((False, 1e-11), (True, 1e-5)):
        out = C.stft_reduce(
            x, 0, hop, frames, nfft, nfft, window, True, sum_power=True, moments=True, single=single
        )
        np.testing.assert_allclose(
            out["sum_power"], spec.sum(axis=0), rtol=rtol, atol=rtol * spec.max()
        )
        np.testing.assert_allclose(out["total"], spec.sum(axis=1), rtol=rtol)
        np.testing.assert_allclose(out["moment"], spec @ np.arange(nfft // 2 + 1), rtol=rtol)
    energy = C.frame_energy(x, 0, hop, frames, nfft, window, True)
    np.testing.assert_allclose(nfft * energy, spec.sum(axis=1), rtol=1e-11)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 3000),
    offsets=st.lists(st.integers(-1200, 3200), min_size=1, max_size=21),
    nperseg=st.sampled_from([100, 512, 1024]),
    detrend=st.booleans(),
    single=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_stft_magnitudes_at_given_starts_match_numpy(
    backend, n, offsets, nperseg, detrend, single, seed
):
    """Frames at arbitrary starts (before, inside and past the signal, in any order): the
    magnitude spectrogram and the reductions are those of the frames cut out by hand."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) + 0.5
    nfft = 1024
    starts = np.array(offsets, dtype=np.int64)
    window = rng.uniform(0.0, 1.0, nperseg)
    padded = np.concatenate([np.zeros(1200), x, np.zeros(4300)])
    seg = padded[1200 + starts[:, None] + np.arange(nperseg)]
    if detrend:
        seg = seg - seg.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(seg * window, n=nfft, axis=1)
    power = np.abs(spec) ** 2
    power[:, 1:-1] *= 2.0
    out = C.stft_reduce(
        x, 7, 3, 0, nperseg, nfft, window, detrend, moments=True, single=single,
        magnitude=True, starts=starts, spectrum=True,
    )  # fmt: skip
    rtol = 1e-5 if single and backend == "native" else 1e-11
    scale = np.abs(seg).sum(axis=1, keepdims=True) * window.max()
    excess = np.abs(out["magnitude"] - np.abs(spec)) - rtol * (np.abs(spec) + scale)
    assert out["magnitude"].shape == spec.shape and np.all(excess <= 0), excess.max()
    # The complex spectrum, rounded to complex64.
    assert out["spectrum"].dtype == np.complex64 and out["spectrum"].shape == spec.shape
    excess = np.abs(out["spectrum"] - spec) - max(rtol, 2e-7) * (np.abs(spec) + scale)
    assert np.all(excess <= 0), excess.max()
    np.testing.assert_allclose(out["total"], power.sum(axis=1), rtol=rtol, atol=1e-300)
    np.testing.assert_allclose(
        out["moment"], power @ np.arange(nfft // 2 + 1), rtol=rtol, atol=1e-300
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frames=st.integers(0, 21),
    nfft=st.sampled_from([8, 64, 2048]),
    hop=st.integers(1, 700),
    first=st.integers(0, 3),
    single=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_istft_add_is_windowed_irfft_overlap_added(backend, frames, nfft, hop, first, single, seed):
    rng = np.random.default_rng(seed)
    spec = (rng.standard_normal((frames, nfft // 2 + 1)) * 10.0 ** rng.uniform(-3, 3)) + 1j * (
        rng.standard_normal((frames, nfft // 2 + 1))
    )
    spec = spec.astype(np.complex64)
    window = rng.uniform(0.0, 1.0, nfft)
    length = (first + max(frames, 1) - 1) * hop + nfft + 5
    out = np.full(length, 0.25)
    C.istft_add(spec, first, hop, window, out, single=single)
    expected = np.full(length, 0.25)
    rows = np.fft.irfft(spec.astype(np.complex128), n=nfft)
    for t in range(frames):
        expected[(first + t) * hop :][:nfft] += rows[t] * window
    # Each sample: within float32 rounding of the rows' scale (the sum of |X| over the frame).
    bound = np.zeros(length)
    for t in range(frames):
        bound[(first + t) * hop :][:nfft] += 4 * np.abs(spec[t]).sum() / nfft
    rtol = 1e-6 if single or backend != "native" else 1e-12
    assert np.all(np.abs(out - expected) <= rtol * bound + 1e-15)


def test_istft_add_rejects_frames_past_the_end():
    with pytest.raises(ValueError, match="past the end"):
        C.istft_add(np.zeros((3, 5), np.complex64), 0, 4, np.ones(8), np.zeros(15))
    with pytest.raises(ValueError, match="5 bins"):
        C.istft_add(np.zeros((3, 4), np.complex64), 0, 4, np.ones(8), np.zeros(99))


def test_stft_regular_starts_give_the_grid_results(rng):
    x = rng.standard_normal(9000)
    window = C.hamming_window(2048)
    grid = C.stft_reduce(x, -1024, 512, 19, 2048, 2048, window, True, moments=True, magnitude=True)
    given_ = C.stft_reduce(
        x, 0, 1, 0, 2048, 2048, window, True, moments=True, magnitude=True,
        starts=-1024 + 512 * np.arange(19),
    )  # fmt: skip
    for key in ("magnitude", "moment", "total"):
        np.testing.assert_allclose(given_[key], grid[key], rtol=1e-13, atol=1e-12)


def test_short_clip_spectrum_matches_single_padded_frame(backend, rng):
    """The reference's branch for clips shorter than nfft: one frame of the whole clip."""
    x = rng.standard_normal(1500)
    _, _, spec = scipy.signal.spectrogram(
        x, FS, "hamming", 1500, 1499, 2048, "constant", True, "spectrum"
    )
    window = C.hamming_window(1500)
    out = C.stft_reduce(x, 0, 1, 1, 1500, 2048, window, True, sum_power=True, moments=True)
    np.testing.assert_allclose(
        out["sum_power"], spec[:, 0] * np.sum(window) ** 2, rtol=1e-10, atol=1e-9
    )


def test_mel_filterbank_is_librosas():
    librosa = pytest.importorskip("librosa")
    for sr in (22050, 44100, 48000, 96000):
        np.testing.assert_array_equal(
            C.mel_filterbank(sr), librosa.filters.mel(sr=sr, n_fft=2048, fmax=sr / 2)
        )


@pytest.mark.parametrize("n", [1, 700, 2048, 5000, 3 * FS])
def test_onset_strength_matches_librosa(n, backend):
    librosa = pytest.importorskip("librosa")
    y = highpassed(music(n / FS + 0.01, seed=4))[:n] if n > 1 else np.array([0.7])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = librosa.onset.onset_strength(y=y, sr=FS)
    np.testing.assert_allclose(C.onset_strength(y, FS), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_onset_detect_matches_librosa(seed):
    librosa = pytest.importorskip("librosa")
    y = highpassed(music(3.0, seed=seed))
    expected = librosa.onset.onset_detect(y=y, sr=FS, backtrack=True, units="samples")
    np.testing.assert_array_equal(C.onset_detect(y, FS), expected)


@pytest.mark.parametrize("x", [np.zeros(10000), np.ones(10000), np.ones(3)])
def test_onset_detect_on_degenerate_signals_matches_librosa(x):
    librosa = pytest.importorskip("librosa")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = librosa.onset.onset_detect(y=x, sr=FS, backtrack=True, units="samples")
    np.testing.assert_array_equal(C.onset_detect(x, FS), expected)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("decay,nperseg,pad", [(0.2, 512, 0), (0.1, 4096, 4097), (0.1, 4096, 0)])
def test_calculate_onsets_matches_reference(seed, decay, nperseg, pad):
    """Depth's settings, hardness's (zero-padded by 4097 samples) and warmth's."""
    tu = _util()
    y = np.concatenate([np.zeros(pad), highpassed(music(3.0, seed=seed))])
    envelope = tu.sample_and_hold_envelope_calculation(y, FS, decay_time=decay)
    expected = tu.calculate_onsets(y, envelope, FS, nperseg=nperseg)
    ours, degenerate = C.calculate_onsets(y, envelope, FS, nperseg=nperseg, return_degenerate=True)
    np.testing.assert_array_equal(ours, np.asarray(expected))
    assert degenerate == 0


def test_calculate_onsets_without_onsets_returns_zero():
    onsets = C.calculate_onsets(np.zeros(5000), np.zeros(5000), FS)
    np.testing.assert_array_equal(onsets, [0])


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60),
    cthr=st.sampled_from([0.01, 0.1, 0.2]),
)
# Equal peaks: the order among them is NumPy's default sort's, as in the reference.
@example(values=[1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.5], cthr=0.2)
def test_detect_peaks_matches_reference(values, cthr):
    tu = _util()
    a = np.array(values)
    freq = np.linspace(0, 22050, a.shape[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = tu.detect_peaks(a, freq=freq, cthr=cthr, unprocessed_array=a)
    except (IndexError, ValueError):
        return  # the reference fails when it finds no peak in the end; nothing to compare
    idx, value, x = C.detect_peaks(a, freq=freq, cthr=cthr, unprocessed_array=a)
    np.testing.assert_array_equal(idx, np.asarray(expected[0]))
    np.testing.assert_allclose(value, np.asarray(expected[1], dtype=float), rtol=1e-12)
    np.testing.assert_allclose(x, np.asarray(expected[2], dtype=float), rtol=1e-12)


def test_a_peak_without_a_parabola_gets_no_position_instead_of_raising():
    # Roughness picks peaks on the normalised spectrum and interpolates on the unprocessed one;
    # a flat spectrum's rounding ripple can pick a peak whose unprocessed neighbours are
    # collinear. The reference divides by zero there (value inf, position NaN); Numba raised.
    idx, value, x = C.detect_peaks(
        np.array([0.0, 0.5, 0.4, 0.0]),
        freq=np.arange(4.0),
        cthr=0.01,
        unprocessed_array=np.array([1.0, 2.0, 3.0, 4.0]),
    )
    assert idx.tolist() == [1] and value.tolist() == [2.0] and x.size == 0


# --------------------------------------------------------------------------------------------
# Loudness and the prepared clip
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seconds=st.floats(0.4, 3.0),
    level_db=st.floats(-100.0, 6.0),
    rate=st.sampled_from([22050, 44100, 48000]),
    seed=st.integers(0, 2**16),
)
def test_integrated_loudness_matches_pyloudnorm(seconds, level_db, rate, seed):
    pyloudnorm = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(seed)
    n = max(int(seconds * rate), int(math.ceil(0.4 * rate)))
    # Noise bursts of varied levels, so that both gates take part.
    x = rng.standard_normal(n) * np.repeat(10.0 ** (rng.uniform(-4, 0, n // 1000 + 1)), 1000)[:n]
    x *= 10.0 ** (level_db / 20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pyloudnorm.Meter(rate).integrated_loudness(x)
    ours = integrated_loudness(x, rate)
    if math.isinf(expected):
        assert ours == expected
    else:
        assert abs(ours - expected) < 1e-9


@pytest.mark.parametrize(
    "shape,fs",
    [
        ((2, 3 * FS), FS),
        ((1, 2 * 48000), 48000),
        ((3, FS), FS),
        ((2, 22050), 22050),
        ((2, 5000), FS),
        ((1, 3000), 16000),
    ],
)
def test_normalised_matches_file_read(shape, fs):
    tu = _util()
    rng = np.random.default_rng(5)
    x = np.stack([music(shape[1] / fs + 0.01, seed=s, fs=fs)[: shape[1]] for s in range(shape[0])])
    x += 0.01 * rng.standard_normal(x.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, expected_fs = tu.file_read(x.T if shape[0] > 1 else x[0], fs)
    an = Analysis(x, fs)
    y, out_fs = an.normalised
    assert out_fs == expected_fs == max(fs, 44100)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)
    assert an.flags == 0


def test_input_dtype_and_layout_do_not_change_the_analysis():
    x = np.stack([music(1.0, seed=13), music(1.0, seed=14)]).astype(np.float32)
    reference = Analysis(x.astype(np.float64), FS)
    for variant in (x, np.asfortranarray(x), x.T.copy().T, x.astype(np.int64) * 0 + x):
        an = Analysis(variant, FS)
        np.testing.assert_array_equal(an.mono, reference.mono)
        np.testing.assert_array_equal(an.source("highpass20"), reference.source("highpass20"))
        assert an.channels.dtype == np.float64
    np.testing.assert_array_equal(Analysis(x[0], FS).mono, x[0].astype(np.float64))


def test_highpassed_sources_match_filtering_the_normalised_clip(backend):
    x = np.stack([music(2.0, seed=7), music(2.0, seed=8)])
    an = Analysis(x, FS)
    expect = highpassed(an.signal)
    np.testing.assert_allclose(an.source("highpass20"), expect, atol=1e-12)
    for name, (kind, fc) in zip(BAND_SOURCES, C.BAND_FILTERS, strict=True):
        np.testing.assert_allclose(
            an.source(name), C.filter_cascade(expect, FS, [(kind, fc, 3)]), atol=1e-12
        )


def test_normalised_reaches_the_target_loudness_or_peak_one():
    quiet = 0.01 * music(2.0, seed=9)
    y, _ = Analysis(quiet, FS).normalised
    assert abs(integrated_loudness(y, FS) - TARGET_LOUDNESS) < 1e-9
    spiky = 1e-3 * music(2.0, seed=10)
    spiky[FS] = 0.5  # at -24 LUFS this sample would exceed 1: limited to a peak of 1
    an = Analysis(spiky, FS)
    assert np.max(np.abs(an.signal)) == pytest.approx(1.0, abs=1e-15)
    assert an.gain * 0.5 == pytest.approx(1.0)
    assert integrated_loudness(an.signal, FS) < TARGET_LOUDNESS


def test_silence_is_flagged_and_left_alone():
    an = Analysis(np.zeros((2, 1000)), FS)
    assert an.silent and an.flags == Flag.SILENT
    assert an.loudness == -math.inf
    np.testing.assert_array_equal(an.signal, np.zeros(1000))


def test_clip_below_the_absolute_gate_falls_back_to_ungated_loudness():
    """The reference's loudness is -inf here and its normalised clip NaN."""
    x = 1e-6 * music(1.0, seed=11)
    an = Analysis(x, FS)
    assert an.loudness == -math.inf
    assert an.flags == Flag.FALLBACK
    y = an.signal
    assert np.all(np.isfinite(y)) and 0 < np.max(np.abs(y)) <= 1.0
    # The ungated mean square of all blocks brought to the target.
    blocks = an._loudness_blocks
    assert -0.691 + 10 * np.log10(np.mean(blocks * an.gain**2)) == pytest.approx(TARGET_LOUDNESS)


def test_a_click_past_every_block_falls_back_to_its_peak():
    x = np.zeros(FS)
    x[-1] = 1e-3  # after the last 400 ms block ends: every block is silent
    an = Analysis(x, FS)
    assert an.flags == Flag.FALLBACK
    assert np.max(np.abs(an.signal)) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_audio_is_an_audio_error(bad):
    x = np.zeros(100)
    x[3] = bad
    with pytest.raises(AudioError, match="finite"):
        _ = Analysis(x, FS).signal


@pytest.mark.parametrize("x", [np.zeros(0), np.zeros((1, 0)), np.zeros((1, 2, 3))])
def test_empty_or_badly_shaped_audio_is_an_audio_error(x):
    with pytest.raises(AudioError, match="samples"):
        Analysis(x, FS)


def test_bad_sample_rate_is_an_audio_error():
    with pytest.raises(AudioError, match="sample_rate"):
        Analysis(np.ones(10), 0)


def test_shared_results_are_cached_per_argument():
    an = Analysis(music(2.0, seed=12), FS)
    assert an.envelope("highpass20", 0.2) is an.envelope("highpass20", 0.2)
    assert an.envelope("highpass20", 0.1) is not an.envelope("highpass20", 0.2)
    assert an.onsets("highpass20", 0.2, 512) is an.onsets("highpass20", 0.2, 512)
    padded = an.source("padded", lambda a: np.concatenate([np.zeros(10), a.signal]))
    assert an.source("padded") is padded
    with pytest.raises(KeyError, match="unknown analysis source"):
        an.source("nothing")
    calls = []
    assert an.memo("k", lambda: calls.append(1) or 5) == 5
    assert an.memo("k", lambda: calls.append(1) or 6) == 5 and calls == [1]


@pytest.mark.slow
@pytest.mark.skipif(not music_clip_paths(), reason="no real music clips (DAFXKIT_MUSIC_CLIPS)")
def test_real_clips_prepare_and_find_onsets_as_the_reference():
    import soundfile as sf

    tu = _util()
    for path in music_clip_paths()[::6]:
        x, fs = sf.read(path)
        if not np.any(x):
            continue  # digital silence: the reference refuses it (ours: see the robustness tests)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected, _ = tu.file_read(x, fs)
        an = Analysis(np.atleast_2d(x.T), fs)
        np.testing.assert_allclose(an.signal, expected, rtol=0, atol=1e-12)
        y = highpassed(expected, an.sample_rate_out)
        envelope = tu.sample_and_hold_envelope_calculation(y, an.sample_rate_out)
        onsets = tu.calculate_onsets(y, envelope, an.sample_rate_out)
        ours, _ = an.onsets("highpass20", 0.2, 512)
        np.testing.assert_array_equal(ours, np.asarray(onsets))
