"""dafxkit: learn to control audio effects with neural networks.

The core defines three plugin interfaces, `Effect`, `FeatureExtractor` and `Encoder`, and finds
their implementations through entry points (see `dafxkit.registry`). ``import dafxkit`` stays
light: torch is imported only when `Encoder` is first touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dafxkit._version import __version__
from dafxkit.audio import read_audio, validate_audio, write_audio
from dafxkit.effect import Effect, Param, per_clip
from dafxkit.errors import (
    AudioError,
    DafxError,
    DafxWarning,
    DuplicatePluginError,
    NativeError,
    ParameterError,
    PluginError,
    PluginLoadError,
    UnknownPluginError,
)
from dafxkit.features import FeatureExtractor
from dafxkit.registry import load_effect, load_encoder, load_feature

if TYPE_CHECKING:
    from dafxkit.encoder import Encoder

__all__ = [
    "__version__",
    "Effect",
    "Param",
    "per_clip",
    "FeatureExtractor",
    "Encoder",
    "load_effect",
    "load_feature",
    "load_encoder",
    "read_audio",
    "write_audio",
    "validate_audio",
    "DafxError",
    "AudioError",
    "ParameterError",
    "PluginError",
    "PluginLoadError",
    "UnknownPluginError",
    "DuplicatePluginError",
    "NativeError",
    "DafxWarning",
]


def __getattr__(name: str):
    if name == "Encoder":
        from dafxkit.encoder import Encoder

        return Encoder
    raise AttributeError(f"module 'dafxkit' has no attribute {name!r}")
