"""Descriptor throughput: dafxkit's MFCC and timbral descriptors against their peers, one run.

Peers: librosa's ``feature.mfcc`` (given the whole batch at once, and looped per clip) and the
Audio Commons reference ``timbral_models`` (looped per clip; it has no batch axis). The
reference takes seconds per clip, so it runs on the first few clips only; throughput is
compared per clip. Implementations of one task are timed in alternating rounds
(`dafxkit.bench.effects.interleaved_ms`), so their ratios hold on a machine whose speed drifts.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dafxkit.bench.effects import interleaved_ms
from dafxkit.signals import test_signal

__all__ = ["ExtractRow", "bench_mfcc", "bench_timbral", "load_workload"]

#: The two descriptors training uses; the speed target for them is separate from all eight.
TRAINING_DESCRIPTORS = ("brightness", "depth")


@dataclass
class ExtractRow:
    task: str  #: what is computed ("mfcc", "brightness+depth", "all 8 timbral")
    implementation: str
    clips: int  #: clips per timed run
    ms: float  #: median ms per run
    repeats: int

    @property
    def ms_per_clip(self) -> float:
        return self.ms / self.clips

    @property
    def clips_per_s(self) -> float:
        return 1e3 * self.clips / self.ms


def load_workload(
    batch: int = 32,
    seconds: float = 5.0,
    sample_rate: int = 44100,
    audio_dir: str | Path | None = None,
) -> np.ndarray:
    """``(batch, 1, samples)`` float32 mono clips: music-like test signals, or files' openings.

    With ``audio_dir``, the first ``batch`` audio files found there (sorted; fewer are
    repeated), mixed to mono, resampled to ``sample_rate`` and cut or zero-padded to
    ``seconds``.
    """
    n = int(round(seconds * sample_rate))
    if audio_dir is None:
        clips = [test_signal(seconds, sample_rate, seed=i)[0] for i in range(min(batch, 8))]
    else:
        from math import gcd

        from scipy.signal import resample_poly

        from dafxkit.audio import read_audio
        from dafxkit.errors import DafxError

        files = sorted(p for p in Path(audio_dir).rglob("*") if p.is_file())
        clips = []
        for path in files:
            try:
                audio, rate = read_audio(path)
            except DafxError:
                continue
            mono = audio.mean(axis=0, dtype=np.float64)
            if rate != sample_rate:
                g = gcd(int(rate), int(sample_rate))
                mono = resample_poly(mono, sample_rate // g, int(rate) // g)
            clip = np.zeros(n)
            clip[: min(n, len(mono))] = mono[:n]
            clips.append(clip.astype(np.float32))
            if len(clips) == batch:
                break
        if not clips:
            raise DafxError(f"no readable audio files under {audio_dir}")
    return np.stack([clips[i % len(clips)] for i in range(batch)])[:, None, :]


def _rows(
    task: str,
    clips: dict[str, int],
    methods: dict[str, Callable[[], object]],
    repeats: int,
    budget_s: float,
    warm_ups: dict[str, Callable[[], object]] | None = None,
) -> list[ExtractRow]:
    """One row per method of ``task``, timed interleaved; ``clips``: clips per call."""
    results = interleaved_ms(methods, repeats, budget_s, warm_ups)
    return [ExtractRow(task, name, clips[name], *results[name]) for name in methods]


def bench_mfcc(
    audio: np.ndarray, sample_rate: int, repeats: int = 5, budget_s: float = 20.0
) -> list[ExtractRow]:
    """MFCC (librosa defaults, 20 coefficients) of every clip: each dafxkit backend vs librosa."""
    import torch

    from dafxkit import native
    from dafxkit.descriptors.mfcc import mfcc, mfcc_torch

    backends = (["c"] if native.available() else []) + ["numba"]
    methods: dict[str, Callable[[], object]] = {
        f"dafxkit {b}": (lambda b=b: mfcc(audio, sample_rate, backend=b)) for b in backends
    }
    tensor = torch.from_numpy(audio)
    methods["dafxkit torch (CPU)"] = lambda: mfcc_torch(tensor, sample_rate)
    try:
        import librosa
    except ImportError:
        librosa = None
    if librosa is not None:
        mono = audio[:, 0, :]
        methods["librosa (batch array)"] = lambda: librosa.feature.mfcc(y=mono, sr=sample_rate)
        methods["librosa (loop per clip)"] = lambda: [
            librosa.feature.mfcc(y=clip, sr=sample_rate) for clip in mono
        ]
    return _rows("mfcc", dict.fromkeys(methods, audio.shape[0]), methods, repeats, budget_s)


def bench_timbral(
    audio: np.ndarray,
    sample_rate: int,
    repeats: int = 3,
    budget_s: float = 30.0,
    reference_clips: int = 2,
    groups: Sequence[tuple[str, Sequence[str] | None]] = (
        ("brightness+depth", TRAINING_DESCRIPTORS),
        ("all 8 timbral", None),
    ),
) -> list[ExtractRow]:
    """dafxkit's timbral descriptors on every clip vs timbral_models on ``reference_clips``."""
    from dafxkit.descriptors.timbral import DESCRIPTORS, Timbral

    rows: list[ExtractRow] = []
    batch = audio.shape[0]
    try:
        from dafxkit.descriptors.timbral_reference import TimbralReference

        reference_available = True
        TimbralReference()
    except ImportError:
        reference_available = False
    for task, columns in groups:
        ours = Timbral(columns)
        methods: dict[str, Callable[[], object]] = {
            "dafxkit": lambda ours=ours: ours.extract(audio, sample_rate)
        }
        clips = {"dafxkit": batch}
        warm_ups: dict[str, Callable[[], object]] = {}
        if reference_available:
            ref = TimbralReference(columns or DESCRIPTORS)
            few = audio[: max(1, reference_clips)]
            name = "timbral_models 0.4.0 (loop)"

            def reference(ref=ref, clips=few) -> None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref.extract(clips, sample_rate)

            methods[name] = reference
            clips[name] = len(few)
            # The reference takes seconds per clip: warmed up (librosa's imports and its Numba
            # compilation) on 2 s of one clip.
            warm_ups[name] = lambda reference=reference, few=few: reference(
                clips=few[:1, :, : 2 * sample_rate]
            )
        rows += _rows(task, clips, methods, repeats, budget_s, warm_ups)
    return rows
