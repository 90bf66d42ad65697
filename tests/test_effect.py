"""The Effect and Param interface: normalisation, validation errors, backend choice."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dafxkit import Effect, Param
from dafxkit.effect import BACKEND_ENV
from dafxkit.errors import AudioError, DafxWarning, NativeError, ParameterError


class Tilt(Effect):
    """A tiny test effect with a log and a linear parameter, two fake backends."""

    name = "tilt"
    params = (
        Param("gain_db", -12.0, 12.0, 0.0, unit="dB"),
        Param("freq_hz", 20.0, 20000.0, 1000.0, unit="Hz", scale="log"),
    )
    backends = ("fast", "numpy")
    neutral = {"gain_db": 0.0}
    fast_reason: str | None = "the fast kernel is not compiled"

    def backend_unavailable_reason(self, backend):
        return self.fast_reason if backend == "fast" else None

    def process(self, audio, values, sample_rate, backend):
        self.last_backend = backend
        return audio * np.power(10.0, values["gain_db"] / 20.0).astype(np.float32)[:, None, None]


@pytest.fixture
def tilt():
    return Tilt()


# -- Param ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="2x", minimum=0, maximum=1, default=0), "identifier"),
        (dict(name="x", minimum=1, maximum=1, default=1), "below maximum"),
        (dict(name="x", minimum=0, maximum=1, default=2), "outside"),
        (dict(name="x", minimum=0, maximum=1, default=0.5, scale="log"), "minimum > 0"),
        (dict(name="x", minimum=0, maximum=1, default=0.5, scale="cubic"), "scale"),
        (dict(name="x", minimum=0, maximum=float("inf"), default=0.5), "finite"),
    ],
)
def test_param_rejects_bad_definitions(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        Param(**kwargs)


linear_or_log = st.sampled_from(["linear", "log"])


@given(
    lo=st.floats(1e-3, 1e3),
    span=st.floats(1e-2, 1e4),
    u=st.floats(0.0, 1.0),
    scale=linear_or_log,
)
def test_normalise_round_trips(lo, span, u, scale):
    p = Param("x", lo, lo + span, lo, scale=scale)
    value = p.denormalise(u)
    assert p.minimum <= value <= p.maximum
    np.testing.assert_allclose(p.normalise(value), u, atol=1e-9)


@given(lo=st.floats(-1e3, 1e3), span=st.floats(1e-3, 1e4), scale=linear_or_log)
def test_range_ends_are_exact(lo, span, scale):
    if scale == "log":
        lo = abs(lo) + 1e-3
    p = Param("x", lo, lo + span, lo, scale=scale)
    assert p.denormalise(0.0) == p.minimum
    assert p.denormalise(1.0) == p.maximum
    assert p.normalise(p.minimum) == 0.0
    assert p.normalise(p.maximum) == 1.0


def test_log_scale_is_geometric():
    p = Param("f", 20.0, 20000.0, 1000.0, scale="log")
    np.testing.assert_allclose(p.denormalise(0.5), np.sqrt(20.0 * 20000.0))


# -- settings and normalise ------------------------------------------------------------------


def test_settings_fill_defaults_and_map_units(tilt):
    row = tilt.settings(gain_db=6.0)
    np.testing.assert_allclose(row, [0.75, np.log(1000 / 20) / np.log(1000)])
    assert tilt.settings(3).shape == (3, 2)
    back = tilt.denormalise(tilt.settings(2, gain_db=-3.0, freq_hz=440.0))
    np.testing.assert_allclose(back["gain_db"], [-3.0, -3.0])
    np.testing.assert_allclose(back["freq_hz"], [440.0, 440.0])


def test_unknown_parameter_names_the_valid_ones(tilt):
    with pytest.raises(
        ParameterError, match=r"no parameter 'gain'.*Did you mean 'gain_db'.*gain_db, freq_hz"
    ):
        tilt.settings(gain=3.0)


def test_out_of_range_physical_value_names_the_range(tilt):
    with pytest.raises(
        ParameterError, match=r"freq_hz = 5\.0 is outside its range \[20, 20000\] Hz"
    ):
        tilt.settings(freq_hz=5.0)


def test_normalise_needs_every_parameter(tilt):
    with pytest.raises(ParameterError, match="missing value.*freq_hz"):
        tilt.normalise({"gain_db": 1.0})
    out = tilt.normalise({"gain_db": [0.0, 12.0], "freq_hz": 20.0})
    np.testing.assert_allclose(out, [[0.5, 0.0], [1.0, 0.0]])


# -- call-time validation --------------------------------------------------------------------


def _audio(batch=2, channels=1, samples=64):
    return np.zeros((batch, channels, samples), dtype=np.float32)


@pytest.mark.parametrize(
    "audio, message",
    [
        (
            np.zeros(64, np.float32),
            r"shape \(batch, channels, samples\); got shape \(64,\).*x\[None, None, :\]",
        ),
        (np.zeros((1, 64), np.float32), r"ndim 2"),
        (np.zeros((2, 1, 64), np.int16), r"floating point.*int16.*32768"),
        (np.zeros((2, 1, 64), np.complex64), r"floating point.*complex64"),
        (np.zeros((2, 0, 64), np.float32), r"must not be empty"),
        # Finite float64 beyond float32's range: named as such, not as NaN or infinity.
        (np.full((2, 1, 64), 1e50), r"exceeds float32's range.*1e\+50"),
    ],
)
def test_bad_audio_is_named(tilt, audio, message):
    with pytest.raises(AudioError, match=message):
        tilt(audio, tilt.default_params(2), 44100)


def test_non_finite_audio_names_the_first_bad_sample(tilt):
    audio = _audio()
    audio[1, 0, 7] = np.nan
    audio[1, 0, 9] = np.inf
    with pytest.raises(AudioError, match=r"2 non-finite.*\(1, 0, 7\)"):
        tilt(audio, tilt.default_params(2), 44100)


def test_batch_mismatch_is_named(tilt):
    with pytest.raises(ParameterError, match=r"3 parameter row\(s\) for a batch of 2"):
        tilt(_audio(), tilt.default_params(3), 44100)


def test_wrong_parameter_count_lists_the_parameters(tilt):
    with pytest.raises(
        ParameterError, match=r"shape \(batch, 2\) for \(gain_db, freq_hz\); got shape \(2, 3\)"
    ):
        tilt(_audio(), np.zeros((2, 3)), 44100)
    with pytest.raises(ParameterError, match=r"got shape \(2,\)"):
        tilt(_audio(), np.zeros(2), 44100)


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_parameters_outside_unit_interval_name_parameter_and_row(tilt, bad):
    params = tilt.default_params(2)
    params[1, 1] = bad
    with pytest.raises(ParameterError, match=r"\[0, 1\].*'freq_hz' in row 1"):
        tilt(_audio(), params, 44100)


def test_string_parameters_are_rejected(tilt):
    with pytest.raises(ParameterError, match="real numbers"):
        tilt(_audio(), np.array([["a", "b"], ["c", "d"]]), 44100)


@pytest.mark.parametrize("rate", [0, -44100, float("nan"), "fast"])
def test_bad_sample_rate(tilt, rate):
    with pytest.raises(AudioError, match="sample_rate"):
        tilt(_audio(), tilt.default_params(2), rate)


@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 300), st.floats(-12, 12))
def test_call_keeps_shape_dtype_and_input(batch, channels, samples, gain_db):
    fx = Tilt()
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((batch, channels, samples)).astype(np.float64)
    before = audio.copy()
    out = fx(audio, fx.settings(batch, gain_db=gain_db), 22050, backend="numpy")
    assert out.shape == audio.shape and out.dtype == np.float32
    np.testing.assert_array_equal(audio, before)
    np.testing.assert_allclose(out, audio * 10 ** (gain_db / 20), rtol=1e-5, atol=1e-6)


def test_effect_that_changes_shape_is_caught():
    class Bad(Tilt):
        def process(self, audio, values, sample_rate, backend):
            return audio[:, :, :-1]

    with pytest.raises(NativeError, match="a bug in the effect"):
        Bad()(_audio(), Bad().default_params(2), 44100, backend="numpy")


# -- backends --------------------------------------------------------------------------------


def test_unavailable_backend_falls_back_and_warns_once(tilt, monkeypatch):
    monkeypatch.setattr("dafxkit.effect._warned", set())
    with pytest.warns(DafxWarning, match="'fast' backend is unavailable.*not compiled.*'numpy'"):
        tilt(_audio(), tilt.default_params(2), 44100)
    assert tilt.last_backend == "numpy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tilt(_audio(), tilt.default_params(2), 44100)


def test_explicit_backend_is_strict(tilt):
    with pytest.raises(NativeError, match="'fast' backend of tilt cannot run: the fast kernel"):
        tilt.resolve_backend("fast")
    with pytest.raises(ParameterError, match="no 'c' backend; it has fast, numpy"):
        tilt.resolve_backend("c")
    tilt.fast_reason = None
    assert tilt.resolve_backend() == "fast"
    assert tilt.resolve_backend("numpy") == "numpy"


def test_environment_variable_prefers_a_backend(tilt, monkeypatch):
    tilt.fast_reason = None
    monkeypatch.setenv(BACKEND_ENV, "numpy")
    assert tilt.resolve_backend() == "numpy"
    monkeypatch.setenv(BACKEND_ENV, "numba")  # this effect has no numba: default order applies
    assert tilt.resolve_backend() == "fast"
    monkeypatch.setenv(BACKEND_ENV, "cuda")
    with pytest.raises(ParameterError, match="DAFXKIT_BACKEND='cuda' is not a backend"):
        tilt.resolve_backend()


def test_no_backend_available_says_why():
    class Nothing(Tilt):
        backends = ("fast",)

    with pytest.raises(NativeError, match="no backend of tilt can run here: fast: the fast kernel"):
        Nothing().resolve_backend()


# -- interface check used by the registry ----------------------------------------------------


def test_interface_problems_are_listed():
    class Broken(Tilt):
        name = ""
        params = (Param("a", 0, 1, 0), Param("a", 0, 1, 0))
        backends = ()

    problems = Effect.interface_problems(Broken())
    assert any("name" in p for p in problems)
    assert any("duplicate parameter name(s): a" in p for p in problems)
    assert any("backends" in p for p in problems)
    assert Effect.interface_problems(Tilt()) == []
