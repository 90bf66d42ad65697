"""WAV reading and writing, the built-in test signal, and the level extractor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dafxkit import read_audio, write_audio
from dafxkit.descriptors.level import SILENCE_DB, Level
from dafxkit.errors import AudioError
from dafxkit.signals import test_signal as make_test_signal


def test_write_then_read_round_trips_float(tmp_path, rng):
    audio = (1.5 * rng.standard_normal((2, 1000))).astype(np.float32)  # over full scale
    path = write_audio(tmp_path / "x.wav", audio, 48000)
    back, rate = read_audio(path)
    assert rate == 48000
    np.testing.assert_array_equal(back, audio)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_write_flac_uses_its_default_subtype(tmp_path, rng):
    audio = (0.2 * rng.standard_normal((1, 500))).astype(np.float32)
    back, _ = read_audio(write_audio(tmp_path / "x.flac", audio, 16000))
    np.testing.assert_allclose(back, audio, atol=1e-4)


def test_write_errors(tmp_path):
    with pytest.raises(AudioError, match="output folder does not exist"):
        write_audio(tmp_path / "missing" / "x.wav", np.zeros((1, 4)), 8000)
    with pytest.raises(AudioError, match="unknown audio format 'mp9'"):
        write_audio(tmp_path / "x.mp9", np.zeros((1, 4)), 8000)
    with pytest.raises(AudioError, match="no file suffix to choose a format by"):
        write_audio(tmp_path / "x", np.zeros((1, 4)), 8000)
    with pytest.raises(AudioError, match=r"\(channels, samples\)"):
        write_audio(tmp_path / "x.wav", np.zeros(4), 8000)


def test_test_signal_is_deterministic_and_musical():
    a = make_test_signal(2.0, 22050, seed=3)
    assert a.shape == (1, 44100) and a.dtype == np.float32
    np.testing.assert_array_equal(a, make_test_signal(2.0, 22050, seed=3))
    assert not np.array_equal(a, make_test_signal(2.0, 22050, seed=4))
    np.testing.assert_allclose(np.max(np.abs(a)), 10 ** (-3 / 20), rtol=1e-6)


def test_level_of_known_signals():
    t = np.arange(48000) / 48000
    sine = np.sin(2 * np.pi * 1000 * t)[None, None, :]
    silence = np.zeros((1, 1, 48000))
    out = Level().extract(np.concatenate([sine, silence]), 48000)
    np.testing.assert_allclose(out[0], [-3.0103, 0.0, 3.0103], atol=1e-3)
    np.testing.assert_array_equal(out[1], [SILENCE_DB, SILENCE_DB, 0.0])


@given(st.floats(1e-5, 10.0), st.integers(1, 500))
def test_level_is_finite_and_ordered(scale, samples):
    rng = np.random.default_rng(samples)
    audio = (scale * rng.standard_normal((2, 2, samples))).astype(np.float32)
    out = Level().extract(audio, 44100)
    assert np.isfinite(out).all()
    assert (out[:, 1] >= out[:, 0] - 1e-9).all()  # peak >= rms
