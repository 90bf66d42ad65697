"""Level: RMS, peak and crest factor of each clip, in dB relative to full scale."""

from __future__ import annotations

import numpy as np

from dafxkit.features import FeatureExtractor

#: Reported for digital silence instead of -inf, so downstream code never sees infinities.
SILENCE_DB = -120.0


class Level(FeatureExtractor):
    """Loudness-free level statistics over all channels of each clip.

    ``rms_dbfs`` and ``peak_dbfs`` are floored at -120 dBFS (digital silence reads -120, never
    -inf); ``crest_db`` is peak minus RMS and is 0 for silence.
    """

    name = "level"
    description = "RMS level, peak level and crest factor in dB"
    feature_names = ("rms_dbfs", "peak_dbfs", "crest_db")
    thread_safe = True

    def compute(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        flat = audio.reshape(audio.shape[0], -1).astype(np.float64)
        floor = 10.0 ** (SILENCE_DB / 20.0)
        rms = np.sqrt(np.mean(flat * flat, axis=1))
        peak = np.max(np.abs(flat), axis=1)
        rms_db = 20.0 * np.log10(np.maximum(rms, floor))
        peak_db = 20.0 * np.log10(np.maximum(peak, floor))
        return np.stack([rms_db, peak_db, peak_db - rms_db], axis=1)
