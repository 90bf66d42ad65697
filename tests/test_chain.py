"""Effect chains: prefixed parameters, series processing, use from the registry and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from dafxkit import load_effect
from dafxkit.chain import Chain
from dafxkit.cli import app
from dafxkit.errors import ParameterError, UnknownPluginError


def test_parameters_are_concatenated_and_prefixed():
    chain = load_effect("gain>distortion>gain")
    assert isinstance(chain, Chain)
    assert chain.name == "gain>distortion>gain_2"
    distortion = load_effect("distortion")
    assert chain.param_names == (
        "gain.gain_db",
        *(f"distortion.{n}" for n in distortion.param_names),
        "gain_2.gain_db",
    )
    assert chain.param("distortion.drive_db").unit == "dB"


def test_chain_equals_members_in_series(rng):
    gain, distortion = load_effect("gain"), load_effect("distortion")
    chain = load_effect(["gain", "distortion"])
    audio = rng.uniform(-1, 1, (3, 2, 1000)).astype(np.float32)
    p_gain = rng.uniform(0, 1, (3, 1))
    p_dist = rng.uniform(0, 1, (3, distortion.n_params))
    expected = distortion(gain(audio, p_gain, 44100), p_dist, 44100)
    out = chain(audio, np.hstack([p_gain, p_dist]), 44100)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_settings_and_neutral_use_prefixed_names():
    chain = load_effect("gain>gain")
    row = chain.settings(**{"gain.gain_db": 12.0})
    np.testing.assert_allclose(row, [0.75, 0.5])
    with pytest.raises(
        ParameterError, match="no parameter 'gain_db'.*gain.gain_db, gain_2.gain_db"
    ):
        chain.settings(gain_db=1.0)
    assert chain.neutral == {"gain.gain_db": 0.0, "gain_2.gain_db": 0.0}


def test_unknown_member_is_named():
    with pytest.raises(UnknownPluginError, match="no effect named 'revreb'"):
        load_effect("gain>revreb")


def test_empty_chain_is_rejected():
    with pytest.raises(ParameterError, match="at least one effect"):
        Chain([])


def test_backend_choice_reaches_members_that_have_it(rng):
    chain = load_effect("gain>distortion")
    assert chain.backends[0] == "numpy" and set(load_effect("distortion").backends) <= set(
        chain.backends
    )
    audio = rng.uniform(-1, 1, (2, 1, 500)).astype(np.float32)
    params = rng.uniform(0, 1, (2, chain.n_params))
    for backend in chain.available_backends():
        np.testing.assert_allclose(
            chain(audio, params, 48000, backend=backend),
            chain(audio, params, 48000, backend="numpy"),
            atol=2e-5,
        )


def test_cli_process_with_repeated_effects(tmp_path, rng):
    clip, out = tmp_path / "in.wav", tmp_path / "out.wav"
    audio = rng.uniform(-0.5, 0.5, (1, 2000)).astype(np.float32)
    sf.write(clip, audio.T, 16000, subtype="FLOAT")
    result = CliRunner().invoke(
        app,
        [
            "process",
            str(clip),
            "-e",
            "gain",
            "-e",
            "distortion",
            "-p",
            "gain.gain_db=6",
            "-p",
            "distortion.mix=0",
            "-o",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    written, _ = sf.read(out, dtype="float32", always_2d=True)
    np.testing.assert_allclose(written.T, audio * 10 ** (6 / 20), atol=1e-5)
