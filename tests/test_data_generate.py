"""Datasets on disk: shards and manifest, resuming after a kill, bad input, the CLI commands."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from dafxkit.cli import data as data_cli
from dafxkit.data import (
    GeneratedDataset,
    OutputError,
    PipelineConfig,
    generate,
    read_manifest,
)
from dafxkit.signals import test_signal as music
from tests.conftest import fast_pipeline_config

RATE = 22050
ENV = {"COLUMNS": "200"}
FAST = ["-s", "synthetic?tracks=30", "--seconds", 1, "--sample-rate", RATE, "--descriptors", "none"]


def _config(**changes) -> PipelineConfig:
    return fast_pipeline_config(tracks=30, **changes)


def _arrays(root) -> list[dict[str, np.ndarray]]:
    data = GeneratedDataset(root)
    return [data[i] for i in range(len(data))]


def _assert_same(a, b) -> None:
    assert len(a) == len(b)
    for ea, eb in zip(a, b, strict=True):
        assert ea.keys() == eb.keys()
        for key in ea:
            np.testing.assert_array_equal(ea[key], eb[key], err_msg=key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: 6 examples in shards of 2, with descriptors."""
    root = tmp_path_factory.mktemp("ref") / "pairs"
    config = _config(descriptors=("brightness", "depth"))
    summary = generate(config, 6, root, shard_size=2, processes=1)
    return config, root, summary


def test_shards_and_manifest_describe_the_run(reference):
    config, root, summary = reference
    assert summary.generated == 6 and summary.reused == 0 and summary.shards_written == 3
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "manifest.json", "shard-00000", "shard-00001", "shard-00002",
    ]  # fmt: skip
    m = read_manifest(root)
    assert m["status"] == "complete" and m["n_examples"] == 6 and m["shard_size"] == 2
    assert PipelineConfig.from_dict(m["config"]) == config
    assert m["source"]["uri"] == "synthetic" and m["source"]["tracks"] == 30
    assert [p["name"] for p in m["effect"]["params"]] == ["drive_db", "tone_hz", "mix", "output_db"]
    assert m["descriptors"] == {"feature": "timbral", "columns": ["brightness", "depth"]}
    assert m["config"]["checks"]["mfcc_similarity"] == [0.6, 0.999]
    assert m["statistics"]["kept"] == 6 and set(m["statistics"]["seconds"]) >= {"source", "write"}
    assert m["versions"]["numpy"] == np.__version__ and "sox_program" in m["versions"]
    item = GeneratedDataset(root)[5]
    assert item["x"].shape == (1, RATE) and item["x"].dtype == np.float32
    assert item["descriptors"].shape == (3, 2) and int(item["index"]) == 5


def test_resume_after_a_kill_equals_an_uninterrupted_run(reference, tmp_path):
    config, ref_root, _ = reference
    root = tmp_path / "pairs"
    shutil.copytree(ref_root, root)
    # What a kill leaves: the last shard never renamed into place (a temporary folder holding
    # part of it), and the manifest still "in progress".
    shutil.rmtree(root / "shard-00002")
    (root / ".tmp-shard-00002-4242").mkdir()
    (root / ".tmp-shard-00002-4242" / "audio.npy").write_bytes(b"half written")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["status"] = "in progress"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="incomplete"):
        GeneratedDataset(root)
    assert len(GeneratedDataset(root, allow_incomplete=True)) == 4
    summary = generate(config, 6, root, shard_size=2, processes=1)
    assert (summary.generated, summary.reused, summary.shards_written) == (2, 4, 1)
    assert summary.cleaned == [".tmp-shard-00002-4242"]
    _assert_same(_arrays(root), _arrays(ref_root))
    again = generate(config, 6, root, shard_size=2, processes=1)
    assert again.generated == 0 and again.shards_written == 0


def test_a_larger_n_extends_and_matches_a_direct_run(reference, tmp_path):
    config, ref_root, _ = reference
    root = tmp_path / "pairs"
    generate(config, 3, root, shard_size=2, processes=1)  # shard 1 holds one example
    summary = generate(config, 6, root, shard_size=2, processes=1)
    assert summary.reused == 2 and "shard-00001" in summary.cleaned  # rewritten at full size
    _assert_same(_arrays(root), _arrays(ref_root))


def test_two_processes_write_the_same_examples(reference, tmp_path):
    config, ref_root, _ = reference
    summary = generate(config, 6, tmp_path / "pairs", shard_size=2, processes=2)
    assert summary.processes == 2
    _assert_same(_arrays(tmp_path / "pairs"), _arrays(ref_root))


def test_float32_audio_is_exact(tmp_path):
    from dafxkit.data import Pipeline

    config = _config()
    generate(config, 2, tmp_path / "pairs", shard_size=2, processes=1, audio_dtype="float32")
    stored = GeneratedDataset(tmp_path / "pairs")[1]
    [ex] = Pipeline(config).examples([1])
    np.testing.assert_array_equal(stored["yb"], ex.yb)
    np.testing.assert_array_equal(stored["theta_a"], ex.theta_a)


@pytest.mark.parametrize("native_library", [True, False])
def test_float16_audio_holds_numpys_half_of_each_clip(native_library, monkeypatch, tmp_path):
    # The C conversion where the library is built, NumPy's cast without it: the same bits.
    from dafxkit import native
    from dafxkit.data import Pipeline

    if not native_library:
        monkeypatch.setattr(native, "available", lambda: False)
    config = _config()
    generate(config, 2, tmp_path / "pairs", shard_size=2, processes=1)
    data = GeneratedDataset(tmp_path / "pairs")
    stored = data[1]
    [ex] = Pipeline(config).examples([1])
    for key in ("x", "ya", "yb"):
        assert stored[key].dtype == np.float32
        np.testing.assert_array_equal(stored[key], getattr(ex, key).astype(np.float16))


def test_output_folder_problems_are_clear(reference, tmp_path):
    config, ref_root, _ = reference
    with pytest.raises(OutputError, match="other settings.*seed: 0 on disk, 1 now.*--overwrite"):
        generate(_config(seed=1, descriptors=("brightness", "depth")), 6, ref_root, shard_size=2)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.pdf").write_bytes(b"%PDF")
    with pytest.raises(OutputError, match="not empty .thesis.pdf. and holds no dafxkit dataset"):
        generate(config, 2, tmp_path / "foreign", processes=1)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        generate(config, 2, tmp_path / "a_file", processes=1)
    with pytest.raises(OutputError, match="cannot write to the output folder"):
        generate(config, 2, tmp_path / "a_file" / "below", processes=1)


def test_overwrite_replaces_a_dataset_of_other_settings(tmp_path):
    root = tmp_path / "pairs"
    generate(_config(seed=1), 2, root, shard_size=2, processes=1)
    generate(_config(seed=2), 4, root, shard_size=2, processes=1, overwrite=True)
    m = read_manifest(root)
    assert m["seed"] == 2 and m["n_examples"] == 4 and len(GeneratedDataset(root)) == 4


# -- the command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """`generate` and `bench data` on an app of their own (the main app wires them too)."""
    app = typer.Typer()
    app.command("generate")(data_cli.generate)
    bench = typer.Typer()
    bench.command("data")(data_cli.bench)
    app.add_typer(bench, name="bench")
    return app


def _run(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


def _generate(app, out, *args):
    """`generate -n 2` of short clips without augmentation into ``out``, plus ``args``."""
    return _run(app, "generate", "-n", 2, "-o", out, "--no-augment", "-j", 1, *FAST, *args)


def test_cli_generate_writes_and_summarises(app, tmp_path):
    result = _generate(app, tmp_path / "out", "-n", 3, "--shard-size", 2)
    assert result.exit_code == 0, result.output
    assert "kept" in result.stdout and "time per stage" in result.stdout
    assert "source" in result.stdout and "descriptors" in result.stdout
    assert len(GeneratedDataset(tmp_path / "out")) == 3
    again = _generate(app, tmp_path / "out", "-n", 3, "--shard-size", 2)
    assert again.exit_code == 0
    assert "3 example(s) in 2 complete shard(s) were already on disk" in again.stdout


def test_cli_generate_repeated_effects_make_a_chain(app, tmp_path):
    # Repeated -e was silently the last effect alone before (a str option).
    result = _generate(app, tmp_path / "chain", "-e", "gain", "-e", "distortion")
    assert result.exit_code == 0, result.output
    manifest = GeneratedDataset(tmp_path / "chain").manifest
    assert manifest["effect"]["name"] == "gain>distortion"
    assert "of gain>distortion from" in " ".join(result.stdout.split())


def test_cli_bench_data_reports_stages_and_extrapolates(app):
    result = _run(app, "bench", "data", "-n", 10, "-j", 1, "--peer-clips", 0, "--no-augment", *FAST)
    assert result.exit_code == 0, result.output
    for text in ("pairs / s, steady", "10,000 pairs (extrapolated)", "effect", "checks"):
        assert text in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "folder:/no/such/folder"], "path not found: /no/such/folder"),
        (["-e", "distorsion"], "no effect named 'distorsion'. Did you mean 'distortion'?"),
        (["-s", "musdb"], "musdb source needs a path"),
        (["--param-range", "mix=high"], "--param-range expects NAME=LOW:HIGH"),
        (["--descriptors", "brightness,sparkle"], "sparkle"),
    ],
)
def test_cli_bad_input_is_one_clear_line(app, tmp_path, args, message):
    result = _generate(app, tmp_path / "out", *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_cli_empty_folder_short_tracks_and_unwritable_output(app, tmp_path):
    (tmp_path / "empty").mkdir()
    result = _generate(app, tmp_path / "o1", "-s", f"folder:{tmp_path / 'empty'}")
    assert result.exit_code == 1 and "no audio files" in result.stderr
    (tmp_path / "short").mkdir()
    sf.write(tmp_path / "short" / "tiny.wav", music(0.5, RATE)[0], RATE)
    result = _generate(app, tmp_path / "o2", "-s", f"folder:{tmp_path / 'short'}")
    assert result.exit_code == 1 and "shorter than the 1 s window" in result.stderr
    (tmp_path / "blocker").write_text("a file where a folder should be")
    result = _generate(app, tmp_path / "blocker" / "out")
    assert result.exit_code == 1 and "cannot write to the output folder" in result.stderr
