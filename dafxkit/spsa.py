"""Black-box gradients through any registered effect: SPSA in one batched effect call per step.

For ``y = fx(x, p)`` the backward pass needs ``Jᵀ g`` for the incoming gradient ``g``. With a
Rademacher direction ``Δ ∈ {−1, +1}^P`` per row and step ``ε``::

    ∂L/∂p ≈ Δ · ⟨g, fx(x, c + εΔ) − fx(x, c − εΔ)⟩ / (2ε),   averaged over K directions

All ``2·K·B`` evaluations run as one call of the effect's batched kernel on the CPU, whatever
device the model lives on: tensors cross to the CPU once and the gradient comes back once.

At the edges of [0, 1] the centre moves inward, ``c = clip(p, ε, 1 − ε)``, so both probes stay
inside the parameter box and the step is always exactly ``2ε``: the estimate is the gradient at a
point at most ``ε`` from ``p``, never a difference divided by a step that clipping shrank.

The gradient with respect to the input audio cannot be estimated this way (its dimension is the
clip length). ``input_grad`` chooses what flows back to the audio: ``"none"`` (the default: the
effect is a leaf for the audio path) or ``"straight_through"`` (``∂L/∂x ≈ g``, i.e. the effect
treated as the identity, biased but useful when an upstream model must see some signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from dafxkit.audio import validate_audio, validate_sample_rate
from dafxkit.effect import Effect
from dafxkit.errors import ParameterError

__all__ = ["BatchShare", "EffectLayer", "spsa_effect", "spsa_gradient"]

InputGrad = Literal["none", "straight_through"]


@dataclass(frozen=True)
class BatchShare:
    """This process holds rows ``offset … offset + size − 1`` of a global batch of ``total``.

    In data-parallel training each process sees a slice of one global batch. Random draws with
    one row per batch row (SPSA directions, a VAE's or controller's sampling noise) are then
    drawn for the whole global batch, from a generator in the same state in every process, and
    each process keeps its own rows: together the processes draw exactly what one process
    holding the global batch would, so a run does not depend on how many processes share it.
    """

    offset: int
    size: int
    total: int

    def __post_init__(self) -> None:
        if not (0 <= self.offset and 0 < self.size and self.offset + self.size <= self.total):
            raise ParameterError(
                f"batch share of rows {self.offset}..{self.offset + self.size - 1} does not fit "
                f"a global batch of {self.total}"
            )

    def take(self, full: Any, rows: int, dim: int = 0) -> Any:
        """This process's ``rows`` of ``full`` (drawn for ``total`` rows along ``dim``)."""
        if rows != self.size:
            raise ParameterError(
                f"this process holds {self.size} rows of the global batch but was given {rows}"
            )
        return full.narrow(dim, self.offset, self.size)

    @staticmethod
    def randn_rows(like: torch.Tensor, share: BatchShare | None) -> torch.Tensor:
        """Standard normal noise shaped like ``like`` (rows first): ``torch.randn_like`` when
        ``share`` is None, else this process's rows of a draw for the global batch."""
        if share is None:
            return torch.randn_like(like)
        full = torch.randn((share.total, *like.shape[1:]), dtype=like.dtype, device=like.device)
        return share.take(full, like.shape[0])


def spsa_gradient(
    effect: Effect,
    audio: np.ndarray,
    params: np.ndarray,
    grad_output: np.ndarray,
    sample_rate: float,
    *,
    epsilon: float = 0.01,
    k: int = 1,
    delta: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    backend: str | None = None,
    workspace: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """SPSA estimate of ``Jᵀ g`` for the parameters, with NumPy arrays.

    Parameters
    ----------
    effect : Effect
        Any effect (a chain too).
    audio : np.ndarray
        float32 ``(batch, channels, samples)``, the effect's input.
    params : np.ndarray
        ``(batch, n_params)`` in [0, 1], where the gradient is wanted.
    grad_output : np.ndarray
        ``∂L/∂y``, the shape of ``audio``.
    sample_rate : float
        In Hz.
    epsilon : float
        Probe step in normalised units, in (0, 0.5].
    k : int
        Directions averaged; the estimate's variance falls as 1/k.
    delta : np.ndarray, optional
        ``(k, batch, n_params)`` of ±1 to use instead of drawing them (for tests).
    rng : np.random.Generator, optional
        Source of the directions; a fresh unseeded one by default.
    backend : str, optional
        Passed to the effect.
    workspace : (np.ndarray, np.ndarray), optional
        Two float32 buffers of shape ``(2·k·batch, channels, samples)`` for the tiled probes'
        input and output, reused from step to step so the probe call does not fault in fresh
        pages every time. Only effects without a fused kernel (`Effect.process_dot`'s default)
        touch them.

    Returns
    -------
    np.ndarray
        float64 ``(batch, n_params)``.
    """
    return _spsa_gradient(
        effect,
        validate_audio(audio),
        params,
        grad_output,
        sample_rate,
        epsilon=epsilon,
        k=k,
        delta=delta,
        rng=rng,
        backend=backend,
        workspace=workspace,
    )


def _spsa_gradient(
    effect: Effect,
    audio: np.ndarray,
    params: np.ndarray,
    grad_output: np.ndarray,
    sample_rate: float,
    *,
    epsilon: float = 0.01,
    k: int = 1,
    delta: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    backend: str | None = None,
    workspace: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """`spsa_gradient` for audio that `validate_audio` has already passed: the layer's backward
    reuses the array its forward validated, and a second finiteness pass over the whole batch
    cost as much as a light effect's probes (7 ms of a 20 ms bitcrusher step)."""
    if not 0.0 < epsilon <= 0.5:
        raise ParameterError(f"SPSA epsilon must lie in (0, 0.5]; got {epsilon!r}")
    if int(k) != k or k < 1:
        raise ParameterError(f"SPSA needs k >= 1 perturbations; got {k!r}")
    k = int(k)
    batch, n_params = params.shape
    if delta is None:
        rng = rng if rng is not None else np.random.default_rng()
        delta = rng.integers(0, 2, size=(k, batch, n_params)).astype(np.float64) * 2.0 - 1.0
    elif delta.shape != (k, batch, n_params):
        raise ParameterError(f"delta must have shape {(k, batch, n_params)}; got {delta.shape}")
    rate = validate_sample_rate(sample_rate)
    centre = np.clip(params, epsilon, 1.0 - epsilon)
    step = epsilon * delta.transpose(1, 0, 2)  # (B, k, P)
    # Row b · 2k + s holds clip b's probe s (k plus, then k minus): one clip's probes are
    # neighbours, so a kernel running them side by side reads that clip's audio from cache.
    probes = np.concatenate([centre[:, None] + step, centre[:, None] - step], axis=1)
    probes = effect.validate_params(probes.reshape(-1, n_params))
    g = np.ascontiguousarray(grad_output, dtype=np.float32)
    if g.shape != audio.shape:
        raise ParameterError(
            f"grad_output must have the audio's shape {audio.shape}; got {g.shape}"
        )
    # One call for every probe of every row: ⟨g, y₊⟩ and ⟨g, y₋⟩ for all 2·k·B settings.
    # ⟨g, y₊ − y₋⟩ = ⟨g, y₊⟩ − ⟨g, y₋⟩, so no difference array is needed, and effects with a
    # fused kernel never store the probe outputs at all.
    dots = effect.process_dot(
        audio,
        effect.denormalise(probes),
        g,
        rate,
        effect.resolve_backend(backend),
        repeat=2 * k,
        workspace=workspace,
    )
    dots = np.asarray(dots, dtype=np.float64).reshape(batch, 2, k)
    inner = (dots[:, 0] - dots[:, 1]).T  # (k, B)
    return (delta * inner[:, :, None]).mean(axis=0) / (2.0 * epsilon)


class _SPSAFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, audio: torch.Tensor, params: torch.Tensor, layer: EffectLayer):
        x = audio.detach().to("cpu", torch.float32).contiguous().numpy()
        p = params.detach().to("cpu", torch.float64).contiguous().numpy()
        y = layer.effect(x, p, layer.sample_rate, backend=layer.backend)
        ctx.layer = layer
        ctx.x, ctx.p = x, p
        ctx.audio_meta = (audio.device, audio.dtype)
        ctx.params_meta = (params.device, params.dtype)
        return torch.from_numpy(y).to(audio.device, audio.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor):
        layer: EffectLayer = ctx.layer
        grad_audio = grad_params = None
        if ctx.needs_input_grad[1]:
            g = grad_output.detach().to("cpu", torch.float32).contiguous().numpy()
            delta = layer.draw_directions(ctx.p.shape)
            # ctx.x is the array the forward's effect call validated.
            grad = _spsa_gradient(
                layer.effect,
                ctx.x,
                ctx.p,
                g,
                layer.sample_rate,
                epsilon=layer.epsilon,
                k=layer.k,
                delta=delta,
                backend=layer.backend,
                workspace=layer.workspace((2 * layer.k * ctx.x.shape[0], *ctx.x.shape[1:])),
            )
            device, dtype = ctx.params_meta
            grad_params = torch.from_numpy(grad).to(device, dtype)
        if ctx.needs_input_grad[0] and layer.input_grad == "straight_through":
            grad_audio = grad_output
        return grad_audio, grad_params, None


def spsa_effect(audio: torch.Tensor, params: torch.Tensor, layer: EffectLayer) -> torch.Tensor:
    """Functional form of `EffectLayer.forward`."""
    return _SPSAFunction.apply(audio, params, layer)


class EffectLayer(torch.nn.Module):
    """A black-box effect as a differentiable torch layer (SPSA gradients for its parameters).

    Parameters
    ----------
    effect : Effect or str
        The effect, or a registered name (``"compressor>reverb"`` for a chain).
    sample_rate : int
        Sample rate of the audio passed in, in Hz.
    epsilon : float
        Probe step in normalised parameter units, in (0, 0.5].
    k : int
        Perturbation directions averaged per step (each costs two effect runs per row).
    input_grad : {"none", "straight_through"}
        What flows back to the audio (see the module docstring).
    backend : str, optional
        Force an effect backend (default: the fastest available).
    seed : int, optional
        Seeds the perturbation directions; by default they come from torch's global generator,
        so ``torch.manual_seed`` makes runs reproducible.

    Examples
    --------
    >>> layer = EffectLayer("distortion", sample_rate=44100, k=4)          # doctest: +SKIP
    >>> params = torch.sigmoid(controller(z))             # (batch, layer.n_params) on any device
    >>> y = layer(x, params)                              # x: (batch, channels, samples)
    >>> loss(y, target).backward()                        # SPSA gradient into controller
    """

    def __init__(
        self,
        effect: Effect | str,
        sample_rate: int,
        *,
        epsilon: float = 0.01,
        k: int = 1,
        input_grad: InputGrad = "none",
        backend: str | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(effect, str):
            from dafxkit.registry import load_effect

            effect = load_effect(effect)
        if not isinstance(effect, Effect):
            raise ParameterError(f"EffectLayer needs a dafxkit Effect; got {type(effect).__name__}")
        if not 0.0 < epsilon <= 0.5:
            raise ParameterError(f"SPSA epsilon must lie in (0, 0.5]; got {epsilon!r}")
        if int(k) != k or k < 1:
            raise ParameterError(f"SPSA needs k >= 1 perturbations; got {k!r}")
        if input_grad not in ("none", "straight_through"):
            raise ParameterError(
                f"input_grad must be 'none' or 'straight_through'; got {input_grad!r}"
            )
        self.effect = effect
        self.sample_rate = int(sample_rate)
        self.epsilon = float(epsilon)
        self.k = int(k)
        self.input_grad = input_grad
        self.backend = effect.resolve_backend(backend) if backend is not None else None
        self._workspace: tuple[np.ndarray, np.ndarray] | None = None
        #: Set by data-parallel training: directions are drawn for the global batch.
        self.share: BatchShare | None = None
        self._generator = None
        if seed is not None:
            self._generator = torch.Generator().manual_seed(int(seed))

    @property
    def n_params(self) -> int:
        return self.effect.n_params

    def workspace(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The probe buffers for ``shape``, kept while the batch shape stays the same."""
        if self._workspace is None or self._workspace[0].shape != shape:
            self._workspace = (np.empty(shape, np.float32), np.empty(shape, np.float32))
        return self._workspace

    def draw_directions(self, shape: tuple[int, int]) -> np.ndarray:
        """Rademacher directions ``(k, batch, n_params)`` of ±1 (float64); with a `share`, this
        process's rows of the directions drawn for the global batch."""
        rows, n_params = shape
        total = rows if self.share is None else self.share.total
        bits = torch.randint(0, 2, (self.k, total, n_params), generator=self._generator)
        if self.share is not None:
            bits = self.share.take(bits, rows, dim=1)
        return bits.numpy().astype(np.float64) * 2.0 - 1.0

    def forward(self, audio: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Apply the effect: ``audio`` ``(batch, channels, samples)``, ``params`` in [0, 1]
        ``(batch, n_params)``; output on ``audio``'s device and dtype."""
        if not isinstance(audio, torch.Tensor) or not isinstance(params, torch.Tensor):
            raise ParameterError("EffectLayer takes torch tensors for audio and params")
        if torch.is_grad_enabled() and (audio.requires_grad or params.requires_grad):
            return spsa_effect(audio, params, self)
        # Inference: the forward pass only, no probe runs and nothing kept for backward.
        x = audio.detach().to("cpu", torch.float32).contiguous().numpy()
        p = params.detach().to("cpu", torch.float64).contiguous().numpy()
        y = self.effect(x, p, self.sample_rate, backend=self.backend)
        return torch.from_numpy(y).to(audio.device, audio.dtype)

    def extra_repr(self) -> str:
        return (
            f"effect={self.effect.name!r}, sample_rate={self.sample_rate}, "
            f"epsilon={self.epsilon}, k={self.k}, input_grad={self.input_grad!r}"
        )
