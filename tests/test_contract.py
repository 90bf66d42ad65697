"""The contract every registered effect must keep, third-party ones included.

Shape and dtype kept, finite output for every parameter vector in [0, 1] (random, corners,
defaults) on noise, DC, silence and loud input, a batch equals its rows run alone, every
available backend agrees with the others, and neutral settings give the identity.
"""

from __future__ import annotations

import numpy as np
import pytest

from dafxkit import registry

# Every registered effect, plus a chain, which must behave like any single effect.
EFFECTS = [*registry.names("effect"), "gain>distortion"]


@pytest.fixture(params=EFFECTS)
def effect(request):
    return registry.load_effect(request.param)


def _inputs(rng, channels=2, samples=3000):
    noise = rng.uniform(-1, 1, (1, channels, samples))
    dc = np.full((1, channels, samples), 0.9)
    silence = np.zeros((1, channels, samples))
    loud = 4.0 * rng.standard_normal((1, channels, samples))
    return np.concatenate([noise, dc, silence, loud]).astype(np.float32)


def _param_sets(effect, rng, n):
    corners = [np.zeros(effect.n_params), np.ones(effect.n_params)]
    rows = corners + [effect.default_params()[0]] + list(rng.uniform(0, 1, (n, effect.n_params)))
    return np.array(rows)


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_finite_shape_and_dtype_for_any_setting(effect, rng, sample_rate):
    audio = _inputs(rng)
    for row in _param_sets(effect, rng, 4):
        params = np.tile(row, (len(audio), 1))
        out = effect(audio, params, sample_rate)
        assert out.shape == audio.shape and out.dtype == np.float32
        assert np.isfinite(out).all(), f"{effect.name}: non-finite output at {row}"


def test_batch_equals_rows_alone(effect, rng):
    audio = _inputs(rng, channels=1, samples=2000)
    params = rng.uniform(0, 1, (len(audio), effect.n_params))
    whole = effect(audio, params, 44100)
    for i in range(len(audio)):
        np.testing.assert_array_equal(
            whole[i : i + 1], effect(audio[i : i + 1], params[i : i + 1], 44100)
        )


def test_backends_agree(effect, rng):
    audio = _inputs(rng, channels=2, samples=1500)
    params = rng.uniform(0, 1, (len(audio), effect.n_params))
    backends = effect.available_backends()
    reference = effect(audio, params, 48000, backend=backends[-1])
    for backend in backends[:-1]:
        np.testing.assert_allclose(
            effect(audio, params, 48000, backend=backend), reference, atol=2e-5
        )


def test_neutral_settings_are_identity(effect, rng):
    if effect.neutral is None:
        pytest.skip(f"{effect.name} declares no neutral setting")
    audio = _inputs(rng, samples=1000)
    out = effect(audio, effect.neutral_params(len(audio)), 44100)
    np.testing.assert_allclose(out, audio, atol=1e-6)
