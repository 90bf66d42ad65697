"""The `timbral` extractor as a whole: every descriptor, any finite input, flags, threads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dafxkit import registry
from dafxkit.descriptors.timbral import DESCRIPTORS, Flag, Timbral, describe_flags
from dafxkit.errors import AudioError, DafxError
from dafxkit.signals import test_signal as music
from tests.strategies import audio_batches


@pytest.fixture(scope="module")
def timbral():
    return Timbral()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    audio=audio_batches(max_batch=2, max_samples=44100, max_amplitude=2.0),
    rate=st.sampled_from([16000, 22050, 44100, 48000]),
)
def test_every_descriptor_is_finite_for_any_finite_input(timbral, audio, rate):
    values, flags = timbral.extract_with_flags(audio, rate)
    assert values.shape == flags.shape == (audio.shape[0], len(DESCRIPTORS))
    assert np.isfinite(values).all()
    silent = ~audio.reshape(audio.shape[0], -1).any(axis=1)
    # Digital silence is flagged SILENT by every descriptor; nothing else is.
    assert ((flags & Flag.SILENT) != 0).all(axis=1).tolist() == silent.tolist()


@pytest.mark.parametrize(
    "kind",
    ["silence", "dc", "clipped", "noise", "click", "50 ms"],
)
def test_degenerate_clips_give_values_and_the_flags_say_why(timbral, kind):
    rng = np.random.default_rng(0)
    n = 44100
    x = {
        "silence": np.zeros(n),
        "dc": np.full(n, 0.5),
        "clipped": np.clip(8.0 * music(1.0, 44100)[0], -1.0, 1.0),
        "noise": rng.uniform(-1.0, 1.0, n),
        "click": np.eye(1, n, n // 2)[0],
        "50 ms": music(0.05, 44100)[0],
    }[kind]
    values, flags = timbral.extract_with_flags(x[None, None].astype(np.float32), 44100)
    assert np.isfinite(values).all()
    if kind == "silence":
        assert (values == 0.0).all() and all(describe_flags(int(f)) == "SILENT" for f in flags[0])
    if kind == "50 ms":  # shorter than depth's 4096-sample windows and reverb's analysis
        assert flags[0, DESCRIPTORS.index("depth")] & Flag.TOO_SHORT
        assert flags[0, DESCRIPTORS.index("reverb")] & Flag.TOO_SHORT


def test_threads_and_batching_do_not_change_values():
    clips = np.stack([music(1.0, 44100, seed=s) for s in range(4)])
    one = Timbral(threads=1).extract(clips, 44100)
    many = Timbral(threads=4).extract(clips, 44100)
    alone = np.concatenate([Timbral(threads=1).extract(c[None], 44100) for c in clips])
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(one, alone)


@pytest.mark.parametrize("exponent", [-50, 60])
def test_values_do_not_depend_on_the_level_over_float32s_range(timbral, exponent):
    # The reference normalises every clip, so the level only decides the loudness gate.
    # Brightness and depth transform in float32, whose powers overflow for a peak near 1e16.
    clip = music(2.0, 44100, seed=3)[None]
    values, flags = timbral.extract_with_flags(clip, 44100)
    scaled, scaled_flags = timbral.extract_with_flags(clip * np.float32(2.0**exponent), 44100)
    np.testing.assert_allclose(scaled, values, rtol=1e-9, atol=1e-9)
    if exponent > 0:
        np.testing.assert_array_equal(scaled_flags, flags)
    else:  # below the loudness gate's -70 LUFS: flagged, computed all the same
        assert (scaled_flags[0, :-1] & Flag.FALLBACK).all()


def test_a_sparse_clip_whose_spectrum_is_flat_in_one_frame():
    # Sixteen single samples in 0.4 s at 48 kHz: one of roughness' frames holds one impulse,
    # and its flat spectrum's rounding ripple made a peak that cannot be interpolated (Numba
    # raised ZeroDivisionError). The reference drops that peak as well: the same value.
    at = [1456, 2613, 3285, 4779, 4867, 5179, 5445, 7786, 11893, 12655, 13552, 14333, 14735]
    at += [16321, 16535, 19132]
    values = [0.6415054798126221, 0.7750540375709534, 1.2792950868606567, 1.09321129322052]
    values += [1.2992615699768066, 0.15296900272369385, 0.29847580194473267]
    values += [0.4275786280632019, -0.6689380407333374, 1.5325783491134644]
    values += [0.15633048117160797, -0.6937472820281982, -0.6036518216133118]
    values += [-0.11610481888055801, -0.7725828886032104, -0.05991725996136665]
    clip = np.zeros((1, 1, 19200), dtype=np.float32)
    clip[0, 0, at] = values
    out, flags = Timbral(threads=1).extract_with_flags(clip, 48000)
    assert np.isfinite(out).all()
    i = DESCRIPTORS.index("roughness")
    assert out[0, i] == pytest.approx(81.13284739893183, abs=1e-9)  # timbral_models 0.4.0
    assert flags[0, i] & Flag.FALLBACK  # a peak was left out


def test_columns_pick_and_order_descriptors():
    clip = music(1.0, 44100)[None]
    full = Timbral().extract(clip, 44100)[0]
    some = registry.load_feature("timbral", columns=("depth", "brightness")).extract(clip, 44100)
    np.testing.assert_array_equal(
        some[0], full[[DESCRIPTORS.index("depth"), DESCRIPTORS.index("brightness")]]
    )


def test_clip_option_bounds_values():
    loud = np.clip(20.0 * music(1.0, 44100, seed=2), -1, 1)[None]
    assert (Timbral(clip=True).extract(loud, 44100) >= 0.0).all()
    assert (Timbral(clip=True).extract(loud, 44100) <= 100.0).all()


def test_bad_options_and_input_are_named():
    with pytest.raises(DafxError, match=r"unknown timbral descriptor\(s\) \['shine'\]"):
        Timbral(("brightness", "shine"))
    with pytest.raises(DafxError, match="given twice"):
        Timbral(("depth", "depth"))
    with pytest.raises(DafxError, match="threads must be >= 1"):
        Timbral(threads=0)
    with pytest.raises(AudioError, match="non-finite"):
        Timbral().extract(np.full((1, 1, 4096), np.nan, np.float32), 44100)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("channel", "bad"), [(0, np.nan), (1, np.inf), (4, -np.inf)])
def test_non_finite_samples_are_found_in_any_clip_and_channel(threads, channel, bad):
    # Finiteness is checked per clip in the workers (the fourth and later channels, which the
    # channel sum leaves out, apart): the error names the clip and channel as validate_audio's.
    audio = np.tile(music(0.5, 44100, seed=2)[:1], (3, 5, 1))
    audio[2, channel, 100] = bad
    for call in (
        Timbral(("brightness",), threads=threads).extract,
        Timbral(threads=threads).extract_with_flags,
    ):
        with pytest.raises(AudioError, match=rf"non-finite.*\(2, {channel}, 100\)"):
            call(audio, 44100)


@pytest.mark.slow
def test_a_ten_minute_clip_is_described():
    clip = np.tile(music(5.0, 44100, seed=1), (1, 120))[None]  # 10 minutes
    values, flags = Timbral().extract_with_flags(clip, 44100)
    short = Timbral().extract(music(5.0, 44100, seed=1)[None], 44100)
    assert np.isfinite(values).all() and not (flags & (Flag.SILENT | Flag.FALLBACK)).any()
    # A loop of the same 5 s has the same brightness and depth as the 5 s themselves.
    for name in ("brightness", "depth"):
        j = DESCRIPTORS.index(name)
        assert values[0, j] == pytest.approx(short[0, j], abs=2.0)
