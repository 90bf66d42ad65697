"""Architecture rules: imports point downward, and the core stays light."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.fail(
            "import-linter is not installed: install the test extra (pip install -e .[test])"
        )
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_running_an_effect_imports_neither_torch_nor_numba():
    code = (
        "import sys, numpy as np, dafxkit\n"
        "fx = dafxkit.load_effect('gain')\n"
        "fx(np.zeros((1, 1, 8), np.float32), fx.default_params(), 8000)\n"
        "fx = dafxkit.load_effect('distortion')\n"
        "print(sorted(m for m in ('torch', 'numba') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_code_passes_the_linter():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.fail("ruff is not installed: install the dev extra (pip install -e .[dev])")
    result = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
