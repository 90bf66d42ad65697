"""Effect throughput, side by side: C, Numba, NumPy reference and pedalboard, one run.

    python benchmarks/bench_effects.py                      # distortion, 32 x 5 s at 44.1 kHz
    python benchmarks/bench_effects.py --effect gain --effect distortion --repeats 9

Same as `dafxkit bench effects`; pedalboard comes with the `bench` extra.
"""

from dafxkit.cli import app

if __name__ == "__main__":
    import sys

    app(["bench", "effects", *sys.argv[1:]])
