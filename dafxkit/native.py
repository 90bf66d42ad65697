"""The private face of dafxkit's compiled C library: loading it, and saying why it is missing."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dafxkit.errors import NativeError

__all__ = [
    "DISABLE_ENV",
    "available",
    "unavailable_reason",
    "lib",
    "ffi",
    "set_num_threads",
    "get_num_threads",
    "float_ptr",
    "double_ptr",
    "count_nonfinite",
    "sum_squares_rows",
    "to_half",
    "from_half",
    "run_kernel",
    "run_kernel_dot",
    "output_arena",
]

#: Set to 1 to ignore the compiled library (effects then run on Numba).
DISABLE_ENV = "DAFXKIT_DISABLE_NATIVE"

_BUILD_ERROR = Path(__file__).with_name("_native_build_error.txt")


@functools.cache
def _load() -> tuple[Any, str | None]:
    try:
        # By name: the import graph checker cannot see a compiled module and would blame the
        # whole `dafxkit` package instead.
        _native = importlib.import_module("dafxkit._native")
    except ImportError as exc:
        if _BUILD_ERROR.exists():
            why = (
                f"the C library failed to build at install time: {_BUILD_ERROR.read_text().strip()}"
            )
        else:
            why = f"the C library dafxkit._native is not built ({exc})"
        return None, (
            f"{why}. Install a C compiler (e.g. `apt-get install gcc`) and reinstall dafxkit "
            "(`pip install -e .` in a checkout)"
        )
    return _native, None


def unavailable_reason() -> str | None:
    """Why the C kernels cannot run here, or None when they can."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return f"disabled by {DISABLE_ENV}={os.environ[DISABLE_ENV]}"
    return _load()[1]


def available() -> bool:
    """True when the C kernels can run."""
    return unavailable_reason() is None


def _module() -> Any:
    reason = unavailable_reason()
    if reason is not None:
        raise NativeError(f"the C kernels are unavailable: {reason}")
    return _load()[0]


def lib() -> Any:
    """The cffi ``lib`` object of the C library; `NativeError` saying why when unavailable."""
    return _module().lib


def ffi() -> Any:
    """The cffi ``ffi`` object of the C library."""
    return _module().ffi


def set_num_threads(n: int) -> None:
    """Size the OpenMP pool the C kernels use (no-op without OpenMP)."""
    if int(n) < 1:
        raise NativeError(f"thread count must be at least 1; got {n}")
    lib().dafx_set_num_threads(int(n))


def get_num_threads() -> int:
    """Threads the C kernels use (1 when built without OpenMP)."""
    return int(lib().dafx_get_num_threads())


def _ptr(array: np.ndarray, dtype: type, ctype: str) -> Any:
    if not isinstance(array, np.ndarray) or array.dtype != dtype or not array.flags.c_contiguous:
        raise NativeError(
            f"C kernels need C-contiguous {np.dtype(dtype).name} arrays; got "
            f"{getattr(array, 'dtype', type(array).__name__)}"
        )
    return ffi().from_buffer(ctype, array, require_writable=False)


def float_ptr(array: np.ndarray) -> Any:
    """A ``float *`` view of a C-contiguous float32 array (no copy)."""
    return _ptr(array, np.float32, "float[]")


_arena: contextvars.ContextVar[np.ndarray | None] = contextvars.ContextVar(
    "dafxkit_output_arena", default=None
)


@contextlib.contextmanager
def output_arena(buffer: np.ndarray):
    """Let the next `run_kernel` call whose output has ``buffer``'s shape write into it.

    Fresh arrays of tens of MB cost page faults that can take longer than the kernel itself
    (on some VMs ten times longer); a caller that runs the same shape step after step (SPSA)
    keeps one buffer and lends it here. Only one call uses it; others allocate as usual.
    """
    token = _arena.set(buffer)
    try:
        yield buffer
    finally:
        _arena.reset(token)


def run_kernel(
    name: str, audio: np.ndarray, columns: Sequence[np.ndarray], *scalars: Any
) -> tuple[np.ndarray, Any]:
    """Run ``dafx_<name>(x, y, batch, channels, samples, *columns, *scalars)`` into a new array.

    Every built-in kernel has that signature: float32 audio in and out, then one ``double *``
    per entry of ``columns`` (per-clip values: an array whose first axis is the batch, e.g. a
    parameter's ``(batch,)`` physical values), then plain scalars (sample rate, mode ...).

    Returns
    -------
    (np.ndarray, object)
        The output audio, and what the C function returned (a failure count for kernels that
        allocate, None for void ones).
    """
    batch = audio.shape[0]
    pointers = []
    for i, column in enumerate(columns):
        column = np.ascontiguousarray(column, dtype=np.float64)
        # The kernels read one value (or block) per clip with no bounds check of their own.
        if column.shape[:1] != (batch,):
            raise NativeError(
                f"dafx_{name}: per-clip argument {i} must have {batch} rows, one per clip; got "
                f"shape {column.shape}"
            )
        pointers.append(double_ptr(column))
    out = _arena.get()
    if (
        out is not None
        and out.shape == audio.shape
        and out.dtype == np.float32
        and out.flags.c_contiguous
        and not np.shares_memory(out, audio)
    ):
        _arena.set(None)  # lent for one call
    else:
        out = np.empty_like(audio)
    kernel = getattr(lib(), f"dafx_{name}")
    result = kernel(float_ptr(audio), float_ptr(out), *audio.shape, *pointers, *scalars)
    return out, result


def run_kernel_dot(
    name: str,
    audio: np.ndarray,
    grad: np.ndarray,
    repeat: int,
    columns: Sequence[np.ndarray],
    *scalars: Any,
) -> tuple[np.ndarray, Any]:
    """Run ``dafx_<name>_dot``: the kernel's output folded into inner products with ``grad``.

    Parameter row ``r`` (``len(columns[i]) = repeat · len(audio)`` rows) processes audio row
    ``r // repeat``, and instead of storing its output the kernel sums ``⟨grad[r // repeat],
    y_r⟩`` as it goes: no ``(rows, channels, samples)`` output is ever written. Same columns and
    scalars as `run_kernel`.

    Returns
    -------
    (np.ndarray, object)
        float64 ``(rows,)`` inner products (summed over channels), and the C function's result.
    """
    if grad.shape != audio.shape:
        raise NativeError(
            f"dafx_{name}_dot: the gradient must have the audio's shape {audio.shape}; got "
            f"{grad.shape}"
        )
    if int(repeat) != repeat or repeat < 1:
        raise NativeError(f"dafx_{name}_dot: repeat must be a positive integer; got {repeat!r}")
    repeat = int(repeat)
    rows = audio.shape[0] * repeat
    pointers = []
    for i, column in enumerate(columns):
        column = np.ascontiguousarray(column, dtype=np.float64)
        if column.shape[:1] != (rows,):
            raise NativeError(
                f"dafx_{name}_dot: per-row argument {i} must have {rows} rows ({repeat} per "
                f"clip); got shape {column.shape}"
            )
        pointers.append(double_ptr(column))
    channels, samples = audio.shape[1:]
    dots = np.zeros((rows, channels), dtype=np.float64)
    kernel = getattr(lib(), f"dafx_{name}_dot")
    result = kernel(
        float_ptr(audio),
        float_ptr(grad),
        double_ptr(dots),
        repeat,
        rows,
        channels,
        samples,
        *pointers,
        *scalars,
    )
    return dots.sum(axis=1), result


def count_nonfinite(array: np.ndarray) -> int:
    """NaN and infinite values in a C-contiguous float32 array, counted in one parallel pass."""
    if array.dtype != np.float32 or not array.flags.c_contiguous:
        raise NativeError("count_nonfinite needs a C-contiguous float32 array")
    bits = ffi().from_buffer("uint32_t[]", array, require_writable=False)
    return int(lib().dafx_count_nonfinite(bits, array.size))


def sum_squares_rows(array: np.ndarray) -> np.ndarray:
    """Sum of squares over the last axis of a C-contiguous float32 array, accumulated in
    double: float64 of the leading shape."""
    out = np.empty(np.shape(array)[:-1], dtype=np.float64)
    lib().dafx_sum_squares_rows(float_ptr(array), out.size, array.shape[-1], double_ptr(out))
    return out


#: (source dtype, result dtype, kernel, source and result C types) of each direction; the
#: kernel's portable version is the kernel's name + "_portable".
_HALF = {
    "to_half": (np.float32, np.float16, "dafx_f32_to_f16", "float[]", "uint16_t[]"),
    "from_half": (np.float16, np.float32, "dafx_f16_to_f32", "uint16_t[]", "float[]"),
}


def _half(name: str, src: np.ndarray, out: np.ndarray | None, portable: bool) -> np.ndarray:
    src_dtype, out_dtype, kernel, src_type, out_type = _HALF[name]
    src = np.asarray(src)
    if src.dtype != src_dtype:
        raise NativeError(f"{name} needs {np.dtype(src_dtype).name} input; got {src.dtype}")
    src = np.ascontiguousarray(src)
    if out is None:
        out = np.empty(src.shape, dtype=out_dtype)
    elif out.dtype != out_dtype or out.shape != src.shape or not out.flags.c_contiguous:
        raise NativeError(
            f"{name}: out must be a C-contiguous {np.dtype(out_dtype).name} array of shape "
            f"{src.shape}; got {out.dtype} {out.shape}"
            f"{'' if out.flags.c_contiguous else ', not contiguous'}"
        )
    getattr(lib(), f"{kernel}_portable" if portable else kernel)(
        _ptr(src, src_dtype, src_type), _ptr(out, out_dtype, out_type), src.size
    )
    return out


def to_half(
    src: np.ndarray, out: np.ndarray | None = None, *, portable: bool = False
) -> np.ndarray:
    """float32 → float16 with the same bits as NumPy's ``astype(np.float16)`` (NaN stays NaN),
    about 30 times faster (x86 F16C instructions; ``portable=True``: the bit-level C version
    that other CPUs run, for tests). Writes into ``out`` when given."""
    return _half("to_half", src, out, portable)


def from_half(
    src: np.ndarray, out: np.ndarray | None = None, *, portable: bool = False
) -> np.ndarray:
    """float16 → float32, exact (see `to_half`)."""
    return _half("from_half", src, out, portable)


def double_ptr(array: np.ndarray) -> Any:
    """A ``double *`` view of a C-contiguous float64 array (no copy)."""
    return _ptr(array, np.float64, "double[]")
