"""SPSA step throughput: dafxkit's one batched call against the per-item designs it replaces.

One step = the forward pass (B settings) plus the backward probes (2·K·B settings) and the
gradient, for B clips. Four ways, timed on one workload in one run, in interleaved rounds:

- ``dafxkit batched``: `EffectLayer` forward + backward, every probe in one effect call;
- ``per-item loop``: the same dafxkit effect called once per clip and probe from Python;
- ``process pool``: one worker process per batch item fed through pipes (the DeepAFx-ST design),
  each worker running the dafxkit effect single-threaded;
- ``pedalboard loop``: pedalboard's closest effect, once per clip and probe.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from dafxkit import registry
from dafxkit.bench.effects import PEERS, interleaved_ms, make_workload

__all__ = ["SpsaRow", "bench_spsa"]


@dataclass
class SpsaRow:
    effect: str
    k: int
    method: str
    step_ms: float
    repeats: int


def _probes(params: np.ndarray, delta: np.ndarray, epsilon: float) -> np.ndarray:
    centre = np.clip(params, epsilon, 1.0 - epsilon)
    return np.concatenate([centre + epsilon * delta, centre - epsilon * delta])  # (2K, B, P)


def _gradient(outputs: np.ndarray, grad: np.ndarray, delta: np.ndarray, eps: float) -> np.ndarray:
    k = delta.shape[0]
    diff = outputs[:k] - outputs[k:]
    inner = (diff * grad).reshape(k, diff.shape[1], -1).sum(axis=-1)
    return (delta * inner[..., None]).mean(axis=0) / (2.0 * eps)


def _worker(conn, name: str, sample_rate: int, epsilon: float) -> None:
    """One batch item's worker: receives (x, p, Δ, g), returns (y, ∂L/∂p)."""
    fx = registry.load_effect(name)
    while True:
        message = conn.recv()
        if message is None:
            break
        x, p, delta, g = message  # x (C, N), p (P,), delta (K, P), g (C, N)
        y = fx(x[None], p[None], sample_rate)[0]
        probes = _probes(p[None], delta[:, None, :], epsilon)[:, 0]  # (2K, P)
        outs = np.stack([fx(x[None], q[None], sample_rate)[0] for q in probes])
        grad = _gradient(outs[:, None], g[None, None], delta[:, None, :], epsilon)[0]
        conn.send((y, grad))


def bench_spsa(
    name: str,
    k: int = 1,
    batch: int = 32,
    seconds: float = 5.0,
    sample_rate: int = 44100,
    epsilon: float = 0.01,
    repeats: int = 3,
    budget_s: float = 30.0,
    methods: tuple[str, ...] = ("batched", "loop", "pool", "pedalboard"),
) -> list[SpsaRow]:
    """Time one SPSA step of ``name`` with each method in ``methods``."""
    import torch

    from dafxkit.spsa import EffectLayer

    fx = registry.load_effect(name)
    audio, params = make_workload(fx.n_params, batch, seconds, sample_rate)
    rng = np.random.default_rng(1)
    grad_out = rng.standard_normal(audio.shape).astype(np.float32)
    timed: dict[str, Callable[[], object]] = {}

    if "batched" in methods:
        layer = EffectLayer(fx, sample_rate, k=k, epsilon=epsilon, seed=0)
        x, g = torch.from_numpy(audio), torch.from_numpy(grad_out)

        def batched() -> object:
            p = torch.tensor(params, requires_grad=True)
            # The other methods are handed ∂L/∂y too: backward(g) starts from it, with no loss
            # to build (a product and a sum over B clips would add two full passes and a
            # fresh tensor to this method only).
            layer(x, p).backward(g)
            return p.grad

        timed["dafxkit batched"] = batched

    delta = rng.integers(0, 2, (k, batch, fx.n_params)) * 2.0 - 1.0

    if "loop" in methods:

        def loop() -> object:
            grads = []
            for b in range(batch):
                xb = audio[b : b + 1]
                fx(xb, params[b : b + 1], sample_rate)
                probes = _probes(params[b : b + 1], delta[:, b : b + 1], epsilon)
                outs = np.stack([fx(xb, q, sample_rate) for q in probes])
                grads.append(_gradient(outs, grad_out[b : b + 1], delta[:, b : b + 1], epsilon))
            return grads

        timed["per-item loop"] = loop

    # The pool's workers live for the whole timing and always shut down.
    with contextlib.ExitStack() as stack:
        if "pool" in methods:
            pipes = stack.enter_context(_worker_pool(name, batch, sample_rate, epsilon))

            def pool() -> object:
                for b, conn in enumerate(pipes):
                    conn.send((audio[b], params[b], delta[:, b], grad_out[b]))
                return [conn.recv() for conn in pipes]

            timed["process pool"] = pool

        if "pedalboard" in methods and name in PEERS:
            try:
                import pedalboard  # noqa: F401
            except ImportError:
                pass
            else:
                label, factory = PEERS[name]
                param_names = fx.param_names

                def run_peer(x: np.ndarray, q: np.ndarray) -> np.ndarray:
                    physical = fx.denormalise(q[None])
                    return factory({n: float(physical[n][0]) for n in param_names})(x, sample_rate)

                def pedalboard_loop() -> object:
                    grads = []
                    for b in range(batch):
                        run_peer(audio[b], params[b])
                        probes = _probes(params[b : b + 1], delta[:, b : b + 1], epsilon)[:, 0]
                        outs = np.stack([run_peer(audio[b], q) for q in probes])[:, None]
                        g_b, d_b = grad_out[b : b + 1], delta[:, b : b + 1]
                        grads.append(_gradient(outs, g_b, d_b, epsilon))
                    return grads

                timed[f"{label} loop"] = pedalboard_loop

        results = interleaved_ms(timed, repeats, budget_s)
    return [SpsaRow(name, k, method, *results[method]) for method in timed]


@contextlib.contextmanager
def _worker_pool(name: str, batch: int, sample_rate: int, epsilon: float) -> Iterator[list]:
    """``batch`` single-threaded worker processes, one per item, and their pipes."""
    ctx = mp.get_context("spawn")  # fork after OpenMP has started threads can deadlock
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # one single-threaded worker per item
    pipes, workers = [], []
    try:
        for _ in range(batch):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, name, sample_rate, epsilon))
            proc.start()
            pipes.append(parent)
            workers.append(proc)
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    try:
        yield pipes
    finally:
        for conn in pipes:
            conn.send(None)
        for proc in workers:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
