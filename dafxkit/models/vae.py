"""A β-VAE on log-mel spectrograms, and its encoder half as the registered Encoder ``vae``.

The log-mel front end is computed in torch (differentiable, on any device). The encoder is a
small 2-D convolutional stack pooled over time, so clips of any length map to one 64-d
Gaussian latent; the decoder reconstructs the log-mel pooled to a fixed grid
(``n_mels × recon_frames``), which keeps the model independent of clip length.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dafxkit.descriptors.mfcc import mel_filterbank
from dafxkit.encoder import Encoder
from dafxkit.errors import DafxError, MissingDependencyError
from dafxkit.models.losses import pad_for_centred_frames
from dafxkit.spsa import BatchShare

__all__ = ["atomic_save", "LogMel", "BetaVAE", "VAEEncoder", "vae_loss", "kl_divergence", "beta_at"]


def atomic_save(obj: Any, path: str | Path) -> Path:
    """`torch.save` to a temporary file in the same folder, then `os.replace` it into place, so
    a run killed mid-write never leaves a truncated checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


class LogMel(nn.Module):
    """``(batch, channels, samples)`` → log-mel ``(batch, n_mels, frames)`` (channels averaged).

    Parameters
    ----------
    sample_rate : int
        In Hz.
    n_fft, hop_length : int
        STFT size and hop (Hann window).
    n_mels : int
        Mel bands (Slaney filterbank from 0 Hz to Nyquist).
    floor : float
        Added to the mel power before the log (about −100 dB).
    """

    def __init__(
        self,
        sample_rate: int = 22050,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 64,
        floor: float = 1e-10,
    ) -> None:
        super().__init__()
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = (
            int(sample_rate),
            int(n_fft),
            int(hop_length),
            int(n_mels),
        )
        self.floor = float(floor)
        fb = mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float32)
        self.register_buffer("filterbank", torch.from_numpy(fb), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        mono = pad_for_centred_frames(audio.mean(dim=1), self.n_fft)
        spec = torch.stft(
            mono,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window.to(mono.dtype),
            return_complex=True,
        )
        power = spec.real**2 + spec.imag**2
        mel = torch.matmul(self.filterbank.to(power.dtype), power)
        # log10 scaled to "bels / 2": values roughly in [−5, 1], friendly to the conv stack.
        return torch.log10(mel + self.floor) / 2.0


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, σ²) ‖ N(0, I)) summed over the latent, averaged over the batch."""
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum(dim=-1).mean()


def beta_at(step: int, beta: float, warmup_steps: int) -> float:
    """β with a linear warm-up from 0 over ``warmup_steps`` steps (KL annealing)."""
    if warmup_steps <= 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)


class BetaVAE(nn.Module):
    """Convolutional β-VAE on log-mel spectrograms.

    Parameters
    ----------
    sample_rate : int
        Rate of the audio it takes, in Hz.
    latent_dim : int
        Size of the Gaussian latent.
    n_mels, n_fft, hop_length : int
        Log-mel front end.
    channels : int
        Width of the first conv layer (doubled twice further down).
    recon_frames : int
        Time frames of the reconstruction grid.
    """

    def __init__(
        self,
        sample_rate: int = 22050,
        latent_dim: int = 64,
        n_mels: int = 64,
        n_fft: int = 1024,
        hop_length: int = 256,
        channels: int = 16,
        recon_frames: int = 16,
    ) -> None:
        super().__init__()
        self.hparams = {
            "sample_rate": int(sample_rate),
            "latent_dim": int(latent_dim),
            "n_mels": int(n_mels),
            "n_fft": int(n_fft),
            "hop_length": int(hop_length),
            "channels": int(channels),
            "recon_frames": int(recon_frames),
        }
        if n_mels % 8:
            raise DafxError(f"n_mels must be a multiple of 8; got {n_mels}")
        self.sample_rate = int(sample_rate)
        self.latent_dim = int(latent_dim)
        self.n_mels = int(n_mels)
        self.recon_frames = int(recon_frames)
        self.logmel = LogMel(sample_rate, n_fft, hop_length, n_mels)
        c = int(channels)
        self.convs = nn.Sequential(
            nn.Conv2d(1, c, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1),
            nn.GELU(),
        )
        # Pooled over time only: frequency layout (where the energy sits) is what effects change.
        feat = 4 * c * (n_mels // 8) * 2  # mean and std over time
        self.to_stats = nn.Linear(feat, 2 * latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.GELU(),
            nn.Linear(256, 256),
            nn.GELU(),
            nn.Linear(256, n_mels * recon_frames),
        )
        #: Set by data-parallel training: the latent's noise is drawn for the global batch.
        self.share: BatchShare | None = None

    def target(self, mel: torch.Tensor) -> torch.Tensor:
        """The reconstruction target: the log-mel pooled to ``(n_mels, recon_frames)``."""
        return F.adaptive_avg_pool1d(mel, self.recon_frames)

    def encode_mel(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.convs(mel.unsqueeze(1))  # (B, C, mels/8, frames/8)
        h = h.flatten(1, 2)
        stats = torch.cat([h.mean(dim=-1), h.std(dim=-1, unbiased=False)], dim=-1)
        mu, logvar = self.to_stats(stats).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def encode(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, channels, samples)`` → ``(mu, logvar)``, each ``(batch, latent_dim)``."""
        return self.encode_mel(self.logmel(audio))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, self.n_mels, self.recon_frames)

    def forward(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        mel = self.logmel(audio)
        mu, logvar = self.encode_mel(mel)
        z = mu
        if self.training:
            z = mu + BatchShare.randn_rows(mu, self.share) * (0.5 * logvar).exp()
        return {"mu": mu, "logvar": logvar, "recon": self.decode(z), "target": self.target(mel)}

    # -- persistence ------------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        return {"kind": "dafxkit.vae", "hparams": dict(self.hparams), "state": self.state_dict()}

    def save(self, path: str | Path) -> Path:
        """Write the weights and hyperparameters atomically (temporary file, then rename)."""
        return atomic_save(self.checkpoint(), path)

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any]) -> BetaVAE:
        if not isinstance(data, dict) or data.get("kind") != "dafxkit.vae":
            raise DafxError("not a dafxkit VAE checkpoint (train one with `dafxkit train-vae`)")
        model = cls(**data["hparams"])
        model.load_state_dict(data["state"])
        return model

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> BetaVAE:
        path = Path(path)
        if not path.is_file():
            raise DafxError(f"VAE checkpoint {str(path)!r} does not exist")
        try:
            data = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as exc:  # a truncated or foreign file
            raise DafxError(f"cannot read VAE checkpoint {str(path)!r}: {exc}") from None
        return cls.from_checkpoint(data)


def vae_loss(out: dict[str, torch.Tensor], beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Reconstruction MSE (per log-mel bin) plus β·KL scaled to the same per-bin footing."""
    recon = F.mse_loss(out["recon"], out["target"])
    kl = kl_divergence(out["mu"], out["logvar"])
    n_bins = out["target"][0].numel()
    loss = recon + beta * kl / n_bins
    return loss, {"recon": float(recon.detach()), "kl": float(kl.detach()), "beta": float(beta)}


class VAEEncoder(Encoder):
    """The encoder half of a trained `BetaVAE`: audio → latent mean ``(batch, latent_dim)``.

    Parameters
    ----------
    checkpoint : path
        A checkpoint written by `dafxkit train-vae` (or `BetaVAE.save`).
    """

    name = "vae"
    description = "β-VAE on log-mel spectrograms (latent mean); needs checkpoint=PATH"

    def __init__(self, checkpoint: str | Path | None = None, *, model: BetaVAE | None = None):
        if model is None:
            if checkpoint is None:
                # Not a broken plugin, just one that cannot be built without its weights:
                # `dafxkit plugins check` lists it as not usable here rather than failing.
                raise MissingDependencyError(
                    "the vae encoder needs checkpoint=PATH (see `dafxkit train-vae`)"
                )
            model = BetaVAE.load(checkpoint)
        super().__init__(embedding_dim=model.latent_dim, sample_rate=model.sample_rate)
        self.vae = model

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        mu, _ = self.vae.encode(audio)
        return mu
