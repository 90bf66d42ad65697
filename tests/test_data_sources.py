"""Sources (MUSDB through the real musdb package, folders, synthetic music) and the sampler."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from dafxkit.data import (
    ClipSampler,
    FolderSource,
    SamplerConfig,
    Source,
    SourceError,
    Track,
    TrackReadError,
    open_source,
    register_source,
)
from dafxkit.data.sampler import resample, to_channels
from dafxkit.data.sources import SOURCES, parse_stems, parse_uri
from dafxkit.data.synth import SyntheticMusic, make_song, note_args, note_reference

RATE = 22050
VALID = "Actions - One Minute Smile"  # one of musdb's fixed validation-split tracks
STEMS = ("drums", "bass", "other", "vocals")


def _tone(freq: float, seconds: float, rate: int = RATE, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.2 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono * (1 + 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def musdb_root(tmp_path_factory):
    """A tiny MUSDB18 tree in the decoded-WAV layout: train/ and test/ track folders."""
    root = tmp_path_factory.mktemp("musdb")
    tracks = {"train": [VALID, "Zeta - Song"], "test": ["Test Artist - Tune"]}
    for subset, names in tracks.items():
        for t, name in enumerate(names):
            folder = root / subset / name
            folder.mkdir(parents=True)
            stems = {s: _tone(110.0 * (k + 1) * (t + 1), 2.0) for k, s in enumerate(STEMS)}
            for stem, audio in stems.items():
                if not (name == "Zeta - Song" and stem == "vocals"):  # one track lacks vocals
                    sf.write(folder / f"{stem}.wav", audio, RATE, subtype="FLOAT")
            sf.write(folder / "mixture.wav", sum(stems.values()), RATE, subtype="FLOAT")
    # A stray folder inside a track: musdb's listing turns it into a bogus track.
    (root / "train" / VALID / "extra").mkdir()
    return root


def _musdb_available() -> bool:
    try:
        import musdb  # noqa: F401
    except (ImportError, RuntimeError):  # stempeg raises RuntimeError without ffmpeg
        return False
    return True


needs_musdb = pytest.mark.skipif(not _musdb_available(), reason="musdb or ffmpeg missing")


@needs_musdb
def test_musdb_lists_train_subset_and_skips_bogus_folders(musdb_root):
    source = open_source(f"musdb:{musdb_root}")
    assert [t.name for t in source.tracks] == [f"train/{VALID}", "train/Zeta - Song"]
    assert all(t.sample_rate == RATE and t.channels == 2 for t in source.tracks)
    assert source.tracks[0].seconds == pytest.approx(2.0)
    # The stray "extra" folder has no mixture.wav and is named as skipped.
    assert any(
        name.startswith("train/extra") and "mixture.wav" in why for name, why in source.skipped
    )
    assert source.is_wav


@needs_musdb
def test_musdb_train_valid_split_and_test_subset(musdb_root):
    valid = open_source(f"musdb:{musdb_root}?split=valid")
    train = open_source(f"musdb:{musdb_root}?subsets=train&split=train")
    test = open_source(f"musdb:{musdb_root}?subsets=test")
    both = open_source(f"musdb:{musdb_root}?subsets=train,test")
    assert [t.name for t in valid.tracks] == [f"train/{VALID}"]
    assert [t.name for t in train.tracks] == ["train/Zeta - Song"]
    assert [t.name for t in test.tracks] == ["test/Test Artist - Tune"]
    assert len(both.tracks) == 3


@needs_musdb
def test_musdb_reads_windows_of_the_mixture_and_of_summed_stems(musdb_root):
    source = open_source(f"musdb:{musdb_root}?split=valid&stems=mixture,drums+bass")
    assert [t.name for t in source.tracks] == [f"train/{VALID}", f"train/{VALID} [drums+bass]"]
    folder = musdb_root / "train" / VALID
    start = 0.5
    mix, rate = source.read(0, start, 1.0)
    assert rate == RATE and mix.shape == (2, RATE) and mix.dtype == np.float32
    frames = slice(int(start * RATE), int(start * RATE) + RATE)
    expected = sf.read(folder / "mixture.wav", dtype="float32")[0][frames].T
    np.testing.assert_array_equal(mix, expected)
    stems, _ = source.read(1, start, 1.0)
    drums = sf.read(folder / "drums.wav", dtype="float32")[0][frames]
    bass = sf.read(folder / "bass.wav", dtype="float32")[0][frames]
    np.testing.assert_allclose(stems, (drums + bass).T, atol=1e-7)


@needs_musdb
def test_musdb_missing_stem_skips_that_track_by_name(musdb_root):
    source = open_source(f"musdb:{musdb_root}?stems=vocals")
    assert [t.name for t in source.tracks] == [f"train/{VALID} [vocals]"]
    folder = musdb_root / "train" / "Zeta - Song"
    assert ("train/Zeta - Song [vocals]", f"no vocals.wav in {folder}") in source.skipped


@needs_musdb
@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("?subsets=test&split=valid", "use it with subsets=train"),
        ("?stems=vocal", "Did you mean 'vocals'"),
        ("?subsets=dev", "subsets must be train and/or test"),
        ("?colour=red", "unknown option(s) colour"),
        ("?wav=maybe", "wav must be 1 or 0"),
    ],
)
def test_musdb_bad_options_are_named(musdb_root, suffix, message):
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_source(f"musdb:{musdb_root}{suffix}")


@needs_musdb
def test_musdb_wrong_root_and_missing_path_are_clear(tmp_path):
    with pytest.raises(SourceError, match="path not found"):
        open_source(f"musdb:{tmp_path / 'nowhere'}")
    with pytest.raises(SourceError, match="no train folder"):
        open_source(f"musdb:{tmp_path}")
    (tmp_path / "train" / "Some Track").mkdir(parents=True)  # the stems layout, but empty
    with pytest.raises(SourceError, match="no tracks under"):
        open_source(f"musdb:{tmp_path}")


@needs_musdb
def test_musdb_stems_layout_decodes_the_asked_for_streams(tmp_path):
    """A .stem.mp4 (five AAC streams: mixture, drums, bass, other, vocals), read with stempeg."""
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg missing")
    (tmp_path / "train").mkdir()
    inputs, maps = [], []
    for k, freq in enumerate((220.0, 440.0, 660.0, 880.0, 1100.0)):
        sf.write(tmp_path / f"s{k}.wav", _tone(freq, 1.5), RATE)
        inputs += ["-i", str(tmp_path / f"s{k}.wav")]
        maps += ["-map", f"{k}:a"]
    stem_file = tmp_path / "train" / f"{VALID}.stem.mp4"
    command = ["ffmpeg", "-y", "-loglevel", "error", *inputs, *maps, "-c:a", "aac", str(stem_file)]
    if subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip("this ffmpeg cannot encode AAC")
    source = open_source(f"musdb:{tmp_path}?split=valid&stems=mixture,vocals,drums+bass")
    assert not source.is_wav and source.tracks[0].seconds == pytest.approx(1.5, abs=0.05)
    levels = []
    for index in range(3):
        audio, rate = source.read(index, 0.25, 1.0)
        assert audio.shape == (2, rate) and audio.dtype == np.float32
        spectrum = np.abs(np.fft.rfft(audio[0] * np.hanning(rate)))  # 1 Hz bins
        levels.append(
            {f: spectrum[f - 3 : f + 4].max() / spectrum.max() for f in (220, 440, 660, 1100)}
        )
    assert levels[0][220] == 1.0 and max(levels[0][f] for f in (440, 660, 1100)) < 0.05  # mixture
    assert levels[1][1100] == 1.0 and levels[1][220] < 0.05  # vocals
    assert min(levels[2][440], levels[2][660]) > 0.5 and levels[2][1100] < 0.05  # drums + bass


def test_stem_specs_parse():
    assert parse_stems("vocals, drums+bass") == [("vocals",), ("drums", "bass")]
    assert parse_stems("accompaniment") == [("drums", "bass", "other")]
    with pytest.raises(SourceError, match="cannot be summed"):
        parse_stems("mixture+vocals")


@pytest.fixture
def audio_folder(tmp_path):
    root = tmp_path / "audio"
    (root / "a" / "b").mkdir(parents=True)
    sf.write(root / "one.wav", _tone(220, 3.0), RATE)
    sf.write(root / "a" / "b" / "two.flac", _tone(330, 2.5, channels=1), RATE)
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (root / "notes.txt").write_text("not audio")
    (root / ".hidden.wav").write_bytes(b"ignored")
    return root


def test_folder_lists_readable_files_recursively_and_names_corrupt_ones(audio_folder, caplog):
    with caplog.at_level(logging.WARNING, logger="dafxkit.data"):
        source = open_source(f"folder:{audio_folder}")
    assert [t.name for t in source.tracks] == ["a/b/two.flac", "one.wav"]
    assert source.tracks[0] == Track("a/b/two.flac", 2.5, RATE, 1)
    reasons = dict(source.skipped)
    assert reasons["corrupt.wav"].startswith("corrupt or unsupported audio")
    assert reasons["notes.txt"] == "not audio"
    assert ".hidden.wav" not in reasons
    assert "corrupt.wav" in caplog.text and "notes.txt" not in caplog.text
    audio, rate = source.read(1, 1.0, 0.5)
    assert rate == RATE and audio.shape == (2, RATE // 2)


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(SourceError, match="path not found"):
        open_source(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="the folder is empty"):
        open_source(f"folder:{tmp_path / 'empty'}")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.mp3").write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="1 file.*none readable"):
        open_source(f"folder:{tmp_path / 'junk'}")
    with pytest.raises(SourceError, match="needs a path"):
        open_source("folder:")


def test_a_file_corrupt_after_its_header_raises_track_read_error(tmp_path):
    path = tmp_path / "bad.flac"
    sf.write(path, _tone(220, 2.0), RATE)
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 4, len(data)):
        data[i] = (7 * data[i] + 13) % 256
    path.write_bytes(bytes(data))
    source = FolderSource("folder:x", tmp_path)
    assert source.tracks[0].seconds == pytest.approx(2.0)  # the header is fine
    with pytest.raises(TrackReadError, match="cannot read .*bad.flac"):
        source.read(0, 1.2, 0.5)


def test_uri_parsing_and_unknown_schemes(tmp_path):
    assert parse_uri("musdb:~/m?subsets=test&split=") == (
        "musdb",
        "~/m",
        {"subsets": "test", "split": ""},
    )
    assert parse_uri("synthetic?seed=3") == ("synthetic", "", {"seed": "3"})
    with pytest.raises(SourceError, match="Did you mean 'musdb'"):
        open_source("musbd:/x")
    with pytest.raises(SourceError, match=f"write folder:{tmp_path}"):
        open_source(str(tmp_path))
    with pytest.raises(SourceError, match="takes no path"):
        open_source("synthetic:/data")
    with pytest.raises(SourceError, match="must be >= 1"):
        open_source("synthetic?tracks=0")


def test_a_registered_source_scheme_opens():
    class Tones(Source):
        scheme = "tones"

        def __init__(self, uri):
            super().__init__(uri)
            self.tracks = [Track("a", 10.0, 8000, 1)]

        @classmethod
        def from_uri(cls, path, options, *, sample_rate):
            return cls(f"tones:{path}")

        def read(self, index, start_s, seconds):
            return np.full((1, int(seconds * 8000)), 0.1, np.float32), 8000

    register_source("tones", Tones)
    try:
        source = open_source("tones:")
        assert isinstance(source, Tones) and source.read(0, 0, 1)[0].shape == (1, 8000)
    finally:
        SOURCES.pop("tones")


def test_synthetic_songs_are_deterministic_varied_and_music_like():
    music = SyntheticMusic(seed=7, n_tracks=50, sample_rate=RATE)
    a = music.render(3, 12.0, 1.5)
    assert a.shape == (2, int(1.5 * RATE)) and a.dtype == np.float32
    np.testing.assert_array_equal(a, SyntheticMusic(7, 50, RATE).render(3, 12.0, 1.5))
    assert not np.array_equal(a, SyntheticMusic(8, 50, RATE).render(3, 12.0, 1.5))
    songs = [make_song(7, i, RATE) for i in range(30)]
    assert len({s.bpm for s in songs}) > 10 and len({s.root for s in songs}) > 6
    assert len({s.lead.kind for s in songs}) >= 4 and len({s.chords.kind for s in songs}) >= 4
    levels = []
    for i in range(6):
        clip = music.render(i, 20.0, 1.0)
        assert np.isfinite(clip).all() and np.abs(clip).max() <= 1.0
        levels.append(10 * np.log10(np.mean(clip.astype(np.float64) ** 2)))
        assert not np.allclose(clip[0], clip[1])  # a stereo mix, not two copies
    assert -35 < min(levels) and max(levels) < -3


def test_note_kernel_matches_its_numpy_reference():
    from dafxkit.data._synth_numba import add_notes
    from dafxkit.data.synth import _Event

    # One case of each kind of voice: FM (bell), detuned (pad), filter sweep (pluck), breath
    # noise and vibrato (flute), as chords and single notes.
    wanted = {"bell": None, "pad": None, "pluck": None, "flute": None}
    for index in range(200):
        song = make_song(0, index, RATE)
        for part, voice in (("chords", song.chords), ("lead", song.lead), ("bass", song.bass)):
            if voice.kind in wanted and wanted[voice.kind] is None:
                wanted[voice.kind] = (
                    song,
                    part,
                    voice,
                    (60, 64, 67) if part == "chords" else (52,),
                )
    assert all(wanted.values()), wanted
    for song, part, voice, midi in wanted.values():
        event = _Event(part, 0.0, 0.4, midi, 0.9, (0.0,) * len(midi))
        args = note_args(song, voice, event, cut_s=0.6)
        n = RATE
        dry, send = np.zeros((2, n)), np.zeros(n)
        left = np.array([1.0, 0.5, 0.25][: len(midi)])
        add_notes(
            dry, send, 50, n, 0, float(RATE), args.mode, args.tables, args.darks,
            args.filter_decay_s, args.detune_ratio, args.f0, args.vibrato_depth,
            args.vibrato_hz, args.fm_ratio, args.fm_index, args.fm_decay_s, args.fm_floor,
            args.attack_s, args.decay_s, args.sustain, args.release_s, args.duration_s,
            args.velocity, args.noise, args.noise_amount, args.drive, args.cut_s, left,
            np.zeros_like(left), 1.0,
        )  # fmt: skip
        expected = np.zeros(n)
        expected[50:] = (left[:, None] * note_reference(args, 50, n, RATE)).sum(axis=0)
        # FM reads a sine table (interpolation error ~3e-7, times the modulation index).
        np.testing.assert_allclose(dry[0], expected, atol=5e-4 * np.abs(expected).max())
        assert np.abs(dry[0, int(0.61 * RATE) :]).max() == 0.0  # cut, then silent


class _Fixed(Source):
    scheme = "fixed"

    def __init__(self, tracks, rate, audio_fn):
        super().__init__("fixed:")
        self.tracks = tracks
        self._fn = audio_fn
        self._rate = rate

    @classmethod
    def from_uri(cls, path, options, *, sample_rate):  # pragma: no cover - unused
        raise NotImplementedError

    def read(self, index, start_s, seconds):
        return self._fn(index, start_s, seconds), self._rate


def test_sampler_skips_short_tracks_and_resamples_with_soxr():
    rate_in = 48000

    def sine(index, start_s, seconds):
        t = start_s + np.arange(int(round(seconds * rate_in))) / rate_in
        return np.stack([np.sin(2 * np.pi * 1000 * t)] * 2).astype(np.float32) * 0.5

    tracks = [Track("short", 0.5, rate_in, 2), Track("long", 4.0, rate_in, 2)]
    sampler = ClipSampler(_Fixed(tracks, rate_in, sine), SamplerConfig(1.0, 44100, 1))
    assert sampler.too_short == ["short"] and sampler.eligible == [1]
    rng = np.random.default_rng(0)
    assert {sampler.choose(rng) for _ in range(20)} == {1}
    clip, start = sampler.read(rng, 1)
    assert clip.shape == (1, 44100) and 0 <= start <= 3.0
    spectrum = np.abs(np.fft.rfft(clip[0] * np.hanning(clip.shape[1])))
    assert np.argmax(spectrum) * 44100 / clip.shape[1] == pytest.approx(1000, abs=2)
    with pytest.raises(SourceError, match="shorter than the 5 s window .longest: 4.00 s"):
        ClipSampler(_Fixed(tracks, rate_in, sine), SamplerConfig(5.0, 44100, 1))


def test_channel_conversion_and_resample_lengths():
    stereo = np.stack([np.ones(10), -np.ones(10)]).astype(np.float32)
    assert np.all(to_channels(stereo, 1) == 0.0)
    assert to_channels(stereo[:1], 2).shape == (2, 10)
    assert to_channels(np.ones((6, 4), np.float32), 2).shape == (2, 4)
    x = np.zeros((2, 48000), np.float32)
    assert abs(resample(x, 48000, 44100).shape[1] - 44100) <= 1


@pytest.mark.parametrize(
    ("name", "subtype"),
    [("a.wav", "PCM_16"), ("b.flac", "PCM_16"), ("c.wav", "PCM_24"), ("d.wav", "FLOAT")],
)
def test_folder_windows_equal_libsndfiles_float_reading(tmp_path, name, subtype):
    # 16-bit PCM is read as integers and scaled in NumPy: the same numbers as libsndfile's.
    rng = np.random.default_rng(3)
    audio = np.clip(rng.standard_normal((RATE * 2, 2)) * 0.4, -1, 1)
    audio[:4, 0] = [-1.0, 1.0, 0.0, -1 / 32768]  # full scale both ways, the smallest step
    sf.write(tmp_path / name, audio, RATE, subtype=subtype)
    source = FolderSource("folder:x", tmp_path)
    got, rate = source.read(0, 0.0, 1.5)
    expected, _ = sf.read(tmp_path / name, frames=int(1.5 * RATE), dtype="float32")
    assert rate == RATE and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected.T)
