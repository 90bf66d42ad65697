"""`train`, `evaluate`, `apply`, `train-vae` through Typer's CliRunner (tiny settings)."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from dafxkit.audio import read_audio
from dafxkit.cli import train as commands
from dafxkit.train import TrainConfig, save_config
from dafxkit.train.loop import apply as run_apply

TINY = dict(
    steps=4,
    batch_size=4,
    sample_rate=8000,
    seconds=0.5,
    vae_steps=2,
    vae_examples=8,
    vae_batch_size=8,
    n_val=4,
    n_test=4,
    eval_every=2,
    checkpoint_every=2,
    hidden=32,
    latent_dim=8,
    descriptors=(),
    n_audio_examples=1,
    spsa_k=1,
)

app = typer.Typer()
app.command("train")(commands.train)
app.command("train-vae")(commands.train_vae)
app.command("evaluate")(commands.evaluate)
app.command("apply")(commands.apply)
runner = CliRunner()


def _text(res) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(res.output.split())


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFXKIT_CACHE", str(tmp_path / "cache"))


def test_train_evaluate_apply(tmp_path):
    cfg = save_config(TrainConfig(**TINY), tmp_path / "tiny.toml")
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "--config", str(cfg), "--steps", "3", "-o", str(run)])
    assert res.exit_code == 0, res.output
    assert "dataset_mean" in res.output and "oracle" in res.output
    # One row per measure: every label whole in 80 columns ("MAE drive_…" before).
    assert "MAE drive_db (dB)" in res.output and "MAE output_db (dB)" in res.output
    assert "steps = 3" in (run / "config.toml").read_text()  # the flag overrides the file
    assert json.loads((run / "summary.json").read_text())["step"] >= 2
    res = runner.invoke(app, ["evaluate", str(run), "--checkpoint", "last"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "out.wav"
    wav = run / "audio" / "00_input.wav"
    res = runner.invoke(app, ["apply", str(run), str(wav), "--z", "0,0,0,0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "drive_db =" in res.output and out.is_file()
    res = runner.invoke(app, ["apply", str(run), str(wav), "--z", "0,1", "-o", str(out)])
    assert res.exit_code == 1 and "needs 4 values" in _text(res)
    # A stereo file at another rate than the run's comes out stereo at its own rate.
    stereo = tmp_path / "stereo.wav"
    rng = np.random.default_rng(0)
    sf.write(stereo, 0.1 * rng.standard_normal((12000, 2)), 24000)
    res = runner.invoke(app, ["apply", str(run), str(stereo), "--z", "0,0,0,0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    info = sf.info(out)
    assert (info.channels, info.samplerate, info.frames) == (2, 24000, 12000)
    # A folder and a file into a folder: one output each and their parameters in params.csv.
    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "sub" / "a.wav", 0.1 * rng.standard_normal(4000), 8000)
    sf.write(folder / "b.flac", 0.1 * rng.standard_normal((6000, 2)), 16000)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    many = tmp_path / "many"
    args = ["apply", str(run), str(folder), str(wav), "--reference", str(wav), "-o", str(many)]
    res = runner.invoke(app, args)
    assert res.exit_code == 1 and "broken.wav" in _text(res)  # skipped and named
    assert sf.info(many / "sub" / "a.wav").samplerate == 8000
    assert sf.info(many / "b.flac").channels == 2
    with open(many / "params.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == ["b.flac", "sub/a.wav", "00_input.wav"]
    assert set(rows[0]) == {"file", "drive_db", "tone_hz", "mix", "output_db"}
    # The run evaluated on that folder's audio: results apart, the source checked first.
    res = runner.invoke(app, ["evaluate", str(run), "--data", f"folder:{folder}", "--n-test", "2"])
    assert res.exit_code == 0, res.output
    assert "results in" in res.output and (run / "evaluations").is_dir()
    res = runner.invoke(app, ["evaluate", str(run), "--data", f"folder:{tmp_path / 'none'}"])
    assert res.exit_code == 1 and "path not found" in _text(res)
    # Each row holds the parameters that file's own run gives.
    _, alone = run_apply(
        run, *read_audio(folder / "b.flac"), reference=read_audio(wav)[0], reference_rate=8000
    )
    assert float(rows[0]["drive_db"]) == pytest.approx(alone["drive_db"], rel=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--descriptors", "shiny,depth"], "descriptors: timbral has no shiny; it has"),
        (["--effect", "distorshun"], "no effect named 'distorshun'"),
        (["--mode", "style"], "mode must be"),
        (["--device", "quantum"], "device must be one of"),
    ],
)
def test_bad_flags_fail_before_training(tmp_path, args, message):
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", *args, "-o", str(run)])
    assert res.exit_code == 1
    assert message in _text(res)
    assert not run.exists()


def test_train_vae_writes_a_loadable_encoder(tmp_path):
    from dafxkit.models.vae import VAEEncoder

    cfg = save_config(TrainConfig(**TINY), tmp_path / "tiny.toml")
    out = tmp_path / "v.pt"
    res = runner.invoke(app, ["train-vae", "--config", str(cfg), "-o", str(out)])
    assert res.exit_code == 0, res.output
    enc = VAEEncoder(checkpoint=out)
    assert enc.sample_rate == 8000 and enc.embedding_dim == 8
    # --seconds reaches the config (as train's does): a bad value is refused by it.
    res = runner.invoke(app, ["train-vae", "--config", str(cfg), "--seconds", "0", "-o", str(out)])
    assert res.exit_code == 1 and "seconds must be a positive number" in _text(res)


def test_resume_missing_run(tmp_path):
    res = runner.invoke(app, ["train", "--resume", str(tmp_path / "nothing")])
    assert res.exit_code == 1 and "nothing to resume" in _text(res)


def test_repeated_effect_flags_train_a_chain(tmp_path):
    cfg = save_config(TrainConfig(**{**TINY, "steps": 2, "param_loss": 1.0}), tmp_path / "t.toml")
    run = tmp_path / "run"
    args = ["train", "--config", str(cfg), "--effect", "gain", "--effect", "distortion"]
    res = runner.invoke(app, [*args, "-o", str(run)])
    assert res.exit_code == 0, res.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["effect"] == "gain>distortion"
    assert len(summary["methods"]["model"]["param_mae"]) == 5  # gain's one + distortion's four


def test_descriptor_loss_and_workers_flags_reach_the_saved_config(tmp_path):
    tiny = TrainConfig(**{**TINY, "steps": 2, "descriptors": ("brightness", "depth")})
    cfg = save_config(tiny, tmp_path / "t.toml")
    run = tmp_path / "run"
    args = ["train", "--config", str(cfg), "--descriptor-loss", "0.5", "--workers", "0"]
    res = runner.invoke(app, [*args, "-o", str(run)])
    assert res.exit_code == 0, res.output
    text = (run / "config.toml").read_text()
    assert "descriptor_loss = 0.5" in text and "workers = 0" in text
    assert "descriptor" in json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    res = runner.invoke(app, ["train", "--workers", "-1", "-o", str(tmp_path / "bad")])
    assert res.exit_code == 1 and "workers must be an integer >= 0" in _text(res)


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_train_lets_idle_openmp_threads_sleep_unless_told_otherwise(tmp_path, monkeypatch, preset):
    if preset is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)
    cfg = save_config(TrainConfig(**{**TINY, "steps": 1}), tmp_path / "t.toml")
    res = runner.invoke(app, ["train", "--config", str(cfg), "-o", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert os.environ["OMP_WAIT_POLICY"] == (preset or "PASSIVE")


def test_summary_line_says_higher_when_the_model_loses():
    assert commands._relative(0.525) == "52.5 % lower"
    assert commands._relative(-0.041) == "4.1 % higher"  # was "-4.1 % lower"


def test_descriptors_flag_sets_the_runs_descriptors(tmp_path):
    from dafxkit.train.config import load_config

    cfg = save_config(TrainConfig(**{**TINY, "steps": 1}), tmp_path / "t.toml")
    for name, flag, want in (
        ("a", "none", ()),
        ("b", "depth, brightness", ("depth", "brightness")),
    ):
        args = ["train", "--config", str(cfg), "--descriptors", flag, "-o", str(tmp_path / name)]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert load_config(tmp_path / name / "config.toml").descriptors == want
