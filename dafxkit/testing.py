"""The contract every effect keeps, as functions a plugin's own tests can call.

dafxkit's test suite runs these on every registered effect (``tests/test_contract.py``), and
``dafxkit plugins check --contract`` runs them on every installed one. A package that adds
effects can hold its effects to the same contract in its own tests::

    from dafxkit.testing import check_effect

    def test_my_effect_keeps_the_dafxkit_contract():
        check_effect("myfx")  # or an Effect instance; raises AssertionError listing problems

The contract:

- `finite_problems`: for every parameter vector in [0, 1] (all zeros, all ones, the defaults
  and random rows) on noise, DC, silence and loud input (peak about 16) at 22.05, 44.1 and
  48 kHz, the output keeps the input's shape, is float32 and is finite;
- `batch_problems`: a batch gives exactly (bit for bit) what its rows give one at a time, so
  batched SPSA probes equal separate runs;
- `backend_problems`: every available backend gives the same output within 2e-5;
- `neutral_problems`: an effect that declares a neutral setting returns its input unchanged
  there (within 1e-6).

Each returns a list of readable problems, empty when the effect keeps that part.

Feature extractors have a contract too (`extractor_problems`, `check_extractor`): for noise,
DC, silence, loud noise and a 20 ms clip at 22.05 and 44.1 kHz, `extract` returns float64
``(batch, n_features)`` values that are finite (extractors with ``nan_on_failure`` may give
NaN, never infinity), and a batch gives what its rows give one at a time (within 1e-9,
relative).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "SAMPLE_RATES",
    "backend_problems",
    "batch_problems",
    "check_effect",
    "check_extractor",
    "effect_problems",
    "extractor_problems",
    "finite_problems",
    "neutral_problems",
]

#: The rates `finite_problems` runs at.
SAMPLE_RATES = (22050, 44100, 48000)


def _effect(effect: Any) -> Any:
    from dafxkit import registry

    return registry.load_effect(effect) if isinstance(effect, str) else effect


def _inputs(rng: np.random.Generator, channels: int = 2, samples: int = 3000) -> np.ndarray:
    # Noise, DC, silence and loud noise: one batch row each.
    noise = rng.uniform(-1, 1, (1, channels, samples))
    dc = np.full((1, channels, samples), 0.9)
    silence = np.zeros((1, channels, samples))
    loud = 4.0 * rng.standard_normal((1, channels, samples))
    return np.concatenate([noise, dc, silence, loud]).astype(np.float32)


_INPUT_NAMES = ("noise", "DC", "silence", "loud noise")


def _param_sets(effect: Any, rng: np.random.Generator, n: int) -> np.ndarray:
    corners = [np.zeros(effect.n_params), np.ones(effect.n_params)]
    return np.array(
        [*corners, effect.default_params()[0], *rng.uniform(0, 1, (n, effect.n_params))]
    )


def _raised(what: str, exc: Exception) -> str:
    return f"{what} raised {type(exc).__name__}: {exc}"


def finite_problems(effect: Any, *, seed: int = 0, random_settings: int = 4) -> list[str]:
    """Shape, dtype and finiteness for corner, default and random settings (see the module)."""
    effect = _effect(effect)
    rng = np.random.default_rng(seed)
    problems: list[str] = []
    for rate in SAMPLE_RATES:
        audio = _inputs(rng)
        for row in _param_sets(effect, rng, random_settings):
            at = f"at {rate} Hz, parameters {np.round(row, 4).tolist()}"
            try:
                out = np.asarray(effect(audio, np.tile(row, (len(audio), 1)), rate))
            except Exception as exc:
                problems.append(_raised(f"processing {at}", exc))
                continue
            if out.shape != audio.shape:
                problems.append(f"output shape {out.shape} for input {audio.shape} {at}")
                continue
            if out.dtype != np.float32:
                problems.append(f"output dtype {out.dtype}, not float32, {at}")
            bad = [
                name
                for name, clip in zip(_INPUT_NAMES, out, strict=True)
                if not np.isfinite(clip).all()
            ]
            if bad:
                problems.append(f"non-finite output for {', '.join(bad)} {at}")
    return problems


def batch_problems(effect: Any, *, seed: int = 0) -> list[str]:
    """A batch must equal its rows run alone, bit for bit."""
    effect = _effect(effect)
    rng = np.random.default_rng(seed)
    audio = _inputs(rng, channels=1, samples=2000)
    params = rng.uniform(0, 1, (len(audio), effect.n_params))
    try:
        whole = effect(audio, params, 44100)
        alone = [effect(audio[i : i + 1], params[i : i + 1], 44100) for i in range(len(audio))]
    except Exception as exc:
        return [_raised("processing a batch", exc)]
    differ = [
        f"row {i} ({_INPUT_NAMES[i]}) differs by up to {np.max(np.abs(whole[i : i + 1] - one)):.3g}"
        for i, one in enumerate(alone)
        if not np.array_equal(whole[i : i + 1], one)
    ]
    return [f"a batch differs from its rows run alone: {'; '.join(differ)}"] if differ else []


def backend_problems(effect: Any, *, seed: int = 0, atol: float = 2e-5) -> list[str]:
    """Every available backend must agree with the last one listed (the reference)."""
    effect = _effect(effect)
    rng = np.random.default_rng(seed)
    audio = _inputs(rng, channels=2, samples=1500)
    params = rng.uniform(0, 1, (len(audio), effect.n_params))
    backends = list(effect.available_backends())
    try:
        reference = effect(audio, params, 48000, backend=backends[-1])
    except Exception as exc:
        return [_raised(f"the {backends[-1]} backend", exc)]
    problems = []
    for backend in backends[:-1]:
        try:
            out = effect(audio, params, 48000, backend=backend)
        except Exception as exc:
            problems.append(_raised(f"the {backend} backend", exc))
            continue
        finite = np.isfinite(out) & np.isfinite(reference)
        if not finite.all():
            problems.append(f"non-finite output from the {backend} or {backends[-1]} backend")
            continue
        worst = float(np.max(np.abs(out - reference)))
        if not worst <= atol:
            problems.append(
                f"the {backend} backend differs from {backends[-1]} by up to {worst:.3g} "
                f"(tolerance {atol:g})"
            )
    return problems


def neutral_problems(effect: Any, *, seed: int = 0, atol: float = 1e-6) -> list[str]:
    """Neutral settings (when the effect declares them) must return the input unchanged."""
    effect = _effect(effect)
    if effect.neutral is None:
        return []
    rng = np.random.default_rng(seed)
    audio = _inputs(rng, samples=1000)
    try:
        out = effect(audio, effect.neutral_params(len(audio)), 44100)
    except Exception as exc:
        return [_raised("processing at the neutral setting", exc)]
    worst = float(np.max(np.abs(out - audio)))
    if not worst <= atol:
        return [f"the neutral setting changes the input by up to {worst:.3g} (tolerance {atol:g})"]
    return []


def effect_problems(effect: Any, *, seed: int = 0) -> list[str]:
    """Every part of the contract: all problems found, empty when the effect keeps it."""
    effect = _effect(effect)
    checks = (finite_problems, batch_problems, backend_problems, neutral_problems)
    return [p for check in checks for p in check(effect, seed=seed)]


def check_effect(effect: Any, *, seed: int = 0) -> None:
    """Raise AssertionError listing every problem `effect_problems` finds."""
    effect = _effect(effect)
    _raise_problems(f"effect {effect.name!r}", effect_problems(effect, seed=seed))


def _raise_problems(what: str, problems: list[str]) -> None:
    if problems:
        listing = "\n".join(f"- {p}" for p in problems)
        raise AssertionError(f"{what} breaks the dafxkit contract:\n{listing}")


def _extractor(extractor: Any) -> Any:
    from dafxkit import registry

    return registry.load_feature(extractor) if isinstance(extractor, str) else extractor


def extractor_problems(extractor: Any, *, seed: int = 0, seconds: float = 0.5) -> list[str]:
    """The feature-extractor contract (see the module): all problems found, empty when kept."""
    extractor = _extractor(extractor)
    rng = np.random.default_rng(seed)
    problems: list[str] = []

    def bad_values(out: np.ndarray) -> np.ndarray:
        # Per row: does it break the finiteness rule?
        if getattr(extractor, "nan_on_failure", False):
            return np.isinf(out).any(axis=1)
        return ~np.isfinite(out).all(axis=1)

    for rate in SAMPLE_RATES[:2]:
        audio = _inputs(rng, channels=2, samples=int(seconds * rate))
        at = f"at {rate} Hz"
        try:
            whole = np.asarray(extractor.extract(audio, rate))
            alone = [
                np.asarray(extractor.extract(audio[i : i + 1], rate)) for i in range(len(audio))
            ]
        except Exception as exc:
            problems.append(_raised(f"describing noise, DC, silence and loud noise {at}", exc))
            continue
        expected = (len(audio), len(extractor.feature_names))
        if whole.shape != expected or whole.dtype != np.float64:
            problems.append(f"output {whole.dtype} {whole.shape}, not float64 {expected}, {at}")
            continue
        bad = [name for name, b in zip(_INPUT_NAMES, bad_values(whole), strict=True) if b]
        if bad:
            problems.append(f"non-finite values for {', '.join(bad)} {at}")
        differ = [
            _INPUT_NAMES[i]
            for i, one in enumerate(alone)
            if not np.allclose(whole[i : i + 1], one, rtol=1e-9, atol=1e-12, equal_nan=True)
        ]
        if differ:
            problems.append(
                f"a batch differs from its rows described alone ({', '.join(differ)}) {at}"
            )
        short = audio[:1, :, : max(1, int(0.02 * rate))]
        try:
            out = np.asarray(extractor.extract(short, rate))
        except Exception as exc:
            problems.append(_raised(f"describing a 20 ms clip {at}", exc))
            continue
        if bad_values(out).any():
            problems.append(f"non-finite values for a 20 ms clip {at}")
    return problems


def check_extractor(extractor: Any, *, seed: int = 0) -> None:
    """Raise AssertionError listing every problem `extractor_problems` finds."""
    extractor = _extractor(extractor)
    _raise_problems(
        f"feature extractor {extractor.name!r}", extractor_problems(extractor, seed=seed)
    )
