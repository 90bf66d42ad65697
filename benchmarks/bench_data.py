"""Data-pipeline throughput: pairs per second of `dafxkit generate`, per stage.

    python benchmarks/bench_data.py                        # 200 pairs, synthetic source
    python benchmarks/bench_data.py -n 1000 --source folder:/path/to/music --peer-clips 4

Same as `dafxkit bench data`: generates pairs (5 s, 44.1 kHz, distortion, SoX augmentation,
brightness and depth of x, ya and yb) into a temporary folder with one worker process per
core, prints wall-clock and CPU time per stage, the steady rate, the CPU-bound rate on idle
cores, and the time 10,000 pairs would take; the peer is timbral_models describing the clips.
"""

from dafxkit.cli import data

if __name__ == "__main__":
    import typer

    typer.run(data.bench)
