"""Training runs end to end on tiny settings: run folder, resume, evaluation, config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dafxkit.errors import AudioError, DafxError
from dafxkit.train import TrainConfig, evaluate, load_config, save_config, train
from dafxkit.train.config import ConfigError
from dafxkit.train.loop import apply, check_config

TINY = dict(
    steps=6,
    batch_size=4,
    sample_rate=8000,
    seconds=0.5,
    vae_steps=3,
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


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFXKIT_CACHE", str(tmp_path / "cache"))


def _controller_state(run):
    return torch.load(run / "last.pt", weights_only=False)["controller"]


def test_run_folder_and_summary(tmp_path):
    run = tmp_path / "run"
    summary = train(TrainConfig(**TINY), run)
    for name in ("config.toml", "last.pt", "best.pt", "vae.pt", "metrics.jsonl", "summary.json"):
        assert (run / name).is_file(), name
    assert (run / "audio" / "00_prediction.wav").is_file()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(1, 7))
    assert set(summary["methods"]) == {"model", "random", "dataset_mean", "oracle"}
    assert summary["methods"]["oracle"]["mrstft"] < 1e-3  # fx(x, θb) is yb
    for res in summary["methods"].values():
        assert all(v >= 0 for v in res["param_mae"].values())
    assert load_config(run / "config.toml") == TrainConfig(**TINY)
    again = evaluate(run)
    assert again["methods"]["model"]["mrstft"] == pytest.approx(
        summary["methods"]["model"]["mrstft"]
    )
    x = torch.randn(1, 4000).numpy() * 0.1
    y, params = apply(run, x, 8000, reference=x)
    assert y.shape == (1, 4000) and set(params) == {"drive_db", "tone_hz", "mix", "output_db"}
    _check_apply_any_rate_and_channels(run)
    _check_evaluation_on_other_audio(run, tmp_path)


def _check_evaluation_on_other_audio(run, tmp_path):
    """`evaluate(run, source=…)`: pairs from other audio, written apart from the run's own."""
    import soundfile as sf

    from dafxkit.signals import test_signal
    from dafxkit.train.evaluation import evaluation_folder

    music = tmp_path / "my music"
    music.mkdir()
    for i in range(3):
        sf.write(music / f"{i}.wav", test_signal(2.0, 16000, seed=i)[0], 16000)
    own = (run / "summary.json").read_text()
    source = f"folder:{music}"
    other = evaluate(run, source=source, n_test=3)
    folder = evaluation_folder(run, source)
    assert folder.parent == run / "evaluations" and " " not in folder.name
    assert other["data"] == source and other["n_test"] == 3
    assert json.loads((folder / "summary.json").read_text())["data"] == source
    assert (folder / "predictions.npz").is_file() and (folder / "audio").is_dir()
    assert (run / "summary.json").read_text() == own  # the run's own evaluation is kept
    # Different audio, different pairs: the measures differ from the run's own.
    assert other["methods"]["model"]["mrstft"] != json.loads(own)["methods"]["model"]["mrstft"]


def _check_apply_any_rate_and_channels(run):
    """`apply` on a file unlike the run's clips: stereo, 16 kHz, a reference at 11.025 kHz."""
    from dafxkit import registry
    from dafxkit.data.sampler import resample

    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    # A 6 kHz tone, above the run's 4 kHz Nyquist frequency, in the left channel only.
    x = np.stack([0.3 * np.sin(2 * np.pi * 6000 * t), 0.1 * rng.standard_normal(16000)])
    x = x.astype(np.float32)
    ref = (0.2 * rng.standard_normal((1, 11025))).astype(np.float32)
    y, params = apply(run, x, 16000, reference=ref, reference_rate=11025)
    assert y.shape == x.shape and y.dtype == np.float32
    # The parameters are the ones the mono mixes at the run's rate give ...
    mono = x.mean(axis=0, keepdims=True)
    _, at_run_rate = apply(
        run, resample(mono, 16000, 8000), 8000, reference=resample(ref, 11025, 8000)
    )
    assert params == pytest.approx(at_run_rate, rel=1e-6)
    # ... and the effect processed the file itself, at its rate, in both channels.
    fx = registry.load_effect("distortion")
    theta = fx.settings(**params)[None]
    assert np.allclose(y, fx(x[None], theta, 16000)[0], atol=1e-5)
    tone = np.abs(np.fft.rfft(y[0]))[6000]  # 1 Hz bins: the tone's bin
    assert tone > 100 * np.median(np.abs(np.fft.rfft(y[0])))
    with pytest.raises(AudioError, match="reference"):
        apply(run, x, 16000, reference=np.full((1, 100), np.nan, dtype=np.float32))
    with pytest.raises(DafxError, match="whole number of Hz"):
        apply(run, x, 16000.5, reference=ref)


def test_resume_matches_uninterrupted(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    train(TrainConfig(**TINY), whole, evaluate_at_end=False)
    out = train(TrainConfig(**TINY), split, stop_after=3, evaluate_at_end=False)
    assert out == {"stopped_at": 3}
    # A line logged after the checkpoint (as a kill mid-step would leave) is dropped on resume.
    with open(split / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "loss": 0.0}\n{"step": 5, "lo')
    train(None, split, resume=True, evaluate_at_end=False)
    a, b = _controller_state(whole), _controller_state(split)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    steps = [json.loads(x)["step"] for x in (split / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 7))


def test_existing_run_is_not_overwritten(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**TINY), run, stop_after=2, evaluate_at_end=False)
    with pytest.raises(Exception, match="--resume"):
        train(TrainConfig(**TINY), run)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"effect": ("nope",)}, "no effect named 'nope'"),
        ({"device": "tpu"}, "device must be one of"),
        ({"mode": "style"}, "mode must be"),
        ({"z_dim": 9}, "z_dim"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"spsa_epsilon": 0.9}, "spsa_epsilon"),
    ],
)
def test_bad_config_fails_before_training(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        cfg = TrainConfig(**{**TINY, **changes})
        check_config(cfg)
    assert not (tmp_path / "run").exists()


def test_vae_from_another_rate_is_refused(tmp_path):
    from dafxkit.models.vae import BetaVAE

    path = BetaVAE(sample_rate=16000, latent_dim=8).save(tmp_path / "v.pt")
    with pytest.raises(ConfigError, match="16000 Hz"):
        check_config(TrainConfig(**{**TINY, "vae": str(path)}))


def test_config_toml_round_trip_and_unknown_keys(tmp_path):
    cfg = TrainConfig(**{**TINY, "effect": ("compressor", "distortion")})
    path = save_config(cfg, tmp_path / "c.toml")
    assert load_config(path) == cfg
    assert cfg.effect_name == "compressor>distortion"
    (tmp_path / "bad.toml").write_text("stepz = 3\n")
    with pytest.raises(ConfigError, match="did you mean 'steps'"):
        load_config(tmp_path / "bad.toml")


def test_descriptor_mode_trains_and_applies(tmp_path):
    run = tmp_path / "run"
    cfg = TrainConfig(
        **{**TINY, "steps": 2, "mode": "descriptor", "descriptors": ("brightness", "depth")}
    )
    summary = train(cfg, run)
    assert "descriptor_mae" in summary["methods"]["model"]
    assert summary["methods"]["oracle"]["descriptor_mae"]["brightness"] < 1e-3
    x = torch.randn(1, 4000).numpy() * 0.1
    y, _ = apply(run, x, 8000, descriptor_change={"brightness": 5.0})
    assert y.shape == (1, 4000)
    with pytest.raises(Exception, match="descriptor mode"):
        apply(run, x, 8000, reference=x)


def test_killed_run_resumes_like_an_uninterrupted_one(tmp_path):
    """SIGKILL a training process once its first checkpoint exists, resume, compare."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = TrainConfig(**{**TINY, "steps": 40, "checkpoint_every": 5})
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    train(cfg, whole, evaluate_at_end=False)
    save_config(cfg, tmp_path / "c.toml")
    script = (
        "import sys; from dafxkit.train import load_config, train; "
        "train(load_config(sys.argv[1]), sys.argv[2], evaluate_at_end=False)"
    )
    env = {**os.environ, "DAFXKIT_CACHE": os.environ["DAFXKIT_CACHE"]}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "c.toml"), str(killed)],
        env=env,
        cwd=os.getcwd(),
    )
    deadline = time.monotonic() + 60
    while not (killed / "last.pt").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = torch.load(killed / "last.pt", weights_only=False)["step"]
    train(None, killed, resume=True, evaluate_at_end=False)
    a, b = _controller_state(whole), _controller_state(killed)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert proc.returncode == -signal.SIGKILL and 0 < step < 40  # killed mid-way


def test_clips_shorter_than_the_stft_frames_train(tmp_path):
    # 400 samples: shorter than half of the VAE's 1024-point frames and of the loss's 2048.
    summary = train(TrainConfig(**{**TINY, "seconds": 0.05, "steps": 2}), tmp_path / "run")
    assert all(np.isfinite(m["mrstft"]) for m in summary["methods"].values())
