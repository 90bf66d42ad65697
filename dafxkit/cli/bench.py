"""`dafxkit bench ...`: throughput against peers, ratios from one run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dafxkit.cli._common import console, reports_errors
from dafxkit.errors import DafxError


def _titled_table(title: str) -> Table:
    """A table of one effect's or task's timings, its name as a bold title above it."""
    return Table(title=title, title_justify="left", title_style="bold")


bench_app = typer.Typer(
    help="Measure throughput against peers (side by side, one run).", no_args_is_help=True
)


@bench_app.command("effects")
@reports_errors
def effects(
    effect: Annotated[
        list[str] | None,
        typer.Option("--effect", "-e", help="Effect(s) to time; default: distortion."),
    ] = None,
    batch: Annotated[
        int, typer.Option(min=1, help="Clips per call, each with its own setting.")
    ] = 32,
    seconds: Annotated[float, typer.Option(min=0.01, help="Length of each clip.")] = 5.0,
    sample_rate: Annotated[int, typer.Option(min=1000, help="Sample rate in Hz.")] = 44100,
    repeats: Annotated[
        int, typer.Option(min=1, help="Timed runs per implementation (median kept).")
    ] = 5,
    peer: Annotated[
        bool, typer.Option(help="Include pedalboard's closest effect, looped per clip.")
    ] = True,
) -> None:
    """Time each backend of each effect, and pedalboard's closest effect looped per clip."""
    from dafxkit.bench.effects import PEERS, bench_effect

    names = effect or ["distortion"]
    console.print(
        f"{batch} x {seconds:g} s mono clips at {sample_rate} Hz, {batch} settings "
        f"(median of up to {repeats}; {os.cpu_count()} CPU cores)",
        highlight=False,
    )
    for name in names:
        # One table per effect, printed as soon as it is measured; names are never cut.
        with console.status(f"timing {name} ..."):
            rows = bench_effect(name, batch, seconds, sample_rate, repeats, peer=peer)
        peer_ms = next((r.total_ms for r in rows if r.implementation.endswith("(loop)")), None)
        numpy_ms = next((r.total_ms for r in rows if r.implementation == "numpy"), None)
        table = _titled_table(name)
        table.add_column("implementation", no_wrap=True)
        for column in ("ms / batch", "ms / clip", "runs", "x vs peer loop", "x vs numpy ref"):
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(
                row.implementation,
                f"{row.total_ms:.1f}",
                f"{row.per_clip_ms(batch):.3f}",
                str(row.repeats),
                f"{peer_ms / row.total_ms:.1f}" if peer_ms else "-",
                f"{numpy_ms / row.total_ms:.1f}" if numpy_ms else "-",
            )
        if peer and name not in PEERS:
            table.add_row("(no pedalboard equivalent)", "", "", "", "", "")
        console.print(table)


@bench_app.command("spsa")
@reports_errors
def spsa(
    effect: Annotated[
        list[str] | None,
        typer.Option("--effect", "-e", help="Effect(s) to time; default: distortion."),
    ] = None,
    k: Annotated[
        list[int] | None, typer.Option("--k", help="Perturbations per step; repeatable (1, 4).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Clips per step.")] = 32,
    seconds: Annotated[float, typer.Option(min=0.01, help="Length of each clip.")] = 5.0,
    sample_rate: Annotated[int, typer.Option(min=1000, help="Sample rate in Hz.")] = 44100,
    repeats: Annotated[int, typer.Option(min=1, help="Timed steps per method (median).")] = 3,
    pool: Annotated[bool, typer.Option(help="Include the one-process-per-item pool.")] = True,
) -> None:
    """ms per SPSA gradient step: one batched call vs per-item loop, process pool, pedalboard."""
    from dafxkit.bench.spsa import bench_spsa

    methods = (
        ("batched", "loop", "pool", "pedalboard") if pool else ("batched", "loop", "pedalboard")
    )
    console.print(
        f"SPSA step (forward + 2K probes + gradient), B = {batch} x {seconds:g} s mono at "
        f"{sample_rate} Hz (median of up to {repeats}; {os.cpu_count()} CPU cores)",
        highlight=False,
    )
    for name in effect or ["distortion"]:
        # One table per effect, printed as soon as it is measured: the whole run takes minutes.
        table = _titled_table(name)
        table.add_column("K", justify="right")
        table.add_column("method", no_wrap=True)
        for column in ("ms / step", "x vs pedalboard loop", "x vs pool"):
            table.add_column(column, justify="right")
        for kk in k or [1, 4]:
            with console.status(f"timing {name}, K = {kk} ..."):
                rows = bench_spsa(
                    name, kk, batch, seconds, sample_rate, repeats=repeats, methods=methods
                )
            peer = next(
                (
                    r.step_ms
                    for r in rows
                    if r.method.endswith(" loop") and "pedalboard" in r.method
                ),
                None,
            )
            pool_ms = next((r.step_ms for r in rows if r.method == "process pool"), None)
            for row in rows:
                table.add_row(
                    str(row.k),
                    row.method,
                    f"{row.step_ms:.1f}",
                    f"{peer / row.step_ms:.1f}" if peer else "-",
                    f"{pool_ms / row.step_ms:.1f}" if pool_ms else "-",
                )
            table.add_section()
        console.print(table)


@bench_app.command("extract")
@reports_errors
def extract(
    batch: Annotated[int, typer.Option(min=1, help="Clips per run.")] = 32,
    seconds: Annotated[float, typer.Option(min=0.05, help="Length of each clip.")] = 5.0,
    sample_rate: Annotated[int, typer.Option(min=8000, help="Sample rate in Hz.")] = 44100,
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs per implementation.")] = 3,
    reference_clips: Annotated[
        int, typer.Option(min=1, help="Clips timbral_models runs on (it takes seconds each).")
    ] = 2,
    audio: Annotated[
        Path | None,
        typer.Option(help="Folder of audio files to use instead of built-in test signals."),
    ] = None,
    what: Annotated[
        list[str] | None, typer.Option("--what", help="mfcc and/or timbral (default: both).")
    ] = None,
) -> None:
    """Clips per second: dafxkit's MFCC vs librosa, its timbral descriptors vs timbral_models."""
    from dafxkit.bench.extract import bench_mfcc, bench_timbral, load_workload

    chosen = what or ["mfcc", "timbral"]
    unknown = sorted(set(chosen) - {"mfcc", "timbral"})
    if unknown:
        raise DafxError(f"--what takes mfcc or timbral; got {', '.join(unknown)}")
    clips = load_workload(batch, seconds, sample_rate, audio)
    source = f"files from {audio}" if audio else "music-like test signals"
    rows = []
    if "mfcc" in chosen:
        with console.status("timing MFCC ..."):
            rows += bench_mfcc(clips, sample_rate, repeats)
    if "timbral" in chosen:
        with console.status("timing timbral descriptors (the reference takes a while) ..."):
            rows += bench_timbral(clips, sample_rate, repeats, reference_clips=reference_clips)
    console.print(
        f"{batch} x {seconds:g} s mono clips at {sample_rate} Hz ({source}; median of up to "
        f"{repeats} interleaved rounds; {os.cpu_count()} CPU cores)",
        highlight=False,
    )
    # One table per task: it keeps the implementations' names whole in 80 columns.
    for task in dict.fromkeys(r.task for r in rows):
        group = [r for r in rows if r.task == task]
        # The peer: librosa given the whole batch for MFCC, timbral_models for descriptors.
        peer = next(
            (r for r in group if r.implementation.startswith(("librosa (batch", "timbral_models"))),
            None,
        )
        table = _titled_table(task)
        table.add_column("implementation", no_wrap=True)
        for column in ("clips", "ms / clip", "clips / s", "x vs peer"):
            table.add_column(column, justify="right", no_wrap=True)
        for r in group:
            table.add_row(
                r.implementation,
                str(r.clips),
                f"{r.ms_per_clip:.2f}",
                f"{r.clips_per_s:.1f}",
                f"{r.clips_per_s / peer.clips_per_s:.1f}" if peer else "-",
            )
        console.print(table)
