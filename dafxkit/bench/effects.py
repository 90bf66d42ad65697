"""Effect throughput: every backend of an effect against pedalboard's closest effect, in one run.

The workload is the one an SPSA step produces: B clips, each with its own parameter setting,
processed in one call. pedalboard has no batch axis, so its time is a Python loop over clips.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from dafxkit import registry
from dafxkit.signals import test_signal

__all__ = ["BenchRow", "PEERS", "bench_effect", "interleaved_ms", "make_workload"]

# effect name -> builds a pedalboard plugin from one row of physical parameter values.
PeerFactory = Callable[[Mapping[str, float]], object]


def _pb():
    import pedalboard

    return pedalboard


def _equaliser_peer(v: Mapping[str, float]) -> object:
    pb = _pb()
    return pb.Pedalboard(
        [
            pb.LowShelfFilter(v["low_freq_hz"], v["low_gain_db"]),
            pb.PeakFilter(v["mid1_freq_hz"], v["mid1_gain_db"], v["mid1_q"]),
            pb.PeakFilter(v["mid2_freq_hz"], v["mid2_gain_db"], v["mid2_q"]),
            pb.HighShelfFilter(v["high_freq_hz"], v["high_gain_db"]),
        ]
    )


def _hardclip_peer(v: Mapping[str, float]) -> object:
    # Drive, clip at full scale, then the tone low-pass: the same work as the hardclip effect
    # (pedalboard's Clipping alone is only the middle step).
    pb = _pb()
    return pb.Pedalboard([pb.Gain(v["drive_db"]), pb.Clipping(0.0), pb.LowpassFilter(v["tone_hz"])])


def _chorus_peer(v: Mapping[str, float]) -> object:
    # pedalboard's depth is a 0-1 fraction of the centre delay.
    depth = min(1.0, v["depth_ms"] / v["centre_ms"])
    return _pb().Chorus(v["rate_hz"], depth, v["centre_ms"], v["feedback"], v["mix"])


#: The closest pedalboard effect of each built-in effect that has one (pedalboard has no
#: tremolo, and no flanger: its Chorus with a short centre delay stands in).
PEERS: dict[str, tuple[str, PeerFactory]] = {
    "gain": ("pedalboard.Gain", lambda v: _pb().Gain(v["gain_db"])),
    "distortion": ("pedalboard.Distortion", lambda v: _pb().Distortion(v["drive_db"])),
    "softclip": ("pedalboard.Distortion", lambda v: _pb().Distortion(v["drive_db"])),
    "hardclip": ("pedalboard Gain/Clipping/LowpassFilter", _hardclip_peer),
    "tube": ("pedalboard.Distortion", lambda v: _pb().Distortion(v["drive_db"])),
    "compressor": (
        "pedalboard.Compressor",
        lambda v: _pb().Compressor(v["threshold_db"], v["ratio"], v["attack_ms"], v["release_ms"]),
    ),
    "gate": (
        "pedalboard.NoiseGate",
        lambda v: _pb().NoiseGate(v["threshold_db"], 10.0, v["attack_ms"], v["release_ms"]),
    ),
    "equaliser": ("pedalboard Low/Peak/Peak/HighShelf", _equaliser_peer),
    "reverb": (
        "pedalboard.Reverb",
        lambda v: _pb().Reverb(v["room_size"], v["damping"], v["mix"], 1.0 - v["mix"], v["width"]),
    ),
    "delay": (
        "pedalboard.Delay",
        lambda v: _pb().Delay(v["time_ms"] / 1000.0, v["feedback"], v["mix"]),
    ),
    "chorus": ("pedalboard.Chorus", _chorus_peer),
    "flanger": ("pedalboard.Chorus", _chorus_peer),
    "phaser": (
        "pedalboard.Phaser",
        lambda v: _pb().Phaser(v["rate_hz"], v["depth"], v["centre_hz"], v["feedback"], v["mix"]),
    ),
    "bitcrusher": ("pedalboard.Bitcrush", lambda v: _pb().Bitcrush(v["bits"])),
}


@dataclass
class BenchRow:
    effect: str
    implementation: str
    total_ms: float
    repeats: int

    def per_clip_ms(self, batch: int) -> float:
        return self.total_ms / batch


def make_workload(
    n_params: int, batch: int = 32, seconds: float = 5.0, sample_rate: int = 44100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``batch`` mono music-like clips (8 distinct, repeated) and ``batch`` random settings."""
    distinct = [test_signal(seconds, sample_rate, seed=seed + i) for i in range(min(batch, 8))]
    audio = np.stack([distinct[i % len(distinct)] for i in range(batch)]).astype(np.float32)
    params = np.random.default_rng(seed).uniform(0.0, 1.0, (batch, n_params))
    return audio, params


def interleaved_ms(
    methods: dict[str, Callable[[], object]],
    repeats: int,
    budget_s: float,
    warm_ups: dict[str, Callable[[], object]] | None = None,
) -> dict[str, tuple[float, int]]:
    """Median ms per call of each method, timed in rounds (one call of each per round).

    Interleaving puts every method under the same passing load of a shared machine, so their
    ratios hold even when the absolute times drift. Each method is warmed up first
    (compilation, page faults, worker start) by one call, or by its entry in ``warm_ups``
    (a cheaper call for slow references); a method whose calls have used up ``budget_s``
    sits out the remaining rounds.
    """
    for name, run in methods.items():
        (warm_ups or {}).get(name, run)()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, run in methods.items():
            if sum(times[name]) > 1e3 * budget_s:
                continue
            t0 = time.perf_counter()
            run()
            times[name].append(1e3 * (time.perf_counter() - t0))
    return {name: (statistics.median(t), len(t)) for name, t in times.items()}


def bench_effect(
    name: str,
    batch: int = 32,
    seconds: float = 5.0,
    sample_rate: int = 44100,
    repeats: int = 5,
    budget_s: float = 20.0,
    peer: bool = True,
) -> list[BenchRow]:
    """Time every available backend of ``name`` and its pedalboard peer on one workload.

    Each implementation runs once untimed (Numba compiles then), then ``repeats`` rounds of one
    call each, interleaved; the median is kept. An implementation sits out the remaining rounds
    once it has used ``budget_s`` seconds (the slow references).
    """
    fx = registry.load_effect(name)
    audio, params = make_workload(fx.n_params, batch, seconds, sample_rate)
    timed: dict[str, Callable[[], object]] = {}
    for backend in fx.available_backends():

        def run(backend: str = backend) -> object:
            return fx(audio, params, sample_rate, backend=backend)

        timed[backend] = run
    if peer and name in PEERS:
        try:
            import pedalboard  # noqa: F401
        except ImportError:
            pass
        else:
            label, factory = PEERS[name]
            physical = fx.denormalise(params)
            plugins = [factory({k: v[i] for k, v in physical.items()}) for i in range(batch)]

            def run_peer() -> object:
                return [plugins[i](audio[i], sample_rate) for i in range(batch)]

            timed[f"{label} (loop)"] = run_peer
    results = interleaved_ms(timed, repeats, budget_s)
    return [BenchRow(name, label, *results[label]) for label in timed]
