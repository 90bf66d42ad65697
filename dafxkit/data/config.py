"""The data pipeline's configuration: one dataclass per stage, all defaults spelled out.

The command line only maps flags onto these; a generated dataset's manifest stores them
(`PipelineConfig.to_dict`), so the same run is reproducible from Python, from the command
line, or from a manifest (`PipelineConfig.from_dict`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dafxkit.errors import DataError

__all__ = [
    "SamplerConfig",
    "AugmentConfig",
    "PairConfig",
    "CheckConfig",
    "PipelineConfig",
]


@dataclass(frozen=True)
class SamplerConfig:
    """Which windows are cut from the source.

    Parameters
    ----------
    seconds : float
        Window length.
    sample_rate : int
        Rate every clip is resampled to (soxr, high quality) when the source's differs.
    channels : int
        1 (channels averaged) or 2 (mono sources duplicated).
    silence_dbfs : float
        Windows whose RMS over all channels is below this are skipped (counted as
        ``silent_window``) and another is drawn.
    """

    seconds: float = 5.0
    sample_rate: int = 44100
    channels: int = 1
    silence_dbfs: float = -50.0

    def __post_init__(self) -> None:
        _positive(self.seconds, "seconds")
        if not isinstance(self.sample_rate, int) or self.sample_rate < 1000:
            raise DataError(f"sample_rate must be an integer >= 1000 Hz; got {self.sample_rate!r}")
        if self.channels not in (1, 2):
            raise DataError(f"channels must be 1 (mono) or 2 (stereo); got {self.channels!r}")

    @property
    def samples(self) -> int:
        return int(round(self.seconds * self.sample_rate))


@dataclass(frozen=True)
class AugmentConfig:
    """SoX pitch shift and tempo change, drawn per clip.

    Parameters
    ----------
    enabled : bool
        False skips augmentation altogether (no ``sox`` program needed).
    pitch_probability : float
        Chance that a clip is pitch-shifted.
    pitch_semitones : float
        Shifts are uniform in ``[-pitch_semitones, +pitch_semitones]``.
    tempo_probability : float
        Chance that a clip's tempo is changed (pitch kept).
    tempo_range : (float, float)
        Tempo factors are uniform in this range (``1.1`` = 10 % faster).
    quick : bool
        SoX's quicker, lower-quality pitch and tempo algorithms (about half the time).
    """

    enabled: bool = True
    pitch_probability: float = 0.5
    pitch_semitones: float = 2.0
    tempo_probability: float = 0.5
    tempo_range: tuple[float, float] = (0.9, 1.1)
    quick: bool = False

    def __post_init__(self) -> None:
        for name in ("pitch_probability", "tempo_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise DataError(f"{name} must lie in [0, 1]; got {value!r}")
        if not 0.0 <= self.pitch_semitones <= 12.0:
            raise DataError(f"pitch_semitones must lie in [0, 12]; got {self.pitch_semitones!r}")
        low, high = self.tempo_range
        if not 0.5 <= low <= high <= 2.0:
            raise DataError(
                f"tempo_range must satisfy 0.5 <= low <= high <= 2.0; got {self.tempo_range!r}"
            )
        object.__setattr__(self, "tempo_range", (float(low), float(high)))

    @property
    def max_tempo(self) -> float:
        """The largest tempo factor a clip can get (how much longer a window must be read)."""
        if not self.enabled or self.tempo_probability == 0.0:
            return 1.0
        return max(1.0, self.tempo_range[1])


@dataclass(frozen=True)
class PairConfig:
    """The effect and how its two parameter settings θa, θb are drawn.

    Parameters
    ----------
    effect : str
        A registered effect, or a chain ``"compressor>distortion"``.
    low, high : float
        Every normalised parameter is uniform in ``[low, high]``.
    ranges : mapping of str to (float, float)
        Per-parameter normalised ranges that override ``low``/``high`` (``{"mix": (0.5, 1)}``;
        equal ends fix a parameter).
    """

    effect: str = "distortion"
    low: float = 0.0
    high: float = 1.0
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.effect, str) or not self.effect.strip():
            raise DataError(f"effect must be a registered effect's name; got {self.effect!r}")
        _check_range(self.low, self.high, "low/high")
        ranges = {}
        for name, bounds in dict(self.ranges).items():
            low, high = (float(b) for b in bounds)
            _check_range(low, high, f"range of {name!r}")
            ranges[str(name)] = (low, high)
        object.__setattr__(self, "ranges", ranges)


@dataclass(frozen=True)
class CheckConfig:
    """What makes an example sensible.

    Parameters
    ----------
    min_rms_dbfs : float
        Both effected clips must be at least this loud (RMS over all channels, dBFS).
    mfcc_similarity : (float, float)
        The MFCC similarity of the original with each effected clip must lie in this range:
        above it the effect changed (almost) nothing, below it the audio is destroyed. See
        `dafxkit.data.checks.mfcc_similarity` for the measure.
    n_mfcc : int
        Coefficients computed (c0, the loudness term, is then left out).
    """

    min_rms_dbfs: float = -50.0
    mfcc_similarity: tuple[float, float] = (0.6, 0.999)
    n_mfcc: int = 20

    def __post_init__(self) -> None:
        low, high = (float(v) for v in self.mfcc_similarity)
        if not -1.0 <= low <= high <= 1.0:
            raise DataError(
                f"mfcc_similarity must satisfy -1 <= low <= high <= 1; got {self.mfcc_similarity!r}"
            )
        object.__setattr__(self, "mfcc_similarity", (low, high))
        if not isinstance(self.n_mfcc, int) or self.n_mfcc < 2:
            raise DataError(f"n_mfcc must be an integer >= 2; got {self.n_mfcc!r}")
        if not math.isfinite(self.min_rms_dbfs):
            raise DataError(f"min_rms_dbfs must be finite; got {self.min_rms_dbfs!r}")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that determines the examples: the same config and seed give the same data.

    Parameters
    ----------
    source : str
        ``"synthetic"`` (built in, no files), ``"musdb:PATH"`` or ``"folder:PATH"``; see
        `dafxkit.data.sources.open_source`.
    seed : int
        Example ``i``'s clips are drawn from generators seeded by ``(seed, i, clip draw)`` and
        its settings by ``(seed, i, clip draw, settings draw)``, so it does not depend on
        worker counts, batch sizes or which examples were generated before.
    feature : str
        Feature extractor for the descriptors of x, ya and yb.
    descriptors : tuple of str
        Its columns to compute (empty: no descriptors).
    param_draws : int
        When an effect pair fails a check, θa, θb are redrawn for the same clip up to this
        many times in all before a new clip is drawn (the clip's reading and augmentation
        cost more than the effect).
    max_attempts : int
        Rejected draws per example before giving up (each is counted by reason).
    batch_size : int
        Examples processed together through the effect, checks and descriptors.
    """

    source: str = "synthetic"
    seed: int = 0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    pairs: PairConfig = field(default_factory=PairConfig)
    checks: CheckConfig = field(default_factory=CheckConfig)
    feature: str = "timbral"
    descriptors: tuple[str, ...] = ("brightness", "depth")
    param_draws: int = 4
    max_attempts: int = 50
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise DataError(f"seed must be a non-negative integer; got {self.seed!r}")
        object.__setattr__(self, "descriptors", tuple(self.descriptors))
        if self.param_draws < 1:
            raise DataError(f"param_draws must be >= 1; got {self.param_draws!r}")
        if self.max_attempts < 1:
            raise DataError(f"max_attempts must be >= 1; got {self.max_attempts!r}")
        if self.batch_size < 1:
            raise DataError(f"batch_size must be >= 1; got {self.batch_size!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineConfig:
        """The config a `to_dict` result (for example a manifest's ``config``) describes."""
        data = dict(data)
        try:
            sampler = SamplerConfig(**data.pop("sampler", {}))
            aug = dict(data.pop("augment", {}))
            if "tempo_range" in aug:
                aug["tempo_range"] = tuple(aug["tempo_range"])
            augment = AugmentConfig(**aug)
            pairs = dict(data.pop("pairs", {}))
            pairs["ranges"] = {k: tuple(v) for k, v in pairs.get("ranges", {}).items()}
            checks = dict(data.pop("checks", {}))
            if "mfcc_similarity" in checks:
                checks["mfcc_similarity"] = tuple(checks["mfcc_similarity"])
            if "descriptors" in data:
                data["descriptors"] = tuple(data["descriptors"])
            return cls(
                sampler=sampler,
                augment=augment,
                pairs=PairConfig(**pairs),
                checks=CheckConfig(**checks),
                **data,
            )
        except TypeError as exc:
            raise DataError(f"not a pipeline configuration: {exc}") from None


def _positive(value: float, name: str) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise DataError(f"{name} must be a positive number; got {value!r}")


def _check_range(low: float, high: float, name: str) -> None:
    if not 0.0 <= low <= high <= 1.0:
        raise DataError(f"{name} must satisfy 0 <= low <= high <= 1; got ({low!r}, {high!r})")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
