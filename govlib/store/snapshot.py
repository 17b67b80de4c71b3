"""Read snapshots of a store file for checks that must all see one committed state.

``verify`` reads everything through :func:`read_snapshot` (one read transaction on its own
read-only connection) and runs SQLite's page check beside it in a :class:`PageCheck` thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from govlib.store.database import BUSY_TIMEOUT_MS, Store, read_only_connection
from govlib.store.errors import StoreError

__all__ = ["PageCheck", "quick_check", "read_snapshot", "readonly_connection"]


def readonly_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection to a store file that waits out writers like the store does.

    ``mode=ro``, or ``immutable=1`` when SQLite cannot create ``-wal``/``-shm`` beside a read-only
    copy (see :func:`govlib.store.database.read_only_connection`); never writes.
    """
    conn, _access, _reason = read_only_connection(path)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


@contextmanager
def read_snapshot(store: Store) -> Iterator[sqlite3.Connection]:
    """One read transaction, so every check sees the same committed state."""
    if store.path is None:
        yield store.conn
        return
    with closing(readonly_connection(store.path)) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # pins the snapshot
        yield conn


class PageCheck(threading.Thread):
    """``PRAGMA quick_check`` on its own read-only connection, beside the other checks.

    SQLite lets go of the GIL while it walks the pages, so on a machine with two cores the page
    check costs no wall time on top of the chain, checkpoint, digest and verdict checks.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(name="govlib-verify-quick-check", daemon=True)
        self.path = path
        self.problem: str | None = None  # what is wrong, None when the pages are sound

    def run(self) -> None:
        try:
            with closing(readonly_connection(self.path)) as conn:
                conn.text_factory = lambda b: b.decode("utf-8", "replace")  # damage names bytes
                first = quick_check(conn)
        except StoreError as exc:  # cannot be opened at all: the store's own message says why
            self.problem = str(exc)
            return
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # SQLite's message too
            self.problem = f"the store file is unreadable or corrupt ({exc})"
            return
        if first != "ok":
            self.problem = f"SQLite integrity check failed: {first}"


def quick_check(conn: sqlite3.Connection) -> str:
    """The first line of SQLite's ``PRAGMA quick_check`` ("ok" when the pages are sound)."""
    (first,) = conn.execute("PRAGMA quick_check").fetchone()
    return str(first).splitlines()[0]
