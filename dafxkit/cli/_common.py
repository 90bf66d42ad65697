"""What every CLI command shares: the consoles, error reporting and small parsers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from dafxkit.errors import DafxError

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn a `DafxError` into one red line on stderr and exit status 1, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DafxError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def parse_assignments(items: list[str], what: str = "--param") -> dict[str, float]:
    """Parse ``name=value`` strings into floats; a clear error for anything else."""
    from dafxkit.errors import ParameterError

    values: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"{what} expects NAME=VALUE (e.g. drive_db=24); got {item!r}")
        if name in values:
            raise ParameterError(f"{what} {name} is given twice")
        try:
            values[name] = float(raw)
        except ValueError:
            raise ParameterError(f"{what} {name}: {raw!r} is not a number") from None
    return values
