"""Descriptor loss: descriptors of fx(x, θ) against targets, with SPSA through effect and extractor.

The descriptors (timbral brightness, depth, …) come from a fast C extractor that has no
gradient, so the composite ``θ ↦ d(fx(x, θ))`` is one black box. Its vector-Jacobian
product is estimated as in `dafxkit.spsa`: with Rademacher directions ``Δ ∈ {−1, +1}^P`` and
step ``ε``::

    ∂L/∂θ ≈ Δ · ⟨g, d(fx(x, c + εΔ)) − d(fx(x, c − εΔ))⟩ / (2ε),   averaged over K directions

where ``g = ∂L/∂d``. The centre moves inward at the edges of [0, 1], ``c = clip(θ, ε, 1 − ε)``,
so both probes stay in the parameter box and the step taken is exactly ``2ε``, the divisor.
All ``2·K·B`` probes go through one batched effect call and one batched descriptor call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dafxkit.errors import DafxError
from dafxkit.features import FeatureExtractor
from dafxkit.spsa import EffectLayer

__all__ = ["DescriptorLoss", "descriptors_of_effect", "extract", "probe_descriptors"]


def probe_descriptors(
    layer: EffectLayer,
    extractor: FeatureExtractor,
    columns: list[int],
    audio: np.ndarray,
    params: np.ndarray,
) -> np.ndarray:
    """Descriptors ``(n, len(columns))`` of ``fx(audio[i % batch], params[i])`` for every row
    of ``params`` ``(n, n_params)``, ``n`` a multiple of the batch: one effect call, one
    extractor call."""
    batch = audio.shape[0]
    reps, rest = divmod(params.shape[0], batch)
    if rest:
        raise DafxError(f"{params.shape[0]} parameter rows do not tile a batch of {batch}")
    tiled = np.tile(audio, (reps, 1, 1)) if reps > 1 else audio
    y = layer.effect(tiled, params, layer.sample_rate, backend=layer.backend)
    return extract(extractor, columns, y, layer.sample_rate)


def extract(
    extractor: FeatureExtractor, columns: list[int], audio: np.ndarray, sample_rate: int
) -> np.ndarray:
    """The ``columns`` of the extractor's values for ``audio``, float64."""
    if hasattr(extractor, "extract_with_flags"):  # flags are not logged for every probe batch
        values = extractor.extract_with_flags(audio, sample_rate)[0]
    else:
        values = extractor.extract(audio, sample_rate)
    return np.asarray(values, dtype=np.float64)[:, columns]


class _DescriptorSPSA(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        params: torch.Tensor,
        audio: torch.Tensor,
        output: torch.Tensor | None,
        loss: DescriptorLoss,
    ):
        x = audio.detach().to("cpu", torch.float32).contiguous().numpy()
        p = params.detach().to("cpu", torch.float64).contiguous().numpy()
        if output is None:
            values = probe_descriptors(loss.layer, loss.extractor, loss.columns, x, p)
        else:  # fx(x, θ) is already known: describe it
            y = output.detach().to("cpu", torch.float32).contiguous().numpy()
            values = extract(loss.extractor, loss.columns, y, loss.layer.sample_rate)
        ctx.loss, ctx.x, ctx.p = loss, x, p
        ctx.params_meta = (params.device, params.dtype)
        return torch.from_numpy(values).to(params.device, params.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor):
        loss: DescriptorLoss = ctx.loss
        layer = loss.layer
        g = grad_output.detach().to("cpu", torch.float64).numpy()  # (B, D)
        batch, n_params = ctx.p.shape
        k, eps = layer.k, layer.epsilon
        delta = layer.draw_directions((batch, n_params))  # (k, B, P) of ±1
        centre = np.clip(ctx.p, eps, 1.0 - eps)
        plus, minus = centre + eps * delta, centre - eps * delta
        probes = np.concatenate([plus, minus]).reshape(-1, n_params)  # (2k·B, P), in [0, 1]
        values = probe_descriptors(layer, loss.extractor, loss.columns, ctx.x, probes)
        values = values.reshape(2, k, batch, -1)
        inner = ((values[0] - values[1]) * g).sum(-1)  # ⟨g, d₊ − d₋⟩: (k, B)
        step = (plus - minus) * delta  # the step taken along each coordinate: 2ε
        grad = (delta * inner[:, :, None] / step).mean(axis=0)
        device, dtype = ctx.params_meta
        return torch.from_numpy(grad).to(device, dtype), None, None, None


class DescriptorLoss(torch.nn.Module):
    """Mean absolute descriptor error of ŷ = fx(x, θ) against targets, divided by ``scale``.

    Parameters
    ----------
    layer : EffectLayer
        The effect, and the SPSA settings (``k`` directions, ``epsilon``, direction generator)
        the gradient uses; the run's own effect layer.
    extractor : FeatureExtractor
        Computes the descriptors (e.g. `dafxkit.descriptors.timbral.Timbral`).
    descriptors : sequence of str
        Names among ``extractor.feature_names``, in the targets' column order.
    scale : float
        Divides the errors (timbral descriptors are on a 0–100 scale; 10 brings a typical
        change near 1).

    Examples
    --------
    >>> loss = DescriptorLoss(layer, Timbral(columns=("brightness", "depth")),
    ...                       ("brightness", "depth"))                      # doctest: +SKIP
    >>> value, mae = loss(x, params, target)       # target: (batch, 2) descriptors of yb
    >>> value.backward()                           # SPSA gradient into params
    """

    def __init__(
        self,
        layer: EffectLayer,
        extractor: FeatureExtractor,
        descriptors: tuple[str, ...] | list[str],
        scale: float = 10.0,
    ) -> None:
        super().__init__()
        missing = [d for d in descriptors if d not in extractor.feature_names]
        if not descriptors or missing:
            raise DafxError(
                f"descriptor loss: extractor {extractor.name!r} has "
                f"{', '.join(extractor.feature_names)}; asked for {list(descriptors)}"
            )
        if not scale > 0:
            raise DafxError(f"descriptor loss: scale must be > 0; got {scale!r}")
        self.layer = layer
        self.extractor = extractor
        self.descriptors = tuple(descriptors)
        self.columns = [extractor.feature_names.index(d) for d in descriptors]
        self.scale = float(scale)

    def forward(
        self,
        audio: torch.Tensor,
        params: torch.Tensor,
        target: torch.Tensor,
        output: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, mae)``: the scaled loss (differentiable in ``params``) and the mean
        absolute error of each descriptor on its own scale, ``(n_descriptors,)``, detached.

        ``audio`` ``(batch, channels, samples)``, ``params`` ``(batch, n_params)`` in [0, 1],
        ``target`` ``(batch, n_descriptors)``; ``output``, when given, is fx(audio, params)
        already computed (it saves the forward effect call).
        """
        if target.shape != (params.shape[0], len(self.descriptors)):
            raise DafxError(
                f"descriptor loss: target must have shape {(params.shape[0], len(self.columns))}"
                f" ({', '.join(self.descriptors)}); got {tuple(target.shape)}"
            )
        values = descriptors_of_effect(audio, params, self, output=output)
        error = (values - target.to(values.dtype)).abs()
        return error.mean() / self.scale, error.detach().mean(0)


def descriptors_of_effect(
    audio: torch.Tensor,
    params: torch.Tensor,
    loss: DescriptorLoss,
    *,
    output: torch.Tensor | None = None,
) -> torch.Tensor:
    """``d(fx(audio, params))`` ``(batch, n_descriptors)``, with SPSA gradients for params."""
    if torch.is_grad_enabled() and params.requires_grad:
        return _DescriptorSPSA.apply(params, audio, output, loss)
    with torch.no_grad():
        return _DescriptorSPSA.forward(_NoContext(), params, audio, output, loss)


class _NoContext:
    """Stands in for autograd's ctx when nothing will be differentiated."""
