"""The descriptor loss: SPSA through effect and descriptor extractor, against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dafxkit.data import Pipeline
from dafxkit.descriptors.timbral import Timbral
from dafxkit.errors import DafxError
from dafxkit.models.descriptor_loss import DescriptorLoss, descriptors_of_effect, probe_descriptors
from dafxkit.spsa import EffectLayer
from tests.conftest import fast_pipeline_config

RATE = 22050
NAMES = ("brightness", "depth")


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    """Four 1 s clips of synthetic music, ``(4, 1, 22050)``."""
    examples = Pipeline(fast_pipeline_config(tracks=30, seconds=1.0)).examples(range(4))
    return np.stack([e.x for e in examples]).astype(np.float32)


@pytest.fixture(scope="module")
def extractor() -> Timbral:
    return Timbral(columns=NAMES)


def _loss(extractor, *, k: int, epsilon: float, seed: int = 0) -> DescriptorLoss:
    layer = EffectLayer("distortion", RATE, epsilon=epsilon, k=k, seed=seed)
    return DescriptorLoss(layer, extractor, NAMES)


def test_spsa_gradient_agrees_with_central_differences(clips, extractor):
    """K = 16 directions, ε = 0.05: the SPSA estimate of Jᵀg for θ ↦ d(fx(x, θ)) points the
    way a central finite difference (step ε per coordinate) does: cosine > 0.5 over the
    batch (0.84 with this seed)."""
    eps = 0.05
    loss = _loss(extractor, k=16, epsilon=eps, seed=3)
    rng = np.random.default_rng(7)
    theta = rng.uniform(0.2, 0.8, (len(clips), 4))
    g = rng.normal(size=(len(clips), len(NAMES)))
    params = torch.tensor(theta, requires_grad=True)
    values = descriptors_of_effect(torch.from_numpy(clips), params, loss)
    (values * torch.from_numpy(g)).sum().backward()
    estimate = params.grad.numpy()

    reference = np.zeros_like(theta)
    for i in range(theta.shape[1]):
        step = np.zeros(theta.shape[1])
        step[i] = eps
        up = probe_descriptors(loss.layer, extractor, loss.columns, clips, theta + step)
        down = probe_descriptors(loss.layer, extractor, loss.columns, clips, theta - step)
        reference[:, i] = ((up - down) * g).sum(-1) / (2 * eps)
    cosine = (estimate * reference).sum() / np.linalg.norm(estimate) / np.linalg.norm(reference)
    assert cosine > 0.5, f"SPSA vs central differences: cosine {cosine:.3f}"


def test_forward_values_are_the_descriptors_of_the_effected_clips(clips, extractor):
    loss = _loss(extractor, k=1, epsilon=0.02)
    theta = torch.full((len(clips), 4), 0.5, dtype=torch.float64)
    y = loss.layer(torch.from_numpy(clips), theta)
    expected = extractor.extract(y.numpy(), RATE)
    target = torch.zeros(len(clips), 2, dtype=torch.float64)
    value, mae = loss(torch.from_numpy(clips), theta, target)
    np.testing.assert_allclose(mae.numpy(), np.abs(expected).mean(0), rtol=1e-6)
    assert float(value) == pytest.approx(np.abs(expected).mean() / 10.0)
    given, _ = loss(torch.from_numpy(clips), theta, target, output=y)  # output reused
    assert float(given) == pytest.approx(float(value))


def test_probes_stay_inside_the_parameter_box(clips, extractor, monkeypatch):
    """At θ = 0 and θ = 1 every probe is in [0, 1] (the centre moves inward)."""
    loss = _loss(extractor, k=4, epsilon=0.1)
    seen = []
    process = loss.layer.effect.__class__.__call__

    def spy(self, audio, params, *args, **kwargs):
        seen.append(np.array(params))
        return process(self, audio, params, *args, **kwargs)

    monkeypatch.setattr(loss.layer.effect.__class__, "__call__", spy)
    theta = torch.tensor([[0.0, 1.0, 0.0, 1.0]] * 2, dtype=torch.float64, requires_grad=True)
    value, _ = loss(torch.from_numpy(clips[:2]), theta, torch.zeros(2, 2, dtype=torch.float64))
    value.backward()
    probes = seen[-1]
    assert probes.shape == (2 * 4 * 2, 4)  # 2·K·B rows in one call
    assert probes.min() >= 0.0 and probes.max() <= 1.0
    assert torch.isfinite(theta.grad).all()


def test_descending_the_loss_lowers_the_descriptor_error(clips, extractor):
    """Adam on θ directly, 15 steps from the effect's midpoint towards the descriptors of
    fx(x, θ*): the descriptor error falls well below its start."""
    loss = _loss(extractor, k=4, epsilon=0.05, seed=1)
    x = torch.from_numpy(clips)
    goal = torch.tensor(np.random.default_rng(2).uniform(0.1, 0.9, (len(clips), 4)))
    target = torch.from_numpy(
        probe_descriptors(loss.layer, extractor, loss.columns, clips, goal.numpy())
    )
    theta = torch.full((len(clips), 4), 0.5, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=0.05)
    errors = []
    for _ in range(15):
        value, mae = loss(x, theta, target)
        errors.append(float(mae.mean()))
        opt.zero_grad()
        value.backward()
        opt.step()
        with torch.no_grad():
            theta.clamp_(0.0, 1.0)
    assert errors[-1] < 0.6 * errors[0], errors


def test_bad_descriptors_and_targets_are_named(extractor):
    layer = EffectLayer("distortion", RATE)
    with pytest.raises(DafxError, match="asked for \\['loudness'\\]"):
        DescriptorLoss(layer, extractor, ("loudness",))
    loss = DescriptorLoss(layer, extractor, NAMES)
    x = torch.zeros(2, 1, 1000)
    with pytest.raises(DafxError, match="target must have shape \\(2, 2\\)"):
        loss(x, torch.full((2, 4), 0.5), torch.zeros(2, 3))
