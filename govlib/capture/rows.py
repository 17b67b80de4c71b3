"""Writing emitted tool-call rows: batch inserts with their digest, and the synchronous writer.

An emitted row is a tuple in :data:`INSERT_COLUMNS` order whose ``created_at`` may still be integer
nanoseconds since the epoch or a datetime (formatting is deferred off the hot path). :func:`insert_audit_batch` writes
rows and their ``audit_batch`` WORM digest in one transaction; :class:`DirectSink` is the emitter's
synchronous mode (no queue, no drops, write errors propagate to the caller).

Every row is checked against :mod:`govlib.bounds` before it is written (:func:`bounded_row`):
tenant, tool name, actor and composition id within their lengths, latency within 30 days, a
``created_at`` given as a datetime or text within 2000-01-01 .. now + ``max_clock_skew_s``
(integer nanoseconds are the live wall clock's reading and are only formatted); an ``error``
longer than its bound is truncated with the marker. A row out of bounds refuses its whole batch
with :class:`govlib.bounds.BoundsError` before anything is written.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from govlib import bounds
from govlib.clock import iso
from govlib.evidence.digests import append_batch_digest
from govlib.store.database import Store
from govlib.store.schema import AUDIT_IMMUTABLE

__all__ = ["INSERT_COLUMNS", "bounded_row", "format_created", "insert_audit_batch", "DirectSink"]

#: Column order of an emitted row tuple: the audit_log columns fixed at insert, minus ``id``.
INSERT_COLUMNS: tuple[str, ...] = AUDIT_IMMUTABLE[1:]
_CREATED = len(INSERT_COLUMNS) - 1
_COMPOSITION = INSERT_COLUMNS.index("composition_id")
_NEXT_ID = "SELECT COALESCE(MAX(id), 0) FROM audit_log"


_INSERT = (
    f"INSERT INTO audit_log(id, {', '.join(INSERT_COLUMNS)}) "  # noqa: S608 - constant names
    f"VALUES ({', '.join('?' * (len(INSERT_COLUMNS) + 1))})"
)


@functools.lru_cache(maxsize=4096)
def _second_text(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def format_created(value: int | datetime | str) -> str:
    """An emitted ``created_at`` as the stored ISO text (microseconds, ``Z``).

    ``value`` is integer nanoseconds since the epoch (``time.time_ns()``, the live hot path), a
    datetime (naive = UTC) or text already formatted.

    Example:
        >>> format_created(1_500_000_000)
        '1970-01-01T00:00:01.500000Z'
    """
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return iso(value)
    second, nanos = divmod(int(value), 1_000_000_000)
    return f"{_second_text(second)}.{nanos // 1000:06d}Z"


def bounded_row(row: Sequence[Any], *, skew_s: float | None = None) -> tuple[Any, ...]:
    """An emitted row checked against :mod:`govlib.bounds` (its ``error`` truncated if long).

    Raises :class:`govlib.bounds.BoundsError` naming the field that is out of bounds. ``skew_s``:
    the allowed clock skew (default: the ``max_clock_skew_s`` setting without a data dir).

    Example:
        >>> row = bounded_row(("t", "lookup", None, None, 0, 1, 3, None, "E: " + "x" * 600, 0))
        >>> row[8][-28:]
        '…[truncated, 603 characters]'
    """
    if len(row) != len(INSERT_COLUMNS):
        raise ValueError(f"rows: expected tuples of {len(INSERT_COLUMNS)} values {INSERT_COLUMNS}")
    tenant, tool, actor, comp, success, valid, latency, digest, error, created = row
    bounds.checked_text("tenant_id", tenant, kind="tenant", optional=False)
    bounds.checked_text("tool_name", tool, optional=False)
    bounds.checked_text("actor", actor)
    bounds.checked_text("composition_id", comp, kind="run_id")
    if latency is not None:
        bounds.checked_latency("latency_ms", latency)
    if error is not None:
        error = bounds.truncated("error", error)
    if not isinstance(created, int) or isinstance(created, bool):
        bounds.checked_time("created_at", created, skew_s=skew_s)
    return (tenant, tool, actor, comp, success, valid, latency, digest, error, created)


def _params(store: Store, rows: Sequence[Sequence[Any]], first: int) -> list[tuple[Any, ...]]:
    skew_s = bounds.skew_seconds(store.data_dir)
    checked = [bounded_row(row, skew_s=skew_s) for row in rows]
    return [
        (first + i, *row[:_CREATED], format_created(row[_CREATED])) for i, row in enumerate(checked)
    ]


def insert_audit_batch(
    store: Store, rows: Sequence[Sequence[Any]], *, ts: str | None = None
) -> tuple[int, int]:
    """Insert emitted rows and append their ``audit_batch`` digest, all in one transaction.

    Ids are assigned under the write lock (``MAX(id) + 1 ..``), so a batch is a contiguous id
    range whatever other processes do. Joins the caller's transaction when there is one. ``ts``
    stamps the digest's WORM entry (default: now).

    Returns
    -------
    (first_id, last_id)

    Example:
        >>> s = Store(memory=True)
        >>> insert_audit_batch(s, [("t", "lookup", None, None, 1, 1, 3, "0000abcd", None, 0)])
        (1, 1)
    """
    if not rows:
        raise ValueError("rows: empty; expected at least one emitted row")
    with store.transaction() as conn:
        first = int(store.query_one(_NEXT_ID)) + 1
        conn.executemany(_INSERT, _params(store, rows, first))
        last = first + len(rows) - 1
        # A batch of one run's calls is filed under that run, so its trail shows the digest.
        runs = {row[_COMPOSITION] for row in rows}
        run_id = runs.pop() if len(runs) == 1 else None
        append_batch_digest(store, "audit_log", first, last, run_id=run_id, ts=ts)
    return first, last


class DirectSink:
    """The synchronous emitter's writer: each row is written now, in the caller's thread.

    Outside :meth:`batch` every row is its own transaction with its own digest; inside, rows join
    one transaction and get one digest at the end (seeded histories write thousands this way).
    Digest entries are stamped with ``clock.now()`` (a SimClock keeps histories reproducible).

    Example:
        >>> sink = DirectSink(Store(memory=True))
        >>> with sink.batch():
        ...     for _ in range(3):
        ...         sink.put(("t", "lookup", None, None, 1, 1, 3, "0000abcd", None, 0))
        >>> sink.snapshot()["batches"], sink.snapshot()["written"]
        (1, 3)
    """

    def __init__(self, store: Store, clock: Any = None) -> None:
        self.store = store
        self.clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._counts = {"enqueued": 0, "written": 0, "batches": 0}

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta

    def put(self, row: tuple[Any, ...]) -> None:
        """Write one row now (store errors propagate)."""
        self._count(enqueued=1)
        span = getattr(self._local, "span", None)
        if span is None:
            insert_audit_batch(self.store, [row], ts=self._ts())
            self._count(written=1, batches=1)
            return
        with self.store.transaction() as conn:  # joins the batch's transaction
            new_id = int(self.store.query_one(_NEXT_ID)) + 1
            conn.execute(_INSERT, _params(self.store, [row], new_id)[0])
        if span[0] is None:
            span[0] = new_id
        span[1] = new_id
        self._count(written=1)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction and one digest for every row written inside (nested: joins)."""
        if getattr(self._local, "span", None) is not None:
            yield
            return
        span: list[int | None] = [None, None]
        with self.store.transaction():
            self._local.span = span
            try:
                yield
            finally:
                self._local.span = None
            if span[0] is not None and span[1] is not None:
                append_batch_digest(self.store, "audit_log", span[0], span[1], ts=self._ts())
                self._count(batches=1)

    def _ts(self) -> str | None:
        return iso(self.clock.now()) if self.clock is not None else None

    def snapshot(self) -> dict[str, Any]:
        """Counters in the shape of the background sink's (nothing is ever dropped here)."""
        with self._lock:
            counts: dict[str, Any] = dict(self._counts)
        counts.update(dropped_overflow=0, sink_errors=0, dropped_rows=0, queued=0)
        counts.update(last_error=None, last_error_at=None)
        return counts
