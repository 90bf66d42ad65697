"""The controller: embeddings of the input and of a target → low-dimensional z → effect parameters.

    emb(x), cond ──► MLP ──► (mu, logvar) ──► z ∈ R^d (Gaussian, KL to N(0, I))
                                               │
                                               └──► MLP ──► sigmoid ──► θ̂ ∈ [0, 1]^P

``cond`` is the reference's embedding (``mode="reference"``: the network sees ``emb(x)``,
``emb(ref)`` and their difference) or the wanted change of each descriptor
(``mode="descriptor"``). z is the control space a user can also set by hand (``apply --z``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dafxkit.errors import DafxError
from dafxkit.spsa import BatchShare

__all__ = ["Controller", "MODES"]

MODES = ("reference", "descriptor")


def _mlp(n_in: int, hidden: int, n_out: int, layers: int = 2) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
        width = hidden
    mods.append(nn.Linear(width, n_out))
    return nn.Sequential(*mods)


class Controller(nn.Module):
    """Maps ``(emb(x), condition)`` to normalised effect parameters through a latent z.

    Parameters
    ----------
    embedding_dim : int
        Size of the encoder's embedding.
    n_params : int
        The effect's parameter count.
    z_dim : int
        Size of the control space, 2–8.
    mode : {"reference", "descriptor"}
        What the condition is: a reference clip's embedding, or target descriptor changes.
    n_descriptors : int
        Descriptor changes in descriptor mode (brightness, depth: 2).
    hidden : int
        Width of both MLPs.
    """

    def __init__(
        self,
        embedding_dim: int,
        n_params: int,
        z_dim: int = 4,
        mode: str = "reference",
        n_descriptors: int = 2,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise DafxError(f"controller mode must be one of {', '.join(MODES)}; got {mode!r}")
        if not 2 <= int(z_dim) <= 8:
            raise DafxError(f"z_dim must lie in 2..8; got {z_dim!r}")
        self.hparams = {
            "embedding_dim": int(embedding_dim),
            "n_params": int(n_params),
            "z_dim": int(z_dim),
            "mode": mode,
            "n_descriptors": int(n_descriptors),
            "hidden": int(hidden),
        }
        self.mode = mode
        self.z_dim = int(z_dim)
        self.n_params = int(n_params)
        n_cond = 2 * embedding_dim if mode == "reference" else n_descriptors
        self.to_z = _mlp(embedding_dim + n_cond, hidden, 2 * self.z_dim)
        self.to_params = _mlp(self.z_dim, hidden, self.n_params)
        #: Set by data-parallel training: z's noise is drawn for the global batch.
        self.share: BatchShare | None = None

    def condition_input(self, emb_x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        if self.mode == "reference":
            return torch.cat([emb_x, condition, condition - emb_x], dim=-1)
        return torch.cat([emb_x, condition], dim=-1)

    def encode(
        self, emb_x: torch.Tensor, condition: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of z, each ``(batch, z_dim)``."""
        mu, logvar = self.to_z(self.condition_input(emb_x, condition)).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z ``(batch, z_dim)`` → normalised parameters ``(batch, n_params)`` in (0, 1)."""
        return torch.sigmoid(self.to_params(z))

    def forward(
        self, emb_x: torch.Tensor, condition: torch.Tensor, *, sample: bool | None = None
    ) -> dict[str, torch.Tensor]:
        """Sample z while training (``sample=None`` follows ``self.training``), else its mean."""
        mu, logvar = self.encode(emb_x, condition)
        sample = self.training if sample is None else sample
        z = mu + BatchShare.randn_rows(mu, self.share) * (0.5 * logvar).exp() if sample else mu
        return {"mu": mu, "logvar": logvar, "z": z, "params": self.decode(z)}

    def checkpoint(self) -> dict[str, Any]:
        return {"hparams": dict(self.hparams), "state": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any]) -> Controller:
        model = cls(**data["hparams"])
        model.load_state_dict(data["state"])
        return model
