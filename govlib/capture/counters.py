"""Emitter counters on disk: one ``DIR/emitter-stats/<pid>.json`` per process, summed on read.

Each process writes the sum over its emitters on that data dir (atomic replace: a reader never sees
half a file); :func:`read_emitter_stats` adds up every ``*.json`` there for ``govlib status``. A
finished or crashed process's file stays, so its drops remain visible until the data dir is wiped;
a file left by an earlier process with the same pid is renamed ``<pid>-<mtime_ns>.json`` first.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from govlib.clock import iso

__all__ = ["COUNTERS", "STATS_DIRNAME", "persist_stats", "read_emitter_stats"]

COUNTERS: tuple[str, ...] = (
    "enqueued",
    "written",
    "dropped_overflow",
    "sink_errors",
    "batches",
    "dropped_rows",
)
STATS_DIRNAME = "emitter-stats"

_STATS_LOCK = threading.Lock()
_PROCESS_STATS: dict[str, dict[int, dict[str, Any]]] = {}
#: Data dirs whose ``<pid>.json`` this process owns (a reused pid's old file was set aside).
_CLAIMED: set[str] = set()


def persist_stats(data_dir: Path, key: int, snapshot: dict[str, Any]) -> None:
    """Record one emitter's snapshot and rewrite this process's stats file (atomic replace).

    ``key`` identifies the emitter within the process; the file holds the sum over all keys.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> persist_stats(d, 1, {"written": 3})
        >>> read_emitter_stats(d)["written"]
        3
    """
    with _STATS_LOCK:
        per_dir = _PROCESS_STATS.setdefault(str(data_dir), {})
        per_dir[key] = snapshot
        total: dict[str, Any] = {
            c: sum(int(s.get(c, 0)) for s in per_dir.values()) for c in COUNTERS
        }
        errors = [s for s in per_dir.values() if s.get("last_error")]
        total["last_error"] = (
            max(errors, key=lambda s: s["last_error_at"])["last_error"] if errors else None
        )
        total["last_error_at"] = max(s["last_error_at"] for s in errors) if errors else None
        total["pid"] = os.getpid()
        total["updated_at"] = iso(datetime.now(UTC))
        folder = data_dir / STATS_DIRNAME
        folder.mkdir(exist_ok=True)
        pid = os.getpid()
        path = folder / f"{pid}.json"
        if str(data_dir) not in _CLAIMED:  # a file left by an earlier process with our pid
            try:
                os.replace(path, folder / f"{pid}-{path.stat().st_mtime_ns}.json")
            except FileNotFoundError:
                pass
            _CLAIMED.add(str(data_dir))
        tmp = folder / f".{pid}.json.tmp"
        tmp.write_text(json.dumps(total, sort_keys=True))
        os.replace(tmp, path)


def read_emitter_stats(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Emitter counters summed over every process's ``DIR/emitter-stats/<pid>.json``.

    Returns the :data:`COUNTERS` plus ``dropped`` (overflow + rows lost to sink errors),
    ``processes`` (files read), ``unreadable`` (files that were not valid stats) and the newest
    ``last_error`` / ``last_error_at``.

    Example:
        >>> read_emitter_stats("/nonexistent")["dropped"]
        0
    """
    total: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    total.update(processes=0, unreadable=0, last_error=None, last_error_at=None)
    folder = Path(data_dir) / STATS_DIRNAME
    try:
        files = sorted(folder.glob("*.json"))
    except OSError:
        files = []
    for path in files:
        try:
            data = json.loads(path.read_text())
            values = {c: int(data.get(c, 0)) for c in COUNTERS}
        except (OSError, ValueError, TypeError, AttributeError):
            total["unreadable"] += 1
            continue
        total["processes"] += 1
        for c in COUNTERS:
            total[c] += values[c]
        at = data.get("last_error_at")
        if data.get("last_error") and isinstance(at, str) and at > (total["last_error_at"] or ""):
            total["last_error"], total["last_error_at"] = str(data["last_error"]), at
    total["dropped"] = total["dropped_overflow"] + total["dropped_rows"]
    return total


def reset_after_fork() -> None:
    """Forget the parent's emitters (called in a forked child; the lock may have been held)."""
    global _STATS_LOCK
    _STATS_LOCK = threading.Lock()
    _PROCESS_STATS.clear()
    _CLAIMED.clear()
