"""Run plots: PNG files after a tiny run, PCA projection, skipping when matplotlib is missing."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dafxkit.train import TrainConfig, train
from dafxkit.train.plots import PLOT_FILES, project_2d, write_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TINY = dict(
    steps=4,
    batch_size=4,
    sample_rate=8000,
    seconds=0.5,
    vae_steps=2,
    vae_examples=8,
    vae_batch_size=8,
    n_val=4,
    n_test=6,
    eval_every=2,
    checkpoint_every=2,
    hidden=32,
    latent_dim=8,
    z_dim=4,
    descriptors=(),
    n_audio_examples=1,
    spsa_k=1,
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFXKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("plots")
    mp.setenv("DAFXKIT_CACHE", str(base / "cache"))
    try:
        run = base / "run"
        train(TrainConfig(**TINY), run)
        yield run
    finally:
        mp.undo()


def _is_png(path):
    data = path.read_bytes()
    # Signature, then an IHDR chunk with a non-zero width and height.
    if data[:8] != PNG_MAGIC or data[12:16] != b"IHDR":
        return False
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return width > 0 and height > 0 and data.endswith(b"IEND\xaeB`\x82")


def _hide_matplotlib(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_tiny_run_writes_valid_pngs(tiny_run):
    pytest.importorskip("matplotlib")
    for name in PLOT_FILES:
        assert _is_png(tiny_run / name), name


def test_rewriting_plots_returns_every_file(tiny_run):
    pytest.importorskip("matplotlib")
    from dafxkit.train.loop import load_run

    _, system, _ = load_run(tiny_run)
    written = write_plots(tiny_run, system.layer.effect)
    assert sorted(p.name for p in written) == sorted(PLOT_FILES)


def test_missing_matplotlib_skips_with_a_warning(tiny_run, tmp_path, monkeypatch):
    from dafxkit.train.loop import load_run

    _, system, _ = load_run(tiny_run)
    run = tmp_path / "copy"
    run.mkdir()
    for name in ("metrics.jsonl", "predictions.npz"):
        (run / name).write_bytes((tiny_run / name).read_bytes())
    _hide_matplotlib(monkeypatch)
    with pytest.warns(RuntimeWarning, match="matplotlib is not installed") as record:
        assert write_plots(run, system.layer.effect) == []
    assert len(record) == 1
    assert not any((run / name).exists() for name in PLOT_FILES)


def test_run_finishes_without_matplotlib(tmp_path, monkeypatch):
    _hide_matplotlib(monkeypatch)
    run = tmp_path / "run"
    with pytest.warns(RuntimeWarning, match="skipping plots"):
        summary = train(TrainConfig(**TINY), run)
    assert (run / "summary.json").is_file()
    assert json.loads((run / "summary.json").read_text())["step"] == summary["step"]
    assert not any((run / name).exists() for name in PLOT_FILES)


def test_loss_plot_only_when_not_evaluating(tmp_path):
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    train(TrainConfig(**TINY), run, evaluate_at_end=False)
    assert _is_png(run / "loss.png")
    assert not (run / "latent.png").exists()


@settings(max_examples=30, deadline=None)
@given(
    z=arrays(
        np.float64,
        st.tuples(st.integers(3, 20), st.integers(3, 8)),
        elements=st.floats(-10, 10, allow_nan=False),
    )
)
def test_pca_matches_the_top_two_variance_directions(z):
    coords, labels = project_2d(z)
    assert coords.shape == (len(z), 2)
    assert np.all(np.isfinite(coords))
    centred = z - z.mean(axis=0)
    eigvals = np.sort(np.linalg.eigvalsh(centred.T @ centred))[::-1]
    # The projection keeps exactly the variance along the two leading principal axes.
    var = np.sum(coords**2, axis=0)
    assert var[0] == pytest.approx(eigvals[0], rel=1e-6, abs=1e-6)
    assert var[1] == pytest.approx(eigvals[1], rel=1e-6, abs=1e-6)
    assert labels[0].startswith("PC1")


def test_two_dimensional_z_is_plotted_as_is():
    z = np.arange(10.0).reshape(5, 2)
    coords, labels = project_2d(z)
    np.testing.assert_array_equal(coords, z)
    assert labels == ("z0", "z1")
    with pytest.raises(ValueError, match="shape"):
        project_2d(np.zeros((0, 3)))
