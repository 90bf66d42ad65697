"""Datasets written in parts (`generate(part=…)`, `generate --shard I/N`) and merged: equal
to the unsharded run, refused when the parts do not make one dataset, the command line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from dafxkit.cli import data as data_cli
from dafxkit.data import DataError, GeneratedDataset, OutputError, generate, read_manifest
from dafxkit.data.shards import _locked, merge_parts, part_range
from tests.conftest import fast_pipeline_config

N, SHARD_SIZE = 7, 2  # four shard files, the last one short
ENV = {"COLUMNS": "200"}
FAST = ["-s", "synthetic?tracks=30", "--seconds", 1, "--sample-rate", 22050]
FAST += [
    "--descriptors",
    "none",
    "--no-augment",
    "-j",
    1,
    "--shard-size",
    SHARD_SIZE,
    "--batch-size",
    4,
]


def _config(**changes):
    return fast_pipeline_config(tracks=30, **changes)


def _part(root, i, count, config=None, **kwargs):
    kwargs.setdefault("processes", 1)
    return generate(config or _config(), N, root, shard_size=SHARD_SIZE, part=(i, count), **kwargs)


def _arrays(root) -> list[dict[str, np.ndarray]]:
    data = GeneratedDataset(root)
    return [data[i] for i in range(len(data))]


def _assert_same_dataset(root, reference) -> None:
    """Same examples, bit for bit and in order, and the same description and counts."""
    got, want = _arrays(root), _arrays(reference)
    assert len(got) == len(want) == N
    for a, b in zip(got, want, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    merged, whole = read_manifest(root), read_manifest(reference)
    for key in ("config", "dataset", "shards", "source", "effect", "descriptors", "n_examples"):
        assert merged[key] == whole[key], key
    for key in ("kept", "attempts", "rejected"):
        assert merged["statistics"][key] == whole["statistics"][key], key
    assert set(merged["statistics"]["seconds"]) == set(whole["statistics"]["seconds"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The unsharded run the parts must reproduce (its draws include rejections)."""
    root = tmp_path_factory.mktemp("whole") / "pairs"
    generate(_config(), N, root, shard_size=SHARD_SIZE, processes=1)
    assert sum(read_manifest(root)["statistics"]["rejected"].values()) > 0
    return root


# -- the partition ----------------------------------------------------------------------------


@given(
    n=st.integers(1, 500),
    shard_size=st.integers(1, 64),
    count=st.integers(1, 12),
)
def test_parts_cover_every_shard_once_in_order(n, shard_size, count):
    n_shards = -(-n // shard_size)
    if n_shards < count:
        with pytest.raises(DataError, match=f"fewer than the {count} parts"):
            part_range(n, shard_size, (0, count))
        return
    ranges = [part_range(n, shard_size, (i, count)) for i in range(count)]
    shards = [k for r, _ in ranges for k in r]
    examples = [e for _, r in ranges for e in r]
    assert shards == list(range(n_shards)) and examples == list(range(n))
    sizes = [len(r) for r, _ in ranges]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ((2, 2), "must be 0 … 1"),
        ((0, 0), "at least 1"),
        ((-1, 2), "must be 0 … 1"),
        ("0/2", r"a pair \(i, count\)"),
    ],
)
def test_a_bad_part_is_refused_before_anything_is_written(tmp_path, part, message):
    with pytest.raises(DataError, match=message):
        generate(_config(), N, tmp_path / "out", shard_size=SHARD_SIZE, part=part)
    assert not (tmp_path / "out").exists()


# -- parts then merge equal the unsharded run -------------------------------------------------


@pytest.mark.parametrize("count", [2, 3])
def test_parts_in_one_folder_merge_in_place_to_the_unsharded_dataset(reference, tmp_path, count):
    root = tmp_path / "pairs"
    for i in reversed(range(count)):  # the order parts finish in does not matter
        summary = _part(root, i, count)
        assert summary.part == (i, count) and summary.reused == 0
    assert sum(_part(root, i, count).generated for i in range(count)) == 0  # all on disk
    with pytest.raises(DataError, match="merge-shards"):
        GeneratedDataset(root)  # not a dataset until merged
    merged = merge_parts([root])
    assert merged.moved == 0 and merged.shards == 4 and merged.n_examples == N
    _assert_same_dataset(root, reference)
    parts = read_manifest(root)["parts"]
    assert [p["part"] for p in parts] == [f"{i}/{count}" for i in range(count)]
    assert sum(p["statistics"]["kept"] for p in parts) == N
    from dafxkit.data import ShardDataset

    torch_view = ShardDataset(root)
    assert len(torch_view) == N and int(torch_view[N - 1]["index"]) == N - 1


def test_parts_in_their_own_folders_are_moved_not_copied(reference, tmp_path):
    folders = [tmp_path / f"host{i}" for i in range(3)]
    for i, folder in enumerate(folders):
        _part(folder, i, 3)
    inode = (folders[1] / "shard-00001" / "audio.npy").stat().st_ino
    summary = merge_parts(folders, tmp_path / "pairs")
    assert summary.moved == 4
    assert (tmp_path / "pairs" / "shard-00001" / "audio.npy").stat().st_ino == inode
    assert not any(list(f.glob("shard-*")) for f in folders)
    _assert_same_dataset(tmp_path / "pairs", reference)
    again = merge_parts(folders, tmp_path / "pairs")  # a repeated merge changes nothing
    assert again.moved == 0
    _assert_same_dataset(tmp_path / "pairs", reference)


def test_an_interrupted_merge_finishes_when_run_again(reference, tmp_path):
    folders = [tmp_path / "a", tmp_path / "b"]
    for i, folder in enumerate(folders):
        _part(folder, i, 2)
    out = tmp_path / "pairs"
    out.mkdir()
    shutil.move(folders[1] / "shard-00002", out / "shard-00002")  # moved, then killed
    summary = merge_parts(folders, out)
    assert summary.moved == 3
    _assert_same_dataset(out, reference)


def test_a_killed_part_resumed_then_merged_equals_the_unsharded_run(reference, tmp_path):
    root = tmp_path / "pairs"
    _part(root, 0, 2)
    _part(root, 1, 2)
    # What a kill of part 1 leaves: its last shard never renamed into place, its manifest
    # still "in progress". Part 0's temporary folder stands for part 0 still writing.
    shutil.rmtree(root / "shard-00003")
    (root / ".tmp-shard-00003-4242").mkdir()
    (root / ".tmp-shard-00001-4343").mkdir()
    manifest = json.loads((root / "manifest-part-1-of-2.json").read_text())
    manifest["status"] = "in progress"
    (root / "manifest-part-1-of-2.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"part 1/2 in .*pairs is incomplete.*--shard 1/2"):
        merge_parts([root])
    summary = _part(root, 1, 2)
    assert (summary.generated, summary.reused, summary.shards_written) == (1, 2, 1)
    assert summary.cleaned == [".tmp-shard-00003-4242"]  # part 0's folder is not its own
    assert (root / ".tmp-shard-00001-4343").exists()
    merge_parts([root])
    _assert_same_dataset(root, reference)


# -- what the merge refuses -------------------------------------------------------------------


@pytest.fixture
def two_parts(tmp_path):
    folders = [tmp_path / "a", tmp_path / "b"]
    for i, folder in enumerate(folders):
        _part(folder, i, 2)
    return folders


def test_merge_refuses_a_missing_part(two_parts, tmp_path):
    with pytest.raises(DataError, match=r"part\(s\) 1/2 missing.*--shard 1/2"):
        merge_parts(two_parts[:1], tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert len(list(two_parts[0].glob("shard-*"))) == 2  # nothing was moved


def test_merge_refuses_a_part_found_twice(two_parts, tmp_path):
    _part(tmp_path / "again", 0, 2)
    with pytest.raises(DataError, match=r"part 0/2 was found twice: in .*a and in .*again"):
        merge_parts([*two_parts, tmp_path / "again"], tmp_path / "out")
    with pytest.raises(DataError, match="given twice"):
        merge_parts([two_parts[0], two_parts[0] / ".." / "a", two_parts[1]], tmp_path / "out")


def test_merge_refuses_a_part_of_another_seed(two_parts, tmp_path):
    other = tmp_path / "seed1"
    _part(other, 1, 2, config=_config(seed=1))
    with pytest.raises(
        DataError,
        match=r"part 1/2 in .*seed1 does not belong with part 0/2 in .*a: .*seed: 0 in part 0, "
        r"1 in part 1",
    ):
        merge_parts([two_parts[0], other], tmp_path / "out")


def test_merge_refuses_parts_of_other_versions_or_splits(two_parts, tmp_path):
    path = two_parts[1] / "manifest-part-1-of-2.json"
    manifest = json.loads(path.read_text())
    manifest["versions"]["numpy"] = "0.0.1"
    manifest["versions"]["platform"] = "another host"  # hosts may differ in this
    path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"versions.numpy: .* in part 0, '0.0.1' in part 1"):
        merge_parts(two_parts, tmp_path / "out")
    _part(tmp_path / "c", 2, 3)
    with pytest.raises(DataError, match="parts of different splits"):
        merge_parts([two_parts[0], tmp_path / "c"], tmp_path / "out")


def test_merge_refuses_a_missing_shard_and_folders_without_parts(two_parts, tmp_path):
    shutil.rmtree(two_parts[1] / "shard-00003")
    with pytest.raises(DataError, match=r"shard-00003 of part 1/2 is missing or damaged in .*b"):
        merge_parts(two_parts, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no part of a sharded dataset"):
        merge_parts([tmp_path / "empty"])
    with pytest.raises(DataError, match="need an output folder"):
        merge_parts(two_parts)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    _part(two_parts[1], 1, 2)  # rewrites the missing shard
    with pytest.raises(OutputError, match=r"busy is not empty \(notes.txt\)"):
        merge_parts(two_parts, tmp_path / "busy")


# -- parts sharing one folder -----------------------------------------------------------------


def test_one_part_at_a_time_and_no_whole_run_beside_parts(tmp_path):
    root = tmp_path / "pairs"
    root.mkdir()
    with _locked(root, (0, 2)):
        with pytest.raises(OutputError, match=r"`dafxkit generate --shard 0/2` is writing"):
            _part(root, 0, 2)
        with pytest.raises(OutputError, match="is writing"):
            generate(_config(), N, root, shard_size=SHARD_SIZE, processes=1)
        assert _part(root, 1, 2).generated == 3  # another part may run beside it
    with _locked(root):
        with pytest.raises(OutputError, match="of the whole dataset, or a merge"):
            _part(root, 0, 2)


def test_a_part_of_other_settings_needs_overwrite_and_spares_other_parts(tmp_path):
    root = tmp_path / "pairs"
    _part(root, 0, 2)
    with pytest.raises(OutputError, match=r"a part \(manifest-part-0-of-2.json\).*seed: 0 on"):
        _part(root, 1, 2, config=_config(seed=1))
    summary = _part(root, 1, 2, config=_config(seed=1), overwrite=True)
    assert summary.cleaned == ["manifest-part-0-of-2.json"]
    assert (root / "shard-00000").exists()  # part 0's shards are left to part 0
    with pytest.raises(DataError, match="part.* 0/2 missing"):
        merge_parts([root])
    _part(root, 0, 2, config=_config(seed=1))  # rewrites its shards of the old seed
    merge_parts([root])
    assert read_manifest(root)["seed"] == 1
    expected = tmp_path / "whole"
    generate(_config(seed=1), N, expected, shard_size=SHARD_SIZE, processes=1)
    _assert_same_dataset(root, expected)


# -- the command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("generate")(data_cli.generate)
    app.command("merge-shards")(data_cli.merge_shards)
    return app


def _run(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


def test_cli_shards_then_merge(app, reference, tmp_path):
    root = tmp_path / "pairs"
    for i in range(2):
        result = _run(app, "generate", "-n", N, "-o", root, *FAST, "--shard", f"{i}/2")
        assert result.exit_code == 0, result.output
        assert f"(shard {i}/2: examples" in result.stdout
        assert f"dafxkit merge-shards {root}" in result.stdout
    assert "shard 1/2" in result.stderr  # the progress bar says which
    assert "generating shard 1/2 of 7 pairs (examples 4–6, shard files 2–3)" in result.stdout
    result = _run(app, "merge-shards", root)
    assert result.exit_code == 0, result.output
    assert "merged 2 part(s): 7 pairs in 4 shard(s)" in result.stdout
    assert "summed over 2 part(s)" in result.stdout and "kept" in result.stdout
    _assert_same_dataset(root, reference)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4/4", "--shard 4/4: I counts from 0, so with N = 4 it must be 0 … 3"),
        ("x", "--shard expects I/N"),
        ("1/2/3", "--shard expects I/N"),
        ("-1/2", "--shard expects I/N"),
        ("0/0", "--shard 0/0: N, the number of parts, must be at least 1"),
        ("0/5", "4 shard file(s), fewer than the 5 parts"),
    ],
)
def test_cli_bad_shard_is_one_clear_line(app, tmp_path, value, message):
    result = _run(app, "generate", "-n", N, "-o", tmp_path / "out", *FAST, "--shard", value)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_cli_merge_errors_are_one_clear_line(app, two_parts, tmp_path):
    result = _run(app, "merge-shards", two_parts[0], "-o", tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "part(s) 1/2 missing" in " ".join(result.stderr.split())
