"""Training: β-VAE pre-training, the controller trained through the effect with SPSA, evaluation.

`TrainConfig` holds every setting (saved as ``config.toml`` in the run folder); `train` runs
(or resumes) a run, `train_vae` pre-trains the audio encoder, `evaluate` compares a run's
controller with baselines on held-out pairs, `apply` runs a trained controller on one clip.
"""

from __future__ import annotations

from dafxkit.train.config import TrainConfig, load_config, save_config
from dafxkit.train.evaluation import evaluate
from dafxkit.train.loop import apply, train, train_vae

__all__ = ["TrainConfig", "load_config", "save_config", "train", "train_vae", "evaluate", "apply"]
