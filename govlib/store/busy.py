"""Waiting for the write lock fairly: the retry loop behind :meth:`govlib.store.database.Store.transaction`.

SQLite's busy handler keeps no queue, and the longer it waits the longer it sleeps between tries
(up to 100 ms): under a stream of writers committing back to back, a writer that sleeps can be
passed over until its whole ``busy_timeout`` is gone and its caller gets a raw
``database is locked``. So ``BEGIN IMMEDIATE`` is tried with a short busy timeout
(:data:`ATTEMPT_MS`), and a try that finds the lock taken sleeps a short random time
(:data:`MAX_SLEEP_S` at most) and tries again, until the store's overall deadline
(``Store.write_deadline_s``, the 60 s busy timeout by default). ``COMMIT`` is retried the same way
(with the full busy timeout per try). Past the deadline the caller gets a
:class:`~govlib.store.errors.StoreError` naming the store, the statement and how long and how often it
was tried; nothing was written.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable

from govlib.store.errors import StoreError

__all__ = ["ATTEMPT_MS", "MAX_SLEEP_S", "is_busy", "retry_busy"]

#: SQLite's own wait per ``BEGIN IMMEDIATE`` try (its busy handler polls at 0, 1, 3, 8, 18 ms).
ATTEMPT_MS = 25
#: The longest randomized sleep between two tries.
MAX_SLEEP_S = 0.01


def is_busy(exc: BaseException) -> bool:
    """True for SQLITE_BUSY (``database is locked``), whatever its extended code.

    Example:
        >>> is_busy(sqlite3.OperationalError("database is locked"))
        True
        >>> is_busy(sqlite3.OperationalError("disk I/O error"))
        False
    """
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_BUSY
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


def retry_busy(
    attempt: Callable[[], object],
    *,
    deadline_s: float,
    where: object,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call ``attempt`` until it does not raise SQLITE_BUSY; past ``deadline_s`` s: StoreError.

    Other errors pass through unchanged. ``where`` (the store) and ``what`` (the statement) are
    named in the error.

    Example:
        >>> tries = iter([sqlite3.OperationalError("database is locked"), None])
        >>> def attempt():
        ...     exc = next(tries)
        ...     if exc:
        ...         raise exc
        >>> retry_busy(attempt, deadline_s=1.0, where=":memory:", what="BEGIN IMMEDIATE")
    """
    start = time.monotonic()
    tries = 0
    while True:
        tries += 1
        try:
            attempt()
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            waited = time.monotonic() - start
            left = deadline_s - waited
            if left <= 0:
                raise StoreError(
                    f"{where}: {what} could not get the write lock: tried {tries} times over "
                    f"{waited:.1f} s (deadline {deadline_s:g} s, randomized backoff) while "
                    "another connection kept the store locked; nothing was written"
                ) from exc
            sleep(min(random.uniform(0.0005, MAX_SLEEP_S), left))
