"""The background sink of the tool-call emitter (the live path).

:class:`Sink` is a bounded in-process queue drained by one daemon thread that opens its own
:class:`~govlib.store.database.Store` on the file (SQLite connections belong to one thread) and writes each
batch with its digest via :func:`govlib.capture.rows.insert_audit_batch`. Whatever goes wrong on the
sink side (disk full, file made unwritable or removed, database locked past the busy timeout, store
closed) drops that batch and counts it; the thread keeps going and the tool calls never notice.

Counters (``enqueued``, ``written``, ``dropped_overflow``, ``sink_errors``, ``batches``,
``dropped_rows``) go, throttled, to ``DIR/emitter-stats/<pid>.json`` (the sum over every emitter of
the process on that data dir): the file is reserved at its full size when the sink is made and
then overwritten in place, so the counts still reach the disk when it is full
(:mod:`govlib.capture.counters`); :func:`read_emitter_stats` sums the files of all processes for
``govlib status``.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
import time
import weakref
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from govlib.capture.counters import (
    COUNTERS,
    STATS_DIRNAME,
    persist_stats,
    read_emitter_stats,
    reserve_stats,
    reset_after_fork,
)
from govlib.capture.rows import insert_audit_batch
from govlib.clock import iso
from govlib.errors import GovlibError
from govlib.store.database import Store, StoreError

__all__ = [
    "COUNTERS",
    "STATS_DIRNAME",
    "EmitterError",
    "Sink",
    "SinkUnavailable",
    "read_emitter_stats",
]

#: Seconds between two stats-file writes of one process (close and flush always write).
STATS_EVERY_S = 1.0


class EmitterError(GovlibError):
    """The emitter was configured with an unusable value (a setting, a tool name)."""


class SinkUnavailable(StoreError):
    """The sink refused to write: the store file is gone, replaced or not writable."""


# --- the background sink -------------------------------------------------------------------------
class _Marker:
    """A flush request travelling through the queue; set once everything before it is written."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_LIVE: weakref.WeakSet[Sink] = weakref.WeakSet()
_KEYS = itertools.count(1)  # one stats slot per sink for the life of the process


class Sink:
    """Bounded queue + daemon thread writing batches of emitted rows.

    Parameters
    ----------
    path : Path, optional
        The store file; the sink thread opens its own :class:`Store` on it (``create=False``).
    shared : Store, optional
        A store to use as is (in-memory stores, which no second connection can see).
    data_dir : Path, optional
        Where ``emitter-stats/<pid>.json`` goes (None: stats stay in memory).
    queue_size, batch_size, interval_s
        ``Settings.emitter_queue_size``, ``emitter_batch_size``, ``emitter_flush_interval_s``.
    keyring : optional
        A keyring to give the sink's store (when the caller's store had one set explicitly).

    Example:
        >>> sink = Sink(shared=Store(memory=True), queue_size=10, batch_size=5, interval_s=0.05)
        >>> sink.put(("t", "lookup", None, None, 1, 1, 3, "0000abcd", None, 0))
        >>> sink.flush()
        True
        >>> sink.snapshot()["written"]
        1
    """

    def __init__(
        self,
        *,
        path: Path | None = None,
        shared: Store | None = None,
        data_dir: Path | None = None,
        queue_size: int = 10_000,
        batch_size: int = 500,
        interval_s: float = 0.2,
        keyring: Any = None,
    ) -> None:
        if path is None and shared is None:
            raise EmitterError("Sink: needs a store file (path=) or a shared store (shared=)")
        for field, value in (
            ("emitter_queue_size", queue_size),
            ("emitter_batch_size", batch_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise EmitterError(f"setting {field}: {value!r}; expected an integer >= 1")
        if not isinstance(interval_s, (int, float)) or not interval_s > 0:
            raise EmitterError(
                f"setting emitter_flush_interval_s: {interval_s!r}; expected seconds > 0"
            )
        self.path, self.data_dir, self._shared = path, data_dir, shared
        self._maxsize, self._batch, self._interval = queue_size, batch_size, float(interval_s)
        self._keyring = keyring
        self._key = next(_KEYS)
        self._reset()
        self._reserve()
        _LIVE.add(self)

    def _reserve(self) -> None:
        """Reserve the stats file now, while there is space (a full disk comes later)."""
        if self.data_dir is None:
            return
        try:
            reserve_stats(self.data_dir)
        except OSError:  # unwritable now: every later persist tries again
            self._dirty = True

    def _reset(self) -> None:
        self._dq: deque[Any] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._store: Store | None = None
        self._ident: tuple[int, int] | None = None
        self._markers = 0
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._dequeued = 0
        self.last_error: str | None = None
        self._last_error_at: str | None = None
        self._persisted_at = 0.0
        self._dirty = False

    # --- caller side (hot path) -------------------------------------------------------------------
    def put(self, row: tuple[Any, ...]) -> None:
        """Queue one row; never blocks, never raises (a full queue drops and counts the row)."""
        dq = self._dq
        if len(dq) >= self._maxsize:
            with self._lock:
                self._counts["dropped_overflow"] += 1
                self._dirty = True
            return
        dq.append(row)
        if self._thread is None:
            self._start()
        if len(dq) >= self._batch and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every row queued so far is written or dropped; True when done in time."""
        marker = _Marker()
        with self._lock:
            self._markers += 1
        self._dq.append(marker)
        if self._thread is None:
            self._start()
        if self._thread is None:  # no thread can start (interpreter shutting down): drain here
            self._drain()
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Flush, stop the thread, write the stats file, close the sink's own store.

        Returns False when the thread was still writing after ``timeout`` seconds (it keeps
        going; the stats file then shows the rows still ``queued``).
        """
        thread = self._thread
        if thread is None and self._dq:
            self._drain()
        if thread is not None:
            self._stopping = True
            self._wake.set()
            thread.join(timeout)
            if thread.is_alive():
                self._persist(force=True)
                return False
        self._thread = None
        self._stopping = False
        self._discard_store()
        self._persist(force=True)
        return True

    def snapshot(self) -> dict[str, Any]:
        """Counters now (plus ``queued`` and ``last_error``)."""
        with self._lock:
            counts = dict(self._counts)
            markers = self._markers
        queued = max(0, len(self._dq) - markers)
        counts["enqueued"] = self._dequeued + queued
        counts["queued"] = queued
        counts["last_error"] = self.last_error
        counts["last_error_at"] = self._last_error_at
        return counts

    # --- sink thread ------------------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            try:
                thread = threading.Thread(target=self._run, name="govlib-emitter-sink", daemon=True)
                thread.start()
            except RuntimeError:  # interpreter shutting down: no new threads
                return
            self._thread = thread

    def _run(self) -> None:
        self._reserve()  # a forked child's own <pid>.json (a no-op once reserved)
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._drain()
                self._persist()
            except Exception as exc:  # noqa: BLE001 - the sink thread must outlive any bug
                self._count_error(f"{type(exc).__name__}: {exc}", 0)
            if self._stopping and not self._dq:
                break

    def _drain(self) -> None:
        dq, size = self._dq, self._batch
        while dq:
            batch: list[tuple[Any, ...]] = []
            marker: _Marker | None = None
            while dq and len(batch) < size:
                item = dq.popleft()
                if isinstance(item, _Marker):
                    marker = item
                    break
                batch.append(item)
            if batch:
                self._dequeued += len(batch)
                self._write(batch)
            if marker is not None:
                self._persist(force=True)
                with self._lock:
                    self._markers -= 1
                marker.done.set()

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        try:
            insert_audit_batch(self._open(), batch)
        except Exception as exc:  # noqa: BLE001 - every sink failure is counted, never raised
            self._count_error(f"{type(exc).__name__}: {exc}", len(batch))
            self._discard_store()
            return
        with self._lock:
            self._counts["written"] += len(batch)
            self._counts["batches"] += 1
            self._dirty = True

    def _count_error(self, message: str, rows: int) -> None:
        with self._lock:
            self._counts["sink_errors"] += 1
            self._counts["dropped_rows"] += rows
            self.last_error = message
            self._last_error_at = iso(datetime.now(UTC))
            self._dirty = True

    def _open(self) -> Store:
        if self._shared is not None:
            return self._shared
        assert self.path is not None
        st = os.stat(self.path)  # FileNotFoundError when the file or its folder was removed
        if not st.st_mode & 0o222 or not os.access(self.path, os.W_OK):
            raise SinkUnavailable(f"{self.path}: the store file is not writable")
        ident = (st.st_dev, st.st_ino)
        if self._store is not None and ident != self._ident:
            self._discard_store()  # replaced under us: never keep writing to an unlinked file
        if self._store is None:
            store = Store(self.path, create=False)
            if self._keyring is not None:
                store.keyring = self._keyring
            self._store, self._ident = store, ident
        return self._store

    def _discard_store(self) -> None:
        store, self._store, self._ident = self._store, None, None
        if store is not None:
            store.close()

    def _persist(self, force: bool = False) -> None:
        if self.data_dir is None or not (self._dirty or force):
            return
        now = time.monotonic()
        if not force and now - self._persisted_at < STATS_EVERY_S:
            return
        self._persisted_at, self._dirty = now, False
        try:
            persist_stats(self.data_dir, self._key, self.snapshot())
        except (OSError, ValueError, TypeError):
            self._dirty = True  # folder gone or unwritable: try again later

    def _after_fork(self) -> None:
        self._reset()  # the parent's thread and connection do not exist here


def _reset_after_fork() -> None:
    reset_after_fork()
    for sink in list(_LIVE):
        sink._after_fork()


@atexit.register
def _close_all_at_exit() -> None:
    """Flush every live sink when the interpreter exits (a sink with a running thread is alive)."""
    for sink in list(_LIVE):
        try:
            sink.close(timeout=5.0)
        except Exception:  # noqa: BLE001, S110 - never fail interpreter exit
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
