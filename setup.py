"""Builds dafxkit's C kernels with cffi; the package still installs (on Numba) if that fails."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ERROR_FILE = Path("dafxkit") / "_native_build_error.txt"


class OptionalBuildExt(build_ext):
    """Record why the C library could not be built instead of failing the whole install."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, no OpenMP, broken toolchain ...
            self._record(exc)

    def build_extension(self, ext):
        target = Path(self.build_lib if not self.inplace else ".") / ERROR_FILE
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._record(exc)
        else:
            target.unlink(missing_ok=True)

    def _record(self, exc):
        message = f"{type(exc).__name__}: {exc}"
        print(f"WARNING: dafxkit's C kernels were not built ({message}); Numba will be used.")
        for base in {Path(self.build_lib), Path(".") if self.inplace else Path(self.build_lib)}:
            if (base / "dafxkit").is_dir():
                (base / ERROR_FILE).write_text(message + "\n")


setup(cffi_modules=["native/build_native.py:ffibuilder"], cmdclass={"build_ext": OptionalBuildExt})
