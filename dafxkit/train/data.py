"""Batches of effect pairs for training, drawn by index so that a resumed run sees the same data.

Training step ``s`` uses examples ``s·B … s·B + B − 1`` of the pipeline; validation, test and
VAE-pool examples come from disjoint index ranges far above, so held-out pairs never repeat a
training pair's draw (with the synthetic source, tracks can recur: its songs are a seeded pool).

In data-parallel training (`dafxkit.train.distributed`) ``batch_size`` is the global batch and
each process generates only its own rows of step ``s``'s examples (``share``).

Training batches can be generated ahead of the training step in torch `DataLoader` worker
processes (`PairBatches.train_batches` with ``workers > 0``). A batch is a pure function of
(seed, step), so the batches, and the run, are the same for any number of workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dafxkit.data import AugmentConfig, PairConfig, Pipeline, PipelineConfig, SamplerConfig
from dafxkit.data.pipeline import limit_threads, prepare_worker
from dafxkit.data.sources import Source
from dafxkit.spsa import BatchShare
from dafxkit.train.config import ConfigError, TrainConfig

if TYPE_CHECKING:
    from dafxkit.train.distributed import Distributed

__all__ = ["PairBatches", "VAL_OFFSET", "TEST_OFFSET", "VAE_OFFSET", "check_data", "make_pipeline"]

VAL_OFFSET = 1_000_000_000
TEST_OFFSET = 2_000_000_000
VAE_OFFSET = 3_000_000_000

#: Batches each worker keeps ready ahead of the training step.
PREFETCH_BATCHES = 2


def make_pipeline(
    config: TrainConfig, source: Source | None = None, threads: int | None = None
) -> Any:
    """What makes the run's examples by index: a `Pipeline` over ``config.data``, or
    `DatasetPairs` for a generated dataset (``dataset:PATH``)."""
    from dafxkit.train.dataset_pairs import DatasetPairs, is_dataset

    if is_dataset(config.data):
        return DatasetPairs(config, threads=threads)
    return Pipeline(pipeline_config(config), source=source, threads=threads)


def check_data(config: TrainConfig) -> None:
    """Open ``config.data`` (a source, or a generated dataset that must fit the run) so that a
    bad one fails before any model loads or trains."""
    from dafxkit.train.dataset_pairs import check_dataset, is_dataset

    if is_dataset(config.data):
        check_dataset(config)
        return
    from dafxkit import registry
    from dafxkit.data import open_source

    open_source(config.data, sample_rate=config.sample_rate)
    if config.descriptors:
        feature = pipeline_config(config).feature
        names = registry.load_feature(feature).feature_names
        missing = [d for d in config.descriptors if d not in names]
        if missing:
            raise ConfigError(
                f"descriptors: {feature} has no {', '.join(missing)}; it has {', '.join(names)}"
            )


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


def _step_indices(config: TrainConfig, share: BatchShare | None, step: int) -> range:
    """The example indices of step ``step`` that this process trains on."""
    b = config.batch_size
    if share is None:
        return range(step * b, (step + 1) * b)
    start = step * b + share.offset
    return range(start, start + share.size)


_FIELDS = ("x", "ya", "yb", "theta_a", "theta_b", "descriptors")


def _stack_arrays(pipeline: Pipeline, indices: range | list[int]) -> dict[str, np.ndarray]:
    examples = pipeline.examples(list(indices))
    return {
        name: np.stack([np.asarray(getattr(e, name), dtype=np.float32) for e in examples])
        for name in _FIELDS
    }


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(a) for name, a in arrays.items()}


def _stack(pipeline: Pipeline, indices: range | list[int]) -> dict[str, torch.Tensor]:
    return _tensors(_stack_arrays(pipeline, indices))


def _as_is(item: Any) -> Any:
    """The DataLoader's collate function for batches the dataset already made."""
    return item


class PairBatches:
    """Generates batches of pairs as tensors: held-out sets in this process, training batches
    here or in ``config.workers`` DataLoader worker processes.

    ``share``: this process's rows of each global training batch (data-parallel training).
    """

    def __init__(self, config: TrainConfig, share: BatchShare | None = None) -> None:
        self.config = config
        self.share = share
        self.pipeline = make_pipeline(config)

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.pipeline.param_names

    def batch(self, indices: range | list[int]) -> dict[str, torch.Tensor]:
        return _stack(self.pipeline, indices)

    def train_batch(self, step: int) -> dict[str, torch.Tensor]:
        return self.batch(_step_indices(self.config, self.share, step))

    def held_out(
        self, offset: int, n: int, split: Distributed | None = None
    ) -> dict[str, torch.Tensor]:
        """Examples ``offset … offset + n − 1``. With ``split`` (a data-parallel run's
        `Distributed`), each process generates its part and all of them get the whole set."""
        if split is None or not split.enabled:
            return self._examples(offset, n)
        lo = n * split.rank // split.world_size
        hi = n * (split.rank + 1) // split.world_size
        parts = split.all_gather(self._examples(offset + lo, hi - lo) if hi > lo else None)
        parts = [part for part in parts if part is not None]
        return {k: torch.cat([part[k] for part in parts]) for k in parts[0]}

    def _examples(self, offset: int, n: int) -> dict[str, torch.Tensor]:
        chunks = [self.batch(range(offset + i, offset + min(i + 64, n))) for i in range(0, n, 64)]
        return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}

    @contextmanager
    def train_batches(self, start: int, stop: int) -> Iterator[Iterator[dict[str, torch.Tensor]]]:
        """The training batches of steps ``start .. stop − 1``, in order.

        With ``config.workers == 0`` they are generated here, one at a time when asked for;
        otherwise that many spawned worker processes (one thread each) generate them ahead,
        ``PREFETCH_BATCHES`` per worker. Leaving the ``with`` block, normally or by an
        exception (KeyboardInterrupt too), shuts the workers down.
        """
        workers = min(self.config.workers, max(stop - start, 0))
        if workers == 0:
            yield (self.train_batch(step) for step in range(start, stop))
            return
        from torch.utils.data import DataLoader

        loader = DataLoader(
            _StepBatches(self.config, self.pipeline.source, self.share),
            batch_size=None,  # an item is already a whole batch
            # The workers send NumPy arrays; the tensors are made here. A worker told to stop
            # while its queue thread was still pickling tensors (torch's shared-memory
            # reduction) aborted at exit ("terminate called without an active exception"):
            # 27 of 40 loaded shutdowns with tensors, none of 40 with arrays.
            collate_fn=_as_is,
            sampler=range(start, stop),
            num_workers=workers,
            multiprocessing_context="spawn",  # fork after OpenMP has started threads can hang
            prefetch_factor=PREFETCH_BATCHES,
            # Its own generator: the loader draws a base seed, which must not come from (and
            # move) torch's global generator that the SPSA directions are drawn from.
            generator=torch.Generator().manual_seed(0),
        )
        batches = iter(loader)
        try:
            yield (_tensors(arrays) for arrays in batches)
        finally:
            shutdown = getattr(batches, "_shutdown_workers", None)
            if shutdown is not None:  # the multi-process iterator; its __del__ does the same
                shutdown()


class _StepBatches(torch.utils.data.Dataset):
    """Item ``s``: the training batch of step ``s`` as NumPy arrays (a worker builds its
    pipeline once)."""

    def __init__(self, config: TrainConfig, source: Source, share: BatchShare | None) -> None:
        self.config = config
        self.source = source
        self.share = share
        self._pipeline: Pipeline | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pipeline": None}

    def __getitem__(self, step: int) -> dict[str, np.ndarray]:
        if self._pipeline is None:
            prepare_worker(1)  # the workers are the parallelism
            self._pipeline = make_pipeline(self.config, self.source, threads=1)
            limit_threads(1)  # again: building the pipeline may have imported Numba
        return _stack_arrays(self._pipeline, _step_indices(self.config, self.share, step))
