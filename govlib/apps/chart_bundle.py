"""The offline JavaScript bundle of ``alt.JupyterChart``, built once per machine, not per kernel.

``alt.JupyterChart.enable_offline()`` bundles Vega, Vega-Lite and the chart widget with
vl-convert: about 2 s of CPU in every kernel that draws an interactive chart, and the same
900 kB each time. Every page view is a kernel of its own, so the SPC dashboard kept paying it
(a first page after ``govlib serve`` started waited 12 s behind it). The bundle depends only on
the installed Altair and vl-convert, so it is kept in the user's cache directory
(``$XDG_CACHE_HOME/govlib``, else ``~/.cache/govlib``), keyed by both versions and by a digest of
the widget source it bundles.

A cached file is used only if it is a regular file owned by this user that no one else may
write, in a directory no one else may write: the bundle is JavaScript that runs in every page,
so a file another local user could change would be a way into everyone's session. Anything else
(no cache, a foreign or loose file, a read-only home) falls back to building the bundle in the
kernel, as before.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import threading
from pathlib import Path

__all__ = ["bundle_cache_dir", "cached_bundle_path", "enable_offline_charts"]

_lock = threading.Lock()


def bundle_cache_dir() -> Path:
    """The directory that holds the cached bundle (not created here).

    Example:
        >>> bundle_cache_dir().name
        'govlib'
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "govlib"


def cached_bundle_path() -> Path:
    """Where the bundle of the installed Altair and vl-convert is cached.

    Example:
        >>> cached_bundle_path().name.startswith("jupyterchart-altair")
        True
    """
    import altair
    import vl_convert
    from altair.jupyter.jupyter_chart import load_js_src

    source = hashlib.sha256(load_js_src().encode()).hexdigest()[:16]
    name = f"jupyterchart-altair{altair.__version__}-vlc{vl_convert.__version__}-{source}.js"
    return bundle_cache_dir() / name


def _private(path: Path) -> bool:
    """True for a file or directory owned by this user that nobody else may write."""
    try:
        info = path.lstat()
    except OSError:
        return False
    loose = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    kind_ok = stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)
    return kind_ok and info.st_uid == os.getuid() and not loose


def _read_cached(path: Path) -> str | None:
    if not (_private(path.parent) and _private(path)):
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def _write_cached(path: Path, text: str) -> None:
    """Write the bundle atomically (0600 in a 0700 directory); any failure is silent."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(path.parent):
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bundle-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass


def enable_offline_charts() -> bool:
    """Make ``alt.JupyterChart`` offline, from the cached bundle when there is a trusted one.

    Returns True when the cached bundle was used, False when it was built here (and cached
    for the next kernel).

    Example:
        >>> enable_offline_charts() in (True, False)  # doctest: +SKIP
        True
    """
    with _lock:
        import altair as alt

        chart = alt.JupyterChart
        if getattr(chart, "_is_offline", False):
            return True
        path = cached_bundle_path()
        cached = _read_cached(path)
        if cached is not None:
            # The same two attributes enable_offline() sets (altair/jupyter/jupyter_chart.py);
            # tests/test_chart_bundle.py checks that a cached kernel gets the same bundle.
            chart._esm = cached
            chart._is_offline = True
            return True
        chart.enable_offline()
        _write_cached(path, chart._esm)
        return False
