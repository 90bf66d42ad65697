"""Plugin discovery through entry points: effects, feature extractors and encoders.

Three entry-point groups, read with the standard `importlib.metadata`:

==============  ======================  ==========================
kind            group                   what the entry point gives
==============  ======================  ==========================
``effect``      ``dafxkit.effects``     an `Effect` subclass or factory
``feature``     ``dafxkit.features``    a `FeatureExtractor` subclass or factory
``encoder``     ``dafxkit.encoders``    an `Encoder` subclass or factory
==============  ======================  ==========================

Listing is lazy: names and distributions come from package metadata without importing a
plugin. Loading imports one plugin, builds it and checks it against its interface. A plugin
that fails is reported by name, distribution and entry point and never stops the others; a name
claimed by two distributions is an error naming both.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

from dafxkit.errors import (
    DafxError,
    DuplicatePluginError,
    MissingDependencyError,
    PluginLoadError,
    UnknownPluginError,
)

__all__ = [
    "GROUPS",
    "PluginSpec",
    "PluginProblem",
    "specs",
    "names",
    "load",
    "load_effect",
    "load_feature",
    "load_encoder",
    "check",
    "refresh",
]

Kind = Literal["effect", "feature", "encoder"]

#: Plugin kind → entry-point group.
GROUPS: dict[str, str] = {
    "effect": "dafxkit.effects",
    "feature": "dafxkit.features",
    "encoder": "dafxkit.encoders",
}


@dataclass(frozen=True)
class PluginSpec:
    """One entry point of one distribution, not imported yet."""

    kind: str
    name: str
    value: str
    distribution: str
    version: str
    entry_point: metadata.EntryPoint = field(compare=False, repr=False)

    @property
    def origin(self) -> str:
        return f"{self.distribution} {self.version} ({self.value})"


@dataclass(frozen=True)
class PluginProblem:
    """Why one plugin cannot be used."""

    kind: str
    name: str
    category: Literal["duplicate", "import", "build", "interface", "smoke", "unavailable"]
    origin: str
    message: str
    detail: str = ""
    traceback: str = ""


def _check_kind(kind: str) -> str:
    if kind not in GROUPS:
        raise DafxError(f"unknown plugin kind {kind!r}; use one of {', '.join(GROUPS)}")
    return kind


@functools.cache
def _all_specs(kind: str) -> dict[str, tuple[PluginSpec, ...]]:
    found: dict[str, list[PluginSpec]] = {}
    for ep in metadata.entry_points(group=GROUPS[kind]):
        dist = getattr(ep, "dist", None)
        spec = PluginSpec(
            kind=kind,
            name=ep.name,
            value=ep.value,
            distribution=dist.name if dist is not None else "<unknown distribution>",
            version=dist.version if dist is not None else "?",
            entry_point=ep,
        )
        same = found.setdefault(ep.name, [])
        # One distribution seen twice (an editable install beside stale metadata) is one plugin.
        if not any((s.distribution, s.value) == (spec.distribution, spec.value) for s in same):
            same.append(spec)
    # Metadata comes back in directory order; sort so listings and errors are deterministic.
    return {
        name: tuple(sorted(group, key=lambda s: (s.distribution, s.value)))
        for name, group in sorted(found.items())
    }


def specs(kind: Kind) -> dict[str, tuple[PluginSpec, ...]]:
    """Every registered name of ``kind`` with the entry points claiming it (more than one
    means a conflict). Nothing is imported."""
    return dict(_all_specs(_check_kind(kind)))


def names(kind: Kind) -> list[str]:
    """Registered names of ``kind``, sorted; nothing is imported."""
    return list(_all_specs(_check_kind(kind)))


def refresh() -> None:
    """Forget what was discovered and loaded, e.g. after ``pip install`` in a running process."""
    _all_specs.cache_clear()
    _resolve.cache_clear()
    importlib.invalidate_caches()


def _spec_for(kind: str, name: str) -> PluginSpec:
    _check_kind(kind)
    available = _all_specs(kind)
    if name not in available:
        close = difflib.get_close_matches(name, list(available), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(available) or f"none (no package registers {GROUPS[kind]!r})"
        raise UnknownPluginError(f"no {kind} named {name!r}.{hint} Available: {listing}")
    claims = available[name]
    if len(claims) > 1:
        raise DuplicatePluginError(
            f"{kind} name {name!r} is registered by {len(claims)} distributions: "
            + " and ".join(s.origin for s in claims)
            + ". Uninstall all but one of them."
        )
    return claims[0]


@functools.cache
def _resolve(kind: str, name: str) -> Callable[..., Any] | Any:
    spec = _spec_for(kind, name)
    try:
        return spec.entry_point.load()
    except Exception as exc:
        detail = f"failed to import: {type(exc).__name__}: {exc}"
        raise PluginLoadError(
            f"{kind} plugin {name!r} from {spec.origin} {detail}", stage="import", detail=detail
        ) from exc


def _base_class(kind: str) -> type:
    if kind == "effect":
        from dafxkit.effect import Effect

        return Effect
    if kind == "feature":
        from dafxkit.features import FeatureExtractor

        return FeatureExtractor
    from dafxkit.encoder import Encoder  # imports torch: only encoders need it

    return Encoder


def load(kind: Kind, name: str, **options: Any) -> Any:
    """Import, build and check the plugin ``name`` of ``kind``.

    The entry point may name a class (built with ``options``), a factory function (called
    with ``options``) or a ready instance (``options`` must then be empty).

    Raises
    ------
    UnknownPluginError
        No plugin has that name; the message lists the available ones and the closest match.
    DuplicatePluginError
        Two distributions claim the name; the message names both.
    PluginLoadError
        The plugin failed to import or build, or breaks its interface.
    """
    spec = _spec_for(kind, name)
    target = _resolve(kind, name)
    base = _base_class(kind)
    if isinstance(target, base):
        if options:
            raise PluginLoadError(
                f"{kind} plugin {name!r} is a ready instance and takes no options; got "
                f"{', '.join(options)}",
                stage="build",
            )
        plugin = target
    elif callable(target):
        try:
            plugin = target(**options)
        except Exception as exc:
            detail = f"failed to build: {type(exc).__name__}: {exc}"
            raise PluginLoadError(
                f"{kind} plugin {name!r} from {spec.origin} {detail}", stage="build", detail=detail
            ) from exc
    else:
        plugin = target
    if not isinstance(plugin, base):
        problems = [
            f"it gives a {type(plugin).__name__}, not a {base.__module__}.{base.__qualname__}"
        ]
    else:
        problems = base.interface_problems(plugin)
    if problems:
        detail = "breaks the interface: " + "; ".join(problems)
        raise PluginLoadError(
            f"{kind} plugin {name!r} from {spec.origin} {detail}", stage="interface", detail=detail
        )
    return plugin


def load_effect(name: str | Sequence[str], **options: Any):
    """The effect registered as ``name`` (see `load`), or a chain.

    ``"compressor>distortion>reverb"`` or a list of names gives a `dafxkit.chain.Chain` of those
    effects in that order (``options`` then apply to no member and must be empty).
    """
    from dafxkit.chain import CHAIN_SEPARATOR, Chain

    members = name.split(CHAIN_SEPARATOR) if isinstance(name, str) else list(name)
    if len(members) == 1:
        return load("effect", members[0].strip(), **options)
    if options:
        raise PluginLoadError("options cannot be passed to a chain's members", stage="build")
    return Chain([load("effect", member.strip()) for member in members])


def load_feature(name: str, **options: Any):
    """The feature extractor registered as ``name`` (see `load`)."""
    return load("feature", name, **options)


def load_encoder(name: str, **options: Any):
    """The encoder registered as ``name`` (see `load`); imports torch."""
    return load("encoder", name, **options)


def check(
    kinds: tuple[str, ...] = tuple(GROUPS), *, smoke: bool = True, contract: bool = False
) -> list[PluginProblem]:
    """Load every registered plugin and report each one that cannot be used.

    With ``smoke``, every effect also processes a short noise burst at its default settings and
    every feature extractor describes it, so a plugin that imports but crashes or returns
    non-finite audio is caught here rather than mid-training. With ``contract``, every effect
    and feature extractor that passes the smoke test is also held to `dafxkit.testing`'s
    whole contract.
    """
    problems: list[PluginProblem] = []
    for kind in kinds:
        for name, claims in _all_specs(_check_kind(kind)).items():
            origin = " and ".join(s.origin for s in claims)
            try:
                plugin = load(kind, name)  # type: ignore[arg-type]
            except DuplicatePluginError as exc:
                problems.append(
                    PluginProblem(kind, name, "duplicate", origin, str(exc), "claimed twice")
                )
                continue
            except PluginLoadError as exc:
                cause = exc.__cause__ or exc
                if isinstance(cause, MissingDependencyError):
                    detail = str(cause)
                    problems.append(
                        PluginProblem(kind, name, "unavailable", origin, str(exc), detail)
                    )
                    continue
                tb = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
                problems.append(
                    PluginProblem(kind, name, exc.stage, origin, str(exc), exc.detail, tb)
                )
                continue
            if smoke:
                message = _smoke(kind, plugin)
                if message:
                    problems.append(PluginProblem(kind, name, "smoke", origin, message, message))
                    continue
            if contract and kind in ("effect", "feature"):
                from dafxkit.testing import effect_problems, extractor_problems

                broken = (effect_problems if kind == "effect" else extractor_problems)(plugin)
                if broken:
                    message = "; ".join(broken)
                    problems.append(PluginProblem(kind, name, "contract", origin, message, message))
    return problems


def _smoke(kind: str, plugin: Any) -> str | None:
    import numpy as np

    rng = np.random.default_rng(0)
    audio = (0.5 * rng.standard_normal((2, 1, 2048))).astype(np.float32)
    try:
        if kind == "effect":
            out = plugin(audio, plugin.default_params(2), 44100)
            if not np.isfinite(out).all():
                return "returns non-finite audio at its default settings"
        elif kind == "feature":
            out = plugin.extract(audio, 44100)
            # Extractors that report per-clip failures as NaN (wrappers of fragile reference
            # code) only have to stay clear of infinities.
            bad = np.isinf(out) if plugin.nan_on_failure else ~np.isfinite(out)
            if bad.any():
                return "returns non-finite features for a noise burst"
    except Exception as exc:
        return f"crashes on a noise burst at its defaults: {type(exc).__name__}: {exc}"
    return None
