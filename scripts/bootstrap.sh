#!/usr/bin/env bash
# Install everything dafxkit needs on a fresh machine, then run the default job or the tests.
#
#   bash scripts/bootstrap.sh demo   [extra args]   install, then run the default job
#   bash scripts/bootstrap.sh test   [pytest args]  install, then run the test suite
#
# Installs into ./.venv (override with DAFXKIT_VENV). Safe to re-run: finished steps are quick.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

task="${1:-demo}"
shift || true
case "$task" in demo|test|install) ;; *)
    echo "usage: bash scripts/bootstrap.sh demo|test|install [args]" >&2; exit 2 ;;
esac

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

# --- system packages -------------------------------------------------------------------
# A C compiler builds the native kernels; without one dafxkit still works on Numba.
apt_install() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else return 1; fi
    fi
    command -v apt-get >/dev/null || return 1
    say "installing system packages: $*"
    $sudo apt-get update -qq >/dev/null && \
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if ! command -v cc >/dev/null && ! command -v gcc >/dev/null; then
    apt_install gcc libc6-dev || say "no C compiler and none could be installed (need root or sudo with apt-get): the C kernels will be missing and dafxkit falls back to Numba. Install gcc and re-run for full speed."
fi
# The data pipeline: SoX does the pitch/tempo augmentation (`dafxkit generate`), and the musdb
# package needs ffmpeg and ffprobe even to be imported.
data_packages=()
command -v sox >/dev/null || data_packages+=(sox libsox-fmt-all)
{ command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; } || data_packages+=(ffmpeg)
if [ "${#data_packages[@]}" -gt 0 ]; then
    apt_install "${data_packages[@]}" || say "could not install ${data_packages[*]} (need root or sudo with apt-get; on macOS: brew install sox ffmpeg). Without sox, run \`dafxkit generate --no-augment\`; without ffmpeg, the musdb:PATH source is unavailable (synthetic and folder:PATH sources still work)."
fi

# --- Python environment ----------------------------------------------------------------
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "[bootstrap] dafxkit needs Python >= 3.11; '$python' is $("$python" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
    exit 1
fi
venv="${DAFXKIT_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
    say "creating virtual environment $venv"
    "$python" -m venv "$venv"
fi
pip_install() {
    # Some machines' pip configs name index folders that do not exist; pip warns about each.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
say "installing build tools"
pip_install --upgrade pip "setuptools>=70.1" wheel "cffi>=1.17"
# torch first and pinned: its CPU wheel 2.13.0 is what dafxkit is tested with, and a looser
# request could pull a multi-GB CUDA build.
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    say "installing torch 2.13.0"
    pip_install "torch==2.13.0"
fi
say "installing dafxkit and its test/bench extras (builds the C kernels)"
pip_install --no-build-isolation -e ".[dev]"
# The Audio Commons reference (comparisons only): its published metadata requires the dead
# `sklearn` package, so it goes in without dependencies; the dev extra holds its real ones.
if ! "$venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("timbral_models") is None)'; then
    say "installing timbral_models 0.4.0 (reference for the timbral descriptors)"
    pip_install --no-deps "timbral_models==0.4.0"
fi
"$venv/bin/python" - <<'PY'
from dafxkit import native
reason = native.unavailable_reason()
print("[bootstrap] C kernels:", "available" if reason is None else f"UNAVAILABLE ({reason})")
PY

export PATH="$PWD/$venv/bin:$PATH"
case "$task" in
install)
    say "done; activate with: source $venv/bin/activate" ;;
demo)
    # The main job: train a controller for the distortion on the built-in synthetic music
    # (short β-VAE pre-training, SPSA through the effect, evaluation against baselines).
    dafxkit train --effect distortion "$@" ;;
test)
    python -m pytest "$@" ;;
esac
