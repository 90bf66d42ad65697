"""The contract every registered effect must keep, third-party ones included.

The checks live in `dafxkit.testing` so that plugin packages can run them in their own tests:
shape and dtype kept, finite output for every parameter vector in [0, 1] (random, corners,
defaults) on noise, DC, silence and loud input, a batch equals its rows run alone, every
available backend agrees with the others, and neutral settings give the identity.
"""

from __future__ import annotations

import numpy as np
import pytest

from dafxkit import registry, testing
from dafxkit.effect import Effect, Param
from dafxkit.features import FeatureExtractor

# Every registered effect, plus a chain, which must behave like any single effect.
EFFECTS = [*registry.names("effect"), "gain>distortion"]


@pytest.fixture(params=EFFECTS)
def effect(request):
    return registry.load_effect(request.param)


def test_finite_shape_and_dtype_for_any_setting(effect):
    assert testing.finite_problems(effect) == []


def test_batch_equals_rows_alone(effect):
    assert testing.batch_problems(effect) == []


def test_backends_agree(effect):
    assert testing.backend_problems(effect) == []


def test_neutral_settings_are_identity(effect):
    if effect.neutral is None:
        pytest.skip(f"{effect.name} declares no neutral setting")
    assert testing.neutral_problems(effect) == []


class _Broken(Effect):
    """Breaks every part of the contract, to show that each check can fail."""

    name = "broken"
    params = (Param("amount", 0.0, 1.0, 0.5),)
    neutral = {"amount": 0.0}

    def process(self, audio, values, sample_rate, backend):
        amount = values["amount"][:, None, None]
        out = audio * (1.0 + amount) + 1e-3 * len(audio)  # the offset depends on the batch
        if backend == "numpy":
            out = out + 1e-3
        out = np.where(audio == 0.9, np.inf, out) if sample_rate == 22050 else out
        wrong_dtype = sample_rate == 44100 and audio.shape[-1] == 3000  # finite_problems only
        return out.astype(np.float64 if wrong_dtype else np.float32)


def test_each_check_reports_what_it_finds():
    fx = _Broken()
    fx.backends = ("numba", "numpy")
    found = testing.finite_problems(fx)
    assert any("at 44100 Hz" in p and "raised NativeError" in p for p in found)  # float64
    assert any("non-finite output for DC at 22050 Hz" in p for p in found)
    assert "a batch differs from its rows run alone" in testing.batch_problems(fx)[0]
    assert "the numba backend differs from numpy by up to 0.001" in testing.backend_problems(fx)[0]
    assert "the neutral setting changes the input" in testing.neutral_problems(fx)[0]
    with pytest.raises(AssertionError, match="effect 'broken' breaks the dafxkit contract"):
        testing.check_effect(fx)
    testing.check_effect("distortion")  # a good one passes


@pytest.mark.parametrize("name", ["level", "mfcc", "timbral"])
def test_builtin_extractors_keep_the_extractor_contract(name):
    assert testing.extractor_problems(name) == []


class _BrokenExtractor(FeatureExtractor):
    """Gives infinity on silence and depends on its batch, to show each check can fail."""

    name = "broken"
    feature_names = ("level", "batch")

    def compute(self, audio, sample_rate):
        peak = np.abs(audio).max(axis=(1, 2)).astype(np.float64)
        with np.errstate(divide="ignore"):
            level = 20 * np.log10(peak)
        return np.stack([level, np.full(len(audio), float(len(audio)))], axis=1)


def test_each_extractor_check_reports_what_it_finds():
    found = testing.extractor_problems(_BrokenExtractor())
    assert any("non-finite values for silence at 22050 Hz" in p for p in found)
    assert any("a batch differs from its rows described alone" in p for p in found)
    with pytest.raises(AssertionError, match="feature extractor 'broken' breaks"):
        testing.check_extractor(_BrokenExtractor())
