"""The `dafxkit` command line: one Typer app, one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from dafxkit import __version__
from dafxkit.cli import bench, data, features, plugins, process, train

app = typer.Typer(
    name="dafxkit",
    help="Learn to control audio effects with neural networks.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",
)
app.add_typer(plugins.effects_app, name="effects")
plugins.features_app.command("extract")(features.extract)
app.add_typer(plugins.features_app, name="features")
app.add_typer(plugins.encoders_app, name="encoders")
app.add_typer(plugins.plugins_app, name="plugins")
app.add_typer(bench.bench_app, name="bench")
app.command("process")(process.process)
app.command("generate")(data.generate)
app.command("merge-shards")(data.merge_shards)
app.command("train")(train.train)
app.command("train-vae")(train.train_vae)
app.command("evaluate")(train.evaluate)
app.command("apply")(train.apply)
bench.bench_app.command("data")(data.bench)
app.command("example-audio")(process.example_audio)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"dafxkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Learn to control audio effects with neural networks."""


def main() -> None:
    app()
