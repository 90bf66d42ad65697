"""Checks reject what they should; the pipeline is deterministic by seed, batched or not."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from dafxkit.data import (
    AugmentConfig,
    CheckConfig,
    Checker,
    DataError,
    PairConfig,
    Pipeline,
    PipelineConfig,
    SamplerConfig,
    mfcc_similarity,
    rms_dbfs,
)
from dafxkit.errors import ParameterError, UnknownPluginError
from dafxkit.signals import test_signal as music
from tests.conftest import fast_pipeline_config

RATE = 22050


def _config(**changes) -> PipelineConfig:
    """Short mono clips, no descriptors, a small synthetic collection: fast to generate."""
    return fast_pipeline_config(tracks=40, **changes)


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    return np.stack([music(1.0, RATE, seed=i) for i in range(4)])  # (4, 1, n)


def test_similarity_is_one_for_copies_and_gain_changes_and_low_for_noise(clips):
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(clips.shape)).astype(np.float32)
    sim = mfcc_similarity(clips, clips, 0.1 * clips, noise, np.tanh(8 * clips), sample_rate=RATE)
    assert sim.shape == (4, 4)
    np.testing.assert_allclose(sim[:, 0], 1.0, atol=1e-9)
    np.testing.assert_allclose(sim[:, 1], 1.0, atol=1e-3)  # c0 (level) is left out
    assert np.all(sim[:, 2] < 0.3)
    assert np.all((sim[:, 3] > 0.6) & (sim[:, 3] < 0.999))  # heavy but musical distortion


def test_silent_frames_count_as_equal_only_when_both_are_silent(clips):
    gapped = clips.copy()
    gapped[:, :, : RATE // 2] = 0.0
    sim = mfcc_similarity(gapped, gapped, clips, sample_rate=RATE)
    np.testing.assert_allclose(sim[:, 0], 1.0, atol=1e-9)
    assert np.all(sim[:, 1] < 0.75)  # half the frames silent in one clip only


def test_checker_names_the_first_failing_check(clips):
    checker = Checker(CheckConfig(), RATE)
    ya = np.tanh(4 * clips)
    yb = np.tanh(2 * clips)
    rng = np.random.default_rng(1)
    ya[1] = 0.0  # silent
    yb[2] = clips[2]  # unchanged
    ya[3] = 0.3 * rng.standard_normal(ya[3].shape)  # destroyed
    result = checker(clips, ya.astype(np.float32), yb.astype(np.float32))
    assert result.reasons == [None, "silent_output", "too_similar", "too_different"]
    assert result.rms_dbfs.shape == (4, 3) and result.similarity.shape == (4, 2)
    assert result.kept.tolist() == [True, False, False, False]
    nan = ya.copy()
    nan[0, 0, 5] = np.nan
    assert checker(clips, nan, yb).reasons[0] == "non_finite"


def test_checker_given_the_clips_mfccs_gives_the_same_result(clips):
    checker = Checker(CheckConfig(), RATE)
    ya, yb = np.tanh(4 * clips), np.tanh(2 * clips)
    yb[2] = clips[2]
    fresh = checker(clips, ya, yb)
    reused = checker(clips, ya, yb, x_mfcc=checker.reference_mfcc(clips))
    assert reused.reasons == fresh.reasons
    np.testing.assert_array_equal(reused.similarity, fresh.similarity)


def test_a_clips_mfccs_are_computed_once_however_many_settings_it_tries(monkeypatch):
    # A narrow similarity range makes most settings fail, so clips are tried with several.
    config = _config(checks=CheckConfig(mfcc_similarity=(0.6, 0.97)), param_draws=4)
    pipeline = Pipeline(config)
    reference_rows = []
    original = Checker.reference_mfcc

    def counting(self, x):
        reference_rows.append(len(x))
        return original(self, x)

    clips_drawn = []
    draw = pipeline._draw_clip

    def counting_draws(index, state):
        reason = draw(index, state)
        clips_drawn.append(reason is None)
        return reason

    monkeypatch.setattr(Checker, "reference_mfcc", counting)
    monkeypatch.setattr(pipeline, "_draw_clip", counting_draws)
    examples = pipeline.examples(range(6))
    checked = pipeline.stats.attempts - pipeline.stats.rejected["silent_window"]
    # One MFCC per clip drawn, fewer than the settings checked (a clip tried with new
    # settings is not measured again).
    assert sum(reference_rows) == sum(clips_drawn) < checked
    # The same examples as a pipeline that measures x at every attempt would keep.
    monkeypatch.setattr(Checker, "reference_mfcc", original)

    class Remeasuring(Checker):
        def __call__(self, x, ya, yb, x_mfcc=None):
            return super().__call__(x, ya, yb)

    plain = Pipeline(config)
    plain.checker = Remeasuring(config.checks, config.sampler.sample_rate)
    for a, b in zip(examples, plain.examples(range(6)), strict=True):
        assert a.attempt == b.attempt
        np.testing.assert_array_equal(a.theta_a, b.theta_a)
        np.testing.assert_array_equal(a.similarity, b.similarity)


def test_rms_dbfs():
    x = np.full((2, 2, 100), 0.5, np.float32)
    x[1] = 0
    levels = rms_dbfs(x)
    assert levels[0] == pytest.approx(20 * np.log10(0.5)) and levels[1] == -np.inf


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 2), st.integers(1, 5000)),
    scale=st.floats(1e-6, 4.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_rms_dbfs_of_the_c_kernel_matches_numpy(shape, scale, seed):
    x = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)
    expected = 10 * np.log10(np.mean(x.astype(np.float64) ** 2, axis=(-2, -1)))
    np.testing.assert_allclose(rms_dbfs(x), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(rms_dbfs(x[0]), expected[0], rtol=0, atol=1e-9)  # one clip
    np.testing.assert_allclose(rms_dbfs(x.astype(np.float64)), expected, rtol=0, atol=1e-9)


def test_same_seed_same_examples_whatever_the_batching_and_order():
    a = Pipeline(_config(seed=3)).examples(range(6))
    b = Pipeline(_config(seed=3, batch_size=1)).examples([5, 2, 0, 1, 4, 3])
    b = sorted(b, key=lambda e: e.index)
    for ea, eb in zip(a, b, strict=True):
        assert ea.index == eb.index and ea.track == eb.track and ea.attempt == eb.attempt
        np.testing.assert_array_equal(ea.x, eb.x)
        np.testing.assert_array_equal(ea.ya, eb.ya)
        np.testing.assert_array_equal(ea.theta_b, eb.theta_b)
    c = Pipeline(_config(seed=4)).examples(range(6))
    assert not any(np.array_equal(ea.x, ec.x) for ea, ec in zip(a, c, strict=True))


def test_examples_hold_a_pair_from_one_clip_and_settings_in_range():
    config = _config(pairs=PairConfig("distortion", low=0.2, high=0.9, ranges={"mix": (1.0, 1.0)}))
    pipeline = Pipeline(config)
    examples = pipeline.examples(range(8))
    mix = pipeline.param_names.index("mix")
    for ex in examples:
        assert ex.x.shape == ex.ya.shape == ex.yb.shape == (1, RATE)
        for theta in (ex.theta_a, ex.theta_b):
            assert np.all((theta >= 0.2) & (theta <= 0.9) | (np.arange(4) == mix))
            assert theta[mix] == 1.0
        low, high = config.checks.mfcc_similarity
        assert np.all((ex.similarity >= low) & (ex.similarity <= high))
        # ya is the effect of θa on x, from one batched call: rerunning it alone agrees.
        alone = pipeline.effect(ex.x[None], ex.theta_a[None], RATE)[0]
        np.testing.assert_allclose(alone, ex.ya, atol=1e-6)
    stats = pipeline.stats
    assert stats.kept == 8 and stats.attempts == 8 + sum(stats.rejected.values())
    assert all(stats.seconds[s] > 0 for s in ("source", "effect", "checks"))


def test_descriptors_of_x_ya_yb_come_with_examples():
    pipeline = Pipeline(_config(descriptors=("brightness", "depth")))
    [ex] = pipeline.examples([0])
    assert ex.descriptors.shape == (3, 2) and np.isfinite(ex.descriptors).all()
    assert ex.flags.shape == (3, 2)
    assert not np.allclose(ex.descriptors[0], ex.descriptors[1])


def test_bad_configuration_is_named():
    with pytest.raises(UnknownPluginError, match="distorsion"):
        Pipeline(_config(pairs=PairConfig("distorsion")))
    with pytest.raises(ParameterError, match="no parameter.*drive.*drive_db"):
        Pipeline(_config(pairs=PairConfig("distortion", ranges={"drive": (0, 1)})))
    with pytest.raises(DataError, match="no sparkle"):
        Pipeline(_config(descriptors=("brightness", "sparkle")))
    with pytest.raises(DataError, match="channels"):
        SamplerConfig(channels=3)


def test_a_silent_source_fails_after_max_attempts_with_the_reasons(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(3 * RATE, np.float32), RATE)
    pipeline = Pipeline(_config(source=f"folder:{tmp_path}", max_attempts=5))
    with pytest.raises(DataError, match=r"all 5 draws were rejected \(silent_window: 5\)"):
        pipeline.examples([0])


def test_unreadable_windows_are_counted_and_skipped(tmp_path, caplog):
    sf.write(tmp_path / "good.wav", music(3.0, RATE, seed=1)[0], RATE)
    sf.write(tmp_path / "bad.flac", music(3.0, RATE, seed=2)[0], RATE)
    data = bytearray((tmp_path / "bad.flac").read_bytes())
    for i in range(len(data) // 4, len(data)):  # a valid header over garbage
        data[i] = (7 * data[i] + 13) % 256
    (tmp_path / "bad.flac").write_bytes(bytes(data))
    pipeline = Pipeline(_config(source=f"folder:{tmp_path}"))
    examples = pipeline.examples(range(6))
    assert all(ex.track == "good.wav" for ex in examples)
    assert pipeline.stats.rejected["unreadable"] > 0
    assert "bad.flac" in caplog.text


def test_config_round_trips_through_a_dict():
    config = _config(
        pairs=PairConfig("gain>distortion", ranges={"distortion.mix": (0.5, 1.0)}),
        checks=CheckConfig(min_rms_dbfs=-40.0, mfcc_similarity=(0.5, 0.99)),
        augment=AugmentConfig(tempo_range=(0.95, 1.05)),
    )
    assert PipelineConfig.from_dict(config.to_dict()) == config


def test_small_pages_switches_numpys_huge_page_requests_and_back(monkeypatch):
    from dafxkit.data.pipeline import small_pages

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    multiarray = np._core.multiarray
    before = multiarray._get_madvise_hugepage()
    try:
        multiarray._set_madvise_hugepage(True)
        assert small_pages() is False  # huge pages were asked for
        assert multiarray._get_madvise_hugepage() is False
        assert small_pages(False) is True
        assert multiarray._get_madvise_hugepage() is True
    finally:
        multiarray._set_madvise_hugepage(before)


def test_small_pages_leaves_the_users_numpy_setting_alone(monkeypatch):
    from dafxkit.data.pipeline import small_pages

    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    multiarray = np._core.multiarray
    before = multiarray._get_madvise_hugepage()
    try:
        multiarray._set_madvise_hugepage(True)
        assert small_pages() is False
        assert multiarray._get_madvise_hugepage() is True
    finally:
        multiarray._set_madvise_hugepage(before)


def test_descriptors_of_a_partly_kept_batch_belong_to_the_kept_examples():
    # Rows are selected per group (x, ya, yb) when some draws are rejected: every kept
    # example's descriptors must be those of its own clips.
    from dafxkit.descriptors.timbral import Timbral

    config = fast_pipeline_config(batch_size=8, descriptors=("brightness", "depth"))
    pipe = Pipeline(config)
    extractor = Timbral(columns=config.descriptors, threads=1)
    examples = pipe.examples(range(12))
    assert sum(pipe.stats.rejected.values()) > 0  # some batches were partly kept
    for ex in examples:
        clips = np.stack([ex.x, ex.ya, ex.yb])
        values, _ = extractor.extract_with_flags(clips, config.sampler.sample_rate)
        np.testing.assert_allclose(ex.descriptors, values, rtol=1e-12, atol=1e-12)


def _keep_freed_memory_in_a_fresh_process(**env: str) -> str:
    import os
    import subprocess
    import sys

    code = "from dafxkit.data.pipeline import keep_freed_memory; print(keep_freed_memory())"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    clean.pop("GLIBC_TUNABLES", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_workers_keep_freed_memory_on_glibc_unless_the_user_tuned_malloc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        assert _keep_freed_memory_in_a_fresh_process() == "False"
        return
    assert _keep_freed_memory_in_a_fresh_process() == "True"
    assert _keep_freed_memory_in_a_fresh_process(MALLOC_TRIM_THRESHOLD_="65536") == "False"
    assert (
        _keep_freed_memory_in_a_fresh_process(GLIBC_TUNABLES="glibc.malloc.trim_threshold=1")
        == "False"
    )
