"""Descriptor throughput, side by side: dafxkit's MFCC vs librosa, timbral vs timbral_models.

    python benchmarks/bench_extract.py                        # 32 x 5 s test signals
    python benchmarks/bench_extract.py --audio DIR --what timbral --reference-clips 4

Same as `dafxkit bench extract`; librosa comes with the `bench` extra, timbral_models with
`pip install --no-deps timbral_models==0.4.0` plus the `timbral-reference` extra.
"""

from dafxkit.cli import app

if __name__ == "__main__":
    import sys

    app(["bench", "extract", *sys.argv[1:]])
