"""Hardness: attack, bandwidth and percussiveness features, as timbral_models 0.4.0 computes it.

Six features of the loudness-normalised clip go through the reference's linear regression
(`COEFFICIENTS`):

1. ``log10`` of the strength-weighted mean of the bandwidth maxima at the note attacks: a
   boxcar spectrogram (4096 points, hop 128) of the clip preceded by 4097 zeros gives per frame
   the distance from the 5 % roll-on to the highest bin above -75 dB (0 for frames quieter
   than 10 % of the loudest frame's range); per onset, the maximum over the 100 ms after the
   bandwidth's own attack (20 % of its rise), weighted by the onset's peak onset strength;
   a mean at or below 512 Hz (or no maximum at all) is replaced by ``fs / 512``;
2. ``log10`` of the mean spectral centroid (Hz, bins from 20 Hz) of the 125 ms after each
   attack start (attacks longer than 512 samples only); floored at 200 Hz;
3. ``log10`` of the rms-weighted mean specific loudness between 7 and 14 Bark under a bump
   weighting (`weighted_bark_level` of the 4096-sample windows);
4. ``log10`` of the percussive share of the rms energy after librosa's median-filter
   harmonic-percussive separation (`percussive_ratio`);
5. ``log10`` of the mean over onsets of the peak onset strength (librosa's log-mel flux);
6. the mean over onsets of the log10 attack time (minimum-effort thresholds on a
   sample-and-hold envelope with 0.1 s decay), capped at 0.1 s.

Onsets are the reference's ``calculate_onsets`` of the zero-padded clip with ``nperseg`` 4096;
none or one onset means a single segment from sample 0. The separation of feature 4 runs its
spectra in float32 (the ratio agrees with float64 to about 1e-7); everything else follows the
reference's float64 decisions exactly (see `dafxkit.descriptors.timbral._hardness_util`).

Degenerate input (value, flag):

- digital silence: ``(0.0, Flag.SILENT)`` (the reference raises);
- under 1536 samples (at 44.1 kHz: 35 ms): the reference's median filter reads memory outside
  its buffer there, so its value is undefined; here the separation uses the same reflected
  edges as for longer clips, flagged ``TOO_SHORT``; under 512 samples there is no separation
  block at all: ``(0.0, TOO_SHORT | FALLBACK)``;
- no onset found: the single segment from sample 0, as the reference, flagged ``NO_ONSETS``;
- an onset whose envelope peaks at its first sample (the reference raises): it adds no attack
  time or centroid, flagged ``FALLBACK``; if no onset has an attack time, the feature is the
  0.1 s cap;
- a feature whose log is undefined (no loudness between 7 and 14 Bark, no percussive energy,
  no onset strength): ``(0.0, Flag.FALLBACK)`` (the reference returns -inf or NaN);
- an attack whose spectrum is zero above 20 Hz (the reference's centroid is 0 / 0, NaN): it
  adds no centroid, flagged ``FALLBACK``;
- strength weights summing to zero: the plain mean of the bandwidth maxima, ``FALLBACK``.
"""

from __future__ import annotations

import math

import numpy as np

from dafxkit.descriptors.timbral._common import db2mag
from dafxkit.descriptors.timbral._frontend import Analysis, Flag
from dafxkit.descriptors.timbral._hardness_util import (
    STFT_HOP,
    attack_fixed_threshold,
    attack_min_effort,
    bandwidth_array,
    percussive_ratio,
    spectral_centroids,
)
from dafxkit.descriptors.timbral._loudness import weighted_bark_level, windowed_loudness

__all__ = ["hardness", "hardness_features", "COEFFICIENTS", "FEATURES"]

#: Regression weights of `FEATURES`, then the intercept (the reference's loudnorm fit).
COEFFICIENTS = (
    12.079781720638145,
    18.52100377170042,
    14.139883645260355,
    5.567690321917516,
    3.9346817690405635,
    -4.326890461087848,
    -85.60352209068202,
)
#: The features in the reference's ``dev_output`` order.
FEATURES = (
    "log_weighted_bandwidth_max",
    "log_attack_centroid",
    "log_weighted_midband_level",
    "log_hp_ratio",
    "log_mean_max_strength",
    "mean_attack_time",
)

#: Zeros put in front of the clip before the envelope, onsets and bandwidth (nperseg + 1).
NPERSEG = 4096
PAD = NPERSEG + 1
#: Spectrogram hop of the bandwidth array.
BANDWIDTH_STEP = 128
#: Level (dB re the scaled magnitude) above which a bin counts for the roll-off.
BANDWIDTH_THRESHOLD_DB = -75.0
MAX_ATTACK_TIME = 0.1
#: Seconds after the attack start whose spectral centroid is taken.
CENTROID_SECONDS = 0.125
#: Bark-pattern points (0.1 Bark) of the mid-band level.
MIDBAND = (70, 140)
#: Below this many samples the reference's HPSS median filter is undefined (see module doc).
SHORTEST = 3 * STFT_HOP
#: onset_strength's hop (librosa's default), mapping sample onsets to strength frames.
STRENGTH_HOP = 512
_SOURCE = "pad4097"


def _padded(an: Analysis) -> np.ndarray:
    return np.concatenate([np.zeros(PAD), an.signal])


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 and math.isfinite(x) else math.nan


def hardness_features(an: Analysis) -> tuple[np.ndarray, int]:
    """The six `FEATURES` (the reference's ``dev_output=True`` values) and a `Flag` mask.

    A feature is NaN where the reference's would be -inf or NaN (see the module doc), and the
    mask then has ``FALLBACK``; all six are NaN for silence (``SILENT``).
    """
    if an.silent:
        return np.full(len(FEATURES), np.nan), int(Flag.SILENT)
    flags = Flag(an.flags)
    y, fs = an.normalised
    if y.shape[0] < SHORTEST:
        flags |= Flag.TOO_SHORT

    loud = windowed_loudness(an)
    _, midband = weighted_bark_level(loud.pattern, loud.rms, *MIDBAND)
    log_midband = _log10(midband)
    log_hp_ratio = _log10(an.memo(("hardness", "hp_ratio"), lambda: percussive_ratio(y)))

    x = an.source(_SOURCE, _padded)
    envelope = an.envelope(_SOURCE, decay_time=0.1)
    onsets, degenerate = an.onsets(_SOURCE, decay_time=0.1, nperseg=NPERSEG)
    strength = an.onset_strength(_SOURCE)
    if degenerate:
        flags |= Flag.FALLBACK
    original = [int(o) for o in onsets]
    if len(original) == 1 and original[0] == 0:
        flags |= Flag.NO_ONSETS
    if len(original) <= 1:
        original = [0]

    bandwidth_fs = fs / float(BANDWIDTH_STEP)
    bandwidth = bandwidth_array(
        x, fs, NPERSEG, BANDWIDTH_STEP, rolloff_thresh=db2mag(BANDWIDTH_THRESHOLD_DB)
    )
    band_onsets = [max(o - NPERSEG, 0) // BANDWIDTH_STEP for o in original]
    max_band_frames = int(MAX_ATTACK_TIME * bandwidth_fs)
    centroid_samples = int(CENTROID_SECONDS * fs)

    bandwidth_max: list[float] = []
    bandwidth_weights: list[float] = []
    attack_times: list[float] = []
    max_strengths: list[float] = []
    centroids: list[float] = []
    attack_segments: list[tuple[int, int]] = []
    for count, onset in enumerate(original):
        # Bandwidth maximum over the first 100 ms of the bandwidth's attack.
        band_onset = band_onsets[count]
        if band_onset == band_onsets[-1]:
            band_seg = bandwidth[band_onset:]
        else:
            band_seg = bandwidth[band_onset : band_onsets[count + 1]]
        band_start = None
        if band_seg.shape[0] == 0:
            flags |= Flag.FALLBACK  # max() of nothing in the reference
        elif np.max(band_seg) > 0:
            band_start = attack_fixed_threshold(band_seg)
            if band_start is not None:
                tail = band_seg[band_start:]
                if tail.shape[0] > band_start + max_band_frames:
                    bandwidth_max.append(float(np.max(tail[:max_band_frames])))
                else:
                    bandwidth_max.append(float(np.max(tail)))

        # Attack time, peak onset strength and attack centroid of the onset's segment.
        if onset == original[-1]:
            stop = x.shape[0]
            strength_seg = strength[onset // STRENGTH_HOP :]
        else:
            stop = original[count + 1]
            strength_seg = strength[onset // STRENGTH_HOP : stop // STRENGTH_HOP]
        attack = attack_min_effort(envelope[onset:stop], fs, max_attack_time=MAX_ATTACK_TIME)
        if attack is None:
            flags |= Flag.FALLBACK  # the reference raises on the envelope peaking first
        else:
            attack_times.append(attack[0])
        if strength_seg.shape[0] == 0:
            flags |= Flag.FALLBACK
        else:
            peak_strength = float(np.max(strength_seg))
            max_strengths.append(peak_strength)
            if band_start is not None:
                bandwidth_weights.append(peak_strength)
        if attack is not None:
            # x[onset:stop][attack[1]:][:centroid_samples], as bounds into x.
            lo, hi, _ = slice(onset, stop).indices(x.shape[0])
            first, last, _ = slice(attack[1], attack[1] + centroid_samples).indices(max(hi - lo, 0))
            if last - first > 512:
                attack_segments.append((lo + first, last - first))

    # The attack centroids, transformed together.
    for centroid in spectral_centroids(x, attack_segments, fs):
        if centroid is not None:
            if math.isfinite(centroid):
                centroids.append(centroid)
            else:
                flags |= Flag.FALLBACK

    if attack_times:
        mean_attack_time = float(np.mean(attack_times))
    else:
        mean_attack_time = math.log10((int(fs * MAX_ATTACK_TIME) + 1.0) / fs)

    floor = fs / 512.0
    if bandwidth_max and len(bandwidth_weights) == len(bandwidth_max):
        weights = np.asarray(bandwidth_weights)
        if np.sum(weights) > 0:
            mean_bandwidth = float(np.average(bandwidth_max, weights=weights))
        else:
            flags |= Flag.FALLBACK
            mean_bandwidth = float(np.mean(bandwidth_max))
        if mean_bandwidth <= 512.0:
            mean_bandwidth = floor
    else:
        mean_bandwidth = floor

    log_strength = _log10(float(np.mean(max_strengths))) if max_strengths else math.nan

    mean_centroid = float(np.mean(centroids)) if centroids else 200.0
    if mean_centroid <= 200:
        mean_centroid = 200.0

    features = np.array(
        [
            math.log10(mean_bandwidth),
            math.log10(mean_centroid),
            log_midband,
            log_hp_ratio,
            log_strength,
            mean_attack_time,
        ]
    )
    if not np.all(np.isfinite(features)):
        flags |= Flag.FALLBACK
    return features, int(flags)


def hardness(an: Analysis) -> tuple[float, int]:
    """Apparent hardness of a clip on timbral_models' scale (not clipped), and a `Flag` mask."""
    features, flags = hardness_features(an)
    if flags & Flag.SILENT:
        return 0.0, flags
    if not np.all(np.isfinite(features)):
        return 0.0, flags
    value = float(np.dot(features, COEFFICIENTS[:-1]) + COEFFICIENTS[-1])
    return value, flags
