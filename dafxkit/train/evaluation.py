"""Evaluation on held-out pairs: the controller against random, dataset-mean and oracle θb."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dafxkit.models.losses import MultiResolutionSTFTLoss
from dafxkit.train.data import TEST_OFFSET, PairBatches

__all__ = ["evaluate", "evaluation_folder", "METHODS"]

METHODS = ("model", "random", "dataset_mean", "oracle")


def evaluation_folder(run: str | Path, source: str) -> Path:
    """Where an evaluation of ``run`` on another data source is written:
    ``RUN/evaluations/<source, with characters other than letters, digits, '.', '-' and '_'
    replaced>``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", source).strip("_.")[:100] or "source"
    return Path(run) / "evaluations" / name


@torch.no_grad()
def evaluate(
    run: str | Path,
    *,
    data: PairBatches | None = None,
    which: str = "best",
    source: str | None = None,
    n_test: int | None = None,
) -> dict[str, Any]:
    """Evaluate a run's ``which`` checkpoint on ``n_test`` held-out pairs; writes summary.json.

    For each method: mean multi-resolution STFT loss between ŷ = fx(x, θ̂) and the reference yb,
    the mean absolute error of each parameter in physical units against θb, and (when the run
    has descriptors) the mean absolute error of each descriptor of ŷ against that of yb.

    ``source`` (a data URI such as ``folder:~/music``) evaluates on pairs made from other audio
    than the run trained on, with the run's effect, clip length, rate and augmentation; the
    results (summary.json, predictions, audio examples, plots) then go to
    `evaluation_folder` instead of the run folder. ``n_test`` overrides the run's count.
    """
    from dafxkit.audio import write_audio
    from dafxkit.train.loop import load_run, mrstft_per_item

    run = Path(run)
    config, system, ckpt = load_run(run, which)
    out = run
    if source is not None or n_test is not None:
        changes: dict[str, Any] = {}
        if source is not None:
            changes["data"] = source
            out = evaluation_folder(run, source)
        if n_test is not None:
            changes["n_test"] = n_test
        config = config.replace(**changes)
        data = None
    data = data or PairBatches(config)
    out.mkdir(parents=True, exist_ok=True)
    test = data.held_out(TEST_OFFSET, config.n_test)
    effect = system.layer.effect
    n, n_params = test["theta_b"].shape
    rng = np.random.default_rng(config.seed + 12345)
    mean = torch.tensor(ckpt["theta_mean"], dtype=torch.float32)
    prediction = system.predict(test, sample=False)
    predicted = prediction["params"]
    candidates = {
        "model": predicted,
        "random": torch.from_numpy(rng.random((n, n_params)).astype(np.float32)),
        "dataset_mean": mean.expand(n, n_params),
        "oracle": test["theta_b"],
    }
    loss_fn = MultiResolutionSTFTLoss()
    true_phys = effect.denormalise(test["theta_b"].double().numpy())
    results: dict[str, Any] = {}
    outputs = {}
    for name, params in candidates.items():
        y = system.layer(test["x"], params)
        outputs[name] = y
        per_item = mrstft_per_item(loss_fn, y, test["yb"])
        phys = effect.denormalise(params.double().numpy())
        results[name] = {
            "mrstft": float(per_item.mean()),
            "mrstft_std": float(per_item.std()),
            "param_mae": {k: float(np.mean(np.abs(phys[k] - true_phys[k]))) for k in phys},
            "param_mae_normalised": float((params - test["theta_b"]).abs().mean()),
        }
    extractor = data.pipeline.extractor
    if extractor is not None and config.descriptors:
        # Descriptor error: |d(ŷ) − d(yb)| for each descriptor, on the descriptor's own scale.
        columns = [extractor.feature_names.index(d) for d in config.descriptors]
        ref_desc = test["descriptors"][:, 2].double().numpy()
        for name, y in outputs.items():
            values = extractor.extract(y.numpy(), config.sample_rate)[:, columns]
            results[name]["descriptor_mae"] = {
                d: float(np.mean(np.abs(values[:, j] - ref_desc[:, j])))
                for j, d in enumerate(config.descriptors)
            }
    model, random, dmean = (results[m]["mrstft"] for m in ("model", "random", "dataset_mean"))
    summary = {
        "run": str(run),
        "data": config.data,
        "checkpoint": which,
        "step": int(ckpt["step"]),
        "effect": config.effect_name,
        "mode": config.mode,
        "n_test": int(n),
        "units": {p.name: p.unit for p in effect.params},
        "methods": results,
        "improvement_vs_random": 1.0 - model / random,
        "improvement_vs_dataset_mean": 1.0 - model / dmean,
        "target_met": bool(model <= 0.7 * random and model < dmean),
    }
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / "summary.json")
    # What the plots of a run show (z coloured by each parameter and by the descriptor
    # changes; predicted against true parameters), kept as arrays for any plotting tool.
    np.savez(
        out / "predictions.npz",
        z=prediction["mu"].numpy(),
        theta_predicted=predicted.numpy(),
        theta_true=test["theta_b"].numpy(),
        descriptor_change=(test["descriptors"][:, 2] - test["descriptors"][:, 0]).numpy(),
        param_names=np.array(effect.param_names),
        descriptor_names=np.array(config.descriptors, dtype=str),
    )
    audio_dir = out / "audio"
    audio_dir.mkdir(exist_ok=True)
    for i in range(min(config.n_audio_examples, n)):
        rate = config.sample_rate
        write_audio(audio_dir / f"{i:02d}_input.wav", test["x"][i].numpy(), rate)
        write_audio(audio_dir / f"{i:02d}_reference.wav", test["yb"][i].numpy(), rate)
        write_audio(audio_dir / f"{i:02d}_prediction.wav", outputs["model"][i].numpy(), rate)
    from dafxkit.train.plots import write_plots

    write_plots(out, effect)
    summary["folder"] = str(out)
    return summary
