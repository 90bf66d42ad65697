"""`dafxkit train`, `train-vae`, `evaluate` and `apply`: training runs and their use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from dafxkit.cli._common import (
    OutputPath,
    console,
    exit_if_skipped,
    for_each_file,
    plan_outputs,
    reports_errors,
)

_DEFAULTS_NOTE = "Default: the value in --config, else the built-in default."


def _passive_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning, unless the user chose otherwise.

    A training step alternates dafxkit's C kernels and torch, two OpenMP thread pools; with
    the default (spinning) wait policy each pool's idle threads burn the cores the other one
    needs. On a 2-core machine shared with other work a controller step of the default run
    took 2.0 s instead of 0.12 s. It must be set before either runtime loads, hence here.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _quiet_unless_main() -> bool:
    """Under torchrun only rank 0 talks (progress, tables); True in that process."""
    from dafxkit.train.distributed import Distributed

    main = Distributed.from_env().is_main
    if not main:
        console.quiet = True
    return main


def _leave_if_distributed() -> None:
    """Under torchrun, end the process here (`dafxkit.train.distributed.leave`)."""
    from dafxkit.train.distributed import Distributed, leave

    if Distributed.from_env().enabled:
        leave(0)


def _config(config_path: Path | None, **flags: Any):
    from dafxkit.train.config import TrainConfig, load_config

    base = load_config(config_path) if config_path is not None else TrainConfig()
    changes = {k: v for k, v in flags.items() if v is not None}
    if "effect" in changes:
        changes["effect"] = tuple(changes["effect"])
    if "descriptors" in changes:
        spec = changes["descriptors"].strip()
        names = () if spec.lower() in ("", "none") else spec.split(",")
        changes["descriptors"] = tuple(n.strip() for n in names if n.strip())
    return base.replace(**changes)


def _progress():
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int, record: dict[str, float]) -> None:
        if stage not in tasks:
            label = "β-VAE pre-training" if stage == "vae" else "controller (SPSA)"
            tasks[stage] = bar.add_task(label, total=total, info="")
        keys = ("loss", "recon", "kl") if stage == "vae" else ("mrstft", "descriptor", "val_mrstft")
        info = "  ".join(f"{k} {record[k]:.4f}" for k in keys if k in record)
        bar.update(tasks[stage], completed=done, info=info)

    return bar, update


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    methods = summary["methods"]
    units = summary["units"]
    descriptors = list(methods["model"].get("descriptor_mae", {}))
    # One column per method and one row per measure: a chain's many parameters add rows, so
    # the table stays within the terminal's width.
    table = Table(title=f"held-out pairs: {summary['n_test']} ({summary['effect']})")
    table.add_column("lower is better", no_wrap=True)
    for method in methods:
        table.add_column(method, justify="right", no_wrap=True)
    table.add_row("MR-STFT", *(f"{res['mrstft']:.4f}" for res in methods.values()))
    for name, unit in units.items():
        label = f"MAE {name}" + (f" ({unit})" if unit else "")
        table.add_row(label, *(f"{res['param_mae'][name]:.4g}" for res in methods.values()))
    for name in descriptors:
        table.add_row(
            f"Δ{name} (points)", *(f"{res['descriptor_mae'][name]:.2f}" for res in methods.values())
        )
    console.print(table)
    console.print(
        f"model's MR-STFT vs random: {_relative(summary['improvement_vs_random'])}; "
        f"vs dataset mean: {_relative(summary['improvement_vs_dataset_mean'])}"
    )


def _relative(improvement: float) -> str:
    """``0.25`` -> "25.0 % lower", ``-0.04`` -> "4.0 % higher"."""
    return f"{100 * abs(improvement):.1f} % {'lower' if improvement >= 0 else 'higher'}"


@reports_errors
def train(
    effect: Annotated[
        list[str] | None, typer.Option("--effect", "-e", help="Effect; repeat for a chain.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="Source URI (synthetic, folder:P, musdb:P), or dataset:P for pairs that "
            "`dafxkit generate` wrote."
        ),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Controller steps.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Pairs per step.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda (models only).")] = None,
    vae: Annotated[str | None, typer.Option(help="Reuse this VAE checkpoint.")] = None,
    mode: Annotated[str | None, typer.Option(help="reference or descriptor.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of data, init and training.")] = None,
    sample_rate: Annotated[int | None, typer.Option(help="Clip sample rate (Hz).")] = None,
    seconds: Annotated[float | None, typer.Option(help="Clip length (s).")] = None,
    lr: Annotated[float | None, typer.Option(help="Controller learning rate.")] = None,
    z_dim: Annotated[int | None, typer.Option(help="Control-space size (2-8).")] = None,
    beta_z: Annotated[float | None, typer.Option(help="Weight of the KL on z.")] = None,
    param_loss: Annotated[float | None, typer.Option(help="Weight of the θb loss.")] = None,
    descriptor_loss: Annotated[
        float | None,
        typer.Option(help="Weight of the descriptor loss (brightness/depth of ŷ vs yb; 0 off)."),
    ] = None,
    descriptors: Annotated[
        str | None,
        typer.Option(
            help="Timbral descriptors of the clips, comma-separated (default brightness,depth), "
            "or none: for the descriptor loss, descriptor mode and the evaluation."
        ),
    ] = None,
    spsa_k: Annotated[int | None, typer.Option(help="SPSA directions per step.")] = None,
    finetune_encoder: Annotated[
        bool | None, typer.Option("--finetune-encoder/--freeze-encoder", help="Train the encoder.")
    ] = None,
    vae_steps: Annotated[int | None, typer.Option(help="β-VAE pre-training steps.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes generating training batches ahead (0: none).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML with any settings.")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue this run.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder.")] = None,
) -> None:
    """Train a controller for an effect through SPSA, then evaluate it against baselines.

    Every setting is a field of the run's config.toml; flags override --config. Under
    `torchrun --nproc-per-node N` the N processes train one model data-parallel."""
    _passive_openmp()
    main = _quiet_unless_main()
    from dafxkit.train import loop

    if resume is not None:
        run_dir, cfg = resume, None
    else:
        cfg = _config(
            config,
            effect=effect,
            data=data,
            steps=steps,
            batch_size=batch_size,
            device=device,
            vae=vae,
            mode=mode,
            seed=seed,
            sample_rate=sample_rate,
            seconds=seconds,
            lr=lr,
            z_dim=z_dim,
            beta_z=beta_z,
            param_loss=param_loss,
            descriptor_loss=descriptor_loss,
            descriptors=descriptors,
            spsa_k=spsa_k,
            finetune_encoder=finetune_encoder,
            vae_steps=vae_steps,
            workers=workers,
        )
        if main:  # rank 0 checks and prepares the run folder for all
            loop.check_config(cfg)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = out or Path("runs") / f"{cfg.effect_name.replace('>', '-')}-{stamp}"
        console.print(f"run folder: [bold]{run_dir}[/]")
    bar, update = _progress()
    started = time.perf_counter()
    with bar:
        summary = loop.train(cfg, run_dir, resume=resume is not None, progress=update)
    if main:
        _print_summary(summary)
        console.print(
            f"done in {time.perf_counter() - started:.0f} s; summary: {run_dir}/summary.json"
        )
    _leave_if_distributed()


@reports_errors
def train_vae(
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint to write.")] = Path("vae.pt"),
    data: Annotated[
        str | None,
        typer.Option(help="Source URI (synthetic, folder:P, musdb:P) or dataset:P."),
    ] = None,
    effect: Annotated[
        list[str] | None, typer.Option("--effect", "-e", help="Effect(s) for the effected clips.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Training steps.")] = None,
    sample_rate: Annotated[int | None, typer.Option(help="Clip sample rate (Hz).")] = None,
    seconds: Annotated[float | None, typer.Option(help="Clip length (s).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML with any settings.")] = None,
) -> None:
    """Pre-train the β-VAE on clean and effected clips (the Encoder `vae`); data-parallel
    under torchrun."""
    _passive_openmp()
    main = _quiet_unless_main()
    from dafxkit.train import loop

    cfg = _config(
        config,
        data=data,
        effect=effect,
        vae_steps=steps,
        sample_rate=sample_rate,
        seconds=seconds,
        device=device,
        seed=seed,
    )
    if main:
        loop.check_config(cfg)
    bar, update = _progress()
    with bar:
        loop.train_vae(cfg, out, progress=update)
    console.print(f"wrote {out}")
    _leave_if_distributed()


@reports_errors
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run folder.")],
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    data: Annotated[
        str | None,
        typer.Option(
            help="Evaluate on pairs from this source instead (folder:P, musdb:P, dataset:P, …)."
        ),
    ] = None,
    n_test: Annotated[
        int | None, typer.Option(min=1, help="Held-out pairs (default: the run's n_test).")
    ] = None,
) -> None:
    """Evaluate a run on held-out pairs against random, dataset-mean and oracle parameters.

    With --data, the pairs come from other audio (your own music, say) with the run's effect,
    clip length and rate, and the results go to RUN/evaluations/<source>/ rather than
    replacing the run's own summary.
    """
    _passive_openmp()
    from dafxkit.train.evaluation import evaluate as run_evaluation

    if data is not None:
        from dafxkit.train.data import check_data
        from dafxkit.train.loop import load_config

        check_data(load_config(run / "config.toml").replace(data=data))
    summary = run_evaluation(run, which=checkpoint, source=data, n_test=n_test)
    _print_summary(summary)
    console.print(f"results in {summary['folder']}", highlight=False)


@reports_errors
def apply(
    run: Annotated[Path, typer.Argument(help="A run folder.")],
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Input audio files or folders of them.", show_default=False),
    ],
    output: OutputPath,
    reference: Annotated[
        Path | None, typer.Option(help="Reference audio (reference mode).")
    ] = None,
    brightness: Annotated[
        float | None, typer.Option(help="Brightness change (descriptor mode).")
    ] = None,
    depth: Annotated[float | None, typer.Option(help="Depth change (descriptor mode).")] = None,
    z: Annotated[str | None, typer.Option(help="Point of the control space: v1,v2,…")] = None,
) -> None:
    """Process audio with a trained controller; prints the parameters in physical units.

    Files at any sample rate and with any number of channels work: the encoder hears their
    mono mix resampled to the run's rate, and the effect processes the file itself, at its own
    rate and in all its channels. The output keeps the input's rate and channels.

    One input file and an output with a file suffix (out.wav) that is not a folder: the
    result goes to that file. Otherwise the output is a folder: each result keeps its file's
    name (and its path below a folder given as input), and params.csv there lists each
    file's parameters. Files that cannot be read are skipped and named, and the exit status
    is then 1.
    """
    import csv

    from dafxkit.audio import read_audio, write_audio
    from dafxkit.errors import DafxError
    from dafxkit.train.loop import Applier

    ref, ref_rate = read_audio(reference) if reference is not None else (None, None)
    change = None
    if brightness is not None or depth is not None:
        change = {k: v for k, v in (("brightness", brightness), ("depth", depth)) if v is not None}
    zs = None
    if z is not None:
        try:
            zs = [float(v) for v in z.split(",")]
        except ValueError:
            raise DafxError(f"--z expects comma-separated numbers; got {z!r}") from None
    one_file, jobs = plan_outputs(inputs, output)
    applier = Applier(run, reference=ref, reference_rate=ref_rate, descriptor_change=change, z=zs)
    if one_file:
        x, rate = read_audio(inputs[0])
        y, params = applier(x, rate)
        for name, value in params.items():
            console.print(f"{name} = {value:.4g}")
        write_audio(output, y, rate)
        console.print(f"wrote {output}")
        return
    output.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    def work(source: Path, target: Path) -> tuple[Any, int]:
        x, rate = read_audio(source)
        y, params = applier(x, rate)
        rows.append({"file": str(target.relative_to(output)), **params})
        return y, rate

    skipped = for_each_file(jobs, "applying", work)
    table = output / "params.csv"
    if rows:
        partial = table.with_name(table.name + ".partial")
        with open(partial, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        partial.replace(table)
    console.print(f"wrote {len(rows)} file(s) to {output}, their parameters to {table}")
    exit_if_skipped(skipped, len(jobs))
