"""The Numba cache guard: caches go when a jitted source of the package changes, not before."""

from __future__ import annotations

import os

from dafxkit._jit_cache import purge_stale


def _touch_cache(pycache, name):
    path = pycache / name
    path.write_bytes(b"cached machine code")
    return path


def test_caches_are_dropped_when_a_source_changes_and_kept_otherwise(tmp_path):
    (tmp_path / "callee.py").write_text("def f(): return 1\n")
    (tmp_path / "caller.py").write_text("def g(): return 2\n")
    pycache = tmp_path / "__pycache__"
    pycache.mkdir()
    old = _touch_cache(pycache, "caller.g-1.py311.nbi")
    # No stamp yet: whatever is cached may predate the sources.
    assert purge_stale(tmp_path) and not old.exists()
    kept = [_touch_cache(pycache, "caller.g-1.py311.nbi"), _touch_cache(pycache, "x.nbc")]
    assert not purge_stale(tmp_path)
    assert all(p.exists() for p in kept)
    # Only the callee's file changes (as `git pull` in an editable install): every cache goes.
    callee = tmp_path / "callee.py"
    callee.write_text("def f(): return 10\n")
    stat = callee.stat()
    os.utime(callee, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert purge_stale(tmp_path)
    assert not any(p.exists() for p in kept)
    assert (tmp_path / "caller.py").exists() and callee.exists()  # only caches were touched
    assert (pycache / "jit-sources.stamp").is_file()


def test_a_read_only_package_is_left_alone(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "__pycache__").write_text("not a directory")  # cannot hold a stamp
    assert purge_stale(tmp_path) is False
