"""Agreement of dafxkit's timbral descriptors with timbral_models 0.4.0 on real music.

    bash benchmarks/make_music_clips.sh data/music_clips        # real recorded music, 5 s clips
    python benchmarks/compare_timbral.py data/music_clips        # table of r, MAD, max |diff|

For every descriptor: Pearson r and the mean and largest absolute difference between dafxkit and
the reference over the clips where the reference succeeds (its failures are counted), on the
reference's own scale (not clipped). Reverb, which the reference returns as 0 or 1: the share
of clips in the same class. The reference takes ~6 s per clip, so its values are cached in
``DIR/timbral_models.csv`` (delete the file to recompute).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from dafxkit.audio import read_audio
from dafxkit.descriptors.timbral import DESCRIPTORS, Timbral
from dafxkit.descriptors.timbral_reference import TimbralReference

console = Console(width=140)


def reference_values(files: list[Path], cache: Path, names: tuple[str, ...]) -> np.ndarray:
    """``(clips, descriptors)`` reference values (NaN where it failed), cached in ``cache``."""
    cached: dict[str, dict[str, str]] = {}
    if cache.exists():
        with cache.open() as f:
            cached = {row["file"]: row for row in csv.DictReader(f)}
    ref = TimbralReference(names)
    out = np.full((len(files), len(names)), np.nan)
    todo = [i for i, p in enumerate(files) if p.name not in cached]
    for i, path in enumerate(files):
        if path.name in cached:
            out[i] = [float(cached[path.name][n] or "nan") for n in names]
    seconds = 0.0
    for i in track(todo, description="timbral_models", console=console, disable=not todo):
        audio, rate = read_audio(files[i])
        t0 = time.perf_counter()
        out[i] = ref.extract(audio[None], rate)[0]
        seconds += time.perf_counter() - t0
        cached[files[i].name] = {
            "file": files[i].name,
            **{n: repr(float(v)) for n, v in zip(names, out[i], strict=True)},
        }
        partial = cache.with_name(cache.name + ".partial")  # never a half-written cache
        with partial.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["file", *names])
            writer.writeheader()
            writer.writerows(cached[p.name] for p in files if p.name in cached)
        partial.replace(cache)
    if todo:
        console.print(
            f"timbral_models: {1e3 * seconds / len(todo):.0f} ms per clip (8 descriptors)"
        )
    for (descriptor, reason), n in sorted(ref.failures.items()):
        console.print(f"[yellow]timbral_models {descriptor} failed on {n} clip(s): {reason}[/]")
    return out


def reference_front_end_fails(files: list[Path]) -> np.ndarray:
    """Per file: does timbral_models' loudness normalisation turn it into non-finite audio?"""
    import warnings

    from dafxkit.descriptors.timbral_reference import load_timbral_models

    util = load_timbral_models().timbral_util
    out = np.zeros(len(files), dtype=bool)
    for i, path in enumerate(files):
        audio, rate = read_audio(path)
        samples = (audio[0] if audio.shape[0] == 1 else audio.T).astype(np.float64)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                normalised, _ = util.file_read(samples, rate)
        except Exception:  # silence: the reference raises, and failed already
            continue
        out[i] = not np.isfinite(normalised).all()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of audio clips (e.g. data/music_clips)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N clips")
    args = parser.parse_args(argv)
    files = sorted(
        p for p in args.folder.iterdir() if p.suffix.lower() in (".wav", ".flac", ".ogg")
    )
    if args.limit:
        files = files[: args.limit]
    if not files:
        console.print(f"[red]no audio clips in {args.folder}[/]")
        return 1
    reference = reference_values(files, args.folder / "timbral_models.csv", DESCRIPTORS)
    # Where the reference's own loudness normalisation gives NaN (every 400 ms block under its
    # -70 LUFS gate: a near-silent clip), it still returns numbers for some descriptors, computed
    # from NaN audio. Those are failures too, not values to agree with.
    broken = reference_front_end_fails(files)
    reverb = DESCRIPTORS.index("reverb")  # reverb reads the raw channels, unnormalised
    for i in np.nonzero(broken)[0]:
        console.print(f"[yellow]timbral_models normalises {files[i].name} to NaN audio[/]")
        keep = reference[i, reverb]
        reference[i] = np.nan
        reference[i, reverb] = keep

    ours = Timbral()
    values = np.empty_like(reference)
    flags = np.zeros(reference.shape, dtype=np.int64)
    elapsed = 0.0
    for i, path in enumerate(files):
        audio, rate = read_audio(path)
        t0 = time.perf_counter()
        v, f = ours.extract_with_flags(audio[None], rate)
        elapsed += time.perf_counter() - t0
        values[i], flags[i] = v[0], f[0]
    console.print(
        f"dafxkit: {1e3 * elapsed / len(files):.1f} ms per clip (8 descriptors, one clip per call)"
    )

    table = Table(title=f"dafxkit vs timbral_models 0.4.0 on {len(files)} clips of {args.folder}")
    for column in (
        "descriptor",
        "clips",
        "ref failed",
        "flagged",
        "Pearson r",
        "mean |diff|",
        "max |diff|",
        "same class",
    ):
        table.add_column(column, justify="left" if column == "descriptor" else "right")
    for j, name in enumerate(DESCRIPTORS):
        ok = np.isfinite(reference[:, j])
        a, b = values[ok, j], reference[ok, j]
        diff = np.abs(a - b)
        r = (
            np.corrcoef(a, b)[0, 1]
            if ok.sum() > 2 and np.std(a) > 0 and np.std(b) > 0
            else float("nan")
        )
        same = f"{100 * np.mean((a >= 0.5) == (b >= 0.5)):.1f} %" if name == "reverb" else ""
        table.add_row(
            name,
            str(int(ok.sum())),
            str(int((~ok).sum())),
            str(int(np.count_nonzero(flags[:, j]))),
            f"{r:.6f}" if name != "reverb" else "",
            f"{diff.mean():.2g}" if diff.size else "-",
            f"{diff.max():.2g}" if diff.size else "-",
            same,
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
