"""`torch.utils.data` faces of the pipeline: examples generated on the fly, or read from disk.

Both give the same items, dicts of tensors:

==================  ======================================  =======
key                 shape                                   dtype
==================  ======================================  =======
``x``               ``(channels, samples)``                 float32
``ya``, ``yb``      ``(channels, samples)``                 float32
``theta_a/_b``      ``(n_params,)`` normalised to [0, 1]    float32
``descriptors``     ``(3, n_descriptors)``: x, ya, yb       float32
``index``           ``()``                                  int64
==================  ======================================  =======
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from dafxkit.data.config import PipelineConfig
from dafxkit.data.pipeline import Example, Pipeline, prepare_worker
from dafxkit.data.shards import GeneratedDataset
from dafxkit.data.sources import Source, open_source
from dafxkit.errors import DataError

__all__ = ["PairStream", "ShardDataset"]

_KEYS = ("x", "ya", "yb", "theta_a", "theta_b", "descriptors")


def _item(values: dict[str, Any], index: int) -> dict[str, torch.Tensor]:
    item = {k: torch.from_numpy(np.ascontiguousarray(values[k], dtype=np.float32)) for k in _KEYS}
    item["index"] = torch.tensor(int(index), dtype=torch.int64)
    return item


def _example_values(ex: Example) -> dict[str, Any]:
    return {
        "x": ex.x,
        "ya": ex.ya,
        "yb": ex.yb,
        "theta_a": ex.theta_a,
        "theta_b": ex.theta_b,
        "descriptors": ex.descriptors,
    }


class PairStream(IterableDataset):
    """Examples generated on the fly, in the `DataLoader`'s worker processes.

    Example ``i`` depends only on the config (its seed) and ``i``, so the stream is
    reproducible from one seed whatever the worker count: worker ``w`` of ``W`` generates
    examples ``start + w``, ``start + w + W``, …, and the `DataLoader` takes batches from the
    workers in turn. torch's own per-worker seeding plays no part.

    Parameters
    ----------
    config : PipelineConfig
        What to generate.
    n : int, optional
        Examples per epoch (``start .. start + n``); None streams without end.
    start : int
        Index of the first example.
    source : Source, optional
        An opened source to reuse; by default ``config.source`` is opened (and listed) once
        here, and the listing travels to the workers.

    Examples
    --------
    >>> stream = PairStream(PipelineConfig(effect="distortion"), n=1000)   # doctest: +SKIP
    >>> loader = DataLoader(stream, batch_size=16, num_workers=2)          # doctest: +SKIP
    """

    def __init__(
        self,
        config: PipelineConfig,
        n: int | None = None,
        *,
        start: int = 0,
        source: Source | None = None,
    ) -> None:
        if n is not None and n < 1:
            raise DataError(f"n must be a positive number of examples or None; got {n!r}")
        if start < 0:
            raise DataError(f"start must be >= 0; got {start!r}")
        self.config = config
        self.n = n
        self.base_start = self.start = int(start)
        self.source = source or open_source(config.source, sample_rate=config.sampler.sample_rate)
        self._pipeline: Pipeline | None = None

    def set_epoch(self, epoch: int) -> None:
        """Move on to the next ``n`` examples for epoch ``epoch`` (``start + epoch·n``)."""
        if self.n is None:
            raise DataError("set_epoch needs a stream of fixed length n")
        self.start = self.base_start + int(epoch) * self.n

    def __len__(self) -> int:
        if self.n is None:
            raise TypeError("an endless PairStream has no length")
        return self.n

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pipeline"] = None  # each worker builds its own
        return state

    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            threads = None
            if get_worker_info() is not None:
                threads = 1  # workers are the parallelism: one thread each
                prepare_worker(1)
            self._pipeline = Pipeline(self.config, source=self.source, threads=threads)
        return self._pipeline

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        first = self.start + worker
        if self.n is None:
            indices: Iterator[int] = itertools.count(first, workers)
        else:
            indices = iter(range(first, self.start + self.n, workers))
        pipeline = self.pipeline()
        size = self.config.batch_size
        while True:
            chunk = list(itertools.islice(indices, size))
            if not chunk:
                return
            for ex in pipeline.examples(chunk):
                yield _item(_example_values(ex), ex.index)


class ShardDataset(Dataset):
    """A dataset `dafxkit generate` wrote, read with random access (audio memory-mapped).

    Parameters
    ----------
    root : path
        The dataset folder.
    allow_incomplete : bool
        Read the complete shards of an unfinished dataset.
    """

    def __init__(self, root: str | Path, *, allow_incomplete: bool = False) -> None:
        self.data = GeneratedDataset(root, allow_incomplete=allow_incomplete)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        values = self.data[i]
        return _item(values, int(values["index"]))

    @property
    def manifest(self) -> dict[str, Any]:
        return self.data.manifest

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.data.param_names

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return self.data.descriptor_names

    @property
    def sample_rate(self) -> int:
        return self.data.sample_rate
