"""The compiled library: loading, Numba fallback, threads, denormals, installing without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dafxkit import native
from dafxkit.errors import NativeError

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        cwd=cwd,
    )


def test_library_is_available_here():
    assert native.unavailable_reason() is None
    assert native.available()


def test_loading_the_library_keeps_denormals():
    # gcc's -ffast-math at link time would set flush-to-zero for the whole process.
    result = _run(
        """
        import numpy as np
        from dafxkit import native
        native.lib()
        assert np.float64(1e-310) * 1.0 != 0 and np.float32(1e-39) * np.float32(1.0) != 0
        print("ok")
        """
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_threads_round_trip():
    before = native.get_num_threads()
    try:
        native.set_num_threads(1)
        assert native.get_num_threads() == 1
    finally:
        native.set_num_threads(before)
    with pytest.raises(NativeError, match="at least 1"):
        native.set_num_threads(0)


def test_pointer_helpers_refuse_wrong_arrays():
    with pytest.raises(NativeError, match="C-contiguous float32"):
        native.float_ptr(np.zeros(4))
    with pytest.raises(NativeError, match="C-contiguous float64"):
        native.double_ptr(np.zeros((4, 4))[:, 0])


def test_disabled_library_falls_back_to_numba_and_warns_once():
    result = _run(
        """
        import warnings
        import numpy as np
        from dafxkit import load_effect, NativeError
        fx = load_effect("distortion")
        x = np.random.default_rng(0).uniform(-1, 1, (2, 1, 256)).astype(np.float32)
        p = fx.default_params(2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            a = fx(x, p, 44100)
            b = fx(x, p, 44100)
        print(len(caught), caught[0].category.__name__, str(caught[0].message))
        print(fx.resolve_backend())
        np.testing.assert_allclose(a, fx(x, p, 44100, backend="numpy"), atol=1e-5)
        try:
            fx(x, p, 44100, backend="c")
        except NativeError as exc:
            print("raised:", exc)
        """,
        DAFXKIT_DISABLE_NATIVE="1",
    )
    assert result.returncode == 0, result.stderr
    count_line, backend_line, raised_line = result.stdout.strip().splitlines()
    assert count_line.startswith("1 DafxWarning")
    assert (
        "'c' backend is unavailable (disabled by DAFXKIT_DISABLE_NATIVE=1); using 'numba'"
        in count_line
    )
    assert backend_line == "numba"
    assert "DAFXKIT_DISABLE_NATIVE" in raised_line


def test_install_without_a_compiler_still_works(tmp_path):
    """`pip install` with a broken compiler succeeds, records why, and effects run on Numba."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "build",
            "*.so",
            "*.egg-info",
            "__pycache__",
            ".hypothesis",
            "_native_build_error.txt",
        ),
    )
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CC": "false"},
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    assert (target / "dafxkit" / "_native_build_error.txt").exists()
    assert not list((target / "dafxkit").glob("_native*.so"))
    result = _run(
        """
        import sys
        # An editable install of this checkout maps dafxkit.* back to it: take it out.
        sys.meta_path[:] = [
            f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")
        ]
        import warnings
        import numpy as np
        from dafxkit import native, load_effect
        import dafxkit
        assert dafxkit.__file__.startswith(TARGET), dafxkit.__file__
        print(native.unavailable_reason())
        fx = load_effect("distortion")
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            print(fx.resolve_backend())
        """.replace("TARGET", repr(str(target))),
        cwd=tmp_path,  # not the checkout, whose in-place build would be imported first
        PYTHONPATH=str(target),
    )
    assert result.returncode == 0, result.stderr
    reason, backend = result.stdout.strip().splitlines()
    assert "failed to build at install time" in reason and "apt-get install gcc" in reason
    assert backend == "numba"


def test_in_place_build_records_a_failure_and_clears_it_on_success(tmp_path):
    """What an editable install does: the note lands in the source tree, and goes away again."""
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("*.so", "__pycache__", "_native_build_error.txt")
    for folder in ("native", "dafxkit"):
        shutil.copytree(ROOT / folder, src / folder, ignore=skip)
    for file in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / file, src / file)
    (src / "dafxkit" / "_native_build_error.txt").write_text("stale\n")
    note = src / "dafxkit" / "_native_build_error.txt"

    def build(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            capture_output=True,
            text=True,
            cwd=src,
            env={**os.environ, **env},
            timeout=600,
        )

    failed = build(CC="false")
    assert failed.returncode == 0, failed.stderr
    assert note.read_text().startswith("CompileError"), note.read_text()
    assert not list((src / "dafxkit").glob("_native*.so"))
    built = build()
    assert built.returncode == 0, built.stderr
    assert not note.exists()
    assert list((src / "dafxkit").glob("_native*.so"))


@settings(max_examples=50, deadline=None)
@given(
    size=st.integers(1, 200_000),
    bad=st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 3e38, 1e-45]), max_size=5),
    seed=st.integers(0, 2**32 - 1),
)
def test_count_nonfinite_matches_numpy(size, bad, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size).astype(np.float32)
    x[rng.integers(0, size, len(bad))] = bad
    assert native.count_nonfinite(x) == int((~np.isfinite(x)).sum())


def test_output_arena_is_used_once_and_never_aliases_the_input(rng):
    from dafxkit import load_effect

    fx = load_effect("distortion")
    x = rng.uniform(-1, 1, (2, 1, 64)).astype(np.float32)
    p = fx.default_params(2)
    values = fx.denormalise(p)
    expected = fx(x, p, 44100, backend="c")
    lent = np.full_like(x, np.nan)
    with native.output_arena(lent):
        first = fx.process(x, values, 44100, "c")
        second = fx.process(x, values, 44100, "c")
    assert first is lent and second is not lent
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected)
    with native.output_arena(x):  # the input itself is never written
        out = fx.process(x, values, 44100, "c")
    assert out is not x
    with native.output_arena(np.empty((3, 1, 64), np.float32)):  # wrong shape: ignored
        assert fx.process(x, values, 44100, "c").shape == x.shape


_FLOAT_BITS = st.integers(0, 2**32 - 1)
# Values around every rounding boundary of float16: normals, subnormals, the overflow edge.
_NEAR_HALF = st.floats(-70000.0, 70000.0, width=32) | st.floats(-(2.0**-13), 2.0**-13, width=32)


@pytest.mark.parametrize("portable", [False, True])
@settings(max_examples=60, deadline=None)
@given(
    bits=st.lists(_FLOAT_BITS, min_size=0, max_size=300),
    values=st.lists(_NEAR_HALF, min_size=0, max_size=300),
)
def test_to_half_gives_numpys_bits_and_keeps_nan(portable, bits, values):
    x = np.concatenate(
        [np.array(bits, dtype=np.uint32).view(np.float32), np.array(values, dtype=np.float32)]
    )
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16)
    got = native.to_half(x, portable=portable)
    nan = np.isnan(x)
    np.testing.assert_array_equal(got.view(np.uint16)[~nan], expected.view(np.uint16)[~nan])
    assert np.isnan(got[nan]).all()


@pytest.mark.parametrize("portable", [False, True])
def test_to_half_rounds_ties_to_even_and_overflows_as_numpy(portable):
    edges = np.array(
        [65504, 65519.996, 65520, 65536, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0000001, 2.0**-14,
         2.0**-14 * (1 - 2.0**-11), 1 + 2.0**-11, 1 + 3 * 2.0**-11, -0.0, np.inf, -np.inf],
        dtype=np.float32,
    )  # fmt: skip
    with np.errstate(over="ignore"):
        expected = edges.astype(np.float16)
    np.testing.assert_array_equal(
        native.to_half(edges, portable=portable).view(np.uint16), expected.view(np.uint16)
    )


@pytest.mark.parametrize("portable", [False, True])
def test_from_half_is_exact_for_every_half(portable):
    halves = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    expected = halves.astype(np.float32)
    got = native.from_half(halves, portable=portable)
    nan = np.isnan(expected)
    assert nan.sum() == 2 * (2**10 - 1)
    np.testing.assert_array_equal(got.view(np.uint32)[~nan], expected.view(np.uint32)[~nan])
    assert np.isnan(got[nan]).all()


def test_half_conversions_check_their_arrays():
    x = np.zeros((2, 5), dtype=np.float32)
    out = native.to_half(x, out=np.ones((2, 5), dtype=np.float16))
    assert out.dtype == np.float16 and not out.any()
    with pytest.raises(NativeError, match="to_half needs float32 input; got float64"):
        native.to_half(x.astype(np.float64))
    with pytest.raises(NativeError, match=r"out must be a C-contiguous float16 array of shape"):
        native.to_half(x, out=np.zeros((5, 2), dtype=np.float16))
    with pytest.raises(NativeError, match="not contiguous"):
        native.to_half(x, out=np.zeros((2, 10), dtype=np.float16)[:, ::2])
    with pytest.raises(NativeError, match="from_half needs float16 input; got float32"):
        native.from_half(x)
    # A strided input is read through a contiguous copy.
    strided = np.arange(20, dtype=np.float32).reshape(2, 10)[:, ::2]
    np.testing.assert_array_equal(native.to_half(strided), strided.astype(np.float16))
