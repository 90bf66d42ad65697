"""Effect chains: registered effects in series, themselves an Effect."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from dafxkit.effect import Effect
from dafxkit.errors import ParameterError

__all__ = ["Chain", "CHAIN_SEPARATOR"]

#: Joins member names in a chain's name: ``"compressor>distortion>reverb"``.
CHAIN_SEPARATOR = ">"


class Chain(Effect):
    """Several effects in series, usable everywhere a single effect is.

    The chain's parameters are its members' in order, each name prefixed with the member's
    label and a dot (``distortion.drive_db``). Labels are the members' names, with ``_2``,
    ``_3`` ... added when an effect appears more than once. Each member runs on its own best
    backend unless the chain is asked for one that the member has.

    Parameters
    ----------
    members : sequence of Effect
        At least one effect, applied first to last.
    """

    def __init__(self, members: Sequence[Effect]) -> None:
        if not members:
            raise ParameterError("a chain needs at least one effect")
        self.members = tuple(members)
        labels: list[str] = []
        for fx in self.members:
            label, k = fx.name, 2
            while label in labels:
                label, k = f"{fx.name}_{k}", k + 1
            labels.append(label)
        self.labels = tuple(labels)
        self.name = CHAIN_SEPARATOR.join(labels)  # type: ignore[misc]
        self.description = "chain: " + " > ".join(labels)  # type: ignore[misc]
        self.params = tuple(
            dataclasses.replace(p, name=f"{label}.{p.name}")
            for label, fx in zip(self.labels, self.members, strict=True)
            for p in fx.params
        )
        self.backends = tuple(dict.fromkeys(b for fx in self.members for b in fx.backends))
        if all(fx.neutral is not None for fx in self.members):
            self.neutral = {  # type: ignore[misc]
                f"{label}.{k}": v
                for label, fx in zip(self.labels, self.members, strict=True)
                for k, v in fx.neutral.items()  # type: ignore[union-attr]
            }
        else:
            self.neutral = None  # type: ignore[misc]

    def backend_unavailable_reason(self, backend: str) -> str | None:
        reasons = []
        for fx in self.members:
            if backend in fx.backends:
                reason = fx.backend_unavailable_reason(backend)
                if reason is None:
                    return None
                reasons.append(reason)
        return "; ".join(dict.fromkeys(reasons)) or f"no member has a {backend!r} backend"

    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        x = audio
        for label, fx in zip(self.labels, self.members, strict=True):
            member_values = {p.name: values[f"{label}.{p.name}"] for p in fx.params}
            if backend in fx.backends and fx.backend_unavailable_reason(backend) is None:
                chosen = backend
            else:
                chosen = fx.resolve_backend()
            x = np.ascontiguousarray(fx.process(x, member_values, sample_rate, chosen), np.float32)
        return x
