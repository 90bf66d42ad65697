"""A real third-party distribution, pip-installed into a temporary virtual environment.

The environment sees this project's installed packages through a .pth file, so the test costs a
pip install of the plugin only, and the running environment is never modified.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import FUZZ_SOURCE


def _write_distribution(
    root: Path, dist: str, package: str, entry_points: str, source: str
) -> Path:
    project = root / dist
    (project / package).mkdir(parents=True)
    (project / package / "__init__.py").write_text(textwrap.dedent(source))
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "0.3.0"
            dependencies = ["dafxkit"]

            [tool.setuptools]
            packages = ["{package}"]
            """
        )
        + textwrap.dedent(entry_points)
    )
    return project


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> Path:
    """A fresh venv that sees dafxkit, with a good and a broken plugin distribution installed."""
    root = tmp_path_factory.mktemp("thirdparty")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    child_site = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    # Our site-packages (and the editable install's paths in it) become visible to the new venv.
    (Path(child_site) / "_dafxkit_parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    good = _write_distribution(
        root,
        "my-cool-effects",
        "my_cool_effects",
        '[project.entry-points."dafxkit.effects"]\nfuzz = "my_cool_effects:Fuzz"\n',
        FUZZ_SOURCE,
    )
    broken = _write_distribution(
        root,
        "broken-effects",
        "broken_effects",
        '[project.entry-points."dafxkit.effects"]\n'
        'crackle = "broken_effects:Crackle"\n'
        'gain = "broken_effects:Crackle"\n',
        "raise ImportError('broken_effects needs libcrackle, which is not installed')\n",
    )
    for project in (good, broken):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python),
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                str(project),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return python


def _dafxkit(python: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [str(python), "-m", "dafxkit", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_installed_plugin_is_listed_and_usable(plugin_env, tmp_path, rng):
    listing = _dafxkit(plugin_env, "effects", "list")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if "│ fuzz" in line)
    assert "my-cool-effects 0.3.0" in row and "gain_db" in row
    # the broken distribution does not hide the others
    assert "│ distortion" in listing.stdout
    assert "libcrackle" in listing.stdout

    clip = tmp_path / "in.wav"
    audio = (0.3 * rng.standard_normal(2000)).astype(np.float32)
    sf.write(clip, audio, 16000, subtype="FLOAT")
    out = tmp_path / "out.wav"
    result = _dafxkit(
        plugin_env, "process", str(clip), "-e", "fuzz", "-p", "gain_db=20", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    written, _ = sf.read(out, dtype="float32")
    x = 10.0 * audio
    np.testing.assert_allclose(written, np.sign(x) * (1 - np.exp(-np.abs(x))), atol=1e-6)
    # The plugin's own test suite can hold it to dafxkit's contract.
    check = subprocess.run(
        [str(plugin_env), "-c", "from dafxkit.testing import check_effect; check_effect('fuzz')"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr


def test_plugins_check_reports_the_broken_and_duplicate_plugin(plugin_env):
    result = _dafxkit(plugin_env, "plugins", "check")
    assert result.returncode == 1
    out = result.stdout
    crackle = next(line for line in out.splitlines() if "crackle" in line)
    assert "import" in crackle and "broken-effects 0.3.0" in crackle and "libcrackle" in crackle
    gain = next(line for line in out.splitlines() if "│ gain" in line)
    assert "duplicate" in gain and "dafxkit" in gain and "broken-effects" in gain
    assert "fuzz" not in out  # the good plugin has no problem


def test_duplicate_name_is_an_error_naming_both_distributions(plugin_env, tmp_path):
    result = _dafxkit(plugin_env, "effects", "show", "gain")
    assert result.returncode == 1
    assert "registered by 2 distributions" in result.stderr
    assert "broken-effects 0.3.0" in result.stderr and "dafxkit" in result.stderr
