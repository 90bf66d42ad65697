"""`dafxkit process` (run an effect over audio files) and `dafxkit example-audio`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from dafxkit import registry
from dafxkit.audio import read_audio, write_audio
from dafxkit.cli._common import (
    console,
    err_console,
    output_paths,
    parse_assignments,
    reports_errors,
    writes_one_file,
)
from dafxkit.errors import AudioError

_CLIPPING_HINT = "[yellow]the output peaks above full scale and this format may clip it[/]"
#: Formats that store floats, so nothing above full scale is clipped.
_FLOAT_SUFFIXES = (".wav", ".aiff", ".aif", ".caf", ".w64", ".rf64")


@reports_errors
def process(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Audio files (WAV, FLAC, OGG, ...) or folders of them to process.",
            show_default=False,
        ),
    ],
    effect: Annotated[
        list[str],
        typer.Option(
            "--effect",
            "-e",
            help="Effect name (`dafxkit effects list`); repeat it, or write a>b, for a chain whose "
            "parameters are then named member.param (e.g. distortion.drive_db).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Output file (out.wav, …) for one input file; otherwise, or without a "
            "suffix, a folder (made if missing).",
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="NAME=VALUE in physical units; repeatable. Others stay at defaults.",
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="Force a backend (c, numba, numpy); default: the fastest available."),
    ] = None,
) -> None:
    """Apply an effect to audio files, parameters given in physical units by name.

    One input file and an output with a file suffix (out.wav) that is not a folder: the
    result goes to that file. Otherwise the output is a folder and each result keeps its
    file's name (and its path below a folder given as input), format, channels and sample
    rate; files that cannot be read or hold NaN or infinity are skipped and named, and the
    exit status is then 1.
    """
    fx = registry.load_effect(">".join(effect))
    values = parse_assignments(param or [])
    settings = fx.settings(1, **values)
    chosen = fx.resolve_backend(backend)
    if writes_one_file(inputs, output):
        if inputs[0].resolve() == output.resolve():
            raise AudioError(f"output {output} would overwrite the input; choose another path")
        audio, rate = read_audio(inputs[0])
        start = time.perf_counter()
        processed = fx(audio[None], settings, rate, backend=chosen)[0]
        elapsed_ms = 1e3 * (time.perf_counter() - start)
        write_audio(output, processed, rate)
        console.print(f"{fx.name}: {chosen} backend, {elapsed_ms:.1f} ms", highlight=False)
        _print_settings(fx, settings)
        peak = float(np.max(np.abs(processed)))
        console.print(
            f"wrote {output} ({audio.shape[0]} ch, {audio.shape[1] / rate:.2f} s at {rate} Hz, "
            f"peak {20 * np.log10(max(peak, 1e-12)):+.1f} dBFS)",
            highlight=False,
        )
        if peak > 1.0 and output.suffix.lower() not in _FLOAT_SUFFIXES:
            console.print(_CLIPPING_HINT)
        return
    jobs = output_paths(inputs, output)
    output.mkdir(parents=True, exist_ok=True)
    _print_settings(fx, settings)
    failed: list[str] = []
    clipped = 0
    seconds = 0.0
    start = time.perf_counter()
    with Progress(console=err_console, transient=True, disable=len(jobs) < 4) as progress:
        task = progress.add_task("processing", total=len(jobs))
        for source, target in jobs:
            try:
                audio, rate = read_audio(source)
                processed = fx(audio[None], settings, rate, backend=chosen)[0]
            except AudioError as exc:  # unreadable, or NaN / inf samples
                err_console.print(f"[yellow]skipped {escape(str(source))}: {escape(str(exc))}[/]")
                failed.append(str(source))
                progress.advance(task)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            write_audio(target, processed, rate)
            seconds += audio.shape[1] / rate
            if float(np.max(np.abs(processed))) > 1.0 and target.suffix.lower() not in (
                _FLOAT_SUFFIXES
            ):
                clipped += 1
            progress.advance(task)
    done = len(jobs) - len(failed)
    console.print(
        f"{fx.name}: {chosen} backend; wrote {done} file(s) ({seconds:.1f} s of audio) to "
        f"{output} in {time.perf_counter() - start:.1f} s",
        highlight=False,
    )
    if clipped:
        console.print(f"{clipped} file(s): " + _CLIPPING_HINT)
    if failed:
        err_console.print(f"[yellow]{len(failed)} of {len(jobs)} file(s) could not be processed[/]")
        raise typer.Exit(code=1)


def _print_settings(fx, settings: np.ndarray) -> None:
    table = Table()
    for column in ("parameter", "value", "unit"):
        table.add_column(column)
    physical = fx.denormalise(settings)
    for p in fx.params:
        table.add_row(p.name, f"{physical[p.name][0]:g}", p.unit)
    console.print(table)


@reports_errors
def example_audio(
    output: Annotated[Path, typer.Argument(help="Where to write the clip (e.g. example.wav).")],
    seconds: Annotated[float, typer.Option(min=0.01, help="Length in seconds.")] = 5.0,
    sample_rate: Annotated[int, typer.Option(min=1000, help="Sample rate in Hz.")] = 44100,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
) -> None:
    """Write the built-in, seeded, music-like test clip (no audio files needed)."""
    from dafxkit.signals import test_signal

    write_audio(output, test_signal(seconds, sample_rate, seed), sample_rate)
    console.print(f"wrote {output} ({seconds:g} s mono at {sample_rate} Hz)", highlight=False)
