"""β-VAE and controller: shapes, finiteness, gradients, checkpoints, errors."""

from __future__ import annotations

import pytest
import torch

from dafxkit.errors import DafxError
from dafxkit.models.controller import Controller
from dafxkit.models.vae import BetaVAE, LogMel, VAEEncoder, beta_at, kl_divergence, vae_loss


def test_logmel_pads_only_clips_too_short_for_centred_frames():
    mel = LogMel(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)
    x = torch.randn(2, 1, 300)
    direct = torch.stft(
        x.mean(dim=1), n_fft=512, hop_length=128, window=torch.hann_window(512), return_complex=True
    )
    assert mel(x).shape[-1] == direct.shape[-1]  # 300 > 256: unchanged, no padding
    short = torch.randn(2, 1, 40)
    padded = torch.cat([short, torch.zeros(2, 1, 257 - 40)], dim=-1)
    torch.testing.assert_close(mel(short), mel(padded))  # silence after a too-short clip


def test_logmel_shape_and_finite_on_silence():
    mel = LogMel(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)
    out = mel(torch.zeros(2, 1, 4000))
    assert out.shape == (2, 32, 4000 // 128 + 1)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("samples", [1, 100, 256, 257, 4000, 11025])
def test_vae_any_length_maps_to_latent(samples):
    # Down to one sample: at most n_fft / 2 samples was a torch.stft padding error before.
    torch.manual_seed(0)
    vae = BetaVAE(sample_rate=16000, latent_dim=8, n_mels=32, n_fft=512, hop_length=128)
    out = vae(torch.randn(3, 1, samples) * 0.1)
    assert out["mu"].shape == (3, 8)
    assert out["recon"].shape == out["target"].shape == (3, 32, vae.recon_frames)
    loss, parts = vae_loss(out, beta=0.5)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in vae.parameters() if p.requires_grad)


def test_kl_is_zero_for_standard_normal_and_positive_otherwise():
    zero = torch.zeros(4, 3)
    assert float(kl_divergence(zero, zero)) == pytest.approx(0.0, abs=1e-7)
    assert float(kl_divergence(zero + 1.0, zero)) == pytest.approx(1.5)


def test_beta_warmup():
    assert beta_at(0, 2.0, 10) == 0.0
    assert beta_at(5, 2.0, 10) == pytest.approx(1.0)
    assert beta_at(50, 2.0, 10) == 2.0
    assert beta_at(0, 2.0, 0) == 2.0


def test_vae_checkpoint_round_trip_and_encoder(tmp_path):
    torch.manual_seed(1)
    vae = BetaVAE(sample_rate=16000, latent_dim=8, n_mels=32).eval()
    path = vae.save(tmp_path / "v.pt")
    enc = VAEEncoder(checkpoint=path).eval()
    x = torch.randn(2, 1, 8000) * 0.1
    assert enc.sample_rate == 16000 and enc.embedding_dim == 8
    torch.testing.assert_close(enc.encode(x), vae.encode(x)[0])
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temporary file


def test_vae_bad_checkpoints(tmp_path):
    with pytest.raises(DafxError, match="does not exist"):
        BetaVAE.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"something": 1}, bad)
    with pytest.raises(DafxError, match="not a dafxkit VAE checkpoint"):
        BetaVAE.load(bad)
    with pytest.raises(DafxError, match="checkpoint=PATH"):
        VAEEncoder()


@pytest.mark.parametrize("mode, n_cond", [("reference", 16), ("descriptor", 2)])
def test_controller_outputs_params_in_unit_box(mode, n_cond):
    torch.manual_seed(0)
    ctrl = Controller(embedding_dim=16, n_params=4, z_dim=3, mode=mode, hidden=32)
    out = ctrl(torch.randn(5, 16), torch.randn(5, n_cond) * 100)
    assert out["z"].shape == (5, 3)
    assert out["params"].shape == (5, 4)
    assert ((out["params"] >= 0) & (out["params"] <= 1)).all()
    ctrl.eval()
    torch.testing.assert_close(
        ctrl(torch.ones(1, 16), torch.ones(1, n_cond))["z"],
        ctrl(torch.ones(1, 16), torch.ones(1, n_cond))["mu"],
    )
    copy = Controller.from_checkpoint(ctrl.checkpoint())
    torch.testing.assert_close(copy.decode(torch.zeros(1, 3)), ctrl.decode(torch.zeros(1, 3)))


def test_controller_rejects_bad_settings():
    with pytest.raises(DafxError, match="z_dim"):
        Controller(16, 4, z_dim=12)
    with pytest.raises(DafxError, match="mode"):
        Controller(16, 4, mode="style")


@pytest.mark.parametrize("samples", [1, 100, 1024, 1025])
def test_mrstft_loss_takes_clips_shorter_than_its_frames(samples):
    from dafxkit.models.losses import MultiResolutionSTFTLoss

    loss = MultiResolutionSTFTLoss()  # frames up to 2048: a padding error at <= 1024 before
    x = torch.randn(3, 1, samples)
    assert float(loss(x, x)) == 0.0
    value = loss(0.5 * x, x)
    assert torch.isfinite(value) and float(value) > 0
