"""`dafxkit generate` (effect-pair datasets on disk, whole or in parts), `dafxkit
merge-shards` and `dafxkit bench data`."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dafxkit.cli._common import console, err_console, reports_errors
from dafxkit.errors import DafxError

_DESCRIPTORS_HELP = (
    "Descriptors of x, ya and yb, comma-separated columns of --feature (`none` for none)."
)


def _parse_ranges(items: list[str]) -> dict[str, tuple[float, float]]:
    ranges: dict[str, tuple[float, float]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        low, colon, high = raw.partition(":")
        try:
            if not sep or not colon or not name.strip():
                raise ValueError
            ranges[name.strip()] = (float(low), float(high))
        except ValueError:
            raise DafxError(
                f"--param-range expects NAME=LOW:HIGH in normalised units (e.g. mix=0.5:1); "
                f"got {item!r}"
            ) from None
    return ranges


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` → ``(I, N)``: this process's part I (counted from 0) of N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None:
        raise DafxError(
            f"--shard expects I/N, this process's part I of N counted from 0 (e.g. 0/4 … 3/4); "
            f"got {text!r}"
        )
    i, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise DafxError(f"--shard {text}: N, the number of parts, must be at least 1")
    if i >= count:
        raise DafxError(
            f"--shard {text}: I counts from 0, so with N = {count} it must be 0 … {count - 1}"
        )
    return i, count


def _descriptor_list(spec: str) -> tuple[str, ...]:
    if spec.strip().lower() in ("", "none"):
        return ()
    return tuple(d.strip() for d in spec.split(",") if d.strip())


def build_config(
    *,
    source: str,
    effect: str | list[str] | None,
    seed: int,
    seconds: float,
    sample_rate: int,
    channels: int,
    augment: bool,
    pitch_probability: float,
    pitch_semitones: float,
    tempo_probability: float,
    tempo_min: float,
    tempo_max: float,
    quick_sox: bool,
    param_low: float,
    param_high: float,
    param_range: list[str],
    min_rms_dbfs: float,
    min_similarity: float,
    max_similarity: float,
    feature: str,
    descriptors: str,
    batch_size: int,
    max_attempts: int,
) -> Any:
    """The `PipelineConfig` the command-line flags describe."""
    from dafxkit.data.config import (
        AugmentConfig,
        CheckConfig,
        PairConfig,
        PipelineConfig,
        SamplerConfig,
    )

    return PipelineConfig(
        source=source,
        seed=seed,
        sampler=SamplerConfig(seconds=seconds, sample_rate=sample_rate, channels=channels),
        augment=AugmentConfig(
            enabled=augment,
            pitch_probability=pitch_probability,
            pitch_semitones=pitch_semitones,
            tempo_probability=tempo_probability,
            tempo_range=(tempo_min, tempo_max),
            quick=quick_sox,
        ),
        pairs=PairConfig(
            effect=effect_name(effect),
            low=param_low,
            high=param_high,
            ranges=_parse_ranges(param_range),
        ),
        checks=CheckConfig(
            min_rms_dbfs=min_rms_dbfs, mfcc_similarity=(min_similarity, max_similarity)
        ),
        feature=feature,
        descriptors=_descriptor_list(descriptors),
        batch_size=batch_size,
        max_attempts=max_attempts,
    )


# The options `generate` and `bench data` share, as Annotated types.
Source = Annotated[
    str,
    typer.Option(
        "--source",
        "-s",
        help="synthetic (built in), folder:PATH or musdb:PATH[?subsets=train&split=valid&"
        "stems=vocals,drums+bass].",
    ),
]
Effect = Annotated[
    list[str] | None,
    typer.Option(
        "--effect",
        "-e",
        help="Effect (`dafxkit effects list`); repeat it, or write a>b, for a chain. "
        "Default: distortion.",
    ),
]


def effect_name(effect: str | list[str] | None) -> str:
    """One name for ``--effect`` given once, repeated (a chain) or not at all (distortion)."""
    if isinstance(effect, str):
        return effect
    return ">".join(effect) if effect else "distortion"


Seed = Annotated[int, typer.Option(min=0, help="Seed: the same seed gives the same examples.")]
Seconds = Annotated[float, typer.Option(min=0.1, help="Clip length in seconds.")]
Rate = Annotated[int, typer.Option(min=8000, help="Sample rate in Hz (sources are resampled).")]
Channels = Annotated[int, typer.Option(min=1, max=2, help="1 (mono) or 2 (stereo).")]
Augment = Annotated[
    bool, typer.Option(help="SoX pitch/tempo augmentation (needs the sox program).")
]
PitchP = Annotated[float, typer.Option(min=0.0, max=1.0, help="Chance of a pitch shift.")]
PitchSt = Annotated[float, typer.Option(min=0.0, max=12.0, help="Pitch shift range, ± semitones.")]
TempoP = Annotated[float, typer.Option(min=0.0, max=1.0, help="Chance of a tempo change.")]
TempoMin = Annotated[float, typer.Option(help="Slowest tempo factor.")]
TempoMax = Annotated[float, typer.Option(help="Fastest tempo factor.")]
QuickSox = Annotated[bool, typer.Option(help="SoX's quicker, lower-quality stretch.")]
ParamLow = Annotated[float, typer.Option(help="Lowest normalised value of θa, θb.")]
ParamHigh = Annotated[float, typer.Option(help="Highest normalised value of θa, θb.")]
ParamRange = Annotated[
    list[str] | None,
    typer.Option(help="NAME=LOW:HIGH normalised range of one parameter; repeatable."),
]
MinRms = Annotated[float, typer.Option(help="Reject effected clips quieter than this (dBFS RMS).")]
MinSim = Annotated[
    float, typer.Option(help="Reject pairs whose MFCC similarity with x is below (destroyed).")
]
MaxSim = Annotated[
    float, typer.Option(help="Reject pairs whose MFCC similarity with x is above (unchanged).")
]
Feature = Annotated[str, typer.Option(help="Feature extractor for the descriptors.")]
Descriptors = Annotated[str, typer.Option(help=_DESCRIPTORS_HELP)]
Processes = Annotated[
    int | None, typer.Option("--processes", "-j", min=1, help="Worker processes (default: CPUs).")
]
BatchSize = Annotated[int, typer.Option(min=1, help="Examples per effect/descriptor call.")]
MaxAttempts = Annotated[int, typer.Option(min=1, help="Rejected draws per example before failing.")]


@reports_errors
def generate(
    n: Annotated[int, typer.Option("-n", "--n", min=1, help="Examples in the dataset.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder.")],
    source: Source = "synthetic",
    effect: Effect = None,
    seed: Seed = 0,
    seconds: Seconds = 5.0,
    sample_rate: Rate = 44100,
    channels: Channels = 1,
    augment: Augment = True,
    pitch_probability: PitchP = 0.5,
    pitch_semitones: PitchSt = 2.0,
    tempo_probability: TempoP = 0.5,
    tempo_min: TempoMin = 0.9,
    tempo_max: TempoMax = 1.1,
    quick_sox: QuickSox = False,
    param_low: ParamLow = 0.0,
    param_high: ParamHigh = 1.0,
    param_range: ParamRange = None,
    min_rms_dbfs: MinRms = -50.0,
    min_similarity: MinSim = 0.6,
    max_similarity: MaxSim = 0.999,
    feature: Feature = "timbral",
    descriptors: Descriptors = "brightness,depth",
    shard_size: Annotated[int, typer.Option(min=1, help="Examples per shard.")] = 64,
    processes: Processes = None,
    audio_dtype: Annotated[str, typer.Option(help="float16 (half the size) or float32.")] = (
        "float16"
    ),
    overwrite: Annotated[
        bool, typer.Option(help="Replace a dataset of other settings found in the folder.")
    ] = False,
    batch_size: BatchSize = 16,
    max_attempts: MaxAttempts = 50,
    shard: Annotated[
        str | None,
        typer.Option(
            metavar="I/N",
            help="Write only part I (0 … N-1) of N: run N of these (processes or hosts), "
            "into one folder or several, then `dafxkit merge-shards`.",
        ),
    ] = None,
) -> None:
    """Generate effect pairs (x, ya = fx(x, θa), yb = fx(x, θb)) with descriptors into shards.

    Run the same command again after an interruption: complete shards are kept and only the
    missing ones are written; a larger -n extends the dataset. With --shard I/N, N runs of
    the same command (I = 0 … N-1) write the same dataset in disjoint parts.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from dafxkit.data.shards import generate as run
    from dafxkit.data.shards import part_range

    part = parse_shard(shard) if shard is not None else None
    config = build_config(**_config_args(locals()))
    rejected: Counter = Counter()
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[rejected]}"),
        console=err_console,
        transient=False,
    )
    state: dict[str, Any] = {}

    def on_start(reused: int, total: int) -> None:
        label = f"shard {part[0]}/{part[1]}" if part is not None else "pairs"
        state["task"] = bar.add_task(label, total=total, completed=reused, rate="", rejected="")
        state["t0"] = time.perf_counter()
        state["done"] = 0

    def progress(kept: int, new_rejections: Mapping[str, int]) -> None:
        rejected.update(new_rejections)
        state["done"] += kept
        elapsed = time.perf_counter() - state["t0"]
        rate = f"{state['done'] / elapsed:.1f}/s" if elapsed > 0 else ""
        note = f"rejected {sum(rejected.values())}" if rejected else ""
        bar.update(state["task"], advance=kept, rate=rate, rejected=note)

    if part is None:
        what = f"{n} pairs"
    else:
        shards, examples = part_range(n, shard_size, part)
        what = (
            f"shard {part[0]}/{part[1]} of {n} pairs (examples {examples.start}–"
            f"{examples.stop - 1}, shard files {shards.start}–{shards.stop - 1})"
        )
    console.print(
        f"generating {what} of {config.pairs.effect} from {source} into {output}", highlight=False
    )
    with bar:
        summary = run(
            config,
            n,
            output,
            shard_size=shard_size,
            processes=processes,
            audio_dtype=audio_dtype,
            overwrite=overwrite,
            part=part,
            progress=progress,
            on_start=on_start,
        )
    print_summary(summary)
    if part is not None:
        console.print(
            f"shard {part[0]}/{part[1]} is complete; when all {part[1]} are, merge them: "
            f"dafxkit merge-shards {output} (parts in several folders: dafxkit merge-shards "
            "DIR… -o OUT)",
            highlight=False,
        )


@reports_errors
def merge_shards(
    folders: Annotated[
        list[Path],
        typer.Argument(help="Folders holding the parts (one shared folder, or one per part)."),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Dataset folder (default: the one folder given). Shards in other folders "
            "are moved here, not copied: same filesystem only.",
        ),
    ] = None,
) -> None:
    """Merge the parts `dafxkit generate --shard I/N` wrote into one dataset.

    Checks first that the parts belong together (same settings, seed and versions, all N
    present once, each complete), then writes one manifest.json with the statistics summed.
    """
    from dafxkit.data.shards import merge_parts

    summary = merge_parts(folders, output)
    console.print(examples_table(summary.stats))
    console.print(stage_table(summary.stats, None, len(summary.parts), what="part(s)"))
    moved = f"; moved {summary.moved} shard folder(s)" if summary.moved else ""
    console.print(
        f"merged {len(summary.parts)} part(s): {summary.n_examples} pairs in {summary.shards} "
        f"shard(s){moved} → {summary.out_dir}",
        highlight=False,
    )


def _config_args(values: Mapping[str, Any]) -> dict[str, Any]:
    names = build_config.__code__.co_varnames[: build_config.__code__.co_kwonlyargcount]
    return {name: (values[name] if name != "param_range" else values[name] or []) for name in names}


def print_summary(summary: Any) -> None:
    """Kept and rejected by reason, time per stage: the closing table of `generate`."""
    stats = summary.stats
    for name, reason in summary.skipped:
        console.print(f"[yellow]skipped[/] {name}: {reason}", highlight=False)
    for name in summary.unreadable:
        console.print(f"[yellow]unreadable[/] {name} (windows of it were skipped)", highlight=False)
    if summary.cleaned:
        console.print(
            f"removed {len(summary.cleaned)} unfinished or stale folder(s): "
            + ", ".join(summary.cleaned[:6])
            + (" …" if len(summary.cleaned) > 6 else ""),
            highlight=False,
        )
    if summary.reused:
        console.print(
            f"{summary.reused} example(s) in {summary.shards_reused} complete shard(s) were "
            "already on disk",
            highlight=False,
        )
    console.print(examples_table(stats))
    console.print(stage_table(stats, summary.wall_seconds, summary.processes))
    shard = ""
    if summary.part is not None:
        i, count = summary.part
        start, stop = summary.examples
        shard = f" (shard {i}/{count}: examples {start}–{stop - 1} of {summary.n_examples})"
    console.print(
        f"{summary.generated} pair(s) in {summary.wall_seconds:.1f} s with "
        f"{summary.processes} process(es): {summary.pairs_per_second:.1f} pairs/s → "
        f"{summary.out_dir}{shard}",
        highlight=False,
    )


def examples_table(stats: Any) -> Table:
    """Kept and rejected by reason, as counts and shares of the draws."""
    from dafxkit.data.checks import REASONS

    attempts = max(1, stats.attempts)
    table = Table(title="examples", title_justify="left")
    for column in ("", "count", "% of draws", "meaning"):
        table.add_column(column, justify="right" if column in ("count", "% of draws") else "left")
    table.add_row("kept", str(stats.kept), f"{100 * stats.kept / attempts:.1f}", "")
    for reason, count in stats.rejected.most_common():
        table.add_row(
            f"rejected: {reason}",
            str(count),
            f"{100 * count / attempts:.1f}",
            REASONS.get(reason, ""),
        )
    return table


def stage_table(
    stats: Any, wall_seconds: float | None, processes: int, what: str = "process(es)"
) -> Table:
    from dafxkit.data.pipeline import STAGES

    kept = max(1, stats.kept)
    stages = [*STAGES, "write"]
    total = sum(stats.seconds.get(s, 0.0) for s in stages) or 1.0
    wall = f"; wall {wall_seconds:.1f} s" if wall_seconds is not None else ""
    table = Table(
        title=f"time per stage (summed over {processes} {what}{wall})",
        title_justify="left",
    )
    cpu_total = sum(stats.cpu_seconds.get(s, 0.0) for s in stages)
    for column in ("stage", "seconds", "ms / kept pair", "share", "CPU ms / kept pair"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage in stages:
        seconds = stats.seconds.get(stage, 0.0)
        cpu = stats.cpu_seconds.get(stage, 0.0)
        table.add_row(
            stage,
            f"{seconds:.2f}",
            f"{1e3 * seconds / kept:.1f}",
            f"{100 * seconds / total:.0f} %",
            f"{1e3 * cpu / kept:.1f}",
        )
    table.add_row(
        "total",
        f"{total:.2f}",
        f"{1e3 * total / kept:.1f}",
        "100 %",
        f"{1e3 * cpu_total / kept:.1f}",
    )
    return table


@reports_errors
def bench(
    n: Annotated[int, typer.Option("-n", "--n", min=10, help="Pairs to generate and time.")] = 200,
    source: Source = "synthetic",
    effect: Effect = None,
    seconds: Seconds = 5.0,
    sample_rate: Rate = 44100,
    channels: Channels = 1,
    augment: Augment = True,
    quick_sox: QuickSox = False,
    feature: Feature = "timbral",
    descriptors: Descriptors = "brightness,depth",
    processes: Processes = None,
    peer_clips: Annotated[
        int,
        typer.Option(min=0, help="Clips to time timbral_models on (the seed's descriptors)."),
    ] = 2,
    keep: Annotated[
        Path | None, typer.Option(help="Leave the generated data here (default: deleted).")
    ] = None,
) -> None:
    """Pairs per second of `dafxkit generate`, per stage, extrapolated to 10,000 pairs."""
    from dafxkit.bench.data import TARGET_PAIRS, TARGET_SECONDS, bench_data

    config = build_config(
        source=source, effect=effect, seed=0, seconds=seconds, sample_rate=sample_rate,
        channels=channels, augment=augment, pitch_probability=0.5, pitch_semitones=2.0,
        tempo_probability=0.5, tempo_min=0.9, tempo_max=1.1, quick_sox=quick_sox,
        param_low=0.0, param_high=1.0, param_range=[], min_rms_dbfs=-50.0,
        min_similarity=0.6, max_similarity=0.999, feature=feature, descriptors=descriptors,
        batch_size=16, max_attempts=50,
    )  # fmt: skip
    cpus = os.cpu_count() or 1
    console.print(
        f"{n} pairs of {effect_name(effect)} from {source}: {seconds:g} s clips at "
        f"{sample_rate} Hz, "
        f"{'stereo' if channels == 2 else 'mono'}, augmentation {'on' if augment else 'off'}, "
        f"descriptors {descriptors or 'none'} of x, ya, yb; {cpus} CPU core(s)",
        highlight=False,
    )
    with console.status("generating ..."):
        result = bench_data(config, n, processes=processes, keep=keep, peer_clips=peer_clips)
    console.print(stage_table(result.stats, result.wall_seconds, result.processes))
    stats = result.stats
    rejected = ", ".join(f"{r} {c}" for r, c in stats.rejected.most_common()) or "none"
    console.print(
        f"kept {stats.kept} of {stats.attempts} draws (rejected: {rejected})", highlight=False
    )
    table = Table(title="throughput", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("pairs / s, whole run (incl. start-up)", f"{result.pairs_per_second:.1f}")
    table.add_row("start-up (first pair done)", f"{result.startup_seconds:.1f} s")
    table.add_row("pairs / s, steady", f"{result.steady_pairs_per_second:.1f}")
    table.add_row("CPU ms / pair, all of it (workers and SoX)", f"{result.cpu_ms_per_pair:.1f}")
    table.add_row(
        f"pairs / s that CPU cost allows on {min(result.cores, max(1, result.processes))} idle "
        "core(s)",
        f"{result.idle_cores_pairs_per_second:.1f}",
    )
    measured = n == TARGET_PAIRS
    projected = result.wall_seconds if measured else result.extrapolated_seconds(TARGET_PAIRS)
    table.add_row(
        f"{TARGET_PAIRS:,} pairs ({'measured' if measured else 'extrapolated'})",
        f"{projected / 60:.1f} min ({'meets' if projected <= TARGET_SECONDS else 'misses'} the "
        f"{TARGET_SECONDS / 60:.0f} min target)",
    )
    if result.peer_ms_per_clip is not None:
        peer_hours = result.peer_ms_per_clip * 3 * TARGET_PAIRS / 3.6e6
        table.add_row(f"peer: {result.peer_note}", f"{result.peer_ms_per_clip:.0f} ms / clip")
        table.add_row(
            f"peer: descriptors of {TARGET_PAIRS:,} pairs (x3 clips), one core",
            f"{peer_hours:.1f} h",
        )
    elif result.peer_note:
        table.add_row("peer", result.peer_note)
    if result.load_before is not None:
        table.add_row(
            "load average before / after (other jobs share the cores)",
            f"{result.load_before[0]:.2f} / {result.load_after[0]:.2f}",
        )
    console.print(table)
