"""The one family of errors and warnings that dafxkit raises."""

from __future__ import annotations


class DafxError(Exception):
    """Base class of every error dafxkit raises on purpose."""


class AudioError(DafxError, ValueError):
    """Audio of the wrong shape, dtype or content (non-finite samples, empty arrays)."""


class ParameterError(DafxError, ValueError):
    """Parameters of the wrong shape, count, name or range."""


class PluginError(DafxError):
    """A plugin could not be found, loaded or trusted."""


class UnknownPluginError(PluginError, KeyError):
    """No plugin of that kind is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginLoadError(PluginError):
    """A plugin failed to import or build, or breaks the interface it is registered for.

    ``stage`` says which: ``"import"``, ``"build"`` or ``"interface"``; ``detail`` is the short
    reason without the plugin's name and origin, for tables.
    """

    def __init__(self, message: str, *, stage: str = "interface", detail: str = "") -> None:
        super().__init__(message)
        self.stage = stage
        self.detail = detail or message


class MissingDependencyError(PluginError, ImportError):
    """A plugin needs an optional package that is not installed; the message says how to add it."""


class DuplicatePluginError(PluginError):
    """Two distributions register one name in one group."""


class NativeError(DafxError, RuntimeError):
    """The compiled C library is unavailable or a backend cannot run."""


class DataError(DafxError):
    """The data pipeline cannot go on: bad configuration, or nothing usable to sample."""


class SourceError(DataError, ValueError):
    """A source URI or the audio behind it is unusable (missing path, no tracks, bad option)."""


class SoxUnavailableError(DataError, RuntimeError):
    """Augmentation needs the ``sox`` program, and it is not installed."""


class OutputError(DataError, OSError):
    """The output folder cannot be written, or holds something that is not this dataset."""


class DafxWarning(UserWarning):
    """Something worked, but not the way you may expect (for example a backend fallback)."""
