"""SPSA: agreement with autograd on differentiable twins, boundaries, devices, recovery."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dafxkit import Effect, Param, load_effect, native
from dafxkit.errors import NativeError, ParameterError
from dafxkit.spsa import EffectLayer, spsa_gradient
from tests.strategies import effect_cases

RATE = 16000


# -- torch twins of built-in effects, differentiable by autograd -----------------------------


def gain_twin(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    gain_db = -24.0 + 48.0 * p[:, 0]
    return x * torch.pow(10.0, gain_db / 20.0)[:, None, None]


def one_pole(w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """lp[n] = lp[n-1] + a (w[n] - lp[n-1]) as a causal FFT convolution with a (1 - a)^n."""
    n = w.shape[-1]
    h = a[:, None, None] * torch.pow(1.0 - a[:, None, None], torch.arange(n, dtype=w.dtype))
    size = 2 * n
    return torch.fft.irfft(torch.fft.rfft(w, size) * torch.fft.rfft(h, size), size)[..., :n]


def distortion_twin(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    drive_db = 40.0 * p[:, 0]
    tone_hz = 200.0 * torch.pow(torch.tensor(90.0, dtype=p.dtype), p[:, 1])
    mix, output_db = p[:, 2], -24.0 + 36.0 * p[:, 3]
    wet = one_pole(
        torch.tanh(torch.pow(10.0, drive_db / 20.0)[:, None, None] * x),
        1.0 - torch.exp(-2.0 * math.pi * tone_hz / RATE),
    )
    level = torch.pow(10.0, output_db / 20.0)[:, None, None]
    return level * ((1.0 - mix)[:, None, None] * x + mix[:, None, None] * wet)


TWINS = {"gain": gain_twin, "distortion": distortion_twin}


@pytest.fixture
def clips(rng):
    t = np.arange(2048) / RATE
    tones = np.sin(2 * np.pi * rng.uniform(100, 2000, (6, 1, 1)) * t)
    return (0.6 * tones + 0.1 * rng.standard_normal((6, 1, 2048))).astype(np.float32)


@pytest.mark.parametrize("name", TWINS)
def test_twins_match_the_effects(name, clips, rng):
    fx = load_effect(name)
    p = rng.uniform(0, 1, (len(clips), fx.n_params))
    twin = TWINS[name](torch.from_numpy(clips).double(), torch.from_numpy(p)).numpy()
    np.testing.assert_allclose(fx(clips, p, RATE), twin, atol=2e-5)


def _autograd_and_spsa(name, clips, p, target, k, epsilon, seed=0):
    x = torch.from_numpy(clips)
    params = torch.tensor(p, requires_grad=True)
    loss = ((TWINS[name](x.double(), params) - torch.from_numpy(target)) ** 2).sum()
    loss.backward()
    exact = params.grad.numpy().copy()

    layer = EffectLayer(name, RATE, k=k, epsilon=epsilon, seed=seed)
    params = torch.tensor(p, requires_grad=True)
    loss = ((layer(x, params) - torch.from_numpy(target).float()) ** 2).sum()
    loss.backward()
    return exact, params.grad.numpy()


@pytest.mark.parametrize("name", TWINS)
def test_spsa_agrees_with_autograd(name, clips, rng):
    """K = 64 directions, ε = 0.01: cosine similarity with the exact gradient ≥ 0.9."""
    fx = load_effect(name)
    p = rng.uniform(0.1, 0.9, (len(clips), fx.n_params))
    target = fx(clips, rng.uniform(0.1, 0.9, p.shape), RATE).astype(np.float64)
    exact, estimate = _autograd_and_spsa(name, clips, p, target, k=64, epsilon=0.01)
    cosine = (exact * estimate).sum() / (np.linalg.norm(exact) * np.linalg.norm(estimate))
    assert cosine >= 0.9, cosine


def test_spsa_is_unbiased(clips, rng):
    """The mean over 4000 directions converges to the exact gradient (fixed seed)."""
    fx = load_effect("distortion")
    x, p = clips[:2], rng.uniform(0.2, 0.8, (2, fx.n_params))
    target = fx(x, rng.uniform(0.2, 0.8, p.shape), RATE).astype(np.float64)
    exact, estimate = _autograd_and_spsa("distortion", x, p, target, k=4000, epsilon=0.002)
    # Standard error per coordinate ~ |g| sqrt(P - 1) / sqrt(K) ≈ 2.7 % of |g| here.
    assert np.linalg.norm(estimate - exact) <= 0.1 * np.linalg.norm(exact)


class Scale(Effect):
    """y = x · (1 + 3p): linear in p, so SPSA is exact for any direction and step."""

    name = "scale"
    params = (Param("amount", 0.0, 1.0, 0.5),)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def process(self, audio, values, sample_rate, backend):
        self.calls.append(audio.shape[0])
        return (audio * (1.0 + 3.0 * values["amount"])[:, None, None]).astype(np.float32)


@pytest.mark.parametrize("value", [0.0, 0.003, 0.5, 0.997, 1.0])
def test_boundaries_keep_probes_inside_and_the_step_exact(value, rng):
    fx = Scale()
    x = rng.standard_normal((3, 2, 64)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    p = np.full((3, 1), value)
    grad = spsa_gradient(fx, x, p, g, RATE, epsilon=0.01, k=3, rng=rng)
    # dL/dp = <g, 3x> per row; a probe outside [0, 1] would have raised in the effect.
    np.testing.assert_allclose(grad[:, 0], 3.0 * (g * x).sum(axis=(1, 2)), rtol=1e-4)


def test_one_batched_call_per_step_and_none_under_no_grad(rng):
    fx = Scale()
    layer = EffectLayer(fx, RATE, k=4, seed=0)
    x = torch.from_numpy(rng.standard_normal((5, 1, 32)).astype(np.float32))
    params = torch.full((5, 1), 0.5, requires_grad=True)
    layer(x, params).sum().backward()
    assert fx.calls == [5, 2 * 4 * 5]
    fx.calls.clear()
    with torch.no_grad():
        layer(x, params)
    assert fx.calls == [5]


def test_input_gradient_choices(rng):
    x = torch.from_numpy(rng.standard_normal((2, 1, 32)).astype(np.float32)).requires_grad_()
    params = torch.full((2, 1), 0.5, requires_grad=True)
    EffectLayer(Scale(), RATE)(x, params).sum().backward()
    assert x.grad is None and params.grad is not None
    weights = torch.randn(2, 1, 32)
    (
        EffectLayer(Scale(), RATE, input_grad="straight_through")(x, params) * weights
    ).sum().backward()
    torch.testing.assert_close(x.grad, weights)


def test_chains_and_reproducible_directions(rng):
    x = torch.from_numpy(rng.uniform(-0.5, 0.5, (3, 2, 256)).astype(np.float32))
    grads = []
    for _ in range(2):
        layer = EffectLayer("gain>distortion", RATE, k=2, seed=7)
        params = torch.full((3, layer.n_params), 0.4, requires_grad=True)
        layer(x, params).pow(2).sum().backward()
        grads.append(params.grad)
    assert grads[0].shape == (3, 5) and torch.isfinite(grads[0]).all()
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": 0.6}, "epsilon"),
        ({"k": 0}, "k >= 1"),
        ({"input_grad": "sometimes"}, "input_grad"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        EffectLayer("gain", RATE, **kwargs)


def test_bad_parameters_are_named_by_the_effect():
    layer = EffectLayer("gain", RATE)
    with pytest.raises(ParameterError, match=r"\[0, 1\].*'gain_db'"):
        layer(torch.zeros(1, 1, 8), torch.full((1, 1), 1.5, requires_grad=True))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_on_cuda_effect_on_cpu(rng):
    x = torch.from_numpy(rng.uniform(-0.5, 0.5, (4, 1, 512)).astype(np.float32)).cuda()
    params = torch.full((4, 4), 0.5, device="cuda", requires_grad=True)
    y = EffectLayer("distortion", RATE, k=2)(x, params)
    assert y.device.type == "cuda"
    y.pow(2).sum().backward()
    assert params.grad.device.type == "cuda" and torch.isfinite(params.grad).all()


def recover(name: str, steps: int, k: int, lr: float, rate: int = 44100, seed: int = 0):
    """Gradient descent through SPSA on an MR-STFT loss, from 0.5 towards known settings.

    Four 0.5 s clips of the built-in test signal, each with its own random target setting in
    [0.2, 0.8]; Adam with a cosine-decayed learning rate. Returns (first loss, last loss,
    mean absolute parameter error per parameter).
    """
    from dafxkit.models.losses import MultiResolutionSTFTLoss
    from dafxkit.signals import test_signal

    torch.manual_seed(seed)
    fx = load_effect(name)
    x = np.stack([test_signal(0.5, rate, seed=s) for s in range(4)])
    theta = np.random.default_rng(seed).uniform(0.2, 0.8, (4, fx.n_params))
    target = torch.from_numpy(fx(x, theta, rate))
    layer = EffectLayer(fx, rate, k=k, epsilon=0.01, seed=seed)
    loss_fn = MultiResolutionSTFTLoss((256, 512, 1024), (64, 128, 256), (256, 512, 1024))
    p = torch.full((4, fx.n_params), 0.5, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=0.02 * lr)
    xt, losses = torch.from_numpy(x), []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(layer(xt, p), target)
        loss.backward()
        opt.step()
        schedule.step()
        with torch.no_grad():
            p.clamp_(0.0, 1.0)
        losses.append(loss.item())
    return losses[0], losses[-1], np.abs(p.detach().numpy() - theta).mean(axis=0)


def test_recovers_distortion_parameters():
    """Measured: loss 3.73 -> 0.031; parameter MAE (drive, tone, mix, output) ≈ 0.001, 0.003,
    0.063, 0.015 after 600 steps with K = 8 (mix and output level trade off on one clip)."""
    first, last, error = recover("distortion", steps=600, k=8, lr=0.03)
    assert last < first / 20
    assert error.mean() < 0.05 and error.max() < 0.1, error


def test_recovers_compressor_parameters():
    """Measured: loss 2.46 -> 0.090 after 600 steps with K = 8; MAE threshold 0.026, attack
    0.002, release 0.002, makeup 0.011. Ratio (0.14) and knee (0.22) trade off against each
    other on these clips, whose levels rarely sit inside the knee: they are not asserted."""
    first, last, error = recover("compressor", steps=600, k=8, lr=0.03)
    assert last < first / 20
    threshold, ratio, attack, release, knee, makeup = error
    assert max(threshold, attack, release, makeup) < 0.05, error


@pytest.mark.parametrize("name", ["distortion", "gate"])  # a fused kernel, and the default path
def test_reused_workspace_gives_the_same_gradient(name, clips, rng):
    fx = load_effect(name)
    p = rng.uniform(0, 1, (len(clips), fx.n_params))
    g = rng.standard_normal(clips.shape).astype(np.float32)
    delta = rng.integers(0, 2, (3, len(clips), fx.n_params)) * 2.0 - 1.0
    plain = spsa_gradient(fx, clips, p, g, RATE, k=3, delta=delta)
    shape = (2 * 3 * len(clips), *clips.shape[1:])
    workspace = (np.full(shape, np.nan, np.float32), np.full(shape, np.nan, np.float32))
    for _ in range(2):
        reused = spsa_gradient(fx, clips, p, g, RATE, k=3, delta=delta, workspace=workspace)
        np.testing.assert_array_equal(reused, plain)


# -- the fused probe path: kernels that fold their output into ⟨g, y⟩ --------------------------

#: Built-in effects whose C kernel has a fused ``_dot`` form.
FUSED = [
    "distortion",
    "softclip",
    "hardclip",
    "tube",
    "compressor",
    "gate",
    "bitcrusher",
    "equaliser",
    "reverb",
    "delay",
    "chorus",
    "flanger",
    "phaser",
]

needs_native = pytest.mark.skipif(not native.available(), reason="needs the C library")


def _unfused_dots(fx, audio, values, grad, rate, repeat):
    """⟨g, y⟩ per parameter row from stored outputs, in float64."""
    y = fx.process(np.repeat(audio, repeat, axis=0), values, rate, "c").astype(np.float64)
    g = np.repeat(grad, repeat, axis=0).astype(np.float64)
    return (y * g).sum(axis=(1, 2)), np.abs(y * g).sum(axis=(1, 2))


@needs_native
@pytest.mark.parametrize("name", FUSED)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# repeat up to 9: the compressor and gate run 8 rows in one lane group, which then all read one
# clip (loaded once for all of them), and a ninth row starts a group that spans two clips.
@given(case=effect_cases(n_params=1, max_samples=1500), repeat=st.integers(1, 9), data=st.data())
def test_fused_kernels_give_the_stored_outputs_dot_products(name, case, repeat, data):
    fx = load_effect(name)
    audio, _, rate = case
    if name == "reverb" and audio.shape[1] > 2:
        audio = audio[:, :2]
    rows = audio.shape[0] * repeat
    unit = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
    flat = data.draw(st.lists(unit, min_size=rows * fx.n_params, max_size=rows * fx.n_params))
    values = fx.denormalise(np.array(flat).reshape(rows, fx.n_params))
    seed = data.draw(st.integers(0, 2**32 - 1))
    grad = np.random.default_rng(seed).standard_normal(audio.shape).astype(np.float32)
    fused = fx.process_dot(audio, values, grad, float(rate), "c", repeat=repeat)
    dots, scale = _unfused_dots(fx, audio, values, grad, float(rate), repeat)
    assert fused.shape == (rows,) and fused.dtype == np.float64
    # The same float32 outputs, summed in double in another order: agreement to the rounding of
    # the sums, far below the 1e-6 a float32 dot product would lose.
    np.testing.assert_allclose(fused, dots, rtol=0, atol=1e-12 * scale.max() + 1e-30)


@needs_native
@pytest.mark.parametrize("name", FUSED)
def test_fused_and_unfused_spsa_give_the_same_gradient(name, monkeypatch, rng):
    fx = load_effect(name)
    clips = (0.5 * rng.standard_normal((4, 2, 3000))).astype(np.float32)
    p = rng.uniform(0, 1, (4, fx.n_params))
    g = rng.standard_normal(clips.shape).astype(np.float32)
    delta = rng.integers(0, 2, (3, 4, fx.n_params)) * 2.0 - 1.0
    fused = spsa_gradient(fx, clips, p, g, 44100, k=3, delta=delta, epsilon=0.05)
    # Effect's own process_dot: tile, process, float32 matrix product.
    monkeypatch.setattr(type(fx), "process_dot", Effect.process_dot)
    unfused = spsa_gradient(fx, clips, p, g, 44100, k=3, delta=delta, epsilon=0.05)
    scale = np.abs(unfused).max() + 1e-12
    np.testing.assert_allclose(fused, unfused, rtol=0, atol=1e-4 * scale)


@needs_native
def test_fused_path_checks_its_arguments(rng):
    fx = load_effect("distortion")
    audio = rng.standard_normal((2, 1, 64)).astype(np.float32)
    values = fx.denormalise(fx.default_params(4))
    with pytest.raises(NativeError, match="gradient must have the audio's shape"):
        fx.process_dot(audio, values, audio[:1], 44100.0, "c", repeat=2)
    with pytest.raises(ParameterError, match=r"must have shape \(6,\)"):
        fx.process_dot(audio, values, audio, 44100.0, "c", repeat=3)
    with pytest.raises(NativeError, match="must have 6 rows"):
        native.run_kernel_dot("distortion", audio, audio, 3, [np.zeros(4)] * 4, 44100.0, 0)
    with pytest.raises(NativeError, match="repeat must be a positive integer"):
        native.run_kernel_dot("distortion", audio, audio, 0, [np.zeros(0)] * 4, 44100.0, 0)
    with pytest.raises(ParameterError, match="grad_output must have the audio's shape"):
        spsa_gradient(fx, audio, fx.default_params(2), audio[:, :, :10], 44100)


def test_default_process_dot_works_for_any_effect(rng):
    fx = Scale()
    audio = rng.standard_normal((3, 2, 50)).astype(np.float32)
    grad = rng.standard_normal(audio.shape).astype(np.float32)
    amount = rng.uniform(0, 1, 6)
    dots = fx.process_dot(audio, {"amount": amount}, grad, RATE, "numpy", repeat=2)
    clip = np.arange(6) // 2  # row r runs on clip r // repeat
    expected = (1.0 + 3.0 * amount) * (audio[clip] * grad[clip]).sum(axis=(1, 2))
    np.testing.assert_allclose(dots, expected, rtol=1e-5)
    assert fx.calls == [6]
