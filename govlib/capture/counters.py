"""Emitter counters on disk: one ``DIR/emitter-stats/<pid>.json`` per process, summed on read.

Each process writes the sum over its emitters on that data dir. The file must survive a full disk
(that is when the emitter drops rows), so it is reserved once, when the first emitter on the data
dir starts: :data:`FILE_SIZE` bytes of JSON padded with spaces, written to a temp name, fsynced and
renamed. Every later update overwrites those bytes in place (``pwrite`` of the same length at
offset 0: no new blocks are needed, so it works on a full disk) and carries a SHA-256 ``check`` of
its values, so a torn or damaged file reads as unreadable, never as zero.

:func:`read_emitter_stats` adds up every ``*.json`` there for ``govlib status``; a file that does
not parse or check, or a temp file left by a reservation that failed (``.<pid>.json.tmp``), counts
as ``unreadable``: drops may have happened. A finished or crashed process's file stays, so its
drops remain visible until the data dir is wiped; a file left by an earlier process with the same
pid is renamed ``<pid>-<mtime_ns>.json`` first.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from govlib.clock import iso

__all__ = [
    "COUNTERS",
    "FILE_SIZE",
    "STATS_DIRNAME",
    "persist_stats",
    "read_emitter_stats",
    "reserve_stats",
]

COUNTERS: tuple[str, ...] = (
    "enqueued",
    "written",
    "dropped_overflow",
    "sink_errors",
    "batches",
    "dropped_rows",
)
STATS_DIRNAME = "emitter-stats"
#: Bytes of every stats file: reserved once, then overwritten in place (never grows).
FILE_SIZE = 2048
_MAX_ERROR_CHARS = 900

_STATS_LOCK = threading.Lock()
_PROCESS_STATS: dict[str, dict[int, dict[str, Any]]] = {}
#: Data dirs whose ``<pid>.json`` this process reserved (a reused pid's old file set aside).
_CLAIMED: set[str] = set()


def _total(per_dir: dict[int, dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {c: sum(int(s.get(c, 0)) for s in per_dir.values()) for c in COUNTERS}
    errors = [s for s in per_dir.values() if s.get("last_error")]
    newest = max(errors, key=lambda s: s["last_error_at"]) if errors else None
    total["last_error"] = None if newest is None else str(newest["last_error"])
    total["last_error_at"] = None if newest is None else newest["last_error_at"]
    total["pid"] = os.getpid()
    total["updated_at"] = iso(datetime.now(UTC))
    return total


def _check(values: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of the values (``check`` left out)."""
    body = json.dumps({k: v for k, v in values.items() if k != "check"}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _encode(total: dict[str, Any]) -> bytes:
    """The file's bytes: checked JSON padded with spaces to exactly :data:`FILE_SIZE`."""
    values = dict(total)
    error = values.get("last_error")
    if isinstance(error, str) and len(error) > _MAX_ERROR_CHARS:
        values["last_error"] = error[: _MAX_ERROR_CHARS - 1] + "…"
    values["check"] = _check(values)
    data = json.dumps(values, sort_keys=True).encode("ascii")  # \u-escapes: 1 char = 1 byte
    if len(data) > FILE_SIZE:  # only a pathological error text gets here
        values["last_error"] = "(error text too long to record)"
        values["check"] = _check(values)
        data = json.dumps(values, sort_keys=True).encode("ascii")
    return data.ljust(FILE_SIZE, b" ")


def reserve_stats(data_dir: Path) -> None:
    """Reserve this process's stats file on ``data_dir`` (once; a no-op when done already).

    Called when an emitter starts, while there is space: the file gets its full size now, so the
    updates that follow never need a new block. A file an earlier process left under our pid is
    set aside first. Raises ``OSError`` when the file cannot be made (the next update retries).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> reserve_stats(d)
        >>> (d / STATS_DIRNAME / f"{os.getpid()}.json").stat().st_size == FILE_SIZE
        True
    """
    with _STATS_LOCK:
        _reserve(data_dir, _PROCESS_STATS.get(str(data_dir), {}))


def _reserve(data_dir: Path, per_dir: dict[int, dict[str, Any]]) -> None:
    if str(data_dir) in _CLAIMED:
        return
    folder = data_dir / STATS_DIRNAME
    folder.mkdir(exist_ok=True)
    pid = os.getpid()
    path = folder / f"{pid}.json"
    try:  # a file left by an earlier process with our pid
        os.replace(path, folder / f"{pid}-{path.stat().st_mtime_ns}.json")
    except FileNotFoundError:
        pass
    _write_new(path, _encode(_total(per_dir)))
    _CLAIMED.add(str(data_dir))


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp name, fsync, rename over ``path`` (the reservation).

    On a full disk the temp file stays behind, half written: the trace that tells
    :func:`read_emitter_stats` drops may have gone unrecorded.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if os.write(fd, data) != len(data):
            raise OSError(errno.ENOSPC, "short write reserving the emitter counters", str(tmp))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _overwrite(path: Path, data: bytes) -> None:
    """Overwrite the reserved file in place with bytes of the same length (no new blocks)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        if os.fstat(fd).st_size != len(data):
            raise FileNotFoundError(path)  # not our reserved file any more: reserve again
        if os.pwrite(fd, data, 0) != len(data):
            raise OSError(f"{path}: short write of the emitter counters")
    finally:
        os.close(fd)


def persist_stats(data_dir: Path, key: int, snapshot: dict[str, Any]) -> None:
    """Record one emitter's snapshot and overwrite this process's stats file in place.

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
        _reserve(data_dir, per_dir)
        path = data_dir / STATS_DIRNAME / f"{os.getpid()}.json"
        try:
            _overwrite(path, _encode(_total(per_dir)))
        except FileNotFoundError:  # removed or replaced under us: reserve it again
            _CLAIMED.discard(str(data_dir))
            _reserve(data_dir, per_dir)


def read_emitter_stats(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Emitter counters summed over every process's ``DIR/emitter-stats/<pid>.json``.

    Returns the :data:`COUNTERS` plus ``dropped`` (overflow + rows lost to sink errors),
    ``processes`` (files read), ``unreadable`` (files that do not parse or check, temp files of a
    failed reservation, a folder that cannot be listed: drops may have happened there) and the
    newest ``last_error`` / ``last_error_at``.

    Example:
        >>> read_emitter_stats("/nonexistent")["dropped"]
        0
    """
    total: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    total.update(processes=0, unreadable=0, last_error=None, last_error_at=None)
    folder = Path(data_dir) / STATS_DIRNAME
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        names = []
    except OSError:  # the folder is there but cannot be listed: drops may have happened
        names = []
        total["unreadable"] += 1
    total["unreadable"] += _failed_reservations(names)
    for path in (folder / n for n in names if n.endswith(".json") and not n.startswith(".")):
        data = _read_checked(path)
        if data is None:
            total["unreadable"] += 1
            continue
        values = {c: int(data.get(c, 0)) for c in COUNTERS}
        total["processes"] += 1
        for c in COUNTERS:
            total[c] += values[c]
        at = data.get("last_error_at")
        if data.get("last_error") and isinstance(at, str) and at > (total["last_error_at"] or ""):
            total["last_error"], total["last_error_at"] = str(data["last_error"]), at
    total["dropped"] = total["dropped_overflow"] + total["dropped_rows"]
    return total


def _read_checked(path: Path, attempts: int = 3) -> dict[str, Any] | None:
    """A stats file's values, or None when it does not parse or check (read again first: an
    update in place may have been caught half way)."""
    for attempt in range(attempts):
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict):
                return None
            {c: int(data.get(c, 0)) for c in COUNTERS}  # noqa: B018 - raises on a bad value
        except (OSError, ValueError, TypeError, AttributeError):
            data = None
        if data is not None and ("check" not in data or data["check"] == _check(data)):
            return data  # files of older versions have no check
        if attempt + 1 < attempts:
            time.sleep(0.01)
    return None


def _failed_reservations(names: list[str]) -> int:
    """Temp files left by a reservation that failed (a full disk): each may hide drops.

    A reservation renames its temp file at once, so one seen here almost always failed; at
    worst a reader racing a fresh reservation warns once.
    """
    return sum(1 for n in names if n.startswith(".") and n.endswith(".json.tmp"))


def reset_after_fork() -> None:
    """Forget the parent's emitters (called in a forked child; the lock may have been held)."""
    global _STATS_LOCK
    _STATS_LOCK = threading.Lock()
    _PROCESS_STATS.clear()
    _CLAIMED.clear()
