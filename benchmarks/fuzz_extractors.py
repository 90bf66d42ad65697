"""Throw odd signals at the feature extractors for a while; report any that raise or misbehave.

    python benchmarks/fuzz_extractors.py --seconds 300 --seed 1

The property tests run a few dozen cases per CI; this runs tens of thousands: music-like clips,
noise, sines, Nyquist tones, DC, clicks, sparse impulses, squares, chirps, a last sample alone,
impulse trains and 5 Hz waves, 1 sample to 2 s long, at 8-96 kHz, mono or stereo, at levels
from 1e-30 to 1e30 (float32). Each case must give finite values from `timbral` and `mfcc`, no
exception and no RuntimeWarning. A failing case is printed with everything needed to rebuild
it (kind, rate, length, level, seed) and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from dafxkit import registry
from dafxkit.signals import test_signal

KINDS = (
    "music",
    "noise",
    "sine",
    "nyquist",
    "dc",
    "click",
    "sparse",
    "square",
    "chirp",
    "last sample",
    "impulse train",
    "5 Hz",
)
RATES = (8000, 16000, 22050, 32000, 44100, 48000, 96000)


def make_signal(kind: str, rate: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """One float64 signal of ``n`` samples at peak level about 1."""
    t = np.arange(n) / rate
    if kind == "music":
        return test_signal(n / rate + 0.01, rate, seed=int(rng.integers(1000)))[0, :n]
    if kind == "noise":
        return rng.standard_normal(n)
    if kind == "sine":
        return np.sin(2 * np.pi * rng.uniform(1, rate / 2) * t)
    if kind == "nyquist":
        return (-1.0) ** np.arange(n)
    if kind == "dc":
        return np.ones(n) + 1e-6 * rng.standard_normal(n)
    if kind == "square":
        return np.sign(np.sin(2 * np.pi * rng.uniform(20, 2000) * t))
    if kind == "chirp":
        return np.sin(2 * np.pi * (20 + (rate / 2 - 20) * t / (t[-1] + 1e-9) / 2) * t)
    if kind == "5 Hz":
        return np.sin(2 * np.pi * 5 * t)
    x = np.zeros(n)
    if kind == "click":
        x[rng.integers(n)] = 1.0
    elif kind == "sparse":
        x = rng.standard_normal(n) * (rng.random(n) < 0.001)
    elif kind == "last sample":
        x[-1] = 0.5
    else:  # impulse train, four per second
        x[:: max(1, rate // 4)] = 1.0
    return x


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    timbral = registry.load_feature("timbral")
    mfcc = registry.load_feature("mfcc")
    rng = np.random.default_rng(args.seed)
    deadline = time.monotonic() + args.seconds
    cases = failures = 0
    while time.monotonic() < deadline:
        case_seed = int(rng.integers(2**63))
        case = np.random.default_rng(case_seed)
        kind = str(case.choice(KINDS))
        rate = int(case.choice(RATES))
        n = int(case.choice([1, 2, 10, 100, 1000, 2047, 2048, 4096, 4097, rate // 2, 2 * rate]))
        level = 10.0 ** case.uniform(-30, 30)
        channels = int(case.integers(1, 3))
        signal = (level * make_signal(kind, rate, n, case)).astype(np.float32)
        audio = np.tile(signal, (1, channels, 1))
        problems = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                values = timbral.extract(audio, rate)
                coefficients = mfcc.extract(audio, rate)
            except Exception as exc:  # noqa: BLE001 - reporting every failure is the point
                problems.append(f"raised {type(exc).__name__}: {exc}")
            else:
                if not np.isfinite(values).all():
                    problems.append("timbral gave a non-finite value")
                if not np.isfinite(coefficients).all():
                    problems.append("mfcc gave a non-finite value")
        runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        problems += [f"warning: {w.message}" for w in runtime]
        cases += 1
        if problems:
            failures += 1
            print(
                f"{kind}, {rate} Hz, {n} samples, level {level:.3g}, {channels} channel(s), "
                f"case seed {case_seed}: {'; '.join(problems)}",
                flush=True,
            )
    print(f"{cases} cases, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
