"""Audio arrays: validation of the `(batch, channels, samples)` layout, and WAV files in and out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dafxkit import native
from dafxkit.errors import AudioError

__all__ = [
    "validate_audio",
    "non_finite_error",
    "validate_sample_rate",
    "read_audio",
    "write_audio",
]


def validate_audio(audio: object, *, name: str = "audio", check_finite: bool = True) -> np.ndarray:
    """Check a batch of audio and return it as C-contiguous float32.

    Parameters
    ----------
    audio : array_like
        Real floating-point samples of shape ``(batch, channels, samples)``, nominally in
        [-1, 1] (louder input is allowed; it is not clipped).
    name : str
        What to call the array in error messages.
    check_finite : bool
        Look for NaN and infinity (one pass over the samples). Callers that pass over each clip
        anyway can check there instead and raise `non_finite_error`.

    Returns
    -------
    np.ndarray
        The same samples as float32, C-contiguous (a copy only where needed).

    Raises
    ------
    AudioError
        If the array is not 3-D, has an empty axis, is not real floating point (integer PCM must
        be scaled to [-1, 1] first), holds NaN or infinity, or holds a sample beyond float32's
        range (about 3.4e38).

    Examples
    --------
    >>> validate_audio(np.zeros((1, 2, 8), dtype=np.float32)).shape
    (1, 2, 8)
    """
    if not isinstance(audio, np.ndarray):
        if hasattr(audio, "detach") and hasattr(audio, "cpu"):  # a torch tensor
            audio = audio.detach().cpu().numpy()
        else:
            audio = np.asarray(audio)
    if audio.dtype.kind != "f":
        hint = (
            " Integer PCM must be scaled to [-1, 1] floats first, e.g."
            " x.astype(np.float32) / 32768."
            if audio.dtype.kind in "iu"
            else ""
        )
        raise AudioError(
            f"{name} must be real floating point (float32 preferred); got dtype "
            f"{audio.dtype}.{hint}"
        )
    if audio.ndim != 3:
        hint = ""
        if audio.ndim == 1:
            hint = " For one mono clip use x[None, None, :]."
        elif audio.ndim == 2:
            hint = " For one multi-channel clip (channels, samples) use x[None]."
        raise AudioError(
            f"{name} must have shape (batch, channels, samples); got shape {audio.shape} "
            f"(ndim {audio.ndim}).{hint}"
        )
    if 0 in audio.shape:
        raise AudioError(
            f"{name} must not be empty; got shape {audio.shape} (batch, channels, samples)."
        )
    try:
        with np.errstate(over="raise"):
            audio = np.ascontiguousarray(audio, dtype=np.float32)
    except FloatingPointError:
        # A finite float64 sample beyond float32's range would turn into infinity.
        peak = float(np.max(np.abs(np.asarray(audio)[np.isfinite(audio)])))
        raise AudioError(
            f"{name} exceeds float32's range: its largest finite |sample| is {peak:.3g} "
            f"(float32 ends at {float(np.finfo(np.float32).max):.3g}). dafxkit processes audio "
            "in float32; scale it towards [-1, 1] first."
        ) from None
    if check_finite and not _all_finite(audio):
        raise non_finite_error(audio, name=name)
    return audio


def non_finite_error(audio: np.ndarray, *, name: str = "audio", batch_index: int = 0) -> AudioError:
    """The `AudioError` `validate_audio` raises for ``audio`` holding NaN or infinity: how many
    and where the first is. ``audio`` is ``(batch, channels, samples)``, or one clip
    ``(channels, samples)`` that sits at ``batch_index`` of the batch named ``name``."""
    bad = np.argwhere(~np.isfinite(audio))
    first = tuple(int(i) for i in bad[0])
    where = first if audio.ndim == 3 else (batch_index, *first)
    return AudioError(
        f"{name} holds {len(bad)} non-finite sample(s) (NaN or inf), the first at "
        f"(batch, channel, sample) = {where}: {float(audio[first])!r}. Effects and feature "
        "extractors need finite input."
    )


def _all_finite(audio: np.ndarray) -> bool:
    # Every effect call checks its input, so this is on the hot path: the C library counts in
    # one parallel pass where NumPy would first write a temporary bool per sample.
    if audio.size > 65536 and native.available():
        return native.count_nonfinite(audio) == 0
    return bool(np.isfinite(audio).all())


def validate_sample_rate(sample_rate: object) -> float:
    """Return the sample rate as a float after checking it is a positive finite number.

    Raises
    ------
    AudioError
        If the value is not a number, not finite, or not positive.
    """
    try:
        rate = float(sample_rate)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AudioError(f"sample_rate must be a number of Hz; got {sample_rate!r}.") from None
    if not np.isfinite(rate) or rate <= 0:
        raise AudioError(
            f"sample_rate must be a positive, finite number of Hz; got {sample_rate!r}."
        )
    return rate


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 of shape ``(channels, samples)`` and its sample rate.

    Any format libsndfile reads (WAV, FLAC, OGG, AIFF, ...) works.

    Raises
    ------
    AudioError
        If the file is missing, unreadable or holds no samples.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioError(f"cannot read audio file {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise AudioError(f"audio file {path} holds no samples")
    return np.ascontiguousarray(data.T), int(rate)


def write_audio(
    path: str | Path, audio: np.ndarray, sample_rate: int, *, subtype: str | None = None
) -> Path:
    """Write ``(channels, samples)`` float audio to a file, atomically.

    The file is written under a temporary name in the same folder and renamed into place, so an
    interrupted write never leaves a truncated file behind. The format follows the suffix
    (``.wav``, ``.flac``, ...); ``subtype`` defaults to 32-bit float where the format has it,
    so nothing is clipped.
    """
    import soundfile as sf

    path = Path(path)
    audio = np.asarray(audio)
    if audio.ndim != 2:
        raise AudioError(f"write_audio expects (channels, samples); got shape {audio.shape}")
    if not path.parent.exists():
        raise AudioError(f"output folder does not exist: {path.parent}")
    fmt = _format_for(path)
    if subtype is None:
        subtype = "FLOAT" if sf.check_format(fmt, "FLOAT") else sf.default_subtype(fmt)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        sf.write(str(tmp), audio.T, int(sample_rate), subtype=subtype, format=fmt)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _format_for(path: Path) -> str:
    import soundfile as sf

    suffix = path.suffix.lower().lstrip(".")
    formats = {k.lower(): k for k in sf.available_formats()}
    if not suffix:
        raise AudioError(f"cannot write {path}: no file suffix to choose a format by (e.g. .wav)")
    if suffix not in formats:
        raise AudioError(
            f"cannot write {path}: unknown audio format {suffix!r}; use one of "
            f"{', '.join(sorted(formats))}"
        )
    return formats[suffix]
