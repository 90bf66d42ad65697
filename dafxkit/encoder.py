"""The Encoder interface: a torch module that maps audio to a fixed-size embedding."""

from __future__ import annotations

from typing import ClassVar

import torch

from dafxkit.errors import AudioError

__all__ = ["Encoder"]


class Encoder(torch.nn.Module):
    """Maps audio ``(batch, channels, samples)`` to embeddings ``(batch, embedding_dim)``.

    Subclasses call ``super().__init__(embedding_dim=..., sample_rate=...)`` and implement
    ``forward``. `encode` checks the input's layout before calling it. Weights, when an encoder
    has them, are the subclass's business (e.g. a ``checkpoint`` constructor argument).

    Parameters
    ----------
    embedding_dim : int
        Size of the embedding each clip maps to.
    sample_rate : int
        The rate, in Hz, the encoder expects its input at.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, embedding_dim: int, sample_rate: int) -> None:
        super().__init__()
        self.embedding_dim = int(embedding_dim)
        self.sample_rate = int(sample_rate)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Check ``audio`` and return ``forward(audio)``, of shape ``(batch, embedding_dim)``."""
        if not isinstance(audio, torch.Tensor):
            raise AudioError(
                f"{self.name or 'encoder'} expects a torch.Tensor; got {type(audio).__name__}"
            )
        if audio.ndim != 3 or 0 in audio.shape:
            raise AudioError(
                f"{self.name or 'encoder'} expects audio of shape (batch, channels, samples); "
                f"got {tuple(audio.shape)}"
            )
        if not audio.is_floating_point():
            raise AudioError(
                f"{self.name or 'encoder'} expects floating-point audio; got {audio.dtype}"
            )
        out = self(audio)
        if out.shape != (audio.shape[0], self.embedding_dim):
            raise AudioError(
                f"encoder {self.name!r} returned shape {tuple(out.shape)}, expected "
                f"({audio.shape[0]}, {self.embedding_dim}): a bug in the encoder"
            )
        return out

    @classmethod
    def interface_problems(cls, encoder: Encoder) -> list[str]:
        """What, if anything, makes ``encoder`` unusable by dafxkit (used by the registry)."""
        problems = []
        dim = getattr(encoder, "embedding_dim", None)
        rate = getattr(encoder, "sample_rate", None)
        if not isinstance(dim, int) or dim <= 0:
            problems.append(f"`embedding_dim` must be a positive int; got {dim!r}")
        if not isinstance(rate, int) or rate <= 0:
            problems.append(f"`sample_rate` must be a positive int (Hz); got {rate!r}")
        return problems
