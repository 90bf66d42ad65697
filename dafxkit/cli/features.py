"""`dafxkit features extract`: describe audio files with any installed feature extractors."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from dafxkit import registry
from dafxkit.audio import read_audio
from dafxkit.cli._common import audio_inputs, console, err_console, reports_errors
from dafxkit.errors import DafxError, PluginError, UnknownPluginError

DEFAULT_FEATURES = "timbral"


@dataclass
class _Request:
    """One extractor to run and which of its columns to keep (all when ``columns`` is None)."""

    extractor: str
    columns: list[str] | None = field(default=None)


def resolve_features(spec: Sequence[str]) -> list[_Request]:
    """Turn ``--feature`` items into extractors to run.

    Each comma-separated item is an extractor name (``mfcc``: all its columns), a column of an
    extractor written ``extractor:column`` (``timbral-reference:brightness``), or a bare column
    name (``brightness``). A bare column goes to the dafxkit-native extractor that provides it
    (one that never returns NaN) in preference to a reference wrapper; a column two such
    extractors provide must be written with its extractor.
    """
    items = [item.strip() for chunk in spec for item in chunk.split(",") if item.strip()]
    if not items:
        raise DafxError("--feature is empty; name an extractor or a feature")
    available = registry.names("feature")
    requests: dict[str, _Request] = {}
    column_index: dict[str, list[Any]] | None = None
    for item in items:
        name, sep, column = item.partition(":")
        if not sep and name in available:
            requests[name] = _Request(name)
            continue
        if sep:
            extractor = registry.load_feature(name)
            if column not in extractor.feature_names:
                raise DafxError(
                    f"feature extractor {name!r} has no feature {column!r}; it has "
                    f"{', '.join(extractor.feature_names)}"
                )
        else:
            if column_index is None:
                column_index = {}
                for candidate in available:
                    try:
                        fe = registry.load_feature(candidate)
                    except PluginError:
                        continue
                    for col in fe.feature_names:
                        column_index.setdefault(col, []).append(fe)
            owners = column_index.get(name, [])
            native = [fe for fe in owners if not fe.nan_on_failure] or owners
            if not native:
                raise UnknownPluginError(
                    f"no feature extractor or feature named {name!r}; extractors: "
                    f"{', '.join(available)} (`dafxkit features list` shows their features)"
                )
            if len(native) > 1:
                raise DafxError(
                    f"feature {name!r} is computed by {', '.join(fe.name for fe in native)}; "
                    f"write one of {', '.join(f'{fe.name}:{name}' for fe in native)}"
                )
            extractor, column = native[0], name
        request = requests.setdefault(extractor.name, _Request(extractor.name, []))
        if request.columns is not None and column not in request.columns:
            request.columns.append(column)
    return list(requests.values())


def _build(request: _Request) -> tuple[Any, list[str]]:
    """The extractor for ``request`` (built for just its columns when it can) and the columns."""
    extractor = registry.load_feature(request.extractor)
    if request.columns is None:
        return extractor, list(extractor.feature_names)
    if extractor.selectable:
        extractor = registry.load_feature(request.extractor, columns=tuple(request.columns))
    return extractor, list(request.columns)


#: Bytes of memory one sample frame of a file costs while it is described, at most (measured:
#: all eight timbral descriptors of a 7.3-minute stereo file peaked at 2.3 GB, 120 bytes a frame).
BYTES_PER_FRAME = 160


def _frames_in_flight() -> int:
    """Sample frames of audio that may be described at once: half the available memory."""
    available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = 8 << 30
    return max(1, available // 2 // BYTES_PER_FRAME)


def _frames_of(path: Path) -> int:
    """Sample frames in an audio file, from its header (0 when it cannot be read)."""
    import soundfile as sf

    try:
        return max(0, int(sf.info(str(path)).frames))
    except Exception:  # the read that follows reports the problem
        return 0


class _FrameBudget:
    """Lets threads describe files together while their frames fit ``limit``; a file larger
    than the whole budget waits until it can run alone. Keeps ``--jobs`` from running several
    long files into the memory limit at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, frames: int):
        with self._cond:
            self._cond.wait_for(lambda: self.used == 0 or self.used + frames <= self.limit)
            self.used += frames
        try:
            yield
        finally:
            with self._cond:
                self.used -= frames
                self._cond.notify_all()


def _described_before(journal: Path, header: list[str]) -> dict[str, dict[str, str]]:
    """Rows of an earlier, unfinished run of the same command (file -> row); none when there
    is no journal or its columns differ."""
    if not journal.is_file():
        return {}
    text = journal.read_text(encoding="utf-8")
    if not text.endswith("\n"):  # the last row was cut short by the crash: describe it again
        text = text[: text.rfind("\n") + 1]
        journal.write_text(text, encoding="utf-8")  # rows appended later start on a new line
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames != header:
        if reader.fieldnames is not None:
            err_console.print(
                f"[yellow]{escape(str(journal))} holds other columns; describing every file "
                "again[/]"
            )
        return {}
    return {r["file"]: r for r in reader if None not in r.values() and len(r) == len(header)}


def _format_value(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _table_width(widths: Sequence[int]) -> int:
    """Characters a rich `Table` with these column contents needs (borders and padding)."""
    return sum(widths) + 3 * len(widths) + 1


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """One row per file when that fits the terminal; else one row per feature and one column
    per file, in as many tables as the files need (e.g. mfcc's 40 columns, or a narrow
    terminal)."""
    if not rows:
        return
    names = [Path(r["file"]).name for r in rows]
    cells = [[_format_value(r[c]) for c in columns] for r in rows]
    flags = [r["flags"] for r in rows]
    any_flags = any(flags)
    widths = [max(len("file"), *map(len, names))]
    widths += [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    if _table_width(widths) <= console.width:
        table = Table()
        table.add_column("file", no_wrap=True)
        for c in columns:
            table.add_column(c, justify="right", no_wrap=True)
        if any_flags:
            table.add_column("flags", overflow="fold")
        for name, row, flag in zip(names, cells, flags, strict=True):
            table.add_row(name, *row, *([flag] if any_flags else []))
        console.print(table)
        return
    # Transposed: greedily as many file columns per table as fit (at least one).
    label = max(len("feature"), *map(len, columns), len("flags") if any_flags else 0)
    file_widths = [max(len(n), *map(len, row)) for n, row in zip(names, cells, strict=True)]
    start = 0
    while start < len(rows):
        stop = start + 1
        while stop < len(rows) and (
            _table_width([label, *file_widths[start : stop + 1]]) <= console.width
        ):
            stop += 1
        table = Table()
        table.add_column("feature", no_wrap=True)
        for name in names[start:stop]:
            table.add_column(name, justify="right", overflow="fold")
        for i, c in enumerate(columns):
            table.add_row(c, *(row[i] for row in cells[start:stop]))
        if any_flags:
            table.add_row("flags", *flags[start:stop])
        console.print(table)
        start = stop


@reports_errors
def extract(
    files: Annotated[
        list[Path], typer.Argument(help="Audio files (WAV, FLAC, OGG, ...) or folders of them.")
    ],
    feature: Annotated[
        list[str] | None,
        typer.Option(
            "--feature",
            "-f",
            help="Extractor names, features, or extractor:feature, comma-separated or repeated "
            f"(e.g. brightness,depth or mfcc); default: {DEFAULT_FEATURES}.",
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="table, csv or json (csv/json go to stdout or -o).")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write csv/json here instead.")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=0, help="Files described at a time (0: CPU count).")
    ] = 0,
) -> None:
    """Compute features of audio files: one row per file.

    A folder stands for the audio files in it and its subfolders (by suffix, sorted; hidden
    files left out); files libsndfile cannot read are skipped with a message, and the exit
    status is then 1. Several files are read and described at a time (--jobs); rows keep the
    order of the files. A CSV written with -o goes to FILE.partial row by row first: after a
    crash or Ctrl-C, the same command describes only the files not done yet.
    """
    if format not in ("table", "csv", "json"):
        raise DafxError(f"--format must be table, csv or json; got {format!r}")
    if output is not None and format == "table":
        raise DafxError("--output needs --format csv or json")
    plan = [_build(r) for r in resolve_features(feature or [DEFAULT_FEATURES])]
    columns = [c for _, keep in plan for c in keep]
    if len(set(columns)) != len(columns):  # the same feature from two extractors
        columns = [f"{fe.name}:{c}" for fe, keep in plan for c in keep]
    paths = [path for path, _ in audio_inputs(files)]
    # Extractors that are not thread-safe take turns; reading files never waits for them.
    locks = {id(fe): threading.Lock() for fe, _ in plan if not getattr(fe, "thread_safe", False)}

    budget = _FrameBudget(_frames_in_flight())

    def describe(path: Path) -> dict[str, Any] | str:
        with budget.hold(_frames_of(path)):
            return describe_now(path)

    def describe_now(path: Path) -> dict[str, Any] | str:
        try:
            audio, rate = read_audio(path)
        except DafxError as exc:
            return f"skipped {path}: {exc}"
        values: list[float] = []
        flags: list[str] = []
        for fe, keep in plan:
            with locks.get(id(fe)) or contextlib.nullcontext():
                if hasattr(fe, "extract_with_flags"):
                    from dafxkit.descriptors.timbral import describe_flags

                    out, bits = fe.extract_with_flags(audio[None], rate)
                    flags += [
                        f"{n}:{describe_flags(int(b))}"
                        for n, b in zip(fe.feature_names, bits[0], strict=True)
                        if b
                    ]
                else:
                    out = fe.extract(audio[None], rate)
            by_name = dict(zip(fe.feature_names, out[0], strict=True))
            values += [float(by_name[c]) for c in keep]
        return {
            "file": str(path),
            **dict(zip(columns, values, strict=True)),
            "flags": " ".join(flags),
        }

    header = ["file", *columns, "flags"]
    rows: list[dict[str, Any]] = []
    failed = 0
    # A CSV going to a file is journalled row by row in FILE.partial: after a crash or Ctrl-C
    # the same command describes only the files not in it yet.
    journal = output.with_name(output.name + ".partial") if output and format == "csv" else None
    done = _described_before(journal, header) if journal is not None else {}
    todo = [p for p in paths if str(p) not in done]
    if done:
        err_console.print(
            f"going on from {journal}: {len(paths) - len(todo)} of {len(paths)} file(s) "
            "described before",
            highlight=False,
        )
    log = None
    if journal is not None:
        log = open(journal, "a" if done else "w", newline="", encoding="utf-8")  # noqa: SIM115
        logger = csv.DictWriter(log, fieldnames=header)
        if not done:
            logger.writeheader()
    workers = min(jobs or os.cpu_count() or 1, max(len(todo), 1))
    pool = ThreadPoolExecutor(workers)
    try:
        with Progress(console=err_console, transient=True, disable=len(todo) < 4) as progress:
            task = progress.add_task("extracting", total=len(todo))
            for result in pool.map(describe, todo):
                if isinstance(result, str):
                    err_console.print(f"[yellow]{escape(result)}[/]")
                    failed += 1
                else:
                    rows.append(result)
                    if log is not None:
                        logger.writerow(result)
                        log.flush()
                progress.advance(task)
    except BaseException:
        if log is not None and (rows or done):
            err_console.print(
                f"[yellow]kept {len(rows) + len(done)} described file(s) in {escape(str(journal))}"
                "; run the same command to go on[/]"
            )
        raise
    finally:
        # On an error or Ctrl-C, files not yet started are dropped, not described.
        pool.shutdown(wait=True, cancel_futures=True)
        if log is not None:
            log.close()

    if format == "table":
        _print_table(rows, columns)
    else:
        text = io.StringIO()
        if format == "csv":
            if done:  # earlier rows as they were written, in the order of the files
                fresh = {r["file"]: r for r in rows}
                rows = [
                    done.get(str(p)) or fresh[str(p)]
                    for p in paths
                    if str(p) in done or str(p) in fresh
                ]
            writer = csv.DictWriter(text, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        else:
            clean = [
                {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                for r in rows
            ]
            json.dump(clean, text, indent=2)
            text.write("\n")
        if output is None:
            typer.echo(text.getvalue(), nl=False)
        else:
            tmp = output.with_name(f".{output.name}.tmp")
            tmp.write_text(text.getvalue())
            tmp.replace(output)
            if journal is not None:
                journal.unlink(missing_ok=True)
            err_console.print(f"wrote {len(rows)} row(s) to {output}")
    if failed:
        err_console.print(f"[yellow]{failed} of {len(paths)} file(s) could not be read[/]")
        raise typer.Exit(code=1)
