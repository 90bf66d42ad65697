"""Keep Numba's on-disk cache honest across modules.

Numba keys each cached function on its own source file's timestamp and size. A cached function
that calls a jitted function of another file keeps the callee's old machine code when only that
other file changes, as an editable install does after ``git pull``: the new code would silently
not run. `purge_stale` drops every cached function of a package whenever any of its source
files changed since the caches were written.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

_STAMP = "jit-sources.stamp"


def _fingerprint(sources: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sources:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()


def purge_stale(package_dir: str | Path) -> bool:
    """Delete the package's Numba cache files (``__pycache__/*.nbi``, ``*.nbc``) if any ``.py``
    file of ``package_dir`` (not its subpackages) changed since the last call that wrote the
    stamp. Returns True when caches were dropped. Read-only installs are left alone (Numba then
    caches elsewhere, keyed on files that an upgrade replaces together)."""
    root = Path(package_dir)
    cache = root / "__pycache__"
    try:
        stamp = _fingerprint(sorted(root.glob("*.py")))
        marker = cache / _STAMP
        if marker.is_file() and marker.read_text() == stamp:
            return False
        stale = [*cache.glob("*.nbi"), *cache.glob("*.nbc")] if cache.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        marker.write_text(stamp)
    except OSError as exc:
        log.debug("Numba cache check skipped for %s: %s", root, exc)
        return False
    if stale:
        log.info("sources of %s changed: dropped %d cached Numba files", root.name, len(stale))
    return bool(stale)
