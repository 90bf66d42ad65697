"""What every CLI command shares: the consoles, error reporting and small parsers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
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


def writes_one_file(inputs: list[Path], output: Path) -> bool:
    """True when one input file goes to the file ``output``: it is not a folder and has a
    suffix (``-o out`` names a folder, ``-o out.wav`` a file)."""
    return (
        len(inputs) == 1 and not inputs[0].is_dir() and not output.is_dir() and output.suffix != ""
    )


def output_paths(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs for inputs (files, or folders standing for the audio
    files under them) written under the folder ``output``, each keeping its name and its path
    below a folder given as input; refuses outputs that would overwrite an input or each other,
    before anything is written."""
    from dafxkit.data.sources import audio_files_under

    if output.exists() and not output.is_dir():
        raise DafxError(
            f"output {output} is a file; with several inputs or a folder, -o must be a folder"
        )
    jobs: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            found = audio_files_under(item)
            if not found:
                raise DafxError(f"no audio files under {item}")
            jobs += [(path, output / path.relative_to(item)) for path in found]
        else:
            jobs.append((item, output / item.name))
    sources = {source.resolve() for source, _ in jobs}
    seen: dict[Path, Path] = {}
    for source, target in jobs:
        resolved = target.resolve()
        if resolved in sources:
            raise DafxError(f"writing {target} would overwrite an input; choose another -o")
        if resolved in seen:
            raise DafxError(
                f"{seen[resolved]} and {source} would both be written to {target}; "
                "process them separately"
            )
        seen[resolved] = source
    return jobs
