"""`dafxkit process` (run an effect over audio files) and `dafxkit example-audio`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from dafxkit import registry
from dafxkit.audio import read_audio, write_audio
from dafxkit.cli._common import (
    OutputPath,
    console,
    exit_if_skipped,
    for_each_file,
    parse_assignments,
    plan_outputs,
    reports_errors,
)

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
    output: OutputPath,
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
    one_file, jobs = plan_outputs(inputs, output)
    if one_file:
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
    output.mkdir(parents=True, exist_ok=True)
    _print_settings(fx, settings)
    clipped = 0
    seconds = 0.0

    def work(source: Path, target: Path) -> tuple[np.ndarray, int]:
        nonlocal clipped, seconds
        audio, rate = read_audio(source)
        processed = fx(audio[None], settings, rate, backend=chosen)[0]
        seconds += audio.shape[1] / rate
        if float(np.max(np.abs(processed))) > 1.0 and target.suffix.lower() not in (
            _FLOAT_SUFFIXES
        ):
            clipped += 1
        return processed, rate

    start = time.perf_counter()
    skipped = for_each_file(jobs, "processing", work)
    console.print(
        f"{fx.name}: {chosen} backend; wrote {len(jobs) - skipped} file(s) ({seconds:.1f} s of "
        f"audio) to {output} in {time.perf_counter() - start:.1f} s",
        highlight=False,
    )
    if clipped:
        console.print(f"{clipped} file(s): " + _CLIPPING_HINT)
    exit_if_skipped(skipped, len(jobs))


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
