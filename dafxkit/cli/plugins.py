"""`dafxkit effects|features|encoders list|show` and `dafxkit plugins check`."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import typer
from rich.table import Table

from dafxkit import registry
from dafxkit.cli._common import console, err_console, reports_errors
from dafxkit.errors import MissingDependencyError, PluginError

effects_app = typer.Typer(help="List and inspect installed effects.", no_args_is_help=True)
features_app = typer.Typer(
    help="List installed feature extractors; compute features of audio files.",
    no_args_is_help=True,
)
encoders_app = typer.Typer(help="List installed audio encoders.", no_args_is_help=True)
plugins_app = typer.Typer(
    help="Check that every installed plugin loads and runs.", no_args_is_help=True
)


def _loaded(kind: str) -> list[tuple[str, str, Any, str | None]]:
    """(name, origin, plugin or None, error or None) for every registered name of ``kind``."""
    rows = []
    for name, claims in registry.specs(kind).items():  # type: ignore[arg-type]
        origin = ", ".join(f"{s.distribution} {s.version}" for s in claims)
        try:
            rows.append((name, origin, registry.load(kind, name), None))  # type: ignore[arg-type]
        except PluginError as exc:
            rows.append((name, origin, None, _problem(exc)))
    return rows


def _problem(exc: PluginError) -> str:
    """A table cell for a plugin that did not load: unusable here (yellow) or broken (red)."""
    if isinstance(exc.__cause__, MissingDependencyError):
        return f"[yellow]not usable here: {exc.__cause__}[/]"
    return f"[red]broken: {getattr(exc, 'detail', exc)}[/]"


def _broken_note(n_broken: int) -> None:
    if n_broken:
        err_console.print(
            f"[yellow]{n_broken} plugin(s) could not be loaded; "
            "`dafxkit plugins check` says why.[/]"
        )


@effects_app.command("list")
@reports_errors
def effects_list() -> None:
    """Every installed effect: its distribution, parameters and backends."""
    table = Table(title="dafxkit effects", title_justify="left")
    for column in ("name", "distribution", "parameters", "backends", "description"):
        table.add_column(column, overflow="fold")
    broken = 0
    for name, origin, fx, error in _loaded("effect"):
        if fx is None:
            broken += 1
            table.add_row(name, origin, "", "", error)
            continue
        available = fx.available_backends()
        backends = " ".join(b if b in available else f"[dim strike]{b}[/]" for b in fx.backends)
        table.add_row(name, origin, ", ".join(fx.param_names), backends, fx.description)
    console.print(table)
    _broken_note(broken)


@effects_app.command("show")
@reports_errors
def effects_show(
    name: Annotated[str, typer.Argument(help="Effect name, as in `effects list`.")],
) -> None:
    """One effect's parameters in physical units: range, unit, scale, default."""
    fx = registry.load_effect(name)
    spec = registry.specs("effect")[name][0]
    console.print(f"[bold]{name}[/] — {fx.description or type(fx).__name__}  ({spec.origin})")
    table = Table(title_justify="left")
    for column in ("parameter", "minimum", "maximum", "unit", "scale", "default", "description"):
        table.add_column(column)
    for p in fx.params:
        table.add_row(
            p.name,
            f"{p.minimum:g}",
            f"{p.maximum:g}",
            p.unit,
            p.scale,
            f"{p.default:g}",
            p.description,
        )
    console.print(table)
    for backend in fx.backends:
        reason = fx.backend_unavailable_reason(backend)
        state = "[green]available[/]" if reason is None else f"[red]unavailable[/]: {reason}"
        console.print(f"backend {backend}: {state}", highlight=False)
    if fx.neutral is not None:
        neutral = ", ".join(f"{k}={v:g}" for k, v in fx.neutral.items())
        console.print(f"identity at: {neutral}", highlight=False)


_NUMBERED = re.compile(r"^(\D*)(\d+)(\D*)$")


def summarise_names(names: tuple[str, ...] | list[str]) -> str:
    """Names joined by commas, a run of three or more that only count up written as its ends:
    ``mfcc0_mean … mfcc19_mean (20)``."""
    parts: list[str] = []
    i = 0
    while i < len(names):
        match = _NUMBERED.match(names[i])
        j = i + 1
        if match:
            stem, first, tail = match.group(1), int(match.group(2)), match.group(3)
            while j < len(names) and names[j] == f"{stem}{first + j - i}{tail}":
                j += 1
        if j - i >= 3:
            parts.append(f"{names[i]} … {names[j - 1]} ({j - i})")
        else:
            parts += names[i:j]
        i = j
    return ", ".join(parts)


@features_app.command("list")
@reports_errors
def features_list() -> None:
    """Every installed feature extractor and the features it computes."""
    table = Table(title="dafxkit feature extractors", title_justify="left")
    for column in ("name", "distribution", "features", "description"):
        table.add_column(column, overflow="fold")
    broken = 0
    for name, origin, fe, error in _loaded("feature"):
        if fe is None:
            broken += 1
            table.add_row(name, origin, "", error)
        else:
            table.add_row(name, origin, summarise_names(fe.feature_names), fe.description)
    console.print(table)
    _broken_note(broken)


@encoders_app.command("list")
@reports_errors
def encoders_list() -> None:
    """Every installed audio encoder (imports torch)."""
    table = Table(title="dafxkit encoders", title_justify="left")
    for column in ("name", "distribution", "embedding dim", "sample rate", "description"):
        table.add_column(column, overflow="fold")
    names = registry.names("encoder")
    broken = 0
    for name, claims in registry.specs("encoder").items():
        origin = ", ".join(f"{s.distribution} {s.version}" for s in claims)
        try:
            enc = registry.load("encoder", name)
            table.add_row(
                name, origin, str(enc.embedding_dim), str(enc.sample_rate), enc.description
            )
        except PluginError as exc:
            broken += 1
            table.add_row(name, origin, "", "", _problem(exc))
    console.print(table if names else "no encoders installed (entry-point group dafxkit.encoders)")
    _broken_note(broken)


@plugins_app.command("check")
@reports_errors
def plugins_check(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
    smoke: Annotated[
        bool, typer.Option(help="Also run each effect and extractor once on a noise burst.")
    ] = True,
    contract: Annotated[
        bool,
        typer.Option(
            help="Also hold every effect and feature extractor to dafxkit.testing's contract "
            "(finite output for any setting and odd input, batch = rows alone, backends agree, "
            "neutral = identity)."
        ),
    ] = False,
) -> None:
    """Load every plugin; exit 1 with a report if any is broken, duplicated or crashes.

    A plugin whose optional dependency is not installed is listed with the command that adds
    it, but does not fail the check.
    """
    # The contract feeds silence and DC on purpose: reference wrappers log a warning for each
    # clip they return NaN for, which is allowed there; keep those out of the report.
    quiet = logging.getLogger("dafxkit.descriptors")
    level = quiet.level
    if contract:
        quiet.setLevel(logging.ERROR)
    try:
        found = registry.check(smoke=smoke, contract=contract)
    finally:
        quiet.setLevel(level)
    unavailable = [p for p in found if p.category == "unavailable"]
    problems = [p for p in found if p.category != "unavailable"]
    total = sum(len(registry.specs(kind)) for kind in registry.GROUPS)  # type: ignore[arg-type]
    for p in unavailable:
        err_console.print(f"[yellow]{p.kind} {p.name!r} is not usable here: {p.detail}[/]")
    if not problems:
        usable = total - len(unavailable)
        kept = " and keep the contract" if contract else ""
        console.print(f"[green]all {usable} usable plugin(s) of {total} load and run{kept}[/]")
        return
    table = Table(title=f"{len(problems)} problem(s) in {total} plugin(s)", title_justify="left")
    for column in ("kind", "name", "problem", "from", "message"):
        table.add_column(column, overflow="fold")
    for p in problems:
        table.add_row(p.kind, p.name, p.category, p.origin, p.detail or p.message)
    console.print(table)
    if verbose:
        for p in problems:
            if p.traceback:
                console.rule(f"{p.kind} {p.name}")
                console.print(p.traceback, highlight=False, markup=False)
    raise typer.Exit(code=1)
