"""Audio losses: the multi-resolution STFT loss (spectral convergence + log magnitude)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["STFTLoss", "MultiResolutionSTFTLoss", "pad_for_centred_frames"]


def pad_for_centred_frames(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``x`` ``(..., samples)`` with silence after it when it has at most ``n_fft / 2``
    samples: `torch.stft`'s centring reflects ``n_fft / 2`` samples at each end, which such a
    clip does not have. Longer signals are returned as they are."""
    short = n_fft // 2 + 1 - x.shape[-1]
    return torch.nn.functional.pad(x, (0, short)) if short > 0 else x


class STFTLoss(torch.nn.Module):
    """Spectral convergence plus L1 log-magnitude distance at one STFT resolution.

    Parameters
    ----------
    fft_size : int
        FFT length in samples.
    hop_size : int
        Hop between frames.
    win_length : int
        Hann window length (≤ ``fft_size``).
    eps : float
        Floor added to magnitudes before the log and in the denominator.
    """

    def __init__(
        self, fft_size: int = 1024, hop_size: int = 256, win_length: int = 1024, eps: float = 1e-7
    ) -> None:
        super().__init__()
        self.fft_size = fft_size
        self.hop_size = hop_size
        self.win_length = win_length
        self.eps = eps
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def magnitude(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., samples)`` → ``(N, freq, frames)`` magnitudes, leading axes flattened.

        A signal of at most ``fft_size / 2`` samples (too short for the centred frames'
        reflection padding) gets silence after it first."""
        x = pad_for_centred_frames(x.reshape(-1, x.shape[-1]), self.fft_size)
        spec = torch.stft(
            x,
            n_fft=self.fft_size,
            hop_length=self.hop_size,
            win_length=self.win_length,
            window=self.window.to(x.device, x.dtype),
            return_complex=True,
        )
        return spec.abs()

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        est, ref = self.magnitude(estimate), self.magnitude(target)
        # Per-item spectral convergence, so a batch's quiet clips count as much as loud ones.
        diff = torch.linalg.vector_norm(ref - est, dim=(-2, -1))
        norm = torch.linalg.vector_norm(ref, dim=(-2, -1)) + self.eps
        convergence = (diff / norm).mean()
        log_distance = (torch.log(est + self.eps) - torch.log(ref + self.eps)).abs().mean()
        return convergence + log_distance


class MultiResolutionSTFTLoss(torch.nn.Module):
    """Mean of `STFTLoss` over several resolutions (Yamamoto et al., Parallel WaveGAN, 2020).

    Parameters
    ----------
    fft_sizes, hop_sizes, win_lengths : sequences of int
        One entry per resolution.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (512, 1024, 2048),
        hop_sizes: Sequence[int] = (128, 256, 512),
        win_lengths: Sequence[int] = (512, 1024, 2048),
    ) -> None:
        super().__init__()
        if not len(fft_sizes) == len(hop_sizes) == len(win_lengths):
            raise ValueError("fft_sizes, hop_sizes and win_lengths must have one entry each")
        self.losses = torch.nn.ModuleList(
            STFTLoss(f, h, w) for f, h, w in zip(fft_sizes, hop_sizes, win_lengths, strict=True)
        )

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(loss(estimate, target) for loss in self.losses) / len(self.losses)
