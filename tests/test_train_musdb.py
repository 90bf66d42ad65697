"""The training target on MUSDB-format data: a controller trained on ``musdb:PATH`` (a small
MUSDB18 WAV tree of synthetic music stems, read by the real musdb package) beats the
random-parameter baseline by 30 % and the dataset-mean baseline on held-out pairs."""

from __future__ import annotations

import json

import pytest

from dafxkit.train import TrainConfig, train

#: The default run, smaller: fewer steps, a smaller VAE pool, no descriptors (the target is
#: about MR-STFT), fewer held-out pairs. With 200 steps and 150 VAE steps the model was 81 %
#: below random (1.02 vs 5.47) and 76 % below the dataset mean; this is about half of that.
REDUCED = dict(
    steps=120,
    batch_size=16,
    vae_steps=100,
    vae_examples=96,
    n_val=16,
    n_test=48,
    eval_every=40,
    checkpoint_every=120,
    descriptors=(),
    n_audio_examples=0,
)


def _musdb_available() -> bool:
    try:
        import musdb  # noqa: F401
    except (ImportError, RuntimeError):  # stempeg raises RuntimeError without ffmpeg
        return False
    return True


@pytest.mark.skipif(not _musdb_available(), reason="musdb or ffmpeg missing")
def test_musdb_run_beats_random_by_30_percent_and_the_dataset_mean(
    musdb_music_root, tmp_path, monkeypatch
):
    monkeypatch.setenv("DAFXKIT_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(effect=("distortion",), data=f"musdb:{musdb_music_root}", **REDUCED)
    summary = train(cfg, tmp_path / "run")
    methods = summary["methods"]
    model, random, mean = (methods[m]["mrstft"] for m in ("model", "random", "dataset_mean"))
    report = json.dumps({"model": model, "random": random, "dataset_mean": mean})
    assert model <= 0.7 * random, f"not 30 % below random: {report}"
    assert model < mean, f"not below the dataset mean: {report}"
    assert summary["target_met"] and summary["step"] > 0
    assert methods["oracle"]["mrstft"] < 1e-3
    print(f"musdb tree run: {report}")  # shown with -s, for the record
