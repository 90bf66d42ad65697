"""The training configuration: one flat dataclass, every default spelled out, saved as TOML."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dafxkit.errors import DafxError

__all__ = ["ConfigError", "TrainConfig", "load_config", "save_config", "DEVICES", "MODES"]

DEVICES = ("auto", "cpu", "cuda")
MODES = ("reference", "descriptor")


class ConfigError(DafxError, ValueError):
    """A training setting that cannot work; the message names it and what to change."""


@dataclass
class TrainConfig:
    """Every setting of a training run (the CLI flags map onto these fields).

    The defaults are the small run ``dafxkit train --effect distortion`` does: 1 s mono clips
    at 22.05 kHz from the built-in synthetic source, generated on the fly; a 64-d β-VAE
    pre-trained for ``vae_steps`` on clean and effected clips; a 4-d controller trained for
    ``steps`` SPSA steps.

    Parameters
    ----------
    effect : tuple of str
        The effect, or several forming a chain in that order.
    data : str
        Source URI (``synthetic``, ``folder:PATH``, ``musdb:PATH``), or ``dataset:PATH`` for a
        dataset `dafxkit generate` wrote (see `dafxkit.train.dataset_pairs`).
    steps, batch_size, lr : int, int, float
        Controller optimisation (Adam, cosine decay to ``lr / 10`` after a short warm-up).
    device : {"auto", "cpu", "cuda"}
        Where the models live; effects always run on the CPU.
    vae : str
        A VAE checkpoint to reuse; empty trains one (or takes it from the cache).
    mode : {"reference", "descriptor"}
        Condition the controller on a reference clip or on brightness/depth changes.
    seed : int
        Seeds the data, the model initialisation and every random draw of training.
    sample_rate, seconds, channels : int, float, int
        The clips.
    augment : bool
        SoX pitch/tempo augmentation of the clips (needs ``sox``).
    z_dim, hidden : int
        Controller's control-space size (2–8) and MLP width.
    beta_z : float
        Weight of KL(q(z) ‖ N(0, I)).
    param_loss : float
        Weight of the squared error between predicted and true normalised parameters θb.
    descriptor_loss : float
        Weight of the descriptor loss: mean absolute difference between the ``descriptors``
        of ŷ = fx(x, θ̂) and those of the reference yb, divided by 10 (descriptors are on a
        0–100 scale). Its gradient comes from SPSA through effect and extractor together
        (``spsa_k`` directions, ``spsa_epsilon``); 0 turns it off.
    spsa_k, spsa_epsilon : int, float
        SPSA directions per step and probe step (normalised units).
    finetune_encoder : bool
        Train the encoder with the controller (gradients reach it through the reference and
        input embeddings only) instead of freezing it.
    latent_dim, vae_steps, vae_batch_size, vae_lr, vae_beta, vae_warmup, vae_examples : …
        β-VAE pre-training: latent size, steps, clips per batch, learning rate, β, KL warm-up
        steps, and the number of pairs in its pool (x, ya and yb of each are all used).
    workers : int
        DataLoader worker processes generating training batches ahead of the training step
        (0: in this process, when needed). The batches, and the run, do not depend on it.
        0 by default: on a 2-core machine the workers only compete with the training step
        for the same cores (60 steps of the default run: 12.6 s with 0 workers, 11.8 s with
        1, 11.3 s with 2, within the noise of a shared machine, and workers add ~2 s of
        start-up); they pay off where cores are left over.
    eval_every, checkpoint_every : int
        Validation MR-STFT (chooses ``best.pt``) and ``last.pt`` intervals, in steps.
    n_val, n_test : int
        Held-out pairs for validation during training and for the final evaluation.
    n_audio_examples : int
        Test pairs written as audio (input, reference, prediction).
    """

    effect: tuple[str, ...] = ("distortion",)
    data: str = "synthetic"
    steps: int = 400
    batch_size: int = 16
    lr: float = 2e-3
    device: str = "auto"
    vae: str = ""
    mode: str = "reference"
    seed: int = 0
    sample_rate: int = 22050
    seconds: float = 1.0
    channels: int = 1
    augment: bool = False
    z_dim: int = 4
    hidden: int = 256
    beta_z: float = 1e-3
    param_loss: float = 0.0
    descriptor_loss: float = 0.0
    spsa_k: int = 2
    spsa_epsilon: float = 0.02
    finetune_encoder: bool = False
    latent_dim: int = 64
    vae_steps: int = 300
    vae_batch_size: int = 48
    vae_lr: float = 1e-3
    vae_beta: float = 1.0
    vae_warmup: int = 100
    vae_examples: int = 256
    workers: int = 0
    eval_every: int = 50
    checkpoint_every: int = 50
    n_val: int = 64
    n_test: int = 128
    n_audio_examples: int = 4
    descriptors: tuple[str, ...] = field(default=("brightness", "depth"))

    def __post_init__(self) -> None:
        if isinstance(self.effect, str):
            self.effect = tuple(e for e in self.effect.split(">") if e.strip())
        self.effect = tuple(str(e).strip() for e in self.effect)
        self.descriptors = tuple(self.descriptors)
        if not self.effect:
            raise ConfigError("effect: name at least one effect (e.g. --effect distortion)")
        positive = (
            "steps",
            "batch_size",
            "sample_rate",
            "z_dim",
            "hidden",
            "spsa_k",
            "latent_dim",
            "vae_batch_size",
            "vae_examples",
            "eval_every",
            "checkpoint_every",
            "n_val",
            "n_test",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer; got {value!r}")
        for name in ("vae_steps", "vae_warmup", "n_audio_examples", "seed", "workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0; got {value!r}")
        for name in ("lr", "vae_lr", "seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number; got {value!r}")
        for name in ("beta_z", "param_loss", "descriptor_loss", "vae_beta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a number >= 0; got {value!r}")
        if not 2 <= self.z_dim <= 8:
            raise ConfigError(f"z_dim must lie in 2..8; got {self.z_dim}")
        if not 0.0 < self.spsa_epsilon <= 0.5:
            raise ConfigError(f"spsa_epsilon must lie in (0, 0.5]; got {self.spsa_epsilon!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}; got {self.device!r}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be 'reference' or 'descriptor'; got {self.mode!r}")
        if self.mode == "descriptor" and len(self.descriptors) == 0:
            raise ConfigError("descriptor mode needs descriptors (e.g. brightness, depth)")
        if self.descriptor_loss > 0 and len(self.descriptors) == 0:
            raise ConfigError(
                "descriptor_loss needs descriptors to compare (e.g. brightness, depth); "
                "set descriptors or --descriptor-loss 0"
            )
        if self.channels not in (1, 2):
            raise ConfigError(f"channels must be 1 or 2; got {self.channels!r}")
        if self.sample_rate < 8000:
            raise ConfigError(f"sample_rate must be >= 8000 Hz; got {self.sample_rate}")

    @property
    def effect_name(self) -> str:
        """The effect as the registry names it (``"a>b"`` for a chain)."""
        return ">".join(self.effect)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            import difflib

            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigError(f"unknown training setting(s): {', '.join(hints)}")
        values = dict(data)
        for name in ("effect", "descriptors"):
            if name in values and isinstance(values[name], list):
                values[name] = tuple(values[name])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"not a training configuration: {exc}") from None

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")


def save_config(config: TrainConfig, path: str | Path) -> Path:
    """Write every setting to a TOML file (atomically)."""
    import os

    path = Path(path)
    lines = ["# dafxkit training run: every setting; `dafxkit train --config` reads it back"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in config.to_dict().items()]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_config(path: str | Path) -> TrainConfig:
    """Read a TOML written by `save_config` (or by hand: any subset of the settings)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return TrainConfig.from_dict(data)
