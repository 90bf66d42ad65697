"""The training loops: β-VAE pre-training and the controller trained through SPSA, resumable."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dafxkit.audio import validate_audio, validate_sample_rate
from dafxkit.errors import DafxError
from dafxkit.models.controller import Controller
from dafxkit.models.descriptor_loss import DescriptorLoss
from dafxkit.models.losses import MultiResolutionSTFTLoss
from dafxkit.models.vae import BetaVAE, VAEEncoder, atomic_save, beta_at, kl_divergence, vae_loss
from dafxkit.spsa import EffectLayer
from dafxkit.train.config import ConfigError, TrainConfig, load_config, save_config
from dafxkit.train.data import VAE_OFFSET, VAL_OFFSET, PairBatches
from dafxkit.train.distributed import Distributed, session
from dafxkit.train.metrics import MetricsLog

__all__ = ["train", "train_vae", "apply", "resolve_device", "check_config", "load_run"]

Progress = Callable[[str, int, int, dict[str, float]], None]

#: Descriptor changes are on the timbral 0–100 scale; this brings them near unit size.
DESCRIPTOR_SCALE = 10.0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu"
        )
    return torch.device(name)


def check_config(config: TrainConfig) -> Any:
    """Everything that can be checked before training starts; returns the loaded effect."""
    from dafxkit import registry

    try:
        effect = registry.load_effect(config.effect_name)
    except DafxError as exc:
        raise ConfigError(f"effect {config.effect_name!r}: {exc}") from None
    resolve_device(config.device)
    if config.vae:
        vae = BetaVAE.load(config.vae)
        _check_vae(vae, config, config.vae)
    from dafxkit.train.data import check_data

    check_data(config)
    return effect


def _check_vae(vae: BetaVAE, config: TrainConfig, where: str) -> None:
    if vae.sample_rate != config.sample_rate:
        raise ConfigError(
            f"VAE checkpoint {where!r} was trained at {vae.sample_rate} Hz but this run uses "
            f"{config.sample_rate} Hz: pass --sample-rate {vae.sample_rate} or train a VAE at "
            f"{config.sample_rate} Hz (`dafxkit train-vae`)"
        )


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# -- β-VAE ---------------------------------------------------------------------------------


def _vae_cache_path(config: TrainConfig) -> Path:
    keys = (
        "effect",
        "data",
        "seed",
        "sample_rate",
        "seconds",
        "channels",
        "augment",
        "latent_dim",
        "vae_steps",
        "vae_batch_size",
        "vae_lr",
        "vae_beta",
        "vae_warmup",
        "vae_examples",
    )
    described = {k: config.to_dict()[k] for k in keys}
    from dafxkit.train.dataset_pairs import dataset_path, is_dataset

    if is_dataset(config.data):  # the same path may hold another dataset later
        from dafxkit.data.shards import read_manifest

        manifest = read_manifest(dataset_path(config.data))
        described["dataset"] = [manifest.get("dataset"), manifest.get("n_examples")]
    blob = json.dumps(described, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    root = Path(os.environ.get("DAFXKIT_CACHE", Path.home() / ".cache" / "dafxkit"))
    return root / "vae" / f"vae-{digest}.pt"


def train_vae(
    config: TrainConfig,
    out: str | Path,
    *,
    data: PairBatches | None = None,
    progress: Progress | None = None,
) -> BetaVAE:
    """Pre-train the β-VAE on clean and effected clips and save it to ``out``.

    The pool holds ``vae_examples`` pairs of the run's effect; every pair gives its clean clip
    x and both effected clips ya, yb. Training on clean and effected audio (rather than clean
    audio only) makes the latent describe what the effect changes, which is what the
    controller needs to read off the input and the reference.

    Under torchrun the processes share the work (`dafxkit.train.distributed`): each generates
    part of the pool, trains on its rows of every ``vae_batch_size`` batch, and rank 0 saves.
    """
    with session() as info:
        return _train_vae(config, out if info.is_main else None, info, data, progress)


def _train_vae(
    config: TrainConfig,
    out: str | Path | None,
    info: Distributed,
    data: PairBatches | None,
    progress: Progress | None,
) -> BetaVAE:
    share = info.share(config.vae_batch_size, "vae_batch_size")
    _seed_all(config.seed)
    device = info.device(resolve_device(config.device))
    data = data or PairBatches(config)
    pool = data.held_out(VAE_OFFSET, config.vae_examples, info)
    clips = torch.cat([pool["x"], pool["ya"], pool["yb"]])
    vae = BetaVAE(sample_rate=config.sample_rate, latent_dim=config.latent_dim).to(device)
    vae.share = share
    model = info.wrap(vae, device, sync_buffers=False)
    opt = torch.optim.Adam(vae.parameters(), lr=config.vae_lr)
    gen = torch.Generator().manual_seed(config.seed)
    vae.train()
    for step in range(config.vae_steps):
        idx = torch.randint(0, len(clips), (config.vae_batch_size,), generator=gen)
        if share is not None:
            idx = share.take(idx, share.size)
        batch = clips[idx].to(device)
        result = model(batch)
        loss, parts = vae_loss(result, beta_at(step, config.vae_beta, config.vae_warmup))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if info.enabled:  # the global batch's figures for the progress bar
            figures = torch.tensor([float(loss.detach()), parts["recon"], parts["kl"]])
            loss_value, parts["recon"], parts["kl"] = (
                info.all_reduce_sum(figures) / info.world_size
            ).tolist()
        else:
            loss_value = float(loss.detach())
        if progress is not None and info.is_main:
            progress("vae", step + 1, config.vae_steps, {"loss": loss_value, **parts})
    vae.eval()
    vae.share = None
    if out is not None:
        vae.to("cpu").save(out)
    return vae.to(device)


# -- the controller ------------------------------------------------------------------------


class System(torch.nn.Module):
    """Encoder + controller (+ the effect layer): everything a run's checkpoint restores."""

    def __init__(self, encoder: VAEEncoder, controller: Controller, layer: EffectLayer) -> None:
        super().__init__()
        self.encoder = encoder
        self.controller = controller
        self.layer = layer

    def condition(self, batch: dict[str, torch.Tensor], emb_ref: torch.Tensor | None):
        if self.controller.mode == "reference":
            return emb_ref
        d = batch["descriptors"]  # (B, 3, n_desc): x, ya, yb
        return (d[:, 2] - d[:, 0]) / DESCRIPTOR_SCALE

    def forward(
        self, batch: dict[str, torch.Tensor], *, sample: bool | None = None
    ) -> dict[str, torch.Tensor]:
        """`predict`: the module call, which `DistributedDataParallel` wraps."""
        return self.predict(batch, sample=sample)

    def predict(
        self, batch: dict[str, torch.Tensor], *, sample: bool | None = None
    ) -> dict[str, torch.Tensor]:
        frozen = not any(p.requires_grad for p in self.encoder.parameters())
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            emb_x = self.encoder(batch["x"])
            emb_ref = self.encoder(batch["yb"]) if self.controller.mode == "reference" else None
        return self.controller(emb_x, self.condition(batch, emb_ref), sample=sample)


def _build_system(config: TrainConfig, vae: BetaVAE, effect: Any) -> System:
    encoder = VAEEncoder(model=vae)
    if not config.finetune_encoder:
        encoder.requires_grad_(False)
    controller = Controller(
        embedding_dim=encoder.embedding_dim,
        n_params=effect.n_params,
        z_dim=config.z_dim,
        mode=config.mode,
        n_descriptors=len(config.descriptors),
        hidden=config.hidden,
    )
    layer = EffectLayer(effect, config.sample_rate, epsilon=config.spsa_epsilon, k=config.spsa_k)
    return System(encoder, controller, layer)


def _schedule(config: TrainConfig) -> Callable[[int], float]:
    warmup = max(1, min(20, config.steps // 10))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, config.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return factor


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def mrstft_per_item(
    loss: MultiResolutionSTFTLoss, estimate: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    return torch.stack([loss(estimate[i : i + 1], target[i : i + 1]) for i in range(len(target))])


@torch.no_grad()
def validate(system: System, batch: dict[str, torch.Tensor], loss_fn, device) -> float:
    system.eval()
    out = system.predict(_to(batch, device), sample=False)
    y = system.layer(batch["x"], out["params"].cpu())
    system.train()
    return float(loss_fn(y, batch["yb"]))


def load_run(run: str | Path, which: str = "best") -> tuple[TrainConfig, System, dict[str, Any]]:
    """A run's config, its system (on the CPU, eval mode) and the checkpoint's contents."""
    from dafxkit import registry

    run = Path(run)
    path = run / f"{which}.pt"
    if not path.is_file():
        raise DafxError(f"{run}: no {which}.pt checkpoint (is it a `dafxkit train` run folder?)")
    config = load_config(run / "config.toml")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    vae = BetaVAE.from_checkpoint(ckpt["vae"])
    system = _build_system(config, vae, registry.load_effect(config.effect_name))
    system.controller.load_state_dict(ckpt["controller"])
    system.eval()
    return config, system, ckpt


def train(
    config: TrainConfig | None,
    run_dir: str | Path,
    *,
    resume: bool = False,
    stop_after: int | None = None,
    progress: Progress | None = None,
    evaluate_at_end: bool = True,
) -> dict[str, Any]:
    """Train (or resume) a run in ``run_dir``; returns the summary (or the state at a stop).

    ``stop_after`` ends the session after that many steps have been done in all, as a kill
    would (the last checkpoint is written first); `train` with ``resume=True`` continues it
    (``config`` is then read from the run folder and may be None).

    Under torchrun the processes train one model data-parallel (`dafxkit.train.distributed`):
    the run is the same as one process's with the same global ``batch_size``, and it can be
    resumed with any number of processes. Rank 0 writes the run folder, evaluates and returns
    the summary; the other processes return ``{"rank": r, "steps": n}``.
    """
    with session() as info:
        result, data = _train(config, Path(run_dir), info, resume, stop_after, progress)
    if not info.is_main or "stopped_at" in result:
        return result
    run_dir = Path(result.pop("run_dir"))
    if not evaluate_at_end:
        from dafxkit.train.plots import write_plots

        write_plots(run_dir, _load_effect(data.config))  # the loss curves; evaluate adds the rest
        return result
    from dafxkit.train.evaluation import evaluate

    return evaluate(run_dir, data=data)


def _prepare_run(config: TrainConfig | None, run_dir: Path, resume: bool):
    """Rank 0's part of starting a run: the config, the run folder and the resume state."""
    ckpt = None
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise DafxError(f"{run_dir}: nothing to resume (no last.pt)")
        config = load_config(run_dir / "config.toml")
        ckpt = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
    elif (run_dir / "last.pt").exists():
        raise DafxError(f"{run_dir} already holds a run; pass --resume or choose another folder")
    if config is None:
        raise DafxError("train needs a config unless it resumes a run")
    check_config(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.toml")
    return config, ckpt


def _prepare_vae(config: TrainConfig, run_dir: Path) -> bool:
    """Rank 0: put the run's β-VAE in the run folder; False when it must be trained first."""
    vae_path = run_dir / "vae.pt"
    if vae_path.is_file():
        return True
    cached = Path(config.vae) if config.vae else _vae_cache_path(config)
    if not cached.is_file():
        return False
    shutil.copyfile(cached, vae_path)
    return True


def _train(
    config: TrainConfig | None,
    run_dir: Path,
    info: Distributed,
    resume: bool,
    stop_after: int | None,
    progress: Progress | None,
) -> tuple[dict[str, Any], PairBatches]:
    if not info.is_main:
        progress = None
    # Rank 0 reads and writes the run folder; the others get what they need from it.
    run_dir = Path(info.broadcast(str(run_dir)))
    config, ckpt = info.from_main(lambda: _prepare_run(config, run_dir, resume))
    effect = _load_effect(config)
    share = info.share(config.batch_size)
    device = info.device(resolve_device(config.device))
    data = PairBatches(config, share)

    # β-VAE: given, cached, or trained now (by all processes); the run folder keeps its copy.
    if not info.from_main(lambda: _prepare_vae(config, run_dir)):
        cached = _vae_cache_path(config)
        _train_vae(config, cached if info.is_main else None, info, data, progress)
        info.from_main(lambda: _prepare_vae(config, run_dir))
    vae_path = run_dir / "vae.pt"
    vae = BetaVAE.from_checkpoint(info.from_main(lambda: BetaVAE.load(vae_path).checkpoint()))
    _check_vae(vae, config, str(vae_path))

    _seed_all(config.seed)
    system = _build_system(config, vae, effect).to(device)
    system.layer.share = system.controller.share = share
    trainable = [p for p in system.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(config))
    loss_fn = MultiResolutionSTFTLoss().to(device)
    descriptor_loss = None
    if config.descriptor_loss > 0:
        descriptor_loss = DescriptorLoss(
            system.layer, data.pipeline.extractor, config.descriptors, scale=DESCRIPTOR_SCALE
        )
    start, best, theta_sum, theta_n = (
        0,
        math.inf,
        torch.zeros(effect.n_params, dtype=torch.float64),
        0,
    )
    if ckpt is not None:
        system.controller.load_state_dict(ckpt["controller"])
        if config.finetune_encoder:
            system.encoder.vae.load_state_dict(ckpt["vae"]["state"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start, best = ckpt["step"], ckpt["best_val"]
        theta_sum, theta_n = ckpt["theta_sum"], ckpt["theta_n"]
        _set_rng_state(ckpt["rng"], device)
    # Frozen parameters (the encoder by default) are not DDP's business; a fine-tuned
    # encoder's decoder half gets no gradient.
    model = info.wrap(
        system,
        device,
        sync_buffers=False,
        find_unused_parameters=config.finetune_encoder,
    )
    val = data.held_out(VAL_OFFSET, config.n_val) if info.is_main else None

    def checkpoint(step: int, name: str) -> None:
        atomic_save(
            {
                "step": step,
                "config": config.to_dict(),
                "param_names": list(effect.param_names),
                "controller": system.controller.state_dict(),
                "vae": system.encoder.vae.checkpoint(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "best_val": best,
                "theta_sum": theta_sum,
                "theta_n": theta_n,
                "theta_mean": (theta_sum / max(theta_n, 1)).tolist(),
                "rng": _rng_state(device),
            },
            run_dir / name,
        )

    system.train()
    t0 = time.perf_counter()
    metrics = (
        MetricsLog(run_dir, resume_step=start if resume else None)
        if info.is_main
        else contextlib.nullcontext()
    )
    # Both context managers end their resources on any exit: the event files are closed and
    # the batch workers shut down, on errors and KeyboardInterrupt too.
    with metrics, data.train_batches(start, config.steps) as batches:
        for step, batch in zip(range(start, config.steps), batches, strict=True):
            dev = _to(batch, device)
            out = model(dev)
            y = system.layer(dev["x"], out["params"])
            rec = loss_fn(y, dev["yb"])
            kl = kl_divergence(out["mu"], out["logvar"])
            loss = rec + config.beta_z * kl
            if config.param_loss > 0:
                loss = loss + config.param_loss * (out["params"] - dev["theta_b"]).pow(2).mean()
            desc_mae = None
            if descriptor_loss is not None:
                desc, desc_mae = descriptor_loss(
                    dev["x"], out["params"], dev["descriptors"][:, 2], output=y
                )
                loss = loss + config.descriptor_loss * desc
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            # This step's figures and parameter sums over the global batch (every process's
            # rows): means of equal shares average, sums add.
            figures = [loss, rec, kl, (out["params"] - dev["theta_b"]).abs().mean()]
            if desc_mae is not None:
                figures += list(desc_mae)
            means = torch.tensor([float(f.detach()) for f in figures], dtype=torch.float64)
            sums = torch.cat(
                [batch["theta_b"].double().sum(0), torch.tensor([len(batch["theta_b"])]).double()]
            )
            if info.enabled:
                reduced = info.all_reduce_sum(torch.cat([means, sums]))
                means, sums = reduced[: len(means)] / info.world_size, reduced[len(means) :]
            theta_sum += sums[:-1]
            theta_n += int(sums[-1])
            values = means.tolist()
            record = {
                "step": step + 1,
                "loss": values[0],
                "mrstft": values[1],
                "kl": values[2],
                "lr": sched.get_last_lr()[0],
                "param_mae": values[3],
            }
            if desc_mae is not None:
                # Mean absolute error of the descriptors of ŷ against yb's, on their 0–100 scale.
                record["descriptor"] = float(np.mean(values[4:]))
                for name, value in zip(config.descriptors, values[4:], strict=True):
                    record[f"descriptor_{name}"] = value
            done = step + 1
            if info.is_main:
                if done % config.eval_every == 0 or done == config.steps:
                    record["val_mrstft"] = validate(system, val, loss_fn, device)
                    if record["val_mrstft"] < best:
                        best = record["val_mrstft"]
                        checkpoint(done, "best.pt")
                metrics.append(record)
                if progress is not None:
                    progress("train", done, config.steps, record)
                if done % config.checkpoint_every == 0 or done == config.steps:
                    metrics.flush()
                    checkpoint(done, "last.pt")
            if stop_after is not None and done >= stop_after and done < config.steps:
                if info.is_main:
                    checkpoint(done, "last.pt")
                return {"stopped_at": done}, data
    seconds = time.perf_counter() - t0
    if info.is_main and not (run_dir / "best.pt").exists():
        checkpoint(config.steps, "best.pt")
    if not info.is_main:
        return {"rank": info.rank, "steps": config.steps}, data
    return {"steps": config.steps, "train_seconds": seconds, "run_dir": str(run_dir)}, data


def _load_effect(config: TrainConfig) -> Any:
    from dafxkit import registry

    return registry.load_effect(config.effect_name)


class Applier:
    """A run's controller, loaded once, choosing effect parameters for any number of clips.

    Exactly one of ``reference`` (reference mode), ``descriptor_change`` (descriptor mode: the
    wanted change of each descriptor, on its own scale) or ``z`` (a point of the control space)
    says how the parameters are chosen. Calling the applier on a clip returns the processed
    clip and the physical parameter values.

    The encoder hears each clip (and ``reference``, at ``reference_rate``, encoded once) as it
    was trained: mixed to mono and resampled to the run's rate. The effect then runs on the
    clip itself, at its own rate and with all its channels: the parameters are physical (dB,
    Hz, ms), so nothing above the run's Nyquist frequency and no channel is lost.
    """

    def __init__(
        self,
        run: str | Path,
        *,
        reference: np.ndarray | None = None,
        reference_rate: int | None = None,
        descriptor_change: dict[str, float] | None = None,
        z: list[float] | None = None,
    ) -> None:
        config, system, _ = load_run(run)
        self.config, self.system = config, system
        self.effect = system.layer.effect
        given = sum(v is not None for v in (reference, descriptor_change, z))
        if given != 1:
            raise DafxError("give exactly one of a reference, descriptor changes or z")
        self._fixed: torch.Tensor | None = None  # parameters that do not depend on the clip
        self._reference: torch.Tensor | None = None
        self._condition: torch.Tensor | None = None
        with torch.no_grad():
            if z is not None:
                if len(z) != system.controller.z_dim:
                    raise DafxError(f"--z needs {system.controller.z_dim} values; got {len(z)}")
                self._fixed = system.controller.decode(torch.tensor([z], dtype=torch.float32))
            elif reference is not None:
                if config.mode != "reference":
                    raise DafxError(
                        "this run was trained in descriptor mode: give --brightness/--depth"
                    )
                if reference_rate is None:
                    raise DafxError("reference_rate is needed with a reference")
                rate = _whole_hz(validate_sample_rate(reference_rate), "reference_rate")
                self._reference = system.encoder(
                    self._heard(_as_clip(reference, "reference"), rate)
                )
            else:
                if config.mode != "descriptor":
                    raise DafxError("this run was trained in reference mode: give --reference")
                assert descriptor_change is not None
                unknown = set(descriptor_change) - set(config.descriptors)
                if unknown:
                    raise DafxError(
                        f"unknown descriptor(s) {sorted(unknown)}; the run has "
                        f"{list(config.descriptors)}"
                    )
                scaled = [
                    descriptor_change.get(d, 0.0) / DESCRIPTOR_SCALE for d in config.descriptors
                ]
                self._condition = torch.tensor([scaled], dtype=torch.float32)

    def _heard(self, clip: np.ndarray, rate: int) -> torch.Tensor:
        # What the encoder was trained on: the mono mix at the run's rate, in its channels.
        from dafxkit.data.sampler import resample

        mono = clip.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
        mono = resample(mono, rate, self.config.sample_rate)
        return torch.from_numpy(mono)[None].expand(1, self.config.channels, -1).contiguous()

    def params(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Normalised ``(1, n_params)`` parameters for ``audio`` ``(channels, samples)``."""
        audio = _as_clip(audio, "audio")
        return self._params(audio, _whole_hz(validate_sample_rate(sample_rate), "sample_rate"))

    def _params(self, audio: np.ndarray, rate: int) -> np.ndarray:
        # `params` of a checked clip and rate.
        if self._fixed is not None:
            return self._fixed.double().numpy()
        with torch.no_grad():
            x = self.system.encoder(self._heard(audio, rate))
            second = self._reference if self._reference is not None else self._condition
            out = self.system.controller(x, second, sample=False)
        return out["params"].double().numpy()

    def __call__(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, dict[str, float]]:
        """``(processed audio, physical parameters)`` for ``audio`` ``(channels, samples)``."""
        audio = _as_clip(audio, "audio")
        rate = _whole_hz(validate_sample_rate(sample_rate), "sample_rate")
        theta = self._params(audio, rate)
        y = self.effect(audio[None], theta, rate)
        physical = {k: float(v[0]) for k, v in self.effect.denormalise(theta).items()}
        return y[0], physical


def apply(
    run: str | Path,
    audio: np.ndarray,
    sample_rate: int,
    *,
    reference: np.ndarray | None = None,
    reference_rate: int | None = None,
    descriptor_change: dict[str, float] | None = None,
    z: list[float] | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Process ``audio`` ``(channels, samples)`` with the run's controller (see `Applier`;
    ``reference_rate`` defaults to ``sample_rate``). Returns the processed audio and the
    physical parameter values. For many clips, build one `Applier` instead."""
    if reference is not None and reference_rate is None:
        reference_rate = sample_rate
    applier = Applier(
        run,
        reference=reference,
        reference_rate=reference_rate,
        descriptor_change=descriptor_change,
        z=z,
    )
    return applier(audio, sample_rate)


def _whole_hz(rate: float, name: str) -> int:
    if rate != int(rate):
        raise DafxError(f"{name} must be a whole number of Hz; got {rate}")
    return int(rate)


def _as_clip(audio: np.ndarray, name: str) -> np.ndarray:
    # (channels, samples) float32, checked as effects check their input.
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2:
        raise DafxError(f"{name} must be (channels, samples) or (samples,); got {audio.shape}")
    return validate_audio(audio[None], name=name)[0]
