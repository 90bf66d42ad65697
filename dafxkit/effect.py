"""The batched Effect interface: parameters in physical units, normalised to [0, 1] on the wire."""

from __future__ import annotations

import abc
import difflib
import math
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from dafxkit.audio import validate_audio, validate_sample_rate
from dafxkit.errors import DafxWarning, NativeError, ParameterError

__all__ = ["Param", "Effect", "BACKEND_ENV", "KNOWN_BACKENDS", "per_clip"]

#: Environment variable naming the preferred backend (``auto``, ``c``, ``numba`` or ``numpy``).
BACKEND_ENV = "DAFXKIT_BACKEND"
#: Backends dafxkit's own effects implement; plugins may declare others.
KNOWN_BACKENDS = ("c", "numba", "numpy")

Scale = Literal["linear", "log"]


@dataclass(frozen=True)
class Param:
    """One effect parameter, described in physical units.

    Parameters
    ----------
    name : str
        A Python identifier with the unit in it where there is one (``drive_db``, ``attack_ms``).
    minimum, maximum : float
        The physical range; ``minimum < maximum``.
    default : float
        A sensible starting value inside the range.
    unit : str
        Shown in tables and plots (``"dB"``, ``"Hz"``, ``""`` for none).
    scale : {"linear", "log"}
        How [0, 1] maps onto the range. ``"log"`` needs ``minimum > 0`` and spaces values
        geometrically, the way ears hear frequency and time.
    description : str
        One line for ``dafxkit effects show``.
    """

    name: str
    minimum: float
    maximum: float
    default: float
    unit: str = ""
    scale: Scale = "linear"
    description: str = ""

    def __post_init__(self) -> None:
        # Dotted names (``distortion.drive_db``) are what chains give their members' parameters.
        if not isinstance(self.name, str) or not all(
            part.isidentifier() for part in self.name.split(".")
        ):
            raise ParameterError(
                f"parameter name must be a Python identifier (dotted for chains); got {self.name!r}"
            )
        for field in ("minimum", "maximum", "default"):
            value = getattr(self, field)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(
                    f"parameter {self.name!r}: {field} must be finite; got {value!r}"
                )
        if not self.minimum < self.maximum:
            raise ParameterError(
                f"parameter {self.name!r}: minimum ({self.minimum}) must be below maximum "
                f"({self.maximum})"
            )
        if not self.minimum <= self.default <= self.maximum:
            raise ParameterError(
                f"parameter {self.name!r}: default {self.default} is outside "
                f"[{self.minimum}, {self.maximum}]"
            )
        if self.scale not in ("linear", "log"):
            raise ParameterError(
                f"parameter {self.name!r}: scale must be 'linear' or 'log'; got {self.scale!r}"
            )
        if self.scale == "log" and self.minimum <= 0:
            raise ParameterError(
                f"parameter {self.name!r}: a log scale needs minimum > 0; got {self.minimum}"
            )

    def normalise(self, value: float | np.ndarray) -> np.ndarray:
        """Map physical values onto [0, 1] (no range check; see `Effect.normalise`)."""
        value = np.asarray(value, dtype=np.float64)
        if self.scale == "log":
            u = np.log(value / self.minimum) / math.log(self.maximum / self.minimum)
        else:
            u = (value - self.minimum) / (self.maximum - self.minimum)
        # The ends map exactly, whatever the rounding in between.
        return np.where(value == self.minimum, 0.0, np.where(value == self.maximum, 1.0, u))

    def denormalise(self, u: float | np.ndarray) -> np.ndarray:
        """Map [0, 1] onto physical values; 0 and 1 give the range's ends exactly."""
        u = np.asarray(u, dtype=np.float64)
        if self.scale == "log":
            value = self.minimum * np.exp(u * math.log(self.maximum / self.minimum))
            # exp/log rounding can step a hair past either end for u just inside (0, 1).
            value = np.clip(value, self.minimum, self.maximum)
        else:
            # (1 - u)·min + u·max is exact at both ends, unlike min + u·(max - min).
            value = (1.0 - u) * self.minimum + u * self.maximum
        return np.where(u <= 0.0, self.minimum, np.where(u >= 1.0, self.maximum, value))

    def describe_range(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"[{self.minimum:g}, {self.maximum:g}]{unit}"


_warned: set[str] = set()
_warn_lock = threading.Lock()


def _warn_once(key: str, message: str) -> None:
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, DafxWarning, stacklevel=4)


class Effect(abc.ABC):
    """A batched audio effect.

    An effect takes audio ``(batch, channels, samples)`` float32 and parameters
    ``(batch, n_params)`` normalised to [0, 1], one setting per row, and returns audio of the
    same shape. That one-call-per-batch shape is what lets an SPSA step (2·K·B settings) run as a
    single native call.

    Subclasses set `name`, `params` and `backends` and implement `process`, which receives
    validated audio and the parameters already mapped to physical units. They add nothing else:
    validation, normalisation and backend choice live here. An effect with a compiled kernel may
    also override `process_dot`, which SPSA calls for its probes; the default works for all.

    Class attributes
    ----------------
    name : str
        Short identifier, usually the entry-point name.
    params : tuple of Param
        The parameters, in the column order of the normalised parameter matrix.
    backends : tuple of str
        Implementations in order of preference, e.g. ``("c", "numba", "numpy")``.
    neutral : mapping or None
        Physical settings (for the parameters named; others at default) under which the effect
        is the identity, if such settings exist. The contract tests check it.
    description : str
        One line for ``dafxkit effects list``.
    """

    name: ClassVar[str] = ""
    params: tuple[Param, ...] = ()
    backends: tuple[str, ...] = ("numpy",)
    neutral: ClassVar[Mapping[str, float] | None] = None
    description: ClassVar[str] = ""

    # -- what a subclass implements ---------------------------------------------------------

    @abc.abstractmethod
    def process(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        sample_rate: float,
        backend: str,
    ) -> np.ndarray:
        """Run the effect on validated input.

        Parameters
        ----------
        audio : np.ndarray
            float32, C-contiguous, ``(batch, channels, samples)``, finite. Do not modify it.
        values : mapping of str to np.ndarray
            Each parameter's physical values, float64 of shape ``(batch,)``.
        sample_rate : float
            In Hz.
        backend : str
            One of `backends`, already checked to be available.

        Returns
        -------
        np.ndarray
            float32 audio of the input's shape.
        """

    def process_dot(
        self,
        audio: np.ndarray,
        values: Mapping[str, np.ndarray],
        grad: np.ndarray,
        sample_rate: float,
        backend: str,
        *,
        repeat: int = 1,
        workspace: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Inner products of the outputs with a gradient: what an SPSA step needs of the probes.

        Parameter row ``r`` runs on audio row ``r // repeat``; the result is
        ``⟨grad[r // repeat], y_r⟩`` for every row. This default tiles the audio, calls `process`
        and takes the dot products, so every effect has it; an effect with a compiled kernel
        may override it to fold the products into the kernel and never store the outputs.

        Parameters
        ----------
        audio : np.ndarray
            float32, C-contiguous, ``(clips, channels, samples)``, finite. Do not modify it.
        values : mapping of str to np.ndarray
            Each parameter's physical values, float64 of shape ``(clips · repeat,)``.
        grad : np.ndarray
            float32, C-contiguous, the shape of ``audio``.
        sample_rate : float
            In Hz.
        backend : str
            One of `backends`, already checked to be available.
        repeat : int
            Parameter rows per clip.
        workspace : (np.ndarray, np.ndarray), optional
            Two float32 ``(clips · repeat, channels, samples)`` buffers this default may use for
            the tiled input and the output instead of allocating them.

        Returns
        -------
        np.ndarray
            float64 ``(clips · repeat,)``.
        """
        from dafxkit import native

        clips = audio.shape[0]
        shape = (clips * repeat, *audio.shape[1:])
        if workspace is None or workspace[0].shape != shape or workspace[1].shape != shape:
            workspace = (np.empty(shape, np.float32), np.empty(shape, np.float32))
        tiled, lent = workspace
        np.copyto(tiled.reshape(clips, repeat, *audio.shape[1:]), audio[:, None])
        # The tiled copy holds validated audio, so it goes straight to the kernel; a built-in
        # C kernel writes into the lent buffer, so no fresh pages are faulted in per call.
        with native.output_arena(lent):
            out = self.process(tiled, values, sample_rate, backend)
        if out.shape != shape or out.dtype != np.float32:
            raise NativeError(
                f"effect {self.name!r} ({backend} backend) returned {out.dtype} {out.shape} for "
                f"float32 {shape} input: a bug in the effect"
            )
        # One batched product of (1, n) rows by (n, 1) columns; float32 products lose about 1e-6
        # of each term, far below SPSA's own variance at any sensible step. Not (repeat, n) by
        # (n, 1): that goes to the BLAS gemv, whose threads fight OpenMP's just-finished ones
        # for the cores (measured 15x slower right after a kernel call).
        out = np.ascontiguousarray(out).reshape(clips, repeat, 1, -1)
        g = np.ascontiguousarray(grad, dtype=np.float32).reshape(clips, 1, -1, 1)
        return np.matmul(out, g).reshape(-1).astype(np.float64)

    def backend_unavailable_reason(self, backend: str) -> str | None:
        """Why ``backend`` cannot run here, or None when it can. Override for custom backends."""
        if backend == "c":
            from dafxkit import native

            return native.unavailable_reason()
        return None

    # -- the public call --------------------------------------------------------------------

    def __call__(
        self,
        audio: np.ndarray,
        params: np.ndarray,
        sample_rate: float,
        *,
        backend: str | None = None,
    ) -> np.ndarray:
        """Process a batch: one row of ``params`` per row of ``audio``.

        Parameters
        ----------
        audio : np.ndarray
            ``(batch, channels, samples)`` real floats (float32 preferred), finite.
        params : np.ndarray
            ``(batch, n_params)`` in [0, 1]; see `normalise` and `settings` to build it from
            physical values.
        sample_rate : float
            In Hz.
        backend : str, optional
            Force one implementation (an error if it cannot run). By default the first
            available of `backends`, or the one named by ``$DAFXKIT_BACKEND`` where this effect
            has it.

        Returns
        -------
        np.ndarray
            float32 ``(batch, channels, samples)``; the input is never modified.

        Examples
        --------
        >>> fx = load_effect("distortion")                                   # doctest: +SKIP
        >>> y = fx(x, fx.settings(drive_db=24.0, batch=len(x)), 44100)       # doctest: +SKIP
        """
        audio = validate_audio(audio)
        rate = validate_sample_rate(sample_rate)
        params = self.validate_params(params, batch=audio.shape[0])
        chosen = self.resolve_backend(backend)
        values = self.denormalise(params)
        out = self.process(audio, values, rate, chosen)
        if out.shape != audio.shape or out.dtype != np.float32:
            raise NativeError(
                f"effect {self.name!r} ({chosen} backend) returned {out.dtype} {out.shape} for "
                f"float32 {audio.shape} input: a bug in the effect"
            )
        return out

    # -- parameters -------------------------------------------------------------------------

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def n_params(self) -> int:
        return len(self.params)

    def param(self, name: str) -> Param:
        """The `Param` called ``name``; a `ParameterError` listing the valid names otherwise."""
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(_unknown_param_message(self.name, name, self.param_names))

    def validate_params(self, params: object, *, batch: int | None = None) -> np.ndarray:
        """Check a normalised parameter matrix and return it as float64 ``(batch, n_params)``."""
        if hasattr(params, "detach") and hasattr(params, "cpu"):  # a torch tensor
            params = params.detach().cpu().numpy()
        arr = np.asarray(params)
        if arr.dtype.kind not in "fiu":
            raise ParameterError(
                f"{self.name}: parameters must be real numbers in [0, 1]; got dtype {arr.dtype}"
            )
        if arr.ndim != 2 or arr.shape[1] != self.n_params:
            raise ParameterError(
                f"{self.name}: parameters must have shape (batch, {self.n_params}) for "
                f"({', '.join(self.param_names)}); got shape {arr.shape}"
            )
        if batch is not None and arr.shape[0] != batch:
            raise ParameterError(
                f"{self.name}: {arr.shape[0]} parameter row(s) for a batch of {batch} clip(s); "
                "give one row per clip"
            )
        arr = arr.astype(np.float64, copy=False)
        bad = ~((arr >= 0.0) & (arr <= 1.0))  # NaN counts as bad too
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise ParameterError(
                f"{self.name}: normalised parameters must lie in [0, 1]; got "
                f"{float(arr[row, col])!r} for {self.params[col].name!r} in row {row} "
                f"({int(bad.sum())} value(s) out of range). Use effect.normalise() to convert "
                "physical values."
            )
        return arr

    def denormalise(self, params: np.ndarray) -> dict[str, np.ndarray]:
        """Map a ``(batch, n_params)`` matrix in [0, 1] to each parameter's physical values."""
        params = np.asarray(params, dtype=np.float64)
        return {p.name: p.denormalise(params[:, i]) for i, p in enumerate(self.params)}

    def normalise(self, values: Mapping[str, float | Sequence[float] | np.ndarray]) -> np.ndarray:
        """Map physical values (every parameter named) to a ``(batch, n_params)`` matrix.

        Scalars and ``(batch,)`` arrays may be mixed; scalars are broadcast over the batch.

        Raises
        ------
        ParameterError
            If a name is unknown or missing, or a value lies outside its parameter's range.
        """
        self._check_names(values)
        missing = [n for n in self.param_names if n not in values]
        if missing:
            raise ParameterError(
                f"{self.name}: missing value(s) for {', '.join(missing)}; use settings() to fill "
                "the rest with defaults"
            )
        return self._normalise_checked(values)

    def settings(self, batch: int | None = None, /, **values: float) -> np.ndarray:
        """Normalised parameters from physical values by name, the rest at their defaults.

        Returns ``(n_params,)`` when ``batch`` is None, else that row repeated
        ``(batch, n_params)``.

        Examples
        --------
        >>> fx.settings(drive_db=24.0, mix=0.8)                              # doctest: +SKIP
        array([0.6, 0.67..., 0.8, 0.5])
        """
        self._check_names(values)
        full = {p.name: values.get(p.name, p.default) for p in self.params}
        row = self._normalise_checked(full)[0]
        return row if batch is None else np.tile(row, (batch, 1))

    def default_params(self, batch: int = 1) -> np.ndarray:
        """Every parameter at its default, normalised: ``(batch, n_params)``."""
        return self.settings(batch)

    def neutral_params(self, batch: int = 1) -> np.ndarray | None:
        """The `neutral` settings as a normalised matrix, or None if the effect has none."""
        if self.neutral is None:
            return None
        return self.settings(batch, **self.neutral)

    def _check_names(self, values: Mapping[str, object]) -> None:
        for name in values:
            if name not in self.param_names:
                raise ParameterError(_unknown_param_message(self.name, name, self.param_names))

    def _normalise_checked(self, values: Mapping[str, object]) -> np.ndarray:
        columns = []
        for p in self.params:
            v = np.atleast_1d(np.asarray(values[p.name], dtype=np.float64))
            bad = ~((v >= p.minimum) & (v <= p.maximum))
            if bad.any():
                raise ParameterError(
                    f"{self.name}: {p.name} = {float(v[bad][0])!r} is outside its range "
                    f"{p.describe_range()}"
                )
            columns.append(p.normalise(v))
        try:
            return np.stack(np.broadcast_arrays(*columns), axis=1)
        except ValueError:
            shapes = {p.name: np.shape(values[p.name]) for p in self.params}
            raise ParameterError(f"{self.name}: value shapes do not broadcast: {shapes}") from None

    # -- backends ---------------------------------------------------------------------------

    def available_backends(self) -> tuple[str, ...]:
        """The declared backends that can run on this machine, in order of preference."""
        return tuple(b for b in self.backends if self.backend_unavailable_reason(b) is None)

    def resolve_backend(self, backend: str | None = None) -> str:
        """Pick the implementation to run.

        An explicit ``backend`` must be declared and available (else an error says why). With
        none (or ``"auto"``), ``$DAFXKIT_BACKEND`` moves that backend to the front where this
        effect has it, and the first available one wins; skipping an unavailable backend warns
        once per process.
        """
        if backend is not None and backend != "auto":
            if backend not in self.backends:
                raise ParameterError(
                    f"{self.name} has no {backend!r} backend; it has {', '.join(self.backends)}"
                )
            reason = self.backend_unavailable_reason(backend)
            if reason is not None:
                raise NativeError(f"the {backend!r} backend of {self.name} cannot run: {reason}")
            return backend
        order = list(self.backends)
        preferred = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
        if preferred != "auto":
            if preferred not in KNOWN_BACKENDS:
                raise ParameterError(
                    f"{BACKEND_ENV}={preferred!r} is not a backend; use auto, "
                    f"{', '.join(KNOWN_BACKENDS)}"
                )
            if preferred in order:
                order.remove(preferred)
                order.insert(0, preferred)
        skipped: list[tuple[str, str]] = []
        for name in order:
            reason = self.backend_unavailable_reason(name)
            if reason is None:
                for skipped_name, why in skipped:
                    _warn_once(
                        f"{skipped_name}->{name}",
                        f"dafxkit: the {skipped_name!r} backend is unavailable ({why}); "
                        f"using {name!r} instead",
                    )
                return name
            skipped.append((name, reason))
        raise NativeError(
            f"no backend of {self.name} can run here: "
            + "; ".join(f"{n}: {why}" for n, why in skipped)
        )

    # -- plugin sanity ----------------------------------------------------------------------

    @classmethod
    def interface_problems(cls, effect: Effect) -> list[str]:
        """What, if anything, makes ``effect`` unusable by dafxkit (used by the registry)."""
        problems = []
        if not isinstance(effect.name, str) or not effect.name:
            problems.append("`name` must be a non-empty string")
        params = effect.params
        if not isinstance(params, tuple) or not params:
            problems.append("`params` must be a non-empty tuple of Param")
        elif not all(isinstance(p, Param) for p in params):
            problems.append("every entry of `params` must be a dafxkit.Param")
        else:
            names = [p.name for p in params]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                problems.append(f"duplicate parameter name(s): {', '.join(dupes)}")
        if (
            not isinstance(effect.backends, tuple)
            or not effect.backends
            or not all(isinstance(b, str) for b in effect.backends)
        ):
            problems.append("`backends` must be a non-empty tuple of backend names")
        if effect.neutral is not None and isinstance(params, tuple) and not problems:
            try:
                effect.neutral_params()
            except ParameterError as exc:
                problems.append(f"`neutral` is not a valid setting: {exc}")
        return problems

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {', '.join(self.param_names)}>"


def per_clip(batch: int, **values: object) -> list[np.ndarray]:
    """Per-clip arrays as C-contiguous float64, in the order given, for a kernel call.

    Each value must have ``batch`` rows (one per clip): compiled kernels index them without a
    bounds check of their own. A `ParameterError` names the first that does not.

    Examples
    --------
    >>> drive, mix = per_clip(2, drive_db=[12.0, 24.0], mix=np.ones(2))
    """
    columns = []
    for name, value in values.items():
        column = np.ascontiguousarray(value, dtype=np.float64)
        if column.shape[:1] != (batch,):
            raise ParameterError(
                f"{name} must have shape ({batch},), one value per clip; got shape {column.shape}"
            )
        columns.append(column)
    return columns


def _unknown_param_message(effect: str, name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{effect} has no parameter {name!r}.{hint} Valid parameters: {', '.join(valid)}"
