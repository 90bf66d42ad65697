"""Small deterministic test signals, so commands and examples need no audio files."""

from __future__ import annotations

import numpy as np

__all__ = ["test_signal"]


def test_signal(seconds: float = 5.0, sample_rate: int = 44100, seed: int = 0) -> np.ndarray:
    """A seeded, music-like mono clip: plucked chord tones over a bass line with noise hits.

    Returns float32 of shape ``(1, samples)`` peaking at -3 dBFS. Rich enough in harmonics and
    transients that distortion, compression or filtering audibly change it.
    """
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sample_rate)))
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    beat = 0.25  # seconds per eighth note at 120 bpm
    root_hz = 110.0 * 2.0 ** (rng.integers(0, 12) / 12.0)
    for k, start in enumerate(np.arange(0.0, seconds, beat)):
        i0 = int(start * sample_rate)
        tt = t[i0:] - start
        degree = rng.choice([0, 3, 5, 7, 10, 12])
        freq = root_hz * 2.0 ** (degree / 12.0 + 1)
        # A few harmonics with a fast decay: a plucked tone.
        pluck = sum(np.sin(2 * np.pi * h * freq * tt) / h for h in (1, 2, 3, 5)) * np.exp(-tt * 6)
        out[i0:] += 0.25 * pluck
        if k % 2 == 0:  # bass on the beat
            out[i0:] += 0.35 * np.sin(2 * np.pi * root_hz / 2 * tt) * np.exp(-tt * 3)
        if k % 4 == 2:  # a noise hit on the backbeat
            m = min(len(tt), int(0.12 * sample_rate))
            out[i0 : i0 + m] += 0.3 * rng.standard_normal(m) * np.exp(-tt[:m] * 40)
    out *= 10 ** (-3 / 20) / max(np.max(np.abs(out)), 1e-12)
    return out.astype(np.float32)[None, :]
