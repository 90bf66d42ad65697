"""Entry-point discovery: lazy listing, broken and duplicate plugins, clear errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dafxkit import Effect, registry
from dafxkit.errors import DuplicatePluginError, PluginLoadError, UnknownPluginError
from tests.conftest import FUZZ_SOURCE

EFFECTS = "dafxkit.effects"


def _usable_problems(**options):
    """`registry.check` without plugins that only lack an optional dependency or their weights
    (the built-in `vae` encoder needs a checkpoint)."""
    return [p for p in registry.check(**options) if p.category != "unavailable"]


def test_a_plugin_that_needs_options_is_unavailable_not_broken():
    [vae] = [p for p in registry.check(("encoder",), smoke=False) if p.name == "vae"]
    assert vae.category == "unavailable" and "checkpoint=PATH" in vae.detail


def test_builtins_are_registered_through_entry_points():
    specs = registry.specs("effect")
    assert {"gain", "distortion"} <= set(specs)
    assert specs["gain"][0].distribution == "dafxkit"
    assert specs["gain"][0].value == "dafxkit_effects.gain:Gain"
    assert "level" in registry.names("feature")


def test_listing_imports_nothing(fake_dists):
    fake_dists.add("lazyfx", {EFFECTS: {"lazy": "lazy_mod:Fuzz"}}, {"lazy_mod": FUZZ_SOURCE})
    assert "lazy" in registry.names("effect")
    assert registry.specs("effect")["lazy"][0].distribution == "lazyfx"
    assert "lazy_mod" not in sys.modules
    fx = registry.load_effect("lazy")
    assert "lazy_mod" in sys.modules
    assert isinstance(fx, Effect)
    out = fx(np.ones((1, 1, 8), np.float32), fx.default_params(), 8000)
    np.testing.assert_allclose(out, 1 - np.exp(-(10**0.5)), rtol=1e-6)


def test_plugin_that_fails_to_import_is_reported_and_others_still_load(fake_dists):
    fake_dists.add(
        "brokenfx",
        {EFFECTS: {"broken": "broken_mod:Nope"}},
        {"broken_mod": "raise RuntimeError('needs libfoo.so')\n"},
    )
    with pytest.raises(
        PluginLoadError,
        match=r"'broken' from brokenfx 1\.0 \(broken_mod:Nope\) failed to import: "
        r"RuntimeError: needs libfoo\.so",
    ) as info:
        registry.load_effect("broken")
    assert info.value.stage == "import"
    assert isinstance(registry.load_effect("gain"), Effect)
    problems = _usable_problems(smoke=False)
    assert [(p.name, p.category) for p in problems] == [("broken", "import")]
    assert "needs libfoo.so" in problems[0].traceback


@pytest.mark.parametrize(
    "source, problem",
    [
        ("class NotAnEffect:\n    pass\n", "gives a NotAnEffect, not a dafxkit.effect.Effect"),
        (
            "from dafxkit import Effect, Param\n"
            "class Empty(Effect):\n"
            "    name = 'empty'\n"
            "    def process(self, audio, values, sample_rate, backend):\n"
            "        return audio\n",
            "`params` must be a non-empty tuple of Param",
        ),
        (
            "from dafxkit import Effect\nclass Abstract(Effect):\n    name = 'abstract'\n",
            "failed to build: TypeError",
        ),
    ],
)
def test_plugin_that_breaks_the_interface_is_reported(fake_dists, source, problem):
    attr = source.split("class ")[1].split("(")[0].split(":")[0]
    fake_dists.add("badfx", {EFFECTS: {"bad": f"bad_mod:{attr}"}}, {"bad_mod": source})
    with pytest.raises(PluginLoadError, match="badfx") as info:
        registry.load_effect("bad")
    assert problem in str(info.value)
    assert [p.name for p in _usable_problems(smoke=False)] == ["bad"]


def test_two_distributions_claiming_one_name_is_an_error_naming_both(fake_dists):
    fake_dists.add("fuzzfx", {EFFECTS: {"gain": "fuzz_mod:Fuzz"}}, {"fuzz_mod": FUZZ_SOURCE})
    with pytest.raises(
        DuplicatePluginError,
        match=r"'gain' is registered by 2 distributions: dafxkit .* and "
        r"fuzzfx 1\.0 \(fuzz_mod:Fuzz\)",
    ):
        registry.load_effect("gain")
    assert isinstance(registry.load_effect("distortion"), Effect)
    problems = _usable_problems(smoke=False)
    assert [(p.name, p.category) for p in problems] == [("gain", "duplicate")]


def test_unknown_name_lists_available_and_closest():
    with pytest.raises(
        UnknownPluginError,
        match=r"no effect named 'distorsion'\. Did you mean 'distortion'\? Available: .*gain",
    ):
        registry.load_effect("distorsion")
    with pytest.raises(UnknownPluginError, match="no encoder named 'vea'.*Did you mean 'vae'"):
        registry.load_encoder("vea")


def test_factory_entry_points_receive_options(fake_dists):
    source = FUZZ_SOURCE + (
        "\ndef make(gain_max_db=30.0):\n"
        "    fx = Fuzz()\n"
        "    fx.params = (Param('gain_db', 0.0, gain_max_db, 0.0, unit='dB'),)\n"
        "    return fx\n"
    )
    fake_dists.add("facfx", {EFFECTS: {"fac": "fac_mod:make"}}, {"fac_mod": source})
    assert registry.load_effect("fac", gain_max_db=6.0).param("gain_db").maximum == 6.0
    with pytest.raises(PluginLoadError, match="failed to build: TypeError"):
        registry.load_effect("fac", nonsense=1)


def test_smoke_check_catches_an_effect_that_returns_nan(fake_dists):
    source = FUZZ_SOURCE.replace("return (np.sign(x)", "return np.float32(np.nan) * (np.sign(x)")
    fake_dists.add("nanfx", {EFFECTS: {"nanfx": "nan_mod:Fuzz"}}, {"nan_mod": source})
    problems = _usable_problems()
    assert [(p.name, p.category) for p in problems] == [("nanfx", "smoke")]
    assert "non-finite" in problems[0].message


def test_feature_and_encoder_plugins(fake_dists):
    torch = pytest.importorskip("torch")
    source = """
import torch
from dafxkit import FeatureExtractor
from dafxkit.encoder import Encoder

class Mean(FeatureExtractor):
    name = "mean"
    feature_names = ("mean",)
    def compute(self, audio, sample_rate):
        return audio.mean(axis=(1, 2))[:, None]

class Pool(Encoder):
    name = "pool"
    def __init__(self, embedding_dim=4):
        super().__init__(embedding_dim=embedding_dim, sample_rate=16000)
        self.proj = torch.nn.Linear(1, embedding_dim)
    def forward(self, audio):
        return self.proj(audio.mean(dim=(1, 2))[:, None])
"""
    fake_dists.add(
        "extrafx",
        {
            "dafxkit.features": {"mean": "extra_mod:Mean"},
            "dafxkit.encoders": {"pool": "extra_mod:Pool"},
        },
        {"extra_mod": source},
    )
    fe = registry.load_feature("mean")
    np.testing.assert_allclose(fe.extract(np.ones((3, 2, 5), np.float32), 8000), np.ones((3, 1)))
    enc = registry.load_encoder("pool", embedding_dim=6)
    assert enc.encode(torch.zeros(2, 1, 100)).shape == (2, 6)
    with pytest.raises(Exception, match=r"shape \(batch, channels, samples\)"):
        enc.encode(torch.zeros(2, 100))
    assert _usable_problems() == []
