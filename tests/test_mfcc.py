"""MFCC: every backend against librosa.feature.mfcc per signal, the filterbank, torch gradients,
the extractor and the argument checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.fft
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dafxkit import native
from dafxkit.descriptors.mfcc import (
    MFCC,
    dct_matrix,
    mel_filterbank,
    mfcc,
    mfcc_torch,
    n_frames,
)
from dafxkit.errors import AudioError, DafxWarning, ParameterError

librosa = pytest.importorskip("librosa")
torch = pytest.importorskip("torch")

# librosa computes in float32 for float32 input (complex64 spectrum, float32 mel bands, log
# and DCT); the C, Numba and NumPy backends compute in float64 and round to float32 once. They
# differ by librosa's float32 rounding of values up to |c0| ~ 1100 (one ulp there is 1.2e-4):
# measured at most 4.3e-4 over 600 random settings like the property test's, 1.2e-4 on the
# 60 real music clips.
TOLERANCE = 1e-3
# mfcc_torch on a float32 tensor is a float32 FFT (librosa's windowed frames are float64),
# whose error is relative to the frame's loudest bin: mel bands 60-80 dB below a pure tone
# carry it into the coefficients. Measured up to 6.1e-3 on such tones, 3.4e-4 on the real
# clips; the "torch" backend of `mfcc` transforms in float64 and meets TOLERANCE.
TORCH_TOLERANCE = 1e-2


BACKENDS = [
    pytest.param(
        "c",
        marks=pytest.mark.skipif(not native.available(), reason="C library unavailable"),
    ),
    "numba",
    "torch",
    "numpy",
]


def librosa_mfcc(signals: np.ndarray, sample_rate: float, **options) -> np.ndarray:
    """librosa.feature.mfcc of each 1-D signal alone, stacked like the input."""
    rows = signals.reshape(-1, signals.shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_fft larger than the signal, empty mel filters
        out = np.stack([librosa.feature.mfcc(y=row, sr=sample_rate, **options) for row in rows])
    return out.reshape(*signals.shape[:-1], *out.shape[-2:])


def music_like(seconds: float, sample_rate: int, seed: int) -> np.ndarray:
    """Harmonic tones with decaying envelopes over a bass line, plus noise bursts (float32)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    for start in np.arange(0.0, seconds, 0.125):
        tt = np.clip(t - start, 0.0, None)
        gate = t >= start
        f0 = rng.choice([196.0, 220.0, 261.6, 329.6, 392.0])
        tone = sum(np.sin(2 * np.pi * h * f0 * tt) / h**1.5 for h in range(1, 9))
        out += 0.2 * gate * tone * np.exp(-8.0 * tt)
        if rng.random() < 0.3:
            burst = gate & (tt < 0.05)
            out[burst] += 0.3 * rng.standard_normal(burst.sum()) * np.exp(-60.0 * tt[burst])
    out += 0.3 * np.sin(2 * np.pi * 55.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return (0.7 * out / np.abs(out).max()).astype(np.float32)


# ------------------------------------------------------------------------------------------
# The analysis matrices


@pytest.mark.parametrize(
    "sample_rate, n_fft, n_mels, fmin, fmax",
    [
        (22050, 2048, 128, 0.0, None),
        (44100, 2048, 128, 0.0, None),
        (48000, 1024, 40, 20.0, 16000.0),
        (16000, 400, 80, 0.0, 8000.0),
        (8000, 256, 128, 0.0, None),  # empty filters, as librosa
        (44100, 4096, 64, 1200.0, 5000.0),  # all in the logarithmic part of the scale
    ],
)
def test_filterbank_equals_librosa(sample_rate, n_fft, n_mels, fmin, fmax):
    ours = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = librosa.filters.mel(
            sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float64
        )
        default = librosa.filters.mel(
            sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax
        )
    assert ours.shape == exact.shape == (n_mels, 1 + n_fft // 2)
    assert ours.dtype == np.float64
    np.testing.assert_array_equal(ours != 0, exact != 0)
    np.testing.assert_allclose(ours, exact, rtol=1e-12, atol=1e-15)
    # librosa's default is float32: ours rounds to it (up to one float32 step of the product)
    np.testing.assert_allclose(ours.astype(np.float32), default, rtol=2.5e-7, atol=0)


def test_dct_matrix_is_scipys_orthonormal_dct():
    v = np.random.default_rng(0).standard_normal((128, 5))
    expected = scipy.fft.dct(v, type=2, norm="ortho", axis=0)[:20]
    np.testing.assert_allclose(dct_matrix(20, 128) @ v, expected, atol=1e-12)


def test_n_frames_matches_librosa():
    for samples in (1, 511, 512, 2047, 2048, 22050):
        for n_fft, hop in ((2048, 512), (1024, 256), (1000, 300), (513, 128)):
            silence = np.zeros(samples, np.float32)
            expected = librosa_mfcc(silence, 22050, n_fft=n_fft, hop_length=hop).shape[-1]
            assert n_frames(samples, n_fft, hop) == expected


# ------------------------------------------------------------------------------------------
# Backends against librosa


@pytest.mark.parametrize("backend", BACKENDS)
def test_white_noise_matches_librosa(backend, rng):
    x = rng.uniform(-1.0, 1.0, (2, 2, 30000)).astype(np.float32)
    x[1] *= 1e-3  # a quiet clip: its own top_db reference, not the loud clip's
    out = mfcc(x, 44100, backend=backend)
    assert out.shape == (2, 2, 20, n_frames(30000)) and out.dtype == np.float32
    np.testing.assert_allclose(out, librosa_mfcc(x, 44100), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_music_like_signal_matches_librosa(backend):
    x = np.stack([music_like(1.5, 44100, seed) for seed in range(3)])[:, None]
    out = mfcc(x, 44100, backend=backend)
    np.testing.assert_allclose(out, librosa_mfcc(x, 44100), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_input_matches_librosa_in_float64(backend):
    x = music_like(0.5, 22050, 7).astype(np.float64)
    out = mfcc(x, 22050, n_mfcc=13, n_mels=40, backend=backend)
    assert out.dtype == np.float32
    expected = librosa_mfcc(x, 22050, n_mfcc=13, n_mels=40)
    np.testing.assert_allclose(out, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_silence_is_the_minus_100_db_floor(backend):
    # Every mel band is max(amin, 0) = 1e-10 = -100 dB (the top_db clamp is then inactive):
    # c0 = -100 * sqrt(n_mels), every other coefficient 0.
    x = np.zeros((1, 1, 5000), np.float32)
    out = mfcc(x, 22050, backend=backend)
    expected = librosa_mfcc(x, 22050)
    assert expected[0, 0, 0, 0] == pytest.approx(-100.0 * np.sqrt(128), abs=1e-3)
    np.testing.assert_allclose(out, expected, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(out[..., 1:, :], 0.0, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_db_clamp_is_per_signal(backend):
    # A tone in silence: most mel bins sit at the floor max - 80 dB of *this* signal. Handed
    # the whole batch at once, librosa clamps relative to the loudest signal of the batch
    # instead; the per-signal call is the one matched.
    t = np.arange(20000) / 22050
    loud = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    quiet = (1e-3 * loud * (t > 0.5)).astype(np.float32)
    x = np.stack([loud, quiet])
    out = mfcc(x, 22050, backend=backend)
    np.testing.assert_allclose(out, librosa_mfcc(x, 22050), atol=TOLERANCE, rtol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole_batch = librosa.feature.mfcc(y=x, sr=22050)
    assert np.abs(out[1] - whole_batch[1]).max() > 1.0


@pytest.mark.parametrize("backend", ["c", "numba"])
def test_non_power_of_two_fft_falls_back_to_numpy(backend):
    if backend == "c" and not native.available():
        pytest.skip("C library unavailable")
    x = music_like(0.5, 16000, 3)
    with pytest.warns(DafxWarning, match="power-of-two n_fft"):
        out = mfcc(x, 16000, n_fft=400, hop_length=160, n_mels=40, backend=backend)
    expected = librosa_mfcc(x, 16000, n_fft=400, hop_length=160, n_mels=40)
    np.testing.assert_allclose(out, expected, atol=TOLERANCE, rtol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "auto" falls back silently
        mfcc(x, 16000, n_fft=400, hop_length=160, n_mels=40)


def test_input_shapes_keep_their_leading_axes():
    x = music_like(0.3, 22050, 1)
    one = mfcc(x, 22050)
    assert one.shape == (20, n_frames(x.size))
    np.testing.assert_array_equal(mfcc(np.stack([x, x]), 22050), np.stack([one, one]))
    np.testing.assert_array_equal(mfcc(x[None, None], 22050)[0, 0], one)


@pytest.mark.parametrize("backend", ["c", "numba", "torch"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    samples=st.integers(1, 6000),
    sample_rate=st.sampled_from([22050, 44100, 48000]),
    n_fft_log2=st.integers(6, 11),
    hop_length=st.integers(32, 1024),
    n_mels=st.integers(8, 128),
    n_mfcc=st.integers(1, 40),
    kind=st.sampled_from(["noise", "sine", "click", "dc", "silence", "music"]),
    amplitude=st.sampled_from([1.0, 1e-2, 1e-5]),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_settings_match_librosa(
    backend, samples, sample_rate, n_fft_log2, hop_length, n_mels, n_mfcc, kind, amplitude, seed
):
    if backend == "c" and not native.available():
        pytest.skip("C library unavailable")
    rng = np.random.default_rng(seed)
    n_mfcc = min(n_mfcc, n_mels)
    x = np.zeros((2, samples))
    if kind == "noise":
        x = rng.uniform(-1.0, 1.0, x.shape)
    elif kind == "sine":
        x += np.sin(2 * np.pi * rng.uniform(30, 15000) * np.arange(samples) / sample_rate)
    elif kind == "click":
        x[:, rng.integers(0, samples)] = 1.0
    elif kind == "dc":
        x += 1.0
    elif kind == "music":
        x = np.resize(music_like(0.2, sample_rate, seed % 100), x.shape)
    x = (amplitude * x).astype(np.float32)
    options = dict(n_mfcc=n_mfcc, n_fft=2**n_fft_log2, hop_length=hop_length, n_mels=n_mels)
    out = mfcc(x, sample_rate, backend=backend, **options)
    expected = librosa_mfcc(x, sample_rate, **options)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=TOLERANCE, rtol=0)


@settings(max_examples=25, deadline=None)
@given(samples=st.integers(1, 3000), n_fft_log2=st.integers(1, 10), seed=st.integers(0, 1000))
def test_compiled_backends_match_the_numpy_reference(samples, n_fft_log2, seed):
    # Down to n_fft = 2: every FFT size the radix-2 and radix-4 stages combine into.
    x = np.random.default_rng(seed).standard_normal((2, samples)).astype(np.float32)
    n_fft = 2**n_fft_log2
    options = dict(n_fft=n_fft, hop_length=max(1, n_fft // 4), n_mels=min(32, n_fft), n_mfcc=2)
    reference = mfcc(x, 44100, backend="numpy", **options)
    backends = ["numba"] + (["c"] if native.available() else [])
    for backend in backends:
        np.testing.assert_allclose(
            mfcc(x, 44100, backend=backend, **options), reference, atol=1e-4, rtol=0
        )


@pytest.mark.skipif(not native.available(), reason="the C library is not built")
@settings(max_examples=20, deadline=None)
@given(samples=st.integers(1, 30000), n_fft_log2=st.integers(5, 12), seed=st.integers(0, 1000))
def test_float32_transforms_stay_within_the_librosa_tolerance(samples, n_fft_log2, seed):
    # Music-like level differences between bands, and noise: both precisions, one answer.
    rng = np.random.default_rng(seed)
    tone = np.resize(music_like(samples / 22050 + 0.01, 22050, seed), samples)
    x = (tone + 1e-3 * rng.standard_normal(samples)).astype(np.float32)[None]
    n_fft = 2**n_fft_log2
    options = dict(n_fft=n_fft, hop_length=n_fft // 4, n_mels=min(40, n_fft // 2), n_mfcc=13)
    exact = mfcc(x, 22050, backend="c", **options)
    fast = mfcc(x, 22050, backend="c", fft_precision="float32", **options)
    np.testing.assert_allclose(fast, exact, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(fast, mfcc(x, 22050, backend="numpy", **options), atol=TOLERANCE)


@pytest.mark.skipif(not native.available(), reason="the C library is not built")
def test_float32_transforms_match_librosa_on_music():
    x = np.stack([music_like(2.0, 44100, seed) for seed in range(4)])[:, None]
    fast = mfcc(x, 44100, fft_precision="float32")
    np.testing.assert_allclose(fast, librosa_mfcc(x, 44100), atol=TOLERANCE, rtol=0)
    assert not np.array_equal(fast, mfcc(x, 44100))  # the transform did change precision


# ------------------------------------------------------------------------------------------
# torch


def test_torch_gradients_are_finite_and_nonzero():
    x = torch.from_numpy(music_like(0.3, 22050, 2)).reshape(1, 1, -1).requires_grad_()
    out = mfcc_torch(x, 22050)
    assert out.shape == (1, 1, 20, n_frames(x.shape[-1]))
    out.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().max() > 0


def test_torch_gradcheck_on_a_tiny_case():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 40, dtype=torch.float64, generator=generator, requires_grad=True)
    options = dict(n_fft=16, hop_length=8, n_mels=6, n_mfcc=4)
    assert torch.autograd.gradcheck(lambda s: mfcc_torch(s, 8000, **options), (x,))


def test_torch_on_float32_keeps_float32s_precision_and_the_backend_librosas():
    # A pure tone, its mel bands down to 80 dB below it (hypothesis found 6.1e-3 here when the
    # backend transformed float32 input in float32).
    rng = np.random.default_rng(85523)
    tone = np.sin(2 * np.pi * rng.uniform(30, 15000) * np.arange(127) / 22050)
    x = np.stack([tone, tone]).astype(np.float32)
    options = dict(n_mfcc=2, n_fft=128, hop_length=32, n_mels=8)
    expected = librosa_mfcc(x, 22050, **options)
    np.testing.assert_allclose(
        mfcc(x, 22050, backend="torch", **options), expected, atol=TOLERANCE, rtol=0
    )
    single = mfcc_torch(torch.from_numpy(x), 22050, **options)
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.numpy(), expected, atol=TORCH_TOLERANCE, rtol=0)
    music = music_like(0.5, 22050, 2)
    np.testing.assert_allclose(
        mfcc_torch(torch.from_numpy(music), 22050).numpy(),
        librosa_mfcc(music, 22050),
        atol=1e-3,
        rtol=0,
    )


def test_torch_keeps_dtype_and_matches_the_numpy_backend():
    x = music_like(0.3, 22050, 4).astype(np.float64)
    out = mfcc_torch(torch.from_numpy(x), 22050)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), mfcc(x, 22050, backend="numpy"), atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_runs_on_cuda_with_gradients():
    x = music_like(0.5, 44100, 5)
    cuda = torch.from_numpy(x).cuda().requires_grad_()
    out = mfcc_torch(cuda, 44100)
    assert out.device.type == "cuda"
    expected = librosa_mfcc(x, 44100)
    np.testing.assert_allclose(out.detach().cpu().numpy(), expected, atol=TORCH_TOLERANCE, rtol=0)
    out.sum().backward()
    assert torch.isfinite(cuda.grad).all() and cuda.grad.abs().max() > 0


# ------------------------------------------------------------------------------------------
# The feature extractor


def test_extractor_is_mean_and_std_of_the_mono_mixdown():
    stereo = np.stack([music_like(0.5, 22050, 8), music_like(0.5, 22050, 9)])
    batch = np.stack([stereo, stereo[::-1] * 0.5])
    extractor = MFCC(n_mfcc=13)
    assert extractor.feature_names[:2] == ("mfcc0_mean", "mfcc1_mean")
    assert extractor.feature_names[13:15] == ("mfcc0_std", "mfcc1_std")
    features = extractor.extract(batch, 22050)
    assert features.shape == (2, 26) and features.dtype == np.float64
    for clip, row in zip(batch, features, strict=True):
        coefficients = librosa_mfcc(librosa.to_mono(clip), 22050, n_mfcc=13)
        np.testing.assert_allclose(row[:13], coefficients.mean(axis=1), atol=TOLERANCE)
        np.testing.assert_allclose(row[13:], coefficients.std(axis=1), atol=TOLERANCE)


def test_extractor_pool_mode_pools_the_channels_frames():
    stereo = np.stack([music_like(0.5, 22050, 10), music_like(0.5, 22050, 11)])
    features = MFCC(n_mfcc=5, channels="pool").extract(stereo[None], 22050)
    coefficients = np.concatenate(list(librosa_mfcc(stereo, 22050, n_mfcc=5)), axis=1)
    np.testing.assert_allclose(features[0, :5], coefficients.mean(axis=1), atol=TOLERANCE)
    np.testing.assert_allclose(features[0, 5:], coefficients.std(axis=1), atol=TOLERANCE)


def test_extractor_passes_the_interface_checks():
    extractor = MFCC()
    assert MFCC.interface_problems(extractor) == []
    assert extractor.name == "mfcc" and extractor.n_features == 40


# ------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(n_fft=0), "n_fft must be a positive integer"),
        (dict(n_fft=-512), "n_fft must be a positive integer"),
        (dict(n_fft=1024.5), "n_fft must be a positive integer"),
        (dict(hop_length=0), "hop_length must be a positive integer"),
        (dict(n_mfcc=0), "n_mfcc must be a positive integer"),
        (dict(n_mels=10), "n_mels must be at least n_mfcc"),
        (dict(fmax=12000.0), "fmax must be at most the Nyquist frequency"),
        (dict(fmin=-1.0), "fmin must be a finite frequency >= 0"),
        (dict(fmin=5000.0, fmax=4000.0), "fmax must be a finite frequency above fmin"),
        (dict(fmin=11025.0), "fmin must be below fmax"),
        (dict(backend="gpu"), "backend must be one of"),
        (dict(fft_precision="float16"), "fft_precision must be 'float64' or 'float32'"),
    ],
)
def test_bad_options_raise_naming_the_problem(options, message):
    with pytest.raises(ParameterError, match=message):
        mfcc(np.zeros(1000, np.float32), 22050, **options)


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(1000, np.int16), "real floating point"),
        (np.zeros((2, 0), np.float32), "at least one sample"),
        (np.float32(1.0), "samples axis"),
        (np.array([0.0, np.nan, 0.0]), "non-finite"),
        (np.full((1, 2, 70000), np.inf, np.float32), "non-finite"),
    ],
)
def test_bad_audio_raises_naming_the_problem(audio, message):
    with pytest.raises(AudioError, match=message):
        mfcc(audio, 22050)


def test_bad_sample_rate_raises():
    with pytest.raises(AudioError, match="sample_rate"):
        mfcc(np.zeros(100, np.float32), 0)


def test_torch_rejects_non_tensors_and_integer_tensors():
    with pytest.raises(AudioError, match="torch.Tensor"):
        mfcc_torch(np.zeros(100, np.float32), 22050)
    with pytest.raises(AudioError, match="floating-point"):
        mfcc_torch(torch.zeros(100, dtype=torch.int32), 22050)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(n_mfcc=40, n_mels=20), "n_mels must be at least n_mfcc"),
        (dict(hop_length=-1), "hop_length"),
        (dict(fmin=100.0, fmax=50.0), "above fmin"),
        (dict(channels="left"), "channels must be"),
        (dict(backend="cuda"), "backend must be one of"),
    ],
)
def test_extractor_checks_options_at_construction(options, message):
    with pytest.raises(ParameterError, match=message):
        MFCC(**options)


def test_extractor_checks_fmax_against_the_sample_rate():
    with pytest.raises(ParameterError, match="Nyquist"):
        MFCC(fmax=16000.0).extract(np.zeros((1, 1, 4000), np.float32), 22050)
