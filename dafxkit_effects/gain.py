"""Gain: the simplest effect, a per-clip level change in dB."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dafxkit import Effect, Param


class Gain(Effect):
    """Multiply each clip by ``10 ** (gain_db / 20)``.

    Memory-bound, so NumPy is as fast as a compiled loop; it exists as the reference point for
    SPSA tests and as a building block of chains.
    """

    name = "gain"
    description = "Level change in dB"
    params = (Param("gain_db", -24.0, 24.0, 0.0, unit="dB", description="level change"),)
    backends = ("numpy",)
    neutral = {"gain_db": 0.0}

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        factor = np.power(10.0, values["gain_db"] / 20.0).astype(np.float32)
        return audio * factor[:, None, None]
