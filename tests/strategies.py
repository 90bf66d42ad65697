"""Hypothesis strategies shared by the effect tests: audio batches and parameter matrices."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

SAMPLE_RATES = st.sampled_from([22050, 44100, 48000])


@st.composite
def audio_batches(draw, max_batch=5, max_channels=2, max_samples=2000, max_amplitude=4.0):
    """float32 (batch, channels, samples): noise, DC, silence, clicks, sparse impulses or
    sines, any level."""
    batch = draw(st.integers(1, max_batch))
    channels = draw(st.integers(1, max_channels))
    samples = draw(st.integers(1, max_samples))
    seed = draw(st.integers(0, 2**32 - 1))
    amplitude = draw(st.floats(0.0, max_amplitude))
    kind = draw(st.sampled_from(["noise", "dc", "silence", "click", "sparse", "sine"]))
    rng = np.random.default_rng(seed)
    shape = (batch, channels, samples)
    if kind == "noise":
        x = rng.uniform(-1.0, 1.0, shape)
    elif kind == "dc":
        x = np.full(shape, rng.choice([-1.0, 1.0]))
    elif kind == "silence":
        x = np.zeros(shape)
    elif kind == "click":
        x = np.zeros(shape)
        x[..., rng.integers(0, samples)] = 1.0
    elif kind == "sparse":
        # A few single samples: an analysis frame may hold one impulse (a flat spectrum).
        x = rng.standard_normal(shape) * (rng.random(shape) < 0.002)
    else:
        t = np.arange(samples) / 44100.0
        x = np.broadcast_to(np.sin(2 * np.pi * rng.uniform(20, 15000) * t), shape)
    return (amplitude * x).astype(np.float32)


@st.composite
def param_matrices(draw, batch, n_params):
    """(batch, n_params) in [0, 1], with the ends 0 and 1 drawn often."""
    unit = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
    values = draw(st.lists(unit, min_size=batch * n_params, max_size=batch * n_params))
    return np.array(values, dtype=np.float64).reshape(batch, n_params)


@st.composite
def effect_cases(draw, n_params, max_samples=2000):
    """(audio, params, sample_rate) for an effect with ``n_params`` parameters."""
    audio = draw(audio_batches(max_samples=max_samples))
    return audio, draw(param_matrices(audio.shape[0], n_params)), draw(SAMPLE_RATES)
