"""Data-parallel training: 2 processes under torchrun (gloo, CPU) against 1 process.

Two processes that split a global batch of B train the same model as one process with batch B:
they generate disjoint rows of the same examples, draw the same SPSA directions and noise for
the global batch, and DDP averages their gradients. What differs is the order of float32 sums
(two half-batch means averaged instead of one mean); Adam carries that rounding through the
steps. Measured after 6 steps (B 8, K 2): the weights differ by 3e-5 of how far training moved
them (largest element 5e-5, lr 2e-3) and per-step losses by ≤ 9e-6 relative. The tolerances
are ~30× and ~10× that; a wrong data split, a different draw or a missing gradient average
gives differences of order 1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from dafxkit.train import TrainConfig, load_config, save_config, train
from dafxkit.train.loop import train_vae
from tests.test_train_loop import TINY as LOOP_TINY

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with gloo is not available",
)

# test_train_loop's tiny run with a global batch of 8 (2 processes × 4 rows) and K = 2.
TINY = {**LOOP_TINY, "batch_size": 8, "vae_steps": 4, "spsa_k": 2}

# ||w₂ − w₁|| / ||w₁ − w_init|| and per-step loss differences (see the module docstring).
WEIGHTS_REL = 1e-3
LOSSES = dict(rel=1e-4)

WORKER = textwrap.dedent(
    """
    import json, sys
    from dafxkit.train import load_config, train
    from dafxkit.train.distributed import leave
    from dafxkit.train.loop import train_vae

    spec = json.loads(sys.argv[1])
    config = load_config(spec["config"]) if spec.get("config") else None
    if spec["what"] == "vae":
        train_vae(config, spec["out"])
    else:
        result = train(
            config,
            spec["run"],
            resume=spec.get("resume", False),
            stop_after=spec.get("stop_after"),
            evaluate_at_end=False,
        )
        # One write per line: the processes share the output pipe.
        sys.stdout.write("RESULT " + json.dumps(result) + "\\n")
    leave(0)  # as `dafxkit train` ends under torchrun
    """
)


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("DAFXKIT_CACHE", str(tmp_path / "cache"))


def _torchrun(tmp_path: Path, args: list[str], processes: int = 2) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DAFXKIT_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "DAFXKIT_CACHE": str(tmp_path / "cache"),
    }
    # Both processes run on this host: keep gloo on the loopback interface, whatever this
    # host's name resolves to.
    if "lo" in {name for _, name in socket.if_nameindex()}:
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        *args,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _run_worker(tmp_path: Path, spec: dict, processes: int = 2) -> subprocess.CompletedProcess:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return _torchrun(tmp_path, [str(script), json.dumps(spec)], processes)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


@pytest.fixture(scope="module")
def vae_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vae") / "vae.pt"
    train_vae(TrainConfig(**TINY), path)
    return path


def _config(tmp_path: Path, vae: Path | None, **changes) -> tuple[TrainConfig, Path]:
    config = TrainConfig(**{**TINY, "vae": str(vae) if vae else "", **changes})
    path = tmp_path / "config.toml"
    save_config(config, path)
    return config, path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, vae_checkpoint) -> tuple[TrainConfig, Path, Path]:
    """One process's run with the global batch, which the 2-process runs must reproduce:
    (config, its TOML file, run folder)."""
    folder = tmp_path_factory.mktemp("one")
    config, path = _config(folder, vae_checkpoint)
    train(config, folder / "run", evaluate_at_end=False)
    return config, path, folder / "run"


def _controller(run: Path, which: str = "last.pt") -> dict[str, torch.Tensor]:
    return torch.load(run / which, weights_only=False, map_location="cpu")["controller"]


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _initial_controller(run: Path) -> dict[str, torch.Tensor]:
    """The controller's weights before step 1 (built as training builds it, from the seed)."""
    from dafxkit import registry
    from dafxkit.models.vae import BetaVAE
    from dafxkit.train.loop import _build_system, _seed_all

    config = load_config(run / "config.toml")
    _seed_all(config.seed)
    effect = registry.load_effect(config.effect_name)
    return _build_system(config, BetaVAE.load(run / "vae.pt"), effect).controller.state_dict()


def _assert_same_training(one: Path, two: Path) -> None:
    a, b, start = _controller(one), _controller(two), _initial_controller(one)
    assert a.keys() == b.keys()
    apart = sum(float((a[k] - b[k]).double().square().sum()) for k in a) ** 0.5
    moved = sum(float((a[k] - start[k]).double().square().sum()) for k in a) ** 0.5
    assert moved > 0 and apart / moved < WEIGHTS_REL, (apart, moved)
    ma, mb = _metrics(one), _metrics(two)
    assert [r["step"] for r in mb] == [r["step"] for r in ma] == list(range(1, TINY["steps"] + 1))
    for ra, rb in zip(ma, mb, strict=True):
        for name in ("loss", "mrstft", "kl", "param_mae"):
            assert rb[name] == pytest.approx(ra[name], **LOSSES), (ra["step"], name)
        if "val_mrstft" in ra:
            assert rb["val_mrstft"] == pytest.approx(ra["val_mrstft"], **LOSSES)


def test_two_processes_match_one_with_the_global_batch(tmp_path, reference):
    config, path, one = reference
    two = tmp_path / "two"
    # The unchanged command under torchrun (python -m dafxkit is `dafxkit`).
    proc = _ok(
        _torchrun(tmp_path, ["-m", "dafxkit", "train", "--config", str(path), "-o", str(two)])
    )
    _assert_same_training(one, two)
    # Rank 0 alone wrote the run folder and printed the summary.
    assert load_config(two / "config.toml") == config
    assert (two / "summary.json").is_file()
    assert proc.stdout.count("MR-STFT vs random") == 1, proc.stdout


def test_resume_with_another_number_of_processes(tmp_path, reference):
    config, path, whole = reference
    # Two processes stop after 3 steps (as a kill would leave the run), one process finishes.
    split = tmp_path / "split"
    proc = _ok(
        _run_worker(
            tmp_path, {"what": "train", "config": str(path), "run": str(split), "stop_after": 3}
        )
    )
    assert 'RESULT {"stopped_at": 3}' in proc.stdout
    assert torch.load(split / "last.pt", weights_only=False)["step"] == 3
    train(None, split, resume=True, evaluate_at_end=False)
    _assert_same_training(whole, split)

    # And the other way: one process stops, two finish.
    other = tmp_path / "other"
    assert train(config, other, stop_after=3, evaluate_at_end=False) == {"stopped_at": 3}
    _ok(_run_worker(tmp_path, {"what": "train", "run": str(other), "resume": True}))
    _assert_same_training(whole, other)


def test_vae_pretraining_with_two_processes_matches_one(tmp_path, vae_checkpoint):
    # vae_checkpoint is one process's pre-training with the same settings.
    _, path = _config(tmp_path, None)
    two = tmp_path / "two.pt"
    _ok(_run_worker(tmp_path, {"what": "vae", "config": str(path), "out": str(two)}))
    a = torch.load(vae_checkpoint, weights_only=False)["state"]
    b = torch.load(two, weights_only=False)["state"]
    apart = sum(float((a[k] - b[k]).double().square().sum()) for k in a) ** 0.5
    # Measured: 4e-8 of the weights' norm after 4 steps, which moved them by 7e-2 of it.
    assert apart / sum(float(v.double().square().sum()) for v in a.values()) ** 0.5 < 1e-6


def test_a_batch_the_processes_cannot_split_is_an_error(tmp_path, vae_checkpoint):
    _, path = _config(tmp_path, vae_checkpoint, batch_size=5)
    proc = _run_worker(tmp_path, {"what": "train", "config": str(path), "run": str(tmp_path / "r")})
    assert proc.returncode != 0
    assert "batch_size 5 (the global batch) must be divisible by the 2 processes" in proc.stderr


# -- the environment torchrun describes, read without starting processes ---------------------


def test_environment_of_a_single_process_and_of_torchrun(monkeypatch):
    from dafxkit.train.distributed import Distributed

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert Distributed.from_env() == Distributed() and not Distributed().enabled
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    info = Distributed.from_env()
    assert (info.rank, info.world_size, info.local_rank, info.local_world_size) == (3, 4, 1, 2)
    assert info.enabled and not info.is_main
    share = info.share(16)
    assert (share.offset, share.size, share.total) == (12, 4, 16)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"WORLD_SIZE": "2", "RANK": "2"}, "inconsistent torch.distributed environment"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
        ({"WORLD_SIZE": "2", "RANK": "0", "DAFXKIT_NUM_THREADS": "x"}, "DAFXKIT_NUM_THREADS"),
    ],
)
def test_bad_environments_are_named(monkeypatch, env, message):
    from dafxkit.errors import DafxError
    from dafxkit.train.distributed import Distributed, threads_per_process

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "DAFXKIT_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(DafxError, match=message):
        threads_per_process(Distributed.from_env())


def test_threads_per_process_split_the_host(monkeypatch):
    from dafxkit.train.distributed import Distributed, threads_per_process

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("DAFXKIT_NUM_THREADS", raising=False)
    assert threads_per_process(Distributed(0, 2, 0, 2)) == max(1, cores // 2)
    assert threads_per_process(Distributed(0, 64, 0, 64)) == max(1, cores // 64)
    monkeypatch.setenv("DAFXKIT_NUM_THREADS", "3")
    assert threads_per_process(Distributed(0, 2, 0, 2)) == 3


def test_leave_flushes_output_and_exits_with_the_status():
    code = (
        "import logging, sys\n"
        "from dafxkit.train.distributed import leave\n"
        "logging.basicConfig(stream=sys.stderr)\n"
        "print('written', end='')\n"
        "logging.getLogger('x').warning('logged')\n"
        "leave(3)\n"
        "print('never')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3
    assert proc.stdout == "written"
    assert "logged" in proc.stderr
