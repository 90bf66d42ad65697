"""Training on a dataset `dafxkit generate` wrote: the data URI ``dataset:PATH``.

The pairs were made once (with their augmentation, checks and descriptors); training reads them
instead of generating pairs on the fly. `DatasetPairs` gives examples by index, as
`dafxkit.data.Pipeline.examples` does, so everything built on `dafxkit.train.data.PairBatches`
(resume, worker processes, data-parallel shares, evaluation) works unchanged:

- the last ``n_test`` examples of the dataset are the test set and the ``n_val`` before them
  the validation set; training never reads them;
- training index ``i`` is example ``perm_e[i mod N]`` of the other ``N`` examples, with one
  seeded permutation ``perm_e`` per epoch ``e = i // N`` (so a resumed run reads the same
  examples);
- the β-VAE's pool takes the training examples in order.

The dataset must match the run: its effect (or chain), sample rate, clip length and channels,
and it must hold the run's descriptors. `check_dataset` says what differs.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from dafxkit.train.config import ConfigError, TrainConfig
from dafxkit.train.data import TEST_OFFSET, VAE_OFFSET, VAL_OFFSET

__all__ = ["SCHEME", "DatasetPairs", "check_dataset", "dataset_path", "is_dataset"]

#: Data URIs starting with this name a generated dataset.
SCHEME = "dataset:"


def is_dataset(uri: str) -> bool:
    """True for a ``dataset:PATH`` data URI."""
    return uri.startswith(SCHEME)


def dataset_path(uri: str) -> Path:
    """The folder a ``dataset:PATH`` URI names (``~`` expanded)."""
    return Path(uri[len(SCHEME) :]).expanduser()


def check_dataset(config: TrainConfig) -> Any:
    """The `GeneratedDataset` that ``config.data`` names, after checking that it fits the run.

    Raises
    ------
    ConfigError
        When the folder holds no complete dataset, or its effect, rate, clip length, channels
        or descriptors differ from the run's, or it is too small for the held-out sets and one
        batch; the message says what to change.
    """
    from dafxkit.data.shards import GeneratedDataset
    from dafxkit.errors import DafxError

    path = dataset_path(config.data)
    try:
        data = GeneratedDataset(path)
    except DafxError as exc:
        raise ConfigError(f"data {config.data!r}: {exc}") from None
    m = data.manifest
    sampler = m["config"]["sampler"]
    have = {
        "effect": m["effect"]["name"],
        "sample_rate": int(m["sample_rate"]),
        "seconds": float(sampler["seconds"]),
        "channels": int(m["channels"]),
    }
    want = {
        "effect": config.effect_name,
        "sample_rate": int(config.sample_rate),
        "seconds": float(config.seconds),
        "channels": int(config.channels),
    }
    differ = [k for k in want if have[k] != want[k]]
    if differ:
        flags = {"effect": "--effect", "sample_rate": "--sample-rate", "seconds": "--seconds"}
        detail = "; ".join(f"{k}: the dataset has {have[k]!r}, the run {want[k]!r}" for k in differ)
        hint = ", ".join(f"{flags.get(k, k)} {have[k]}" for k in differ)
        raise ConfigError(
            f"the dataset at {path} does not fit this run ({detail}); train with {hint}"
        )
    missing = [d for d in config.descriptors if d not in data.descriptor_names]
    if missing:
        raise ConfigError(
            f"the dataset at {path} holds no {', '.join(missing)} (it has "
            f"{', '.join(data.descriptor_names) or 'no descriptors'}); train with "
            f"--descriptors {','.join(data.descriptor_names) or 'none'}, or generate it with "
            f"--descriptors {','.join(config.descriptors)}"
        )
    needed = config.n_val + config.n_test + config.batch_size
    if len(data) < needed:
        raise ConfigError(
            f"the dataset at {path} holds {len(data)} examples; this run needs at least "
            f"{needed} (n_val {config.n_val} + n_test {config.n_test} held out, and one batch "
            f"of {config.batch_size})"
        )
    return data


class DatasetPairs:
    """Examples of a generated dataset by training, validation, test or β-VAE index (see the
    module docstring); stands in for `dafxkit.data.Pipeline` in `PairBatches`."""

    source = None  # worker processes open the dataset themselves

    def __init__(self, config: TrainConfig, *, threads: int | None = None) -> None:
        self.config = config
        self.data = check_dataset(config)
        self.n_train = len(self.data) - config.n_val - config.n_test
        names = self.data.descriptor_names
        self._columns = [names.index(d) for d in config.descriptors]
        self.extractor = None
        if config.descriptors:
            # The run's descriptor loss and evaluation describe ŷ with the dataset's extractor.
            from dafxkit.data.pipeline import descriptor_extractor

            feature = self.data.manifest["descriptors"]["feature"]
            self.extractor = descriptor_extractor(feature, config.descriptors, threads)

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.data.param_names

    @functools.lru_cache(maxsize=4)  # noqa: B019 - one dataset object per run
    def _permutation(self, epoch: int) -> np.ndarray:
        seq = np.random.SeedSequence(self.config.seed, spawn_key=(int(epoch),))
        return np.random.default_rng(seq).permutation(self.n_train)

    def position(self, index: int) -> int:
        """The dataset example that run index ``index`` reads."""
        c = self.config
        if index >= VAE_OFFSET:
            return (index - VAE_OFFSET) % self.n_train
        if index >= TEST_OFFSET:
            return self._held_out(index - TEST_OFFSET, c.n_test, self.n_train + c.n_val, "test")
        if index >= VAL_OFFSET:
            return self._held_out(index - VAL_OFFSET, c.n_val, self.n_train, "validation")
        epoch, i = divmod(int(index), self.n_train)
        return int(self._permutation(epoch)[i])

    def _held_out(self, j: int, count: int, first: int, what: str) -> int:
        if not 0 <= j < count:
            raise IndexError(f"{what} example {j} of {count}")
        return first + j

    def examples(self, indices: Any) -> list[SimpleNamespace]:
        """The examples at run indices ``indices``, with the fields training reads."""
        out = []
        for index in indices:
            item = self.data[self.position(int(index))]
            descriptors = np.asarray(item["descriptors"], dtype=np.float64)
            out.append(
                SimpleNamespace(
                    x=item["x"],
                    ya=item["ya"],
                    yb=item["yb"],
                    theta_a=item["theta_a"],
                    theta_b=item["theta_b"],
                    descriptors=descriptors[:, self._columns]
                    if descriptors.size
                    else np.zeros((3, 0)),
                )
            )
        return out
