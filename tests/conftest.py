"""Shared fixtures: a seeded rng, plugins installed as fake distributions on sys.path, and
MUSDB18-layout trees (tones or synthetic music stems)."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Mapping
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


MUSDB_STEMS = ("drums", "bass", "other", "vocals")


def write_musdb_tree(
    root: Path,
    tracks: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
    sample_rate: int,
) -> Path:
    """Write a MUSDB18 tree in the decoded-WAV layout that the real ``musdb`` package reads:
    ``root/SUBSET/TRACK/{stem}.wav`` and ``mixture.wav`` (the sum of the stems given).

    ``tracks``: subset (``train``/``test``) → track name → stem → float ``(samples,
    channels)`` audio; a stem left out is not written (the mixture still sums the given ones).
    """
    import soundfile as sf

    for subset, names in tracks.items():
        for name, stems in names.items():
            folder = root / subset / name
            folder.mkdir(parents=True)
            for stem, audio in stems.items():
                sf.write(folder / f"{stem}.wav", audio, sample_rate, subtype="FLOAT")
            sf.write(folder / "mixture.wav", sum(stems.values()), sample_rate, subtype="FLOAT")
    return root


def synthetic_stems(seed: int, index: int, seconds: float, sample_rate: int) -> dict:
    """MUSDB's four stems of song ``index`` of dafxkit's synthetic music, ``(samples, 2)``
    each: drums, bass, other (the chord instrument) and vocals (the lead line), rendered one
    part at a time from the song's second section on (the first is a thinner intro)."""
    from dataclasses import replace

    from dafxkit.data.synth import make_song, render_song

    song = make_song(seed, index, sample_rate)
    parts = {"drums": "drums", "bass": "bass", "other": "chords", "vocals": "lead"}
    start_s = 8 * song.bar_s  # section 1
    stems = {}
    for stem, part in parts.items():
        only = replace(song, part_probability={p: float(p == part) for p in parts.values()})
        stems[stem] = render_song(only, start_s, seconds).T.copy()
    return stems


@pytest.fixture(scope="session")
def musdb_music_root(tmp_path_factory) -> Path:
    """A MUSDB18 WAV tree of synthetic music: 4 train tracks and 1 test track of 12 s at
    22.05 kHz, each with the four stems and their mixture."""
    root = tmp_path_factory.mktemp("musdb_music")
    rate, seconds = 22050, 12.0
    songs = {"train": range(4), "test": range(4, 5)}
    tracks = {
        subset: {f"Synth {i:02d} - Song {i}": synthetic_stems(7, i, seconds, rate) for i in indices}
        for subset, indices in songs.items()
    }
    return write_musdb_tree(root, tracks, rate)


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
