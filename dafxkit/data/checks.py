"""Sanity checks of an effect pair: loud enough, and changed, but not destroyed.

The MFCC similarity of two clips is the mean over frames of the cosine similarity between
their MFCC vectors without c0, computed on each clip's channel mean:

    sim(x, y) = mean_t  <X[1:, t], Y[1:, t]> / (|X[1:, t]| · |Y[1:, t]|)

with librosa's MFCC defaults (20 coefficients, 2048-sample frames, hop 512, 128 mel bands;
the C kernel's Fourier transforms in float32, within 1e-4 of librosa's coefficients).
c0 is the frame's overall log level; leaving it out makes the measure blind to gain (a clip
and a quieter copy have similarity 1) and keeps loud distortion, whose c0 changes sign, from
reading as destroyed: with c0 in, the cosine of the flattened MFCC matrices gave 0.75-0.97
for a mere -12 dB gain change and about 0 for heavy distortion, and could not tell
"unchanged" from "destroyed". Averaging per-frame cosines lets every frame count the same. A
frame silent in both clips (all of c1… zero) counts as 1, silent in one only as 0.

Measured on 60 real music clips and 60 synthetic windows (5 s) with the distortion effect at
uniform random settings: median 0.97, 10th-90th percentile 0.86-0.998, 1st percentile 0.54
(real) and 0.74 (synthetic), 5-9 % above 0.999. A dry/wet mix of 0 or a pure gain change
gives >= 0.998, white noise in place of the music -0.36 to 0.25, another song 0.2-0.9. The
default range (0.6, 0.999) keeps effected music, rejects examples where the effect changed
(almost) nothing, and rejects audio replaced by noise or garbage (and about 1 % of the most
extreme distortions of real clips).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dafxkit import native
from dafxkit.data.config import CheckConfig

__all__ = ["REASONS", "CheckResult", "Checker", "rms_dbfs", "mfcc_similarity"]

#: Every reason an attempt can be rejected for, with what it means.
REASONS: dict[str, str] = {
    "silent_window": "the window cut from the source is below the silence threshold",
    "unreadable": "the source could not read the window (a corrupt or truncated file)",
    "non_finite": "the audio holds NaN or infinity",
    "silent_output": "an effected clip is quieter than min_rms_dbfs",
    "too_similar": "MFCC similarity above the range: the effect changed (almost) nothing",
    "too_different": "MFCC similarity below the range: the effect destroyed the audio",
}

_SILENT_FRAME = 1e-4  # norm of c1… below which a frame counts as silent


def rms_dbfs(audio: np.ndarray) -> np.ndarray:
    """RMS level over all channels and samples of each clip, in dBFS (-inf for silence).

    ``audio`` is ``(..., channels, samples)``; the result has the leading shape.
    """
    audio = np.asarray(audio)
    count = audio.shape[-1] * audio.shape[-2]
    if audio.dtype == np.float32 and native.available():
        rows = np.ascontiguousarray(audio).reshape(*audio.shape[:-2], count)
        power = native.sum_squares_rows(rows) / count
    else:
        power = np.square(audio).sum(axis=(-2, -1), dtype=np.float64) / count
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(power)


def _mfcc_mono(audio: np.ndarray, sample_rate: float, n_mfcc: int) -> np.ndarray:
    from dafxkit.descriptors.mfcc import mfcc

    mono = audio if audio.shape[1] == 1 else audio.mean(axis=1, keepdims=True, dtype=np.float32)
    # float32 transforms: levels move by millionths of a dB, the check's answer does not.
    return mfcc(mono, sample_rate, n_mfcc=n_mfcc, fft_precision="float32")[:, 0]


def _frame_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean per-frame cosine of MFCC matrices ``(batch, n_mfcc, frames)`` without c0."""
    a = a[:, 1:].astype(np.float64)
    b = b[:, 1:].astype(np.float64)
    dot = np.einsum("bkt,bkt->bt", a, b)
    na = np.sqrt(np.einsum("bkt,bkt->bt", a, a))
    nb = np.sqrt(np.einsum("bkt,bkt->bt", b, b))
    quiet_a, quiet_b = na < _SILENT_FRAME, nb < _SILENT_FRAME
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    cos = np.where(quiet_a | quiet_b, np.where(quiet_a & quiet_b, 1.0, 0.0), cos)
    return np.clip(cos, -1.0, 1.0).mean(axis=1)


def mfcc_similarity(
    reference: np.ndarray,
    *others: np.ndarray,
    sample_rate: float,
    n_mfcc: int = 20,
    reference_mfcc: np.ndarray | None = None,
) -> np.ndarray:
    """MFCC similarity (module docstring) of each clip of ``reference`` with the same clip of
    each of ``others``: float64 ``(batch, len(others))``.

    All arrays are ``(batch, channels, samples)``. ``reference_mfcc``: the reference's MFCCs
    (`Checker.reference_mfcc`, same ``n_mfcc``), when already at hand.
    """
    ref = _mfcc_mono(reference, sample_rate, n_mfcc) if reference_mfcc is None else reference_mfcc
    return np.stack(
        [_frame_similarity(ref, _mfcc_mono(other, sample_rate, n_mfcc)) for other in others],
        axis=1,
    ).reshape(reference.shape[0], len(others))


@dataclass
class CheckResult:
    """Per example: why it was rejected (None: kept), and the measured numbers."""

    reasons: list[str | None]
    rms_dbfs: np.ndarray  #: ``(batch, 3)`` for x, ya, yb
    similarity: np.ndarray  #: ``(batch, 2)`` MFCC similarity of ya and yb with x

    @property
    def kept(self) -> np.ndarray:
        return np.array([r is None for r in self.reasons], dtype=bool)


class Checker:
    """Applies a `CheckConfig` to batches of (x, ya, yb)."""

    def __init__(self, config: CheckConfig, sample_rate: float) -> None:
        self.config = config
        self.sample_rate = float(sample_rate)

    def reference_mfcc(self, x: np.ndarray) -> np.ndarray:
        """The MFCCs ``(batch, n_mfcc, frames)`` of clips ``x`` that a call compares ``ya`` and
        ``yb`` against: keep them to check new settings of the same clips."""
        return _mfcc_mono(x, self.sample_rate, self.config.n_mfcc)

    def __call__(
        self, x: np.ndarray, ya: np.ndarray, yb: np.ndarray, x_mfcc: np.ndarray | None = None
    ) -> CheckResult:
        """Check a batch; every array is ``(batch, channels, samples)``; ``x_mfcc``: the
        result of `Checker.reference_mfcc` for ``x``, when already at hand.

        The first failing check names the reason: ``non_finite``, ``silent_output``, then
        ``too_different`` (either similarity below the range) before ``too_similar``.
        """
        c = self.config
        finite = np.isfinite(ya).all(axis=(1, 2)) & np.isfinite(yb).all(axis=(1, 2))
        ya_safe, yb_safe = ya, yb
        if not finite.all():  # measure the others; the non-finite ones are rejected anyway
            ya_safe = np.where(finite[:, None, None], ya, 0.0).astype(np.float32, copy=False)
            yb_safe = np.where(finite[:, None, None], yb, 0.0).astype(np.float32, copy=False)
        levels = np.stack([rms_dbfs(x), rms_dbfs(ya_safe), rms_dbfs(yb_safe)], axis=1)
        similarity = mfcc_similarity(
            x,
            ya_safe,
            yb_safe,
            sample_rate=self.sample_rate,
            n_mfcc=c.n_mfcc,
            reference_mfcc=x_mfcc,
        )
        low, high = c.mfcc_similarity
        reasons: list[str | None] = []
        for i in range(x.shape[0]):
            if not finite[i]:
                reasons.append("non_finite")
            elif np.min(levels[i, 1:]) < c.min_rms_dbfs:
                reasons.append("silent_output")
            elif np.min(similarity[i]) < low:
                reasons.append("too_different")
            elif np.max(similarity[i]) > high:
                reasons.append("too_similar")
            else:
                reasons.append(None)
        return CheckResult(reasons, levels, similarity)
