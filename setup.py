"""Builds dafxkit's C kernels with cffi; the package still installs (on Numba) if that fails."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ERROR_FILE = Path("dafxkit") / "_native_build_error.txt"


class OptionalBuildExt(build_ext):
    """Record why the C library could not be built instead of failing the whole install.

    The note goes where the package is imported from: the build folder (wheels), and also the
    source tree for in-place and editable builds, which setuptools compiles in the build folder
    too and then copies over. A successful build removes a stale note from both.
    """

    def run(self):
        # setuptools clears `inplace` while it compiles and restores it only on success.
        inplace = self.inplace
        roots = [Path(self.build_lib), *([Path(".")] if inplace else [])]
        notes = [root / ERROR_FILE for root in roots if (root / ERROR_FILE).parent.is_dir()]
        try:
            super().run()
        except Exception as exc:  # no compiler, no OpenMP, broken toolchain ...
            self.inplace = inplace  # editable installs map their outputs with it
            message = f"{type(exc).__name__}: {exc}"
            print(f"WARNING: dafxkit's C kernels were not built ({message}); Numba will be used.")
            for note in notes:
                note.write_text(message + "\n")
        else:
            for note in notes:
                note.unlink(missing_ok=True)


setup(cffi_modules=["native/build_native.py:ffibuilder"], cmdclass={"build_ext": OptionalBuildExt})
