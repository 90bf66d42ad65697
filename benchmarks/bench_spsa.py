"""ms per SPSA gradient step, side by side: dafxkit's one batched call vs per-item designs.

    python benchmarks/bench_spsa.py                              # distortion, K = 1 and 4
    python benchmarks/bench_spsa.py -e compressor -e reverb --k 4

Same as `dafxkit bench spsa`; pedalboard comes with the `bench` extra.
"""

from dafxkit.cli import app

if __name__ == "__main__":
    import sys

    app(["bench", "spsa", *sys.argv[1:]])
