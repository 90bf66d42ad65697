"""SoX augmentation, for real: pitch moves by the semitone ratio, tempo changes the length."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dafxkit.data import Augmentation, AugmentConfig, Augmenter, SoxUnavailableError
from dafxkit.data.augment import check_sox

RATE = 22050

try:
    check_sox()
    HAVE_SOX = True
except SoxUnavailableError:
    HAVE_SOX = False

needs_sox = pytest.mark.skipif(not HAVE_SOX, reason="the sox program is not installed")


def _sine(freq: float, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.stack([0.5 * np.sin(2 * np.pi * freq * t)] * channels).astype(np.float32)


def _peak_hz(audio: np.ndarray) -> float:
    # Skip the ends (the time-stretch's edges); zero-padding refines the peak's position.
    x = audio[RATE // 4 : -RATE // 4].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), 8 * x.size))
    return float(np.argmax(spectrum)) * RATE / (8 * x.size)


@needs_sox
@pytest.mark.parametrize(
    ("semitones", "tempo"),
    [(2.0, 1.0), (-1.5, 1.0), (0.0, 1.1), (0.0, 0.9), (-2.0, 0.92), (1.3, 1.07)],
)
def test_pitch_moves_by_the_semitone_ratio_and_tempo_changes_the_length(semitones, tempo):
    x = _sine(440.0, 2.0)
    y = Augmenter(AugmentConfig()).apply(x, RATE, Augmentation(semitones, tempo))
    assert y.dtype == np.float32 and y.shape[0] == 1 and np.isfinite(y).all()
    assert y.shape[1] == pytest.approx(x.shape[1] / tempo, rel=0.01)
    assert _peak_hz(y[0]) == pytest.approx(440.0 * 2 ** (semitones / 12), rel=0.004)
    # Level is kept (no clipping, no gain change) within a dB.
    assert np.sqrt(np.mean(y[0, RATE // 4 : -RATE // 4] ** 2)) == pytest.approx(
        0.5 / np.sqrt(2), rel=0.12
    )


@needs_sox
def test_stereo_keeps_its_channels_and_quick_mode_works():
    x = _sine(300.0, 1.0, channels=2)
    x[1] *= 0.5
    y = Augmenter(AugmentConfig(quick=True)).apply(x, RATE, Augmentation(1.0, 1.05))
    assert y.shape[0] == 2
    ratio = np.sqrt(np.mean(y[1] ** 2) / np.mean(y[0] ** 2))
    assert ratio == pytest.approx(0.5, rel=0.02)


def test_identity_returns_the_input_without_running_sox():
    x = _sine(300.0, 0.5)
    assert Augmenter(AugmentConfig(enabled=False)).apply(x, RATE, Augmentation()) is x


@given(seed=st.integers(0, 2**32 - 1), p_pitch=st.floats(0, 1), p_tempo=st.floats(0, 1))
@settings(max_examples=40, deadline=None)
def test_draws_stay_in_their_ranges(seed, p_pitch, p_tempo):
    config = AugmentConfig(
        enabled=True, pitch_probability=p_pitch, pitch_semitones=1.5,
        tempo_probability=p_tempo, tempo_range=(0.95, 1.08),
    )  # fmt: skip
    augmenter = Augmenter.__new__(Augmenter)  # the draws need no sox program
    augmenter.config = config
    rng = np.random.default_rng(seed)
    aug = augmenter.draw(rng, max_tempo=1.05)
    assert -1.5 <= aug.pitch_semitones <= 1.5
    assert aug.tempo == 1.0 or 0.95 <= aug.tempo <= 1.05
    if p_pitch == 0:
        assert aug.pitch_semitones == 0.0
    if p_tempo == 0:
        assert aug.tempo == 1.0
    # Every draw uses the same amount of the generator, whatever comes out.
    assert rng.random() == np.random.default_rng(seed).random(5)[4]


def test_probabilities_are_honoured():
    augmenter = Augmenter.__new__(Augmenter)
    augmenter.config = AugmentConfig(pitch_probability=0.3, tempo_probability=0.8)
    rng = np.random.default_rng(1)
    draws = [augmenter.draw(rng) for _ in range(2000)]
    assert np.mean([d.pitch_semitones != 0 for d in draws]) == pytest.approx(0.3, abs=0.04)
    assert np.mean([d.tempo != 1 for d in draws]) == pytest.approx(0.8, abs=0.04)


def test_missing_sox_program_names_it_and_the_way_out(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run there
    with pytest.raises(SoxUnavailableError) as info:
        Augmenter(AugmentConfig())
    message = str(info.value)
    assert "`sox` program" in message and "apt-get install sox" in message
    assert "--no-augment" in message
    Augmenter(AugmentConfig(enabled=False))  # no sox needed
    Augmenter(AugmentConfig(pitch_probability=0.0, tempo_probability=0.0))


def test_bad_augment_settings_are_rejected():
    from dafxkit.data import DataError

    with pytest.raises(DataError, match="tempo_range"):
        AugmentConfig(tempo_range=(1.2, 0.9))
    with pytest.raises(DataError, match="pitch_probability"):
        AugmentConfig(pitch_probability=1.5)
