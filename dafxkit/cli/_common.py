"""What every CLI command shares: the consoles, error reporting and small parsers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from dafxkit.errors import AudioError, DafxError

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


#: ``-o`` of the commands that take files or folders (`process`, `apply`).
OutputPath = Annotated[
    Path,
    typer.Option(
        "--output",
        "-o",
        help="Output file (out.wav, …) for one input file; otherwise, or without a suffix, a "
        "folder (made if missing).",
    ),
]


def audio_inputs(inputs: Sequence[Path]) -> list[tuple[Path, Path]]:
    """``(file, name)`` for each input file, and for each audio file under an input folder
    (sorted; see `dafxkit.data.sources.audio_files_under`); ``name`` is the file's path below
    the folder given, or its own name."""
    from dafxkit.data.sources import audio_files_under

    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            files = audio_files_under(item)
            if not files:
                raise DafxError(f"no audio files under {item}")
            found += [(path, path.relative_to(item)) for path in files]
        else:
            found.append((item, Path(item.name)))
    return found


def plan_outputs(inputs: Sequence[Path], output: Path) -> tuple[bool, list[tuple[Path, Path]]]:
    """``(one_file, jobs)``: the (input file, output file) pairs of a command that writes one
    result per input.

    One input file and an ``output`` with a suffix that is not a folder: that file
    (``one_file`` True). Otherwise ``output`` is a folder and each result keeps its name and
    its path below a folder given as input. Outputs that would overwrite an input or each
    other are refused here, before anything is written.
    """
    if len(inputs) == 1 and not inputs[0].is_dir() and not output.is_dir() and output.suffix:
        if inputs[0].resolve() == output.resolve():
            raise AudioError(f"output {output} would overwrite the input; choose another path")
        return True, [(inputs[0], output)]
    if output.exists() and not output.is_dir():
        raise DafxError(
            f"output {output} is a file; with several inputs or a folder, -o must be a folder"
        )
    jobs = [(path, output / name) for path, name in audio_inputs(inputs)]
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
    return False, jobs


def for_each_file(
    jobs: Sequence[tuple[Path, Path]],
    label: str,
    work: Callable[[Path, Path], tuple[Any, int]],
) -> int:
    """For each job, ``work(source, target)`` gives ``(audio, rate)``, written to ``target``
    (its folder made as needed), with a progress bar. A file ``work`` raises `AudioError` for
    (unreadable, or NaN / inf samples) is skipped and named. Returns how many were skipped."""
    from rich.markup import escape
    from rich.progress import Progress

    from dafxkit.audio import write_audio

    skipped = 0
    with Progress(console=err_console, transient=True, disable=len(jobs) < 4) as progress:
        task = progress.add_task(label, total=len(jobs))
        for source, target in jobs:
            try:
                audio, rate = work(source, target)
            except AudioError as exc:
                err_console.print(f"[yellow]skipped {escape(str(source))}: {escape(str(exc))}[/]")
                skipped += 1
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_audio(target, audio, rate)
            progress.advance(task)
    return skipped


def exit_if_skipped(skipped: int, total: int) -> None:
    """Exit with status 1, saying so, when any of ``total`` files was skipped."""
    if skipped:
        err_console.print(f"[yellow]{skipped} of {total} file(s) could not be processed[/]")
        raise typer.Exit(code=1)
