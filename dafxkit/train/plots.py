"""PNG plots of a run: loss curves, the latent space, predicted against true parameters."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_plots", "project_2d", "PLOT_FILES"]

PLOT_FILES = ("loss.png", "latent.png", "params.png")


def project_2d(z: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """Project ``(n, z_dim)`` latents onto two axes: themselves when z_dim <= 2, else PCA.

    Returns the ``(n, 2)`` coordinates and the two axis labels.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"z must be a non-empty (n, z_dim) array; got shape {z.shape}")
    if z.shape[1] == 1:
        return np.column_stack([z[:, 0], np.zeros(len(z))]), ("z0", "")
    if z.shape[1] == 2:
        return z.copy(), ("z0", "z1")
    centred = z - z.mean(axis=0)
    # Economy SVD: the rows of vt are the principal directions, largest variance first.
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2 / max(np.sum(s**2), np.finfo(float).tiny)
    coords = centred @ vt[:2].T
    return coords, (f"PC1 ({var[0]:.0%})", f"PC2 ({var[1]:.0%})")


def _import_pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _grid(plt, n_panels: int, size: float = 3.2):
    cols = min(n_panels, 3)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n_panels])


def _loss_plot(plt, metrics_path: Path, out: Path) -> bool:
    if not metrics_path.is_file():
        return False
    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    train = [(r["step"], r["mrstft"]) for r in records if "mrstft" in r]
    val = [(r["step"], r["val_mrstft"]) for r in records if "val_mrstft" in r]
    if not train and not val:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot([t[0] for t in train], [t[1] for t in train], lw=1, alpha=0.8, label="train")
    if val:
        ax.plot([v[0] for v in val], [v[1] for v in val], "o-", ms=3, label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("multi-resolution STFT loss")
    ax.set_title("Loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def _latent_plot(plt, z, theta_phys, descriptor_change, descriptor_names, out) -> None:
    coords, (xlabel, ylabel) = project_2d(z)
    colourings = [(f"{name} [{unit}]" if unit else name, v) for name, unit, v in theta_phys]
    colourings += [(f"Δ {d}", descriptor_change[:, j]) for j, d in enumerate(descriptor_names)]
    fig, axes = _grid(plt, len(colourings))
    for ax, (title, values) in zip(axes, colourings, strict=True):
        points = ax.scatter(coords[:, 0], coords[:, 1], c=values, cmap="viridis", s=14)
        fig.colorbar(points, ax=ax)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
    fig.suptitle(f"Latent z ({z.shape[1]}-D){' by PCA' if z.shape[1] > 2 else ''}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _params_plot(plt, predicted_phys, true_phys, log_scaled, out) -> None:
    fig, axes = _grid(plt, len(true_phys))
    for ax, (name, unit, truth), (_, _, pred) in zip(axes, true_phys, predicted_phys, strict=True):
        ax.scatter(truth, pred, s=12, alpha=0.8)
        lo = float(min(truth.min(), pred.min()))
        hi = float(max(truth.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        suffix = f" [{unit}]" if unit else ""
        if log_scaled.get(name) and lo > 0:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(f"true{suffix}", fontsize=8)
        ax.set_ylabel(f"predicted{suffix}", fontsize=8)
    fig.suptitle("Predicted against true parameters")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def write_plots(run: str | Path, effect: Any) -> list[Path]:
    """Write ``loss.png``, ``latent.png`` and ``params.png`` into the run folder.

    Reads ``metrics.jsonl`` and ``predictions.npz`` from ``run``; ``effect`` maps the
    normalised parameters to physical units. When matplotlib is not installed, warns once
    and writes nothing. Returns the paths written.
    """
    run = Path(run)
    try:
        plt = _import_pyplot()
    except ImportError:
        warnings.warn(
            "matplotlib is not installed; skipping plots (pip install matplotlib)",
            RuntimeWarning,
            stacklevel=2,
        )
        return []
    written = []
    if _loss_plot(plt, run / "metrics.jsonl", run / "loss.png"):
        written.append(run / "loss.png")
    predictions = run / "predictions.npz"
    if predictions.is_file():
        with np.load(predictions) as p:
            z, theta_pred, theta_true = p["z"], p["theta_predicted"], p["theta_true"]
            descriptor_change = p["descriptor_change"]
            descriptor_names = [str(d) for d in p["descriptor_names"]]
        if descriptor_change.ndim != 2 or descriptor_change.shape[1] != len(descriptor_names):
            descriptor_names = []
        units = {q.name: q.unit for q in effect.params}

        def physical(theta):
            return [(k, units.get(k, ""), v) for k, v in effect.denormalise(theta).items()]

        true_phys = physical(theta_true)
        _latent_plot(plt, z, true_phys, descriptor_change, descriptor_names, run / "latent.png")
        log_scaled = {q.name: getattr(q, "scale", "linear") == "log" for q in effect.params}
        _params_plot(plt, physical(theta_pred), true_phys, log_scaled, run / "params.png")
        written += [run / "latent.png", run / "params.png"]
    return written
