"""Batches of effect pairs for training, drawn by index so that a resumed run sees the same data.

Training step ``s`` uses examples ``s·B … s·B + B − 1`` of the pipeline; validation, test and
VAE-pool examples come from disjoint index ranges far above, so held-out pairs never repeat a
training pair's draw (with the synthetic source, tracks can recur: its songs are a seeded pool).
"""

from __future__ import annotations

import numpy as np
import torch

from dafxkit.data import AugmentConfig, PairConfig, Pipeline, PipelineConfig, SamplerConfig
from dafxkit.train.config import TrainConfig

__all__ = ["PairBatches", "VAL_OFFSET", "TEST_OFFSET", "VAE_OFFSET"]

VAL_OFFSET = 1_000_000_000
TEST_OFFSET = 2_000_000_000
VAE_OFFSET = 3_000_000_000


def pipeline_config(config: TrainConfig) -> PipelineConfig:
    return PipelineConfig(
        source=config.data,
        seed=config.seed,
        sampler=SamplerConfig(
            seconds=float(config.seconds),
            sample_rate=config.sample_rate,
            channels=config.channels,
        ),
        augment=AugmentConfig(enabled=config.augment),
        pairs=PairConfig(effect=config.effect_name),
        descriptors=config.descriptors,
        batch_size=max(config.batch_size, 16),
    )


class PairBatches:
    """Generates batches of pairs as tensors, in this process."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.pipeline = Pipeline(pipeline_config(config))

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.pipeline.param_names

    def batch(self, indices: range | list[int]) -> dict[str, torch.Tensor]:
        examples = self.pipeline.examples(list(indices))

        def stack(name: str) -> torch.Tensor:
            return torch.from_numpy(
                np.stack([np.asarray(getattr(e, name), dtype=np.float32) for e in examples])
            )

        return {
            "x": stack("x"),
            "ya": stack("ya"),
            "yb": stack("yb"),
            "theta_a": stack("theta_a"),
            "theta_b": stack("theta_b"),
            "descriptors": stack("descriptors"),
        }

    def train_batch(self, step: int) -> dict[str, torch.Tensor]:
        b = self.config.batch_size
        return self.batch(range(step * b, (step + 1) * b))

    def held_out(self, offset: int, n: int) -> dict[str, torch.Tensor]:
        chunks = [self.batch(range(offset + i, offset + min(i + 64, n))) for i in range(0, n, 64)]
        return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}
