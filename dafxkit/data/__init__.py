"""The data pipeline: sources, clip sampling, SoX augmentation, effect pairs, checks,
descriptors, and datasets on disk or generated on the fly.

    source ──► clip sampler ──► augment (SoX) ──► effect pair ──► checks ──► descriptors

The pieces, each usable alone:

- `open_source` (``synthetic``, ``folder:PATH``, ``musdb:PATH``; `register_source` adds more)
- `ClipSampler`, `Augmenter`, `Checker` and the `Pipeline` that chains them
- `generate` writes shards and a manifest; `GeneratedDataset` reads them back
- `PairStream` and `ShardDataset` are the torch datasets (importing them imports torch)

Configuration lives in `PipelineConfig` and its parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dafxkit.data.augment import Augmentation, Augmenter
from dafxkit.data.checks import REASONS, Checker, mfcc_similarity, rms_dbfs
from dafxkit.data.config import (
    AugmentConfig,
    CheckConfig,
    PairConfig,
    PipelineConfig,
    SamplerConfig,
)
from dafxkit.data.pipeline import STAGES, Example, Pipeline, Stats
from dafxkit.data.sampler import ClipSampler
from dafxkit.data.shards import GeneratedDataset, GenerateSummary, generate, read_manifest
from dafxkit.data.sources import (
    FolderSource,
    MusdbSource,
    Source,
    SyntheticSource,
    Track,
    TrackReadError,
    open_source,
    register_source,
)
from dafxkit.errors import DataError, OutputError, SourceError, SoxUnavailableError

if TYPE_CHECKING:
    from dafxkit.data.datasets import PairStream, ShardDataset

__all__ = [
    "AugmentConfig",
    "Augmentation",
    "Augmenter",
    "CheckConfig",
    "Checker",
    "ClipSampler",
    "DataError",
    "Example",
    "FolderSource",
    "GenerateSummary",
    "GeneratedDataset",
    "MusdbSource",
    "OutputError",
    "PairConfig",
    "PairStream",
    "Pipeline",
    "PipelineConfig",
    "REASONS",
    "STAGES",
    "SamplerConfig",
    "ShardDataset",
    "Source",
    "SourceError",
    "SoxUnavailableError",
    "Stats",
    "SyntheticSource",
    "Track",
    "TrackReadError",
    "generate",
    "mfcc_similarity",
    "open_source",
    "read_manifest",
    "register_source",
    "rms_dbfs",
]


def __getattr__(name: str) -> Any:
    if name in ("PairStream", "ShardDataset"):
        from dafxkit.data import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'dafxkit.data' has no attribute {name!r}")
