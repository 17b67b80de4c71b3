"""The write path: one SQLite database (WAL) that is the system of record.

Many processes write at once (emitters, every Voila kernel, verdict clicks), so the store is SQLite
in WAL mode with a generous ``busy_timeout``; every write transaction starts with
``BEGIN IMMEDIATE`` so a writer waits for the lock instead of failing on an upgrade; the wait is a
fair retry loop with a deadline (:mod:`govlib.store.busy`), then a :class:`StoreError`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from govlib.clock import utc_now_iso
from govlib.store import schema
from govlib.store.busy import ATTEMPT_MS, retry_busy
from govlib.store.errors import SchemaVersionError, StoreError

__all__ = [
    "ACCESS_IMMUTABLE",
    "ACCESS_READ_ONLY",
    "ACCESS_READ_WRITE",
    "STORE_FILENAME",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "open_for_reading",
    "read_only_connection",
]

STORE_FILENAME = "govlib.sqlite"
BUSY_TIMEOUT_MS = 60_000

#: How a :class:`Store` holds its file (``store.access``).
ACCESS_READ_WRITE = "read-write"
ACCESS_READ_ONLY = "read-only"
#: ``immutable=1``: SQLite could not create ``-wal``/``-shm`` beside the file (read-only media, a
#: folder it may not write, a full disk), so it reads the file as it stands, without locks.
ACCESS_IMMUTABLE = "read-only copy (immutable)"
DISK_FULL = "the disk is full"
#: SQLite's error names that mean "could not create or size the -shm/-wal beside the file".
_NO_SIDE_FILES = ("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_IOERR_SHM", "SQLITE_IOERR_WRITE")


class Store:
    """The govlib SQLite store, opened like sqlite-utils' ``Database``.

    Parameters
    ----------
    path : str or Path, optional
        A ``.sqlite`` file, or a data dir (the store is then ``DIR/govlib.sqlite``).
    conn : sqlite3.Connection, optional
        An existing connection to use instead of opening one.
    memory : bool
        An in-memory store (tests, scratch work); its keys live in memory too.
    create : bool
        Create the schema when missing (default). With ``False`` a missing file is an error.
    readonly : bool
        Open read-only (``mode=ro``); no schema creation. When SQLite cannot create the
        ``-wal``/``-shm`` files beside the file (read-only media, a folder it may not write, a
        full disk) the file is read with ``immutable=1`` instead; ``store.access`` says which.

    Example:
        >>> store = Store(memory=True)
        >>> store.count("audit_log")
        0
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        conn: sqlite3.Connection | None = None,
        memory: bool = False,
        create: bool = True,
        readonly: bool = False,
    ) -> None:
        self._depth = 0
        self._lock = threading.RLock()
        self.readonly = readonly
        #: The evidence layer's key ring for this store, kept here once loaded (plain storage:
        #: :func:`govlib.evidence.keys.keyring_for` creates or loads it on first use).
        self.keyring: Any = None
        self._after_commit: list[Callable[[], None]] = []
        self._intact = False
        #: How long a write waits for the lock overall (BEGIN IMMEDIATE and COMMIT retried).
        self.write_deadline_s = BUSY_TIMEOUT_MS / 1000
        self.path: Path | None = None
        if conn is None and not memory and path is not None:
            self.path = _store_file(path)
        self.data_dir: Path | None = None if self.path is None else self.path.parent
        #: ``"read-write"``, ``"read-only"`` or ``"read-only copy (immutable)"``.
        self.access = ACCESS_READ_ONLY if readonly else ACCESS_READ_WRITE
        #: Why the file is read immutable ("read-only file system", ...), else None.
        self.access_reason: str | None = None
        if conn is not None or self.path is None:
            self.conn = conn if conn is not None else _connection(None, create, readonly)
        elif readonly:
            self.conn, self.access, self.access_reason = _read_only(self.path)
        else:
            self.conn = _connection(self.path, create, readonly)
        self.conn.row_factory = sqlite3.Row
        try:
            self._set_up(create=create)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            # Damaged bytes surface as either; both mean "do not trust this file", never repair.
            self.conn.close()
            raise StoreError(_open_failure(self.path, exc)) from None

    @classmethod
    def open_for_reading(cls, path: str | os.PathLike[str]) -> Store:
        """Open an existing store only to read it (``verify``, ``status``, ``report``).

        Never writes, creates or migrates anything: ``mode=ro``, or ``immutable=1`` on
        read-only media (``store.access`` and :attr:`access_note` say which).

        Example:
            >>> import tempfile
            >>> d = tempfile.mkdtemp()
            >>> Store(d).close()
            >>> with Store.open_for_reading(d) as store:
            ...     store.access, store.access_note
            ('read-only', None)
        """
        return cls(path, create=False, readonly=True)

    @property
    def access_note(self) -> str | None:
        """One line for a reader when the store is read immutable (None otherwise).

        Example:
            >>> Store(memory=True).access_note is None
            True
        """
        if self.access != ACCESS_IMMUTABLE:
            return None
        if self.access_reason == DISK_FULL:
            return (
                "the disk is full: the store was read without writing, as it stands "
                "(immutable); free space before anything writes to it"
            )
        return (
            f"read-only copy ({self.access_reason or 'SQLite cannot write beside it'}): read "
            "without writing, as it stands (immutable); it must not be a live store"
        )

    # --- set-up -----------------------------------------------------------------------------------
    def _set_up(self, *, create: bool) -> None:
        """Configure the connection, then create or migrate the schema (or only check it)."""
        if not create and self.path is not None:
            # Checked before the WAL switch, which would write a header into an empty file.
            self._require_schema()
        self._configure()
        if create and not self.readonly:
            self._ensure_schema()
            return
        # An existing store is only opened, never (re)built: an empty or foreign file is
        # reported, not silently turned into a fresh store.
        if self.path is not None:
            self._require_schema()
        if not self.readonly:
            self._ensure_schema()  # migrates an older version in place

    def _require_schema(self) -> None:
        if self._check_version() == 0:
            raise StoreError(
                f"{self.path}: not a govlib store (no schema; empty, truncated or foreign)"
            )

    def _configure(self) -> None:
        c = self.conn
        c.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not self.readonly and not c.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
            # A new file: pages freed by `govlib seal` go back to the disk in small steps
            # (incremental vacuum) instead of one long VACUUM. Settable only before the WAL
            # switch and the first table.
            c.execute("PRAGMA auto_vacuum=INCREMENTAL")
        if self.path is not None and not self.readonly:
            mode = c.execute("PRAGMA journal_mode=WAL").fetchone()["journal_mode"]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: could not switch to WAL (got {mode})")
        # Governance evidence is fsynced at every commit.
        c.execute("PRAGMA synchronous=FULL")
        c.execute("PRAGMA foreign_keys=OFF")

    def _check_version(self) -> int:
        has = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
        ).fetchone()
        if not has:
            return 0
        row = self.conn.execute("SELECT MAX(version) AS version FROM schema_version").fetchone()
        version = int(row["version"] or 0)
        if version > schema.SCHEMA_VERSION:
            where = self.path or ":memory:"
            raise SchemaVersionError(
                f"{where}: schema version {version} is newer than this govlib understands "
                f"({schema.SCHEMA_VERSION}); upgrade govlib"
            )
        return version

    def _ensure_schema(self) -> None:
        if self._check_version() == schema.SCHEMA_VERSION:
            return
        with self.transaction():
            version = self._check_version()
            if version == schema.SCHEMA_VERSION:
                return
            if version:  # an older store: add what each later version brought, in order
                for step in range(version + 1, schema.SCHEMA_VERSION + 1):
                    for statement in schema.MIGRATIONS.get(step, ()):
                        self.conn.execute(statement)
            for statement in _split_sql(schema.DDL + schema.triggers_sql()):
                self.conn.execute(statement)
            self.conn.execute(
                "INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
                (schema.SCHEMA_VERSION, utc_now_iso()),
            )

    # --- transactions and queries -----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one.

        Example:
            >>> store = Store(memory=True)
            >>> with store.transaction() as conn:
            ...     _ = conn.execute("SELECT 1")
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self._begin()
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self._after_commit = []
                self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self._retry("COMMIT")
            except BaseException:
                self._after_commit = []
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self._run_after_commit()

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE`` with short SQLite waits and randomized backoff between them."""
        c = self.conn
        c.execute(f"PRAGMA busy_timeout={ATTEMPT_MS}")
        try:
            self._retry("BEGIN IMMEDIATE")
        finally:
            c.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def _retry(self, sql: str) -> None:
        attempt, where = partial(self.conn.execute, sql), self.path or ":memory:"
        retry_busy(attempt, deadline_s=self.write_deadline_s, where=where, what=sql)

    def call_after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction commits (now, outside one).

        Work that must only follow durable rows (a checkpoint-file line) hangs here; a rolled
        back transaction drops its callbacks.
        """
        if self._depth:
            if callback not in self._after_commit:
                self._after_commit.append(callback)
        else:
            callback()

    def _run_after_commit(self) -> None:
        pending, self._after_commit = self._after_commit, []
        for callback in pending:
            callback()

    @property
    def in_transaction(self) -> bool:
        """True inside :meth:`transaction`."""
        return self._depth > 0

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query (parameters bound, never formatted in).

        Damaged bytes surface as :class:`StoreError` naming the file (a lock wait that timed out
        stays an ``sqlite3.OperationalError``).
        """
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
                text = str(exc)
                if "locked" in text or "busy" in text:
                    raise
                where = self.path or ":memory:"
                raise StoreError(
                    f"{where}: cannot read the store, it may be damaged ({text})"
                ) from None

    def query_one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """The first column of the first row, or None."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement (inside the current transaction when there is one)."""
        with self._lock:
            return self.conn.execute(sql, params)

    def insert(self, table: str, row: Mapping[str, Any]) -> int:
        """Insert one row (column names checked against the table); returns its rowid."""
        cols = self._checked_columns(table, row.keys())
        sql = f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608 - identifiers are checked names, values are bound
        with self._lock:
            cur = self.conn.execute(sql, [row[c] for c in cols])
            return int(cur.lastrowid or 0)

    def insert_many(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows sharing the first row's columns; returns how many."""
        rows = list(rows)
        if not rows:
            return 0
        cols = self._checked_columns(table, rows[0].keys())
        sql = f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608 - identifiers are checked names, values are bound
        with self._lock:
            self.conn.executemany(sql, [[r[c] for c in cols] for r in rows])
        return len(rows)

    def columns(self, table: str) -> list[str]:
        """Column names of a table (generated columns included)."""
        if table not in schema.TABLES and table != "schema_version":
            raise ValueError(
                f"table {table!r} is not a govlib table; expected one of {schema.TABLES}"
            )
        return [r["name"] for r in self.conn.execute(f"PRAGMA table_xinfo({table})")]

    def _checked_columns(self, table: str, names: Iterable[str]) -> list[str]:
        known = set(self.columns(table))
        cols = list(names)
        unknown = [c for c in cols if c not in known]
        if unknown:
            raise ValueError(
                f"{table}: unknown column(s) {unknown}; expected some of {sorted(known)}"
            )
        return cols

    def count(self, table: str) -> int:
        """Rows in a govlib table."""
        self.columns(table)  # validates the name
        return int(self.query_one(f"SELECT COUNT(*) FROM {table}"))  # noqa: S608 - identifiers are checked names, values are bound

    def counts(self) -> dict[str, int]:
        """Rows per table, for ``govlib status``."""
        return {t: self.count(t) for t in schema.TABLES}

    def check_intact(self) -> None:
        """Raise :class:`StoreError` when ``PRAGMA quick_check`` finds damage (once per Store).

        The apps call it before reading, so a damaged file shows an error box even when the
        pages a view reads happen to be intact.
        """
        if self._intact:
            return
        problem = self.integrity_problem()
        if problem:
            where = self.path or ":memory:"
            raise StoreError(f"{where}: the store is damaged ({problem}); nothing was changed")
        self._intact = True

    def integrity_problem(self) -> str | None:
        """``PRAGMA quick_check``: None when fine, else SQLite's first complaint."""
        try:
            rows = self.query("PRAGMA quick_check")
        except sqlite3.DatabaseError as exc:
            return str(exc)
        first = str(rows[0]["quick_check"]).splitlines()[0] if rows else "no answer"
        return None if first == "ok" else first

    def close(self) -> None:
        """Close the connection (idempotent)."""
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path) if self.path else 'memory=True'})"


def _store_file(path: str | os.PathLike[str]) -> Path:
    """The ``.sqlite`` file of ``path``: the file itself, or ``DIR/govlib.sqlite`` for a dir."""
    p = Path(path)
    return p / STORE_FILENAME if p.is_dir() or p.suffix == "" else p


def open_for_reading(path: str | os.PathLike[str]) -> Store:
    """:meth:`Store.open_for_reading`: an existing store, opened only to be read.

    Example:
        >>> open_for_reading("/nonexistent/dir")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        govlib.store.errors.StoreError: /nonexistent/dir/govlib.sqlite: no govlib store here ...
    """
    return Store.open_for_reading(path)


def read_only_connection(path: Path) -> tuple[sqlite3.Connection, str, str | None]:
    """A connection that never writes: ``(conn, access, reason)``.

    ``mode=ro`` first. When SQLite cannot create the ``-shm``/``-wal`` files it needs beside the
    file (read-only media or folder, a full disk), the file is opened with ``immutable=1``; that
    is refused when a non-empty ``-wal`` holds transactions that immutable reads would miss.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> Store(d).close()
        >>> conn, access, reason = read_only_connection(d / STORE_FILENAME)
        >>> access, reason
        ('read-only', None)
    """
    return _read_only(path)


def _read_only(path: Path) -> tuple[sqlite3.Connection, str, str | None]:
    if not path.exists():
        raise StoreError(f"{path}: no govlib store here (run `govlib demo` to make one)")
    if not os.access(path, os.R_OK):
        raise StoreError(f"{path}: cannot open the store (no read permission on the file)")
    wal = path.with_name(path.name + "-wal")
    wal_bytes = _size(wal)  # a live store's writers may remove or create it at any moment
    has_wal = wal_bytes > 0
    live = has_wal or path.with_name(path.name + "-shm").exists()  # a connection may be open
    reason = _why_no_side_files(path)
    if reason is not None and reason != DISK_FULL and not live:
        # A copy (read-only media or folder): read it as it stands, leaving nothing beside it.
        return _immutable(path), ACCESS_IMMUTABLE, reason
    try:
        return _probed(f"file:{_uri_path(path)}?mode=ro"), ACCESS_READ_ONLY, None
    except UnicodeDecodeError as exc:  # SQLite's message about damaged bytes is not UTF-8
        raise StoreError(_open_failure(path, exc)) from None
    except sqlite3.Error as exc:
        if not str(getattr(exc, "sqlite_errorname", "")).startswith(_NO_SIDE_FILES):
            raise StoreError(_open_failure(path, exc)) from None
        reason = _why_no_side_files(path) or f"SQLite cannot create its -shm file ({exc})"
    if has_wal:
        raise StoreError(
            f"{path}: cannot read this copy without writing ({reason}): its {wal.name} "
            f"({wal_bytes:,} bytes) holds transactions SQLite can only read with a "
            f"{path.name}-shm beside it; copy the folder to writable storage and read that copy "
            "(nothing was changed)"
        )
    return _immutable(path), ACCESS_IMMUTABLE, reason


def _size(path: Path) -> int:
    """The size of a file, 0 when it does not exist (or vanished while we looked)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _immutable(path: Path) -> sqlite3.Connection:
    """``immutable=1``: no locks, no -wal/-shm; only for a file nothing else writes."""
    try:
        return _probed(f"file:{_uri_path(path)}?mode=ro&immutable=1")
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        raise StoreError(_open_failure(path, exc)) from None


def _probed(uri: str) -> sqlite3.Connection:
    """Open ``uri`` and read one page (SQLite opens lazily: the -shm is made on first read)."""
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _uri_path(path: Path) -> str:
    """``path`` for a ``file:`` URI (``?`` and ``#`` would end the path part)."""
    return str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _why_no_side_files(path: Path) -> str | None:
    """Why SQLite may not create files beside ``path`` (None when no cause is visible)."""
    folder = path.parent
    try:
        fs = os.statvfs(folder)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return "read-only file system"
    try:  # the mode bits too: root may write anywhere, but a 0555 folder holds a copy
        writable_bits = folder.stat().st_mode & 0o222
    except OSError:
        writable_bits = 0
    if not writable_bits or not os.access(folder, os.W_OK):
        return "no write permission on its folder"
    if fs.f_bavail == 0 or fs.f_favail == 0:
        return DISK_FULL
    return None


def _open_failure(path: Path | None, exc: BaseException) -> str:
    """The message for a store that could not be opened: a cause when one is visible."""
    where = path or ":memory:"
    name = str(getattr(exc, "sqlite_errorname", ""))
    if path is not None and name.startswith(_NO_SIDE_FILES):
        why = _why_no_side_files(path)
        if why is not None:
            return (
                f"{where}: cannot open the store for writing ({why}; {exc}); nothing was changed. "
                "A read-only copy can still be read: `govlib verify` and `govlib status` do that"
            )
        return f"{where}: cannot open the store ({exc})"
    return f"{where}: the store is unreadable or corrupt ({exc})"


def _connection(path: Path | None, create: bool, readonly: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit): in memory when no ``path``."""
    if path is None:
        return sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if not path.exists() and (readonly or not create):
        raise StoreError(f"{path}: no govlib store here (run `govlib demo` to make one)")
    try:
        if readonly:
            uri = f"file:{path}?mode=ro"
            return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the store ({exc})") from None


def _split_sql(script: str) -> list[str]:
    """Split a DDL script into statements, keeping trigger bodies whole."""
    statements, buf = [], []
    for line in script.splitlines():
        if not line.strip():
            continue
        buf.append(line)
        joined = "\n".join(buf)
        if sqlite3.complete_statement(joined):
            statements.append(joined)
            buf = []
    return statements
