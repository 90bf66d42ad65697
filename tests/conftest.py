"""Shared fixtures: a seeded rng, and plugins installed as fake distributions on sys.path."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dafxkit import registry

#: Real music for the agreement tests that need it (they skip without it): the clips
#: `benchmarks/make_music_clips.sh` cuts, in data/music_clips or where DAFXKIT_MUSIC_CLIPS says.
_DEFAULT_CLIPS = Path(__file__).resolve().parent.parent / "data" / "music_clips"
MUSIC_CLIPS = Path(os.environ.get("DAFXKIT_MUSIC_CLIPS", _DEFAULT_CLIPS))


def music_clip_paths() -> list[Path]:
    return sorted(MUSIC_CLIPS.glob("*.wav")) if MUSIC_CLIPS.is_dir() else []


def fast_pipeline_config(*, tracks: int = 30, seconds: float = 1.0, **changes):
    """A data-pipeline config that generates quickly: short mono 22.05 kHz clips from a small
    synthetic collection, no SoX, no descriptors, small batches; ``changes`` override fields."""
    from dafxkit.data import AugmentConfig, PipelineConfig, SamplerConfig

    base = {
        "source": f"synthetic?tracks={tracks}",
        "sampler": SamplerConfig(seconds=seconds, sample_rate=22050, channels=1),
        "augment": AugmentConfig(enabled=False),
        "descriptors": (),
        "batch_size": 4,
    }
    base.update(changes)
    return PipelineConfig(**base)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


class FakeDistributions:
    """Writes ``*.dist-info`` folders with entry points, the way pip would, onto sys.path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def add(
        self,
        dist: str,
        entry_points: dict[str, dict[str, str]],
        modules: dict[str, str] | None = None,
        version: str = "1.0",
    ) -> None:
        """``entry_points``: group → {name: "module:attr"}; ``modules``: name → source."""
        info = self.root / f"{dist}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = []
        for group, eps in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{name} = {value}" for name, value in eps.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in (modules or {}).items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
            self.modules.append(module)
        registry.refresh()


@pytest.fixture
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    fakes = FakeDistributions(site)
    yield fakes
    for module in fakes.modules:
        sys.modules.pop(module, None)
    monkeypatch.undo()
    registry.refresh()


# A small valid third-party effect, used as plugin source in several tests.
FUZZ_SOURCE = """
import numpy as np
from dafxkit import Effect, Param

class Fuzz(Effect):
    name = "fuzz"
    description = "exponential soft clipper"
    params = (Param("gain_db", 0.0, 30.0, 10.0, unit="dB"),)

    def process(self, audio, values, sample_rate, backend):
        g = np.power(10.0, values["gain_db"] / 20.0)[:, None, None]
        x = g * audio
        return (np.sign(x) * (1.0 - np.exp(-np.abs(x)))).astype(np.float32)
"""
