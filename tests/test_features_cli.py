"""`dafxkit features extract`: feature selection, output formats, unreadable files."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from dafxkit.cli import app
from dafxkit.cli.features import resolve_features
from dafxkit.errors import DafxError, UnknownPluginError
from dafxkit.signals import test_signal as music

ENV = {"COLUMNS": "200"}
LEVEL_SOURCE = """
import numpy as np
from dafxkit.features import FeatureExtractor

class Loud(FeatureExtractor):
    name = "loud"
    feature_names = ("rms_dbfs", "twice")

    def compute(self, audio, sample_rate):
        return np.full((audio.shape[0], 2), 2.0)
"""


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def wavs(tmp_path):
    paths = []
    for i, gain in enumerate((0.5, 0.05)):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, gain * music(1.0, 22050, seed=7)[0], 22050, subtype="FLOAT")
        paths.append(path)
    return paths


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args], env=ENV)


def test_extractor_names_columns_and_qualified_columns_resolve():
    requests = resolve_features(["level", "timbral:depth,brightness"])
    assert [(r.extractor, r.columns) for r in requests] == [
        ("level", None),
        ("timbral", ["depth", "brightness"]),
    ]
    # A bare column goes to dafxkit's own extractor, not the NaN-returning reference.
    [request] = resolve_features(["brightness,depth"])
    assert (request.extractor, request.columns) == ("timbral", ["brightness", "depth"])


def test_unknown_and_ambiguous_features_are_clear_errors(fake_dists):
    with pytest.raises(UnknownPluginError, match="no feature extractor or feature named 'shiny'"):
        resolve_features(["shiny"])
    with pytest.raises(DafxError, match="has no feature 'shiny'; it has rms_dbfs"):
        resolve_features(["level:shiny"])
    fake_dists.add(
        "loudfx", {"dafxkit.features": {"loud": "loud_mod:Loud"}}, {"loud_mod": LEVEL_SOURCE}
    )
    with pytest.raises(DafxError, match="write one of level:rms_dbfs, loud:rms_dbfs"):
        resolve_features(["rms_dbfs"])
    [request] = resolve_features(["loud:rms_dbfs"])
    assert request.extractor == "loud"


def test_csv_has_one_row_per_file_with_level_features(runner, wavs):
    result = invoke(runner, "features", "extract", *wavs, "--feature", "level", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["file"] for r in rows] == [str(p) for p in wavs]
    # The second file is 20 dB quieter.
    rms = [float(r["rms_dbfs"]) for r in rows]
    assert rms[0] - rms[1] == pytest.approx(20.0, abs=1e-3)


def test_json_to_a_file_and_only_the_requested_columns(runner, wavs, tmp_path):
    out = tmp_path / "features.json"
    result = invoke(
        runner, "features", "extract", wavs[0], "-f", "peak_dbfs", "--format", "json", "-o", out
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(out.read_text())
    assert set(row) == {"file", "peak_dbfs", "flags"}
    assert row["peak_dbfs"] == pytest.approx(20 * np.log10(0.5 * 10 ** (-3 / 20)), abs=1e-3)


def test_timbral_table_for_brightness_and_depth(runner, wavs):
    result = invoke(runner, "features", "extract", *wavs, "--feature", "brightness,depth")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "brightness" in line)
    assert header.index("brightness") < header.index("depth")
    assert "clip0.wav" in result.stdout and "clip1.wav" in result.stdout


def test_a_table_too_wide_for_the_terminal_turns_to_one_column_per_file(runner, wavs):
    # mfcc's 40 columns cannot be one row per file in 80 characters: one row per feature.
    result = runner.invoke(
        app, ["features", "extract", *map(str, wavs), "-f", "level,mfcc"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    assert "…" not in result.stdout  # no cell cut short
    header = next(line for line in lines if "feature" in line)
    assert header.index("clip0.wav") < header.index("clip1.wav")
    labels = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert labels[:3] == ["rms_dbfs", "peak_dbfs", "crest_db"]
    assert labels[-1] == "mfcc19_std" and len(labels) == 3 + 40
    # In 30 characters each file gets its own table.
    result = runner.invoke(
        app, ["features", "extract", *map(str, wavs), "-f", "level"], env={"COLUMNS": "30"}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("feature") == 2
    assert max(map(len, result.stdout.splitlines())) <= 30


def test_silence_gives_a_flag_not_a_crash(runner, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(22050), 22050)
    result = invoke(runner, "features", "extract", path, "-f", "brightness", "--format", "csv")
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert np.isfinite(float(row["brightness"]))
    assert "brightness:SILENT" in row["flags"]


def test_unreadable_file_is_named_skipped_and_fails_the_run(runner, wavs, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really")
    result = invoke(runner, "features", "extract", wavs[0], bad, "-f", "level", "--format", "csv")
    assert result.exit_code == 1
    assert "skipped" in result.stderr and "broken.wav" in result.stderr
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 1


def test_bad_format_is_rejected(runner, wavs):
    result = invoke(runner, "features", "extract", wavs[0], "--format", "xml")
    assert result.exit_code == 1
    assert "--format must be table, csv or json" in result.stderr


# An extractor that records how many threads are inside `compute` at once.
TURNS_SOURCE = """
import threading, time
import numpy as np
from dafxkit.features import FeatureExtractor

inside = 0
most = 0
lock = threading.Lock()

class Turns(FeatureExtractor):
    name = "turns"
    feature_names = ("most_inside",)

    def compute(self, audio, sample_rate):
        global inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)
        with lock:
            inside -= 1
        return np.full((audio.shape[0], 1), float(most))
"""


def test_a_folder_stands_for_its_audio_files_in_order(runner, tmp_path):
    root = tmp_path / "music"
    (root / "b").mkdir(parents=True)
    (root / ".hidden").mkdir()
    gains = {"b/2.wav": 0.1, "a.flac": 0.5, "b/10.wav": 0.01, "c.wav": 0.2}
    for name, gain in gains.items():
        sf.write(root / name, gain * music(0.5, 22050, seed=3)[0], 22050)
    sf.write(root / ".hidden" / "x.wav", np.zeros(100), 22050)
    (root / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    (root / "notes.txt").write_text("not audio either")
    result = invoke(
        runner, "features", "extract", root, "-f", "rms_dbfs", "--format", "csv", "-j", "3"
    )
    assert result.exit_code == 0, result.output  # other files are left out quietly
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    names = sorted(gains)  # a.flac, b/10.wav, b/2.wav, c.wav
    assert [r["file"] for r in rows] == [str(root / n) for n in names]
    rms = np.array([float(r["rms_dbfs"]) for r in rows])
    want = np.array([20 * np.log10(gains[n]) for n in names])
    assert np.allclose(rms - rms[0], want - want[0], atol=0.01)  # each row is its own file
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(runner, "features", "extract", empty, "-f", "level")
    assert result.exit_code == 1 and "no audio files under" in result.stderr


def test_files_are_described_in_parallel_and_keep_their_order(runner, tmp_path):
    paths = []
    for i in range(12):
        paths.append(tmp_path / f"{i:02d}.wav")
        sf.write(paths[-1], 0.9**i * music(0.3, 22050, seed=i)[0], 22050)
    outputs = {}
    for jobs in ("1", "4"):
        result = invoke(
            runner,
            "features",
            "extract",
            *paths,
            "-f",
            "timbral,level",
            "--format",
            "csv",
            "-j",
            jobs,
        )
        assert result.exit_code == 0, result.output
        outputs[jobs] = result.stdout
    assert outputs["1"] == outputs["4"]
    rows = list(csv.DictReader(io.StringIO(outputs["4"])))
    assert [r["file"] for r in rows] == [str(p) for p in paths]


def test_an_extractor_not_declared_thread_safe_takes_turns(runner, wavs, fake_dists):
    fake_dists.add(
        "turnsfx", {"dafxkit.features": {"turns": "turns_mod:Turns"}}, {"turns_mod": TURNS_SOURCE}
    )
    many = [*wavs] * 4
    result = invoke(
        runner, "features", "extract", *many, "-f", "turns", "--format", "csv", "-j", "4"
    )
    assert result.exit_code == 0, result.output
    most = {float(r["most_inside"]) for r in csv.DictReader(io.StringIO(result.stdout))}
    assert most == {1.0}


def test_the_frame_budget_keeps_long_files_from_running_together():
    import threading
    import time

    from dafxkit.cli.features import _FrameBudget

    budget = _FrameBudget(100)
    seen: list[int] = []
    lock = threading.Lock()

    def work(frames):
        with budget.hold(frames):
            with lock:
                seen.append(budget.used)
            time.sleep(0.01)

    sizes = [60, 60, 30, 250, 10, 40, 90]
    threads = [threading.Thread(target=work, args=(n,)) for n in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == len(sizes) and budget.used == 0
    # Within the budget, or one file larger than the whole budget alone.
    assert all(u <= 100 or u == 250 for u in seen)


def test_files_wait_for_memory_when_the_budget_is_small(runner, wavs, fake_dists, monkeypatch):
    from dafxkit.cli import features

    source = TURNS_SOURCE.replace(
        '    name = "turns"', '    name = "turns"\n    thread_safe = True'
    )
    fake_dists.add(
        "turnsfx", {"dafxkit.features": {"turns": "turns_mod:Turns"}}, {"turns_mod": source}
    )
    many = [*wavs] * 4
    args = ["features", "extract", *many, "-f", "turns", "--format", "csv", "-j", "4"]
    monkeypatch.setattr(features, "_frames_in_flight", lambda: 1)  # one file at a time
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    most = {float(r["most_inside"]) for r in csv.DictReader(io.StringIO(result.stdout))}
    assert most == {1.0}


# Peak level, but crashes on clips of 999 samples while CRASH is set (a crash mid-run).
CRASHY_SOURCE = """
import os
import numpy as np
from dafxkit.features import FeatureExtractor

class Crashy(FeatureExtractor):
    name = "crashy"
    feature_names = ("peak",)

    def compute(self, audio, sample_rate):
        if os.environ.get("CRASH") and audio.shape[-1] == 999:
            raise RuntimeError("crashed")
        return np.abs(audio).max(axis=(1, 2))[:, None].astype(np.float64)
"""


def test_a_csv_run_cut_short_goes_on_where_it_stopped(runner, tmp_path, fake_dists):
    fake_dists.add(
        "crashfx",
        {"dafxkit.features": {"crashy": "crashy_mod:Crashy"}},
        {"crashy_mod": CRASHY_SOURCE},
    )
    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.wav")
        n = 999 if i == 3 else 1000 + i
        sf.write(paths[-1], np.full(n, 0.1 * (i + 1)), 8000)
    out = tmp_path / "peaks.csv"
    journal = tmp_path / "peaks.csv.partial"
    args = ["features", "extract", *paths, "-f", "crashy", "--format", "csv", "-o", out, "-j", 1]
    crashed = runner.invoke(app, [str(a) for a in args], env={**ENV, "CRASH": "1"})
    assert crashed.exit_code != 0 and not out.exists()
    kept = list(csv.DictReader(io.StringIO(journal.read_text())))
    assert [r["file"] for r in kept] == [str(p) for p in paths[:3]]
    # A row cut short by the crash is described again.
    journal.write_text(journal.read_text()[:-4])
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    assert "2 of 6 file(s) described before" in " ".join(result.stderr.split())
    assert not journal.exists()
    fresh = tmp_path / "fresh.csv"
    again = invoke(runner, *args[:-4], "-o", fresh, "-j", 1)
    assert again.exit_code == 0, again.output
    assert out.read_text() == fresh.read_text()  # the same file as one uninterrupted run
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [round(float(r["peak"]), 3) for r in rows] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
