"""`dafxkit process` (run one effect over an audio file) and `dafxkit example-audio`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from dafxkit import registry
from dafxkit.audio import read_audio, write_audio
from dafxkit.cli._common import console, parse_assignments, reports_errors
from dafxkit.errors import AudioError


@reports_errors
def process(
    input: Annotated[Path, typer.Argument(help="Audio file to process (WAV, FLAC, OGG, ...).")],
    effect: Annotated[
        list[str],
        typer.Option(
            "--effect",
            "-e",
            help="Effect name (`dafxkit effects list`); repeat it, or write a>b, for a chain whose "
            "parameters are then named member.param (e.g. distortion.drive_db).",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the result.")],
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
    """Apply an effect to an audio file, parameters given in physical units by name."""
    fx = registry.load_effect(">".join(effect))
    values = parse_assignments(param or [])
    settings = fx.settings(1, **values)
    if input.resolve() == output.resolve():
        raise AudioError(f"output {output} would overwrite the input; choose another path")
    audio, rate = read_audio(input)
    chosen = fx.resolve_backend(backend)
    start = time.perf_counter()
    processed = fx(audio[None], settings, rate, backend=chosen)[0]
    elapsed_ms = 1e3 * (time.perf_counter() - start)
    write_audio(output, processed, rate)

    console.print(f"{fx.name}: {chosen} backend, {elapsed_ms:.1f} ms", highlight=False)
    table = Table()
    for column in ("parameter", "value", "unit"):
        table.add_column(column)
    physical = fx.denormalise(settings)
    for p in fx.params:
        table.add_row(p.name, f"{physical[p.name][0]:g}", p.unit)
    console.print(table)
    peak = float(np.max(np.abs(processed)))
    console.print(
        f"wrote {output} ({audio.shape[0]} ch, {audio.shape[1] / rate:.2f} s at {rate} Hz, "
        f"peak {20 * np.log10(max(peak, 1e-12)):+.1f} dBFS)",
        highlight=False,
    )
    if peak > 1.0 and output.suffix.lower() not in (
        ".wav",
        ".aiff",
        ".aif",
        ".caf",
        ".w64",
        ".rf64",
    ):
        console.print("[yellow]the output peaks above full scale and this format may clip it[/]")


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
