"""The read path: an in-memory DuckDB connection over the Parquet lake plus the live SQLite tail.

Tables exported by ``govlib export`` (``audit_log``, ``token_ledger``, ``worm_log``) are read from
``DIR/lake/<table>/`` up to the export watermark and from SQLite after it; every other table, and
the ``audit_log`` verdict triple, is always read live. SQLite is read through Arrow
(``adbc-driver-sqlite``; stdlib ``sqlite3`` as a fallback) on a read-only connection that is closed
before :func:`connect` returns, so no lock on the store outlives the call (``immutable=1`` on a
read-only copy, see :func:`govlib.store.database.read_only_connection`).

The lake is a cache, never trusted blindly: :func:`lake_problems` checks every lake file against the
SHA-256 recorded when ``govlib export`` wrote it (files of an older export without digests are read
in full) and each table's row count against SQLite. A table whose lake has a problem is read whole
from SQLite instead; :func:`lake_note` gives the apps one sentence to show, and ``govlib export``
quarantines that table's lake and rebuilds it (:mod:`govlib.analysis.export`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from govlib.evidence.archive import segment_files
from govlib.store import schema
from govlib.store.database import (
    ACCESS_IMMUTABLE,
    STORE_FILENAME,
    Store,
    StoreError,
    read_only_connection,
)
from govlib.store.datadir import checked_data_dir

__all__ = [
    "LAKE_TABLES",
    "WATERMARK_FILE",
    "LakeProblem",
    "connect",
    "lake_files",
    "lake_note",
    "lake_problems",
    "read_table_arrow",
    "read_watermark",
    "sha256_file",
]

#: Exported tables and the key that orders them.
LAKE_TABLES: dict[str, str] = {"audit_log": "id", "token_ledger": "id", "worm_log": "seq"}
WATERMARK_FILE = "_watermark.json"
#: ``part-<first key>-<last key>.parquet``: the key range of one exported file.
PART = re.compile(r"part-(\d+)-(\d+)\.parquet$")
#: The table in each DuckDB connection that lists the lake problems it read around.
PROBLEMS_TABLE = "_lake_problems"
_VERDICT = ("human_verdict", "verdict_by", "verdict_at")
_SENTINEL = {"INTEGER": "0", "REAL": "0.0", "TEXT": "''", "BLOB": "x''"}


def read_watermark(data_dir: Path | None) -> dict[str, int]:
    """Last exported key per table (empty when there is no lake or its watermark is unreadable)."""
    try:
        doc = _watermark_doc(data_dir)
        return {t: int(v) for t, v in doc.get("last", {}).items() if t in LAKE_TABLES}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _watermark_doc(data_dir: Path | None) -> dict[str, Any]:
    """The watermark file's JSON ({} when there is none); raises when it cannot be read."""
    if data_dir is None:
        return {}
    path = Path(data_dir) / "lake" / WATERMARK_FILE
    if not path.exists():
        return {}
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("last", {}), dict):
        raise ValueError("not a watermark document")
    return doc


def recorded_digests(data_dir: Path | None) -> dict[str, str]:
    """SHA-256 per lake file (path relative to ``DIR/lake``) recorded by ``govlib export``."""
    try:
        files = _watermark_doc(data_dir).get("files") or {}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


# --- lake health -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LakeProblem:
    """One thing wrong with the lake: the table read from SQLite instead, the file, the problem.

    Example:
        >>> LakeProblem("audit_log", "lake/audit_log/part-1-2.parquet", "unreadable").describe()
        'lake/audit_log/part-1-2.parquet: unreadable'
    """

    table: str  #: a :data:`LAKE_TABLES` name, or ``"*"`` when the watermark itself is damaged
    path: str  #: relative to the data dir (``lake/audit_log/.../part-...parquet``)
    problem: str

    def describe(self) -> str:
        """``path: problem``."""
        return f"{self.path}: {self.problem}"


_CHECKED_LOCK = threading.Lock()
#: path -> (stat signature and expected digest, problem or None, rows): files are immutable once
#: exported, so a file is hashed or read again only when it changed.
_CHECKED: dict[str, tuple[tuple[Any, ...], str | None, int]] = {}


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "x"
        >>> _ = f.write_bytes(b"abc")
        >>> sha256_file(f)[:12]
        'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lake_files(data_dir: Path, table: str) -> list[Path]:
    """Every ``*.parquet`` file under ``DIR/lake/<table>/`` (what the read path's glob reads)."""
    folder = Path(data_dir) / "lake" / table
    return sorted(folder.rglob("*.parquet")) if folder.is_dir() else []


def _file_problem(path: Path, expected: str | None) -> tuple[str | None, int]:
    """(what is wrong with one lake file or None, its row count); cached while it is unchanged."""
    st = path.stat()
    sig = (st.st_size, st.st_mtime_ns, st.st_ino, expected)
    with _CHECKED_LOCK:
        hit = _CHECKED.get(str(path))
    if hit is not None and hit[0] == sig:
        return hit[1], hit[2]
    problem: str | None = None
    rows = 0
    try:
        if expected is not None and sha256_file(path) != expected:
            problem = "its bytes differ from the SHA-256 recorded at export (damaged or changed)"
        else:
            rows = pq.ParquetFile(path).metadata.num_rows
            if expected is None:  # no digest (an older export): read every page once
                rows = pq.read_table(path).num_rows
    except Exception as exc:  # noqa: BLE001 - any reader failure means "do not read this file"
        problem = f"unreadable Parquet ({type(exc).__name__}: {exc})"
    with _CHECKED_LOCK:
        _CHECKED[str(path)] = (sig, problem, rows)
    return problem, rows


def lake_problems(
    data_dir: str | os.PathLike[str] | None, *, source: Store | None = None
) -> list[LakeProblem]:
    """What is wrong with the Parquet lake of ``data_dir`` (empty when it is sound or absent).

    Checked: the watermark file parses; every lake file matches the SHA-256 recorded at export
    (or, without one, reads in full); no file the export did not write sits below the watermark;
    and each table's lake holds as many rows up to the watermark as SQLite does.

    Parameters
    ----------
    data_dir
        The data dir (the lake is ``DIR/lake/``).
    source
        An open :class:`Store` to count SQLite rows with (default: a read-only connection to
        ``DIR/govlib.sqlite``).

    Example:
        >>> import tempfile
        >>> lake_problems(tempfile.mkdtemp())
        []
    """
    if data_dir is None:
        return []
    base = Path(data_dir)
    try:
        doc = _watermark_doc(base)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        where = f"lake/{WATERMARK_FILE}"
        return [LakeProblem("*", where, f"the lake watermark is unreadable ({exc})")]
    marks = read_watermark(base)
    if not marks:
        return []
    digests = recorded_digests(base)
    problems: list[LakeProblem] = []
    store_rows = _sqlite_counter(base, source)
    for table, last in marks.items():
        problems.extend(_table_problems(base, table, last, digests, "files" in doc, store_rows))
    return problems


def _table_problems(
    base: Path,
    table: str,
    last: int,
    digests: dict[str, str],
    has_manifest: bool,
    store_rows: Any,
) -> Iterator[LakeProblem]:
    lake, rows, bad = base / "lake", 0, False
    for f in lake_files(base, table):
        rel = f.relative_to(lake).as_posix()
        m = PART.search(f.name)
        below = m is None or int(m.group(1)) <= last
        if has_manifest and below and rel not in digests:
            bad = True
            yield LakeProblem(
                table, f"lake/{rel}", "not written by `govlib export` (not in the manifest)"
            )
            continue
        problem, n = _file_problem(f, digests.get(rel))
        if problem is not None:
            bad = True
            yield LakeProblem(table, f"lake/{rel}", problem)
        elif below:
            rows += n
    if bad:
        return
    stored = store_rows(table, last)
    if stored is not None and stored != rows:
        yield LakeProblem(
            table,
            f"lake/{table}",
            f"the lake holds {rows:,} rows up to {LAKE_TABLES[table]} {last} where the store "
            f"holds {stored:,} (files missing, added or the store changed)",
        )


def _sqlite_counter(base: Path, source: Store | None) -> Any:
    """``count(table, last)``: SQLite rows with a key up to ``last`` (None when unreadable)."""

    def count(table: str, last: int) -> int | None:
        sql = f"SELECT COUNT(*) FROM {table} WHERE {LAKE_TABLES[table]} <= ?"  # noqa: S608
        try:
            if source is not None and source.path is None:
                return int(source.conn.execute(sql, (last,)).fetchone()[0])
            conn, _access, _why = read_only_connection(base / STORE_FILENAME)
            with closing(conn):
                return int(conn.execute(sql, (last,)).fetchone()[0])
        except (sqlite3.Error, StoreError, UnicodeDecodeError):
            return None

    return count


def lake_note(con: duckdb.DuckDBPyConnection) -> str | None:
    """One sentence for the apps when :func:`connect` read around a damaged lake (else None).

    Example:
        >>> from govlib.store.database import Store
        >>> lake_note(connect(Store(memory=True))) is None
        True
    """
    try:
        rows = con.execute(f"SELECT table_name, path, problem FROM {PROBLEMS_TABLE}").fetchall()
    except duckdb.Error:
        return None
    if not rows:
        return None
    tables = sorted({t for t, _, _ in rows})
    first = LakeProblem(*rows[0]).describe()
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    return (
        f"The Parquet lake is damaged ({', '.join(tables)}): these figures were read from the "
        f"SQLite store instead. Run `govlib export` to quarantine and rebuild the lake. "
        f"{first}{more}"
    )


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    info = conn.execute(f"PRAGMA table_xinfo({table})")  # cid, name, type, notnull, ...
    return [(name, (decl or "TEXT").upper()) for _cid, name, decl, *_ in info]


def read_table_arrow(
    source: Store | str | os.PathLike[str],
    table: str,
    *,
    columns: list[str] | None = None,
    after: int | None = None,
    where: str = "",
) -> pa.Table:
    """Rows of a SQLite table as an Arrow table (keys after ``after`` when given).

    Parameters
    ----------
    source
        A :class:`Store` or a path to the SQLite file.
    table
        A govlib table name.
    columns
        Columns to read (default: all, generated columns included).
    after
        Only rows whose key (see :data:`LAKE_TABLES`) is greater than this.
    where
        An extra constant SQL condition (internal use; never user text).

    Example:
        >>> from govlib.store.database import Store
        >>> read_table_arrow(Store(memory=True), "audit_log").num_rows
        0
    """
    if table not in schema.TABLES:
        raise ValueError(f"table {table!r} is not a govlib table; expected one of {schema.TABLES}")
    store = source if isinstance(source, Store) else None
    if store is not None:
        return _read_table(store.conn, store.path, store.access, table, columns, after, where)
    conn, access, _why = read_only_connection(Path(source))
    with closing(conn):
        return _read_table(conn, Path(source), access, table, columns, after, where)


def _read_table(
    conn: sqlite3.Connection,
    path: Path | None,
    access: str,
    table: str,
    columns: list[str] | None,
    after: int | None,
    where: str,
) -> pa.Table:
    cols = _columns(conn, table)
    if columns is not None:
        wanted = set(columns)
        cols = [c for c in cols if c[0] in wanted]
    names = [c for c, _ in cols]
    conditions = []
    params: list[Any] = []
    if after is not None:
        conditions.append(f"{LAKE_TABLES[table]} > ?")
        params.append(int(after))
    if where:
        conditions.append(where)
    sql = f"SELECT {', '.join(names)} FROM {table}"  # noqa: S608 - names from PRAGMA
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if path is not None:
        try:
            return _read_adbc(path, access == ACCESS_IMMUTABLE, sql, params, cols)
        except Exception:  # noqa: BLE001 - any driver trouble falls back to the stdlib reader
            pass
    return _read_stdlib(conn, sql, params, cols)


def _read_adbc(
    path: Path, immutable: bool, sql: str, params: list[Any], cols: list[tuple[str, str]]
) -> pa.Table:
    import adbc_driver_sqlite.dbapi as adbc

    # ADBC infers each column's type from the first rows; a typed sentinel row first fixes the
    # types even when a column starts with NULLs. It is sliced off below.
    sentinel = ", ".join(f"{_SENTINEL.get(t, _SENTINEL['TEXT'])} AS {c}" for c, t in cols)
    typed = f"SELECT {sentinel} UNION ALL SELECT * FROM ({sql})"  # noqa: S608
    uri = f"file:{_uri_path(path)}?mode=ro" + ("&immutable=1" if immutable else "")
    with adbc.connect(uri) as con:
        cur = con.cursor()
        try:
            cur.execute(typed, params)
            table = cur.fetch_arrow_table()
        finally:
            cur.close()
    return table.slice(1)


def _arrow_type(decl: str) -> pa.DataType:
    return {"INTEGER": pa.int64(), "REAL": pa.float64(), "BLOB": pa.binary()}.get(decl, pa.string())


def _uri_path(path: Path) -> str:
    return str(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _read_stdlib(
    conn: sqlite3.Connection, sql: str, params: list[Any], cols: list[tuple[str, str]]
) -> pa.Table:
    rows = conn.execute(sql, params).fetchall()
    arrays = [pa.array([r[i] for r in rows], type=_arrow_type(t)) for i, (_, t) in enumerate(cols)]
    return pa.Table.from_arrays(arrays, names=[c for c, _ in cols])


def _resolve(source: Any) -> tuple[Store | None, Path | None, Path | None]:
    """(store for in-memory sources, sqlite file, data dir)."""
    if isinstance(source, Store):
        if source.path is None:
            return source, None, None
        return None, source.path, source.data_dir
    if source is None:
        source = checked_data_dir(create=False)
    p = Path(source)
    if p.is_dir():
        return None, p / STORE_FILENAME, p
    return None, p, p.parent


def connect(
    source: Any = None, *, tables: Collection[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose tables are named like the store's.

    A table whose lake has a problem (:func:`lake_problems`) is read whole from SQLite; the
    problems are listed in the connection (:func:`lake_note` gives the sentence to show).

    Parameters
    ----------
    source
        A :class:`Store`, a data dir, a ``govlib.sqlite`` path, or None for the default data dir.
    tables
        Only these tables (default: every table of the store). A page that reads four tables
        does not pay for reading the live tail of all of them.

    Example:
        >>> from govlib.store.database import Store
        >>> con = connect(Store(memory=True))
        >>> con.execute("SELECT COUNT(*) FROM audit_log").fetchone()
        (0,)
    """
    wanted = _wanted_tables(tables)
    mem_store, sqlite_path, data_dir = _resolve(source)
    if sqlite_path is not None and not sqlite_path.exists():
        raise StoreError(f"{sqlite_path}: no govlib store here (run `govlib demo` to make one)")
    reader: Any = mem_store if mem_store is not None else sqlite_path
    watermark = read_watermark(data_dir)
    problems = lake_problems(data_dir) if sqlite_path is not None else []
    damaged = {p.table for p in problems}
    con = duckdb.connect(":memory:")
    con.execute(f"CREATE TABLE {PROBLEMS_TABLE}(table_name VARCHAR, path VARCHAR, problem VARCHAR)")
    for p in problems:
        con.execute(f"INSERT INTO {PROBLEMS_TABLE} VALUES (?, ?, ?)", [p.table, p.path, p.problem])
    for table in wanted:
        last = watermark.get(table)
        lake_glob = Path(data_dir or ".") / "lake" / table / "**" / "*.parquet"
        has_lake = (
            last is not None
            and data_dir is not None
            and table not in damaged  # a damaged lake is read around: the whole table from SQLite
            and bool(lake_files(data_dir, table))
        )
        try:
            tail = read_table_arrow(reader, table, after=last if has_lake else None)
        except sqlite3.Error as exc:  # e.g. a flipped byte that is no longer valid UTF-8 text
            raise StoreError(
                f"{reader}: cannot read table {table} from the govlib store ({exc}); the file "
                "may be damaged: run `govlib verify`"
            ) from None
        con.register(f"_{table}_tail_arrow", tail)
        con.execute(f"CREATE TABLE _{table}_tail AS SELECT * FROM _{table}_tail_arrow")
        con.unregister(f"_{table}_tail_arrow")
        if not has_lake:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM _{table}_tail")
            continue
        key = LAKE_TABLES[table]
        names = [f.name for f in tail.schema]
        lake = (
            f"(SELECT * FROM read_parquet('{_sql_path(lake_glob)}', union_by_name=true, "
            f"hive_partitioning=false) WHERE {key} <= {int(last)})"  # type: ignore[arg-type]
        )
        if table == "audit_log":
            verdicts = read_table_arrow(
                reader, table, columns=["id", *_VERDICT], where="human_verdict IS NOT NULL"
            )
            con.register("_verdicts_arrow", verdicts)
            con.execute("CREATE TABLE _audit_verdicts AS SELECT * FROM _verdicts_arrow")
            con.unregister("_verdicts_arrow")
            select = ", ".join(
                f"v.{c}" if c in _VERDICT else f"CAST(l.{c} AS {_duck_type(tail, c)}) AS {c}"
                for c in names
            )
            lake_part = f"SELECT {select} FROM {lake} l LEFT JOIN _audit_verdicts v USING (id)"
        else:
            select = ", ".join(f"CAST({c} AS {_duck_type(tail, c)}) AS {c}" for c in names)
            lake_part = f"SELECT {select} FROM {lake}"
        con.execute(f"CREATE VIEW {table} AS {lake_part} UNION ALL SELECT * FROM _{table}_tail")
    _add_sealed_segments(con, mem_store, sqlite_path, data_dir, wanted)
    return con


def _wanted_tables(tables: Collection[str] | None) -> list[str]:
    """The store's tables to open, in schema order; unknown names are refused by name."""
    if tables is None:
        return list(schema.TABLES)
    unknown = sorted(set(tables) - set(schema.TABLES))
    if unknown:
        raise ValueError(f"tables {unknown}: not govlib tables; expected some of {schema.TABLES}")
    return [t for t in schema.TABLES if t in set(tables)]


def _add_sealed_segments(
    con: duckdb.DuckDBPyConnection,
    mem_store: Store | None,
    sqlite_path: Path | None,
    data_dir: Path | None,
    wanted: Collection[str],
) -> None:
    """Rows moved to sealed segments (``govlib seal``) are read like the lake: each table's view
    becomes the segments' Parquet files (each checked against its signed manifest's SHA-256)
    plus what was there before, so figures do not change when data is sealed."""
    if data_dir is None or sqlite_path is None or not (Path(data_dir) / "archive").is_dir():
        return
    conn, _access, _why = read_only_connection(sqlite_path)
    with closing(conn):
        files = segment_files(data_dir, conn)
    for table, parts in files.items():
        if table not in wanted:
            continue
        for path, digest in parts:
            problem, _rows = _file_problem(path, digest)
            if problem is not None:
                raise StoreError(
                    f"{path}: sealed segment file {problem}; run `govlib verify --archives`"
                )
        names = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        types = dict(
            con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
        )
        listed = ", ".join(f"'{_sql_path(p)}'" for p, _ in parts)
        select = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in names)
        con.execute(f"ALTER VIEW {table} RENAME TO _{table}_live")
        con.execute(
            f"CREATE VIEW {table} AS SELECT {select} FROM read_parquet([{listed}], "
            f"union_by_name=true) UNION ALL SELECT * FROM _{table}_live"
        )


def _duck_type(tail: pa.Table, column: str) -> str:
    t = tail.schema.field(column).type
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_binary(t):
        return "BLOB"
    return "VARCHAR"


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


# --- a Store-shaped reader over the sealed segments plus the live store ---------------------------
#: SQLite's TOTAL() (a float sum, 0.0 over no rows) in DuckDB; fsum (compensated) so the sum does
#: not depend on the order DuckDB's threads add the rows in.
_SQLITE_AGGREGATES = "CREATE MACRO total(x) AS coalesce(fsum(CAST(x AS DOUBLE)), 0.0)"


class ReadRow(tuple):
    """A result row read like ``sqlite3.Row``: by position, by column name, ``dict(row)``."""

    _names: tuple[str, ...] = ()

    def __new__(cls, names: tuple[str, ...], values: tuple[Any, ...]) -> ReadRow:  # noqa: D102
        row = super().__new__(cls, values)
        row._names = names
        return row

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)


class SealedReader:
    """The live store and its sealed segments behind the ``query``/``query_one`` of a Store.

    The cost figures (``govlib.costs.ledger``, the report) are SQL over ``token_ledger``,
    ``workflow_runs`` and ``workflows``; run through this reader they cover sealed rows too, so a
    seal does not change them.

    Example:
        >>> from govlib.store.database import Store
        >>> reader = SealedReader(Store(memory=True))
        >>> reader.query_one("SELECT ROUND(TOTAL(cost_usd), 10) FROM token_ledger")
        0.0
        >>> reader.close()
    """

    def __init__(self, store: Store) -> None:
        self.data_dir = store.data_dir
        self._con = connect(store)
        self._con.execute(_SQLITE_AGGREGATES)

    def query(self, sql: str, params: Any = ()) -> list[ReadRow]:
        """Rows of ``sql`` (``?`` parameters), each read like ``sqlite3.Row``."""
        cur = self._con.execute(sql, list(params))
        names = tuple(d[0] for d in cur.description)
        return [ReadRow(names, r) for r in cur.fetchall()]

    def query_one(self, sql: str, params: Any = ()) -> Any:
        """The first column of the first row (None when there is no row)."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._con.close()


def has_sealed_rows(store: Store) -> bool:
    """Whether any sealed segment still holds rows (sealed, not purged).

    Example:
        >>> from govlib.store.database import Store
        >>> has_sealed_rows(Store(memory=True))
        False
    """
    if store.data_dir is None or not (Path(store.data_dir) / "archive").is_dir():
        return False
    return bool(segment_files(store.data_dir, store.conn))
