"""cffi build script for dafxkit's C kernels: every native/*.c, declared by native/*.h.

Each kernel has a ``NAME.c`` and a ``NAME.h`` holding only its prototypes (cffi's cdef reads
them, so no preprocessor lines there); helpers shared by kernels live in headers without a
``.c`` twin (``fastmath.h``) and are not declared to cffi.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

sources = sorted(HERE.glob("*.c"))
declarations = [src.with_suffix(".h") for src in sources if src.with_suffix(".h").exists()]

ffibuilder = FFI()
ffibuilder.cdef("\n".join(h.read_text() for h in declarations))

# No -ffast-math: at link time it switches the whole Python process to flush-to-zero. Kernels
# get their speed from explicit approximations (fastmath.h) and `omp simd`; the two -fno-* flags
# only let the compiler vectorise them (no errno from libm, no FP-exception ordering to keep).
compile_args = [
    "-O3",
    "-fopenmp",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-std=c11",
    "-D_DEFAULT_SOURCE",
]
link_args = ["-fopenmp"]
if os.environ.get("DAFXKIT_NATIVE_NO_OPENMP"):
    compile_args.remove("-fopenmp")
    link_args.remove("-fopenmp")

ffibuilder.set_source(
    "dafxkit._native",
    "#include <stdint.h>\n" + "".join(f'#include "{h.name}"\n' for h in declarations),
    sources=[str(src.relative_to(ROOT)) for src in sources],
    # Without these, editing a header alone (fastmath.h) would not trigger a rebuild.
    depends=[str(h.relative_to(ROOT)) for h in sorted(HERE.glob("*.h"))],
    include_dirs=[str(HERE.relative_to(ROOT))],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True)
