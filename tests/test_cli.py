"""The command line, through Typer's CliRunner: listings, process, plugin checks, errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from dafxkit import load_effect
from dafxkit.cli import app
from dafxkit.cli.plugins import summarise_names
from tests.conftest import FUZZ_SOURCE

ENV = {"COLUMNS": "200"}  # rich wraps at 80 columns otherwise


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, list(args), env=ENV)


def test_version(runner):
    result = invoke(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("dafxkit ")


def test_effects_list_shows_builtins_with_distribution(runner):
    result = invoke(runner, "effects", "list")
    assert result.exit_code == 0, result.output
    lines = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.count("│") > 2
    }
    assert "dafxkit" in lines["gain"] and "gain_db" in lines["gain"]
    assert "drive_db" in lines["distortion"] and "numpy" in lines["distortion"]


def test_effects_show_gives_physical_ranges(runner):
    result = invoke(runner, "effects", "show", "distortion")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "drive_db" in line)
    assert "dB" in row and "linear" in row
    assert "identity at:" in result.stdout


def test_effects_show_unknown_name_suggests(runner):
    result = invoke(runner, "effects", "show", "distort")
    assert result.exit_code == 1
    assert "Did you mean 'distortion'" in result.stderr


def test_help_reflows_docstring_paragraphs(runner):
    # A docstring's line breaks are not the terminal's: "data-parallel\n under torchrun" was
    # printed as two lines in a wide terminal.
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    assert "data-parallel under torchrun" in result.stdout
    result = invoke(runner, "generate", "--help")
    assert "complete shards are kept and only the missing ones are written" in result.stdout


def test_features_list(runner):
    result = invoke(runner, "features", "list")
    assert result.exit_code == 0
    assert "rms_dbfs" in result.stdout
    assert "mfcc0_mean … mfcc19_mean (20)" in result.stdout


@pytest.mark.parametrize(
    "names, text",
    [
        (["a0", "a1", "a2", "b"], "a0 … a2 (3), b"),
        (["x1_m", "x2_m"], "x1_m, x2_m"),  # two are written out
        (["a1", "a2", "a4", "a5", "a6"], "a1, a2, a4 … a6 (3)"),
        (["a0_m", "a1_m", "a2_s"], "a0_m, a1_m, a2_s"),  # the ends must match
        (["brightness", "depth"], "brightness, depth"),
        ([], ""),
    ],
)
def test_feature_names_summarise_counting_runs(names, text):
    assert summarise_names(names) == text


def test_plugins_check_passes_on_a_clean_install(runner):
    result = invoke(runner, "plugins", "check")
    assert result.exit_code == 0, result.output
    assert "load and run" in result.stdout


def test_plugins_check_fails_on_broken_or_duplicate_plugins(runner, fake_dists):
    fake_dists.add(
        "brokenfx",
        {"dafxkit.effects": {"broken": "broken_mod:X", "gain": "fuzz_mod:Fuzz"}},
        {"broken_mod": "import no_such_module\n", "fuzz_mod": FUZZ_SOURCE},
    )
    result = invoke(runner, "plugins", "check", "--verbose")
    assert result.exit_code == 1
    assert "ModuleNotFoundError" in result.stdout
    assert "duplicate" in result.stdout
    listing = invoke(runner, "effects", "list")
    assert listing.exit_code == 0
    assert "broken" in listing.stdout and "distortion" in listing.stdout


# Finite and batch-consistent, but its numpy backend is not the same effect as its numba one.
DRIFTING_SOURCE = """
import numpy as np
from dafxkit import Effect, Param

class Drift(Effect):
    name = "drift"
    params = (Param("gain_db", -6.0, 6.0, 0.0, unit="dB"),)
    backends = ("numba", "numpy")

    def process(self, audio, values, sample_rate, backend):
        g = np.power(10.0, values["gain_db"] / 20.0)[:, None, None]
        if backend == "numpy":
            g = g * 1.01
        return (g * audio).astype(np.float32)
"""


def test_plugins_check_contract_names_the_broken_part(runner, fake_dists, caplog):
    fake_dists.add(
        "driftfx", {"dafxkit.effects": {"drift": "drift_mod:Drift"}}, {"drift_mod": DRIFTING_SOURCE}
    )
    assert invoke(runner, "plugins", "check").exit_code == 0  # the smoke test misses it
    result = invoke(runner, "plugins", "check", "--contract")
    assert result.exit_code == 1
    assert "contract" in result.stdout and "drift" in result.stdout
    assert "the numba backend differs from numpy" in " ".join(result.stdout.split())
    # Reference wrappers' per-clip NaN warnings (silence and DC, fed on purpose) stay out.
    assert not [r for r in caplog.records if "failed on clip" in r.getMessage()]


@pytest.fixture
def clip(tmp_path, rng):
    path = tmp_path / "in.wav"
    audio = 0.5 * rng.standard_normal((2, 4410)).astype(np.float32)
    sf.write(path, audio.T, 22050, subtype="FLOAT")
    return path, audio


def test_process_writes_the_processed_audio(runner, clip, tmp_path):
    path, audio = clip
    out = tmp_path / "out.wav"
    result = invoke(
        runner,
        "process",
        str(path),
        "--effect",
        "distortion",
        "--param",
        "drive_db=24",
        "--param",
        "mix=0.8",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    written, rate = sf.read(out, dtype="float32", always_2d=True)
    fx = load_effect("distortion")
    expected = fx(audio[None], fx.settings(1, drive_db=24.0, mix=0.8), 22050)[0]
    assert rate == 22050
    np.testing.assert_allclose(written.T, expected, atol=1e-6)
    assert not np.allclose(written.T, audio, atol=1e-2)
    assert "drive_db" in result.stdout and "24" in result.stdout


@pytest.mark.parametrize(
    "params, message",
    [
        (
            ["--param", "drive=24"],
            "no parameter 'drive'. Did you mean 'drive_db'? Valid parameters: drive_db",
        ),
        (["--param", "drive_db"], "expects NAME=VALUE"),
        (["--param", "drive_db=loud"], "'loud' is not a number"),
        (["--param", "drive_db=400"], "outside its range [0, 40] dB"),
        (["--param", "mix=1", "--param", "mix=0"], "given twice"),
        (["--backend", "gpu"], "no 'gpu' backend"),
    ],
)
def test_process_rejects_bad_parameters_clearly(runner, clip, tmp_path, params, message):
    path, _ = clip
    result = invoke(
        runner, "process", str(path), "-e", "distortion", "-o", str(tmp_path / "o.wav"), *params
    )
    assert result.exit_code == 1
    assert message in result.stderr
    assert not (tmp_path / "o.wav").exists()


def test_process_missing_or_corrupt_input(runner, tmp_path):
    out = str(tmp_path / "o.wav")
    result = invoke(runner, "process", str(tmp_path / "nope.wav"), "-e", "gain", "-o", out)
    assert result.exit_code == 1 and "not found" in result.stderr
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    result = invoke(runner, "process", str(bad), "-e", "gain", "-o", out)
    assert result.exit_code == 1 and "cannot read audio file" in result.stderr


def test_process_a_folder_and_files_into_a_folder(runner, tmp_path, rng):
    """Several inputs: each result under -o keeps its name, sub-path, format, rate, channels."""
    music = tmp_path / "music"
    (music / "album").mkdir(parents=True)
    clips = {
        music / "album" / "a.flac": (rng.uniform(-0.5, 0.5, (2, 3000)), 44100),
        music / "b.wav": (rng.uniform(-0.5, 0.5, (1, 2000)), 22050),
        tmp_path / "c.wav": (rng.uniform(-0.5, 0.5, (1, 1000)), 16000),
    }
    for path, (audio, rate) in clips.items():
        sf.write(path, audio.T, rate, subtype="FLOAT" if path.suffix == ".wav" else None)
    (music / "cover.jpg").write_bytes(b"\xff\xd8 not audio")  # left out quietly
    out = tmp_path / "out"
    args = ["process", str(music), str(tmp_path / "c.wav"), "-e", "gain", "-p", "gain_db=-6"]
    result = invoke(runner, *args, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 3 file(s)" in result.stdout
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == {"album/a.flac", "b.wav", "c.wav"}
    for path, (audio, rate) in clips.items():
        name = path.relative_to(music) if path.is_relative_to(music) else path.name
        got, got_rate = sf.read(out / name, always_2d=True)
        assert got_rate == rate and got.shape == audio.T.shape
        np.testing.assert_allclose(got.T, audio * 10 ** (-6 / 20), atol=1e-4)  # FLAC: 16-bit


def test_process_many_skips_bad_files_and_refuses_clashes(runner, tmp_path, rng):
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    sf.write(good, rng.uniform(-0.5, 0.5, 500), 8000)
    bad.write_bytes(b"RIFF....WAVEjunk")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(100, np.nan), 8000, subtype="FLOAT")
    out = tmp_path / "out"
    result = invoke(runner, "process", str(good), str(bad), str(nan), "-e", "gain", "-o", str(out))
    assert result.exit_code == 1
    assert "bad.wav" in result.stderr and "nan.wav" in result.stderr
    assert "2 of 3 file(s) could not be processed" in result.stderr
    assert [p.name for p in out.iterdir()] == ["good.wav"]
    # Two inputs with one name, an output over an input, -o an existing file: refused first.
    other = tmp_path / "sub"
    other.mkdir()
    sf.write(other / "good.wav", rng.uniform(-0.5, 0.5, 500), 8000)
    clash = tmp_path / "clash"
    result = invoke(
        runner, "process", str(good), str(other / "good.wav"), "-e", "gain", "-o", str(clash)
    )
    assert result.exit_code == 1 and "would both be written to" in result.stderr
    assert not clash.exists()
    result = invoke(runner, "process", str(other), "-e", "gain", "-o", str(other))
    assert result.exit_code == 1 and "would overwrite an input" in result.stderr
    result = invoke(runner, "process", str(other), "-e", "gain", "-o", str(good))
    assert result.exit_code == 1 and "-o must be a folder" in result.stderr
    # One file and an output without a suffix: a folder, made and written into.
    result = invoke(runner, "process", str(good), "-e", "gain", "-o", str(tmp_path / "plain"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plain" / "good.wav").is_file()


def test_example_audio_then_process(runner, tmp_path):
    clip = tmp_path / "example.wav"
    assert invoke(runner, "example-audio", str(clip), "--seconds", "1").exit_code == 0
    audio, rate = sf.read(clip, always_2d=True)
    assert rate == 44100 and audio.shape == (44100, 1)
    assert 0.5 < np.max(np.abs(audio)) <= 1.0
    result = invoke(
        runner,
        "process",
        str(clip),
        "-e",
        "gain",
        "-p",
        "gain_db=-6",
        "-o",
        str(tmp_path / "q.wav"),
    )
    assert result.exit_code == 0, result.output
    quiet, _ = sf.read(tmp_path / "q.wav", always_2d=True)
    np.testing.assert_allclose(quiet, audio * 10 ** (-6 / 20), atol=1e-6)


def test_bench_spsa_times_every_method_side_by_side():
    from dafxkit.bench.spsa import bench_spsa

    rows = bench_spsa("distortion", k=2, batch=3, seconds=0.05, sample_rate=8000, repeats=2)
    methods = [r.method for r in rows]
    assert methods[:3] == ["dafxkit batched", "per-item loop", "process pool"]
    import importlib.util

    with_peer = importlib.util.find_spec("pedalboard") is not None
    assert methods[3:] == (["pedalboard.Distortion loop"] if with_peer else [])
    assert all(r.step_ms > 0 and r.repeats == 2 for r in rows)


def test_bench_effects_times_every_backend_and_the_peer():
    import importlib.util

    from dafxkit.bench.effects import bench_effect

    rows = bench_effect("distortion", batch=2, seconds=0.05, sample_rate=8000, repeats=2)
    labels = [r.implementation for r in rows]
    with_peer = importlib.util.find_spec("pedalboard") is not None
    assert labels == [*load_effect("distortion").available_backends()] + (
        ["pedalboard.Distortion (loop)"] if with_peer else []
    )
    assert all(r.total_ms > 0 and r.repeats == 2 for r in rows)


def test_interleaved_timing_alternates_methods_and_uses_the_given_warm_ups():
    from dafxkit.bench.effects import interleaved_ms

    calls = []
    methods = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    result = interleaved_ms(methods, 3, 60.0, warm_ups={"b": lambda: calls.append("warm b")})
    assert calls == ["a", "warm b", "a", "b", "a", "b", "a", "b"]
    assert set(result) == {"a", "b"} and all(n == 3 and ms >= 0 for ms, n in result.values())


def test_bench_extract_times_every_implementation_side_by_side():
    import importlib.util

    result = invoke(
        CliRunner(),
        "bench",
        "extract",
        "--batch",
        "2",
        "--seconds",
        "0.5",
        "--repeats",
        "2",
        "--reference-clips",
        "1",
    )
    assert result.exit_code == 0, result.output
    tasks = ["mfcc", "brightness+", "all 8"]
    assert all(task in result.output for task in tasks)
    assert "dafxkit numba" in result.output
    if importlib.util.find_spec("librosa") is not None:
        assert "librosa (batch" in result.output
    if importlib.util.find_spec("timbral_models") is not None:
        assert "timbral_mo" in result.output


def _readme_command_lines() -> list[str]:
    """Every ``dafxkit …`` command shown in the README's code blocks, comments dropped."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```(?:console|bash)\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r";|\s&\s|\s&$|&&", line.split("  #")[0]):
                found = re.search(r"(?:^|[\s/])dafxkit (.*)", part.strip())
                if found:
                    commands.append(found.group(1).strip())
    return commands


README_COMMANDS = _readme_command_lines()


def test_readme_shows_commands():
    assert len(README_COMMANDS) >= 25, README_COMMANDS  # the parser still finds them


@pytest.mark.parametrize("line", README_COMMANDS)
def test_every_readme_command_line_parses(runner, line):
    """Each command the README shows names real subcommands and options (parsed, not run)."""
    import shlex

    args = shlex.split(line.replace("$i", "0"))
    result = invoke(runner, *args, "--help")
    assert result.exit_code == 0, f"dafxkit {line}\n{result.output}"
