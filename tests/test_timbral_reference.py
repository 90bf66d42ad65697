"""The timbral_models wrapper: the compatibility shim works, failures become counted NaN."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import dafxkit.descriptors.timbral_reference as ref_module
from dafxkit import registry
from dafxkit.errors import DafxError, MissingDependencyError
from dafxkit.signals import test_signal as music

pytest.importorskip("timbral_models", reason="timbral_models is not installed")


@pytest.fixture(scope="module")
def clip():
    return np.stack([music(1.0, 44100, seed=3)])


def test_shim_leaves_numpy_and_librosa_alone_and_gives_old_spellings():
    import librosa

    package = ref_module.load_timbral_models()
    hardness = sys.modules["timbral_models.Timbral_Hardness"]
    assert hardness.np.lib.pad is np.pad
    assert not hasattr(np.lib, "pad")  # the real numpy is untouched
    strength = hardness.librosa.onset.onset_strength  # positional call, as 0.4.0 makes it
    y = music(0.5, 22050)[0].astype(np.float64)
    np.testing.assert_allclose(strength(y, 22050), librosa.onset.onset_strength(y=y, sr=22050))
    assert package is ref_module.load_timbral_models()


def test_brightness_and_depth_run_through_the_registry(clip):
    ex = registry.load_feature("timbral-reference", columns=("brightness", "depth"))
    out = ex.extract(clip, 44100)
    assert out.shape == (1, 2)
    assert np.isfinite(out).all(), ex.failures
    assert 0.0 < out[0, 0] < 100.0 and 0.0 < out[0, 1] < 100.0


def test_a_failing_clip_is_nan_with_a_counted_reason_and_the_batch_goes_on(clip):
    ex = ref_module.TimbralReference(("brightness",))
    batch = np.concatenate([np.zeros_like(clip), clip])
    out = ex.extract(batch, 44100)
    assert np.isnan(out[0, 0]) and np.isfinite(out[1, 0])
    [(descriptor, reason)] = ex.failures
    assert descriptor == "brightness" and "silence" in reason
    assert ex.failures[(descriptor, reason)] == 1


def test_unknown_descriptor_is_named():
    with pytest.raises(DafxError, match=r"unknown timbral descriptor\(s\) \['shine'\]"):
        ref_module.TimbralReference(("brightness", "shine"))


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(ref_module, "_cached", None)
    monkeypatch.setitem(sys.modules, "timbral_models", None)  # import fails
    with pytest.raises(MissingDependencyError, match="pip install --no-deps timbral_models==0.4.0"):
        ref_module.TimbralReference()
    problems = [
        p for p in registry.check(("feature",), smoke=False) if p.name == "timbral-reference"
    ]
    assert [p.category for p in problems] == ["unavailable"]
