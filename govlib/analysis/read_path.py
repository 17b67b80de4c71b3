"""The read path: an in-memory DuckDB connection over the Parquet lake plus the live SQLite tail.

Tables exported by ``govlib export`` (``audit_log``, ``token_ledger``, ``worm_log``) are read from
``DIR/lake/<table>/`` up to the export watermark and from SQLite after it; every other table, and
the ``audit_log`` verdict triple, is always read live. SQLite is read through Arrow
(``adbc-driver-sqlite``; stdlib ``sqlite3`` as a fallback) on a read-only connection that is closed
before :func:`connect` returns, so no lock on the store outlives the call.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from govlib.store import schema
from govlib.store.database import STORE_FILENAME, Store, StoreError
from govlib.store.datadir import checked_data_dir

__all__ = ["connect", "read_table_arrow", "read_watermark", "LAKE_TABLES", "WATERMARK_FILE"]

#: Exported tables and the key that orders them.
LAKE_TABLES: dict[str, str] = {"audit_log": "id", "token_ledger": "id", "worm_log": "seq"}
WATERMARK_FILE = "_watermark.json"
_VERDICT = ("human_verdict", "verdict_by", "verdict_at")
_SENTINEL = {"INTEGER": "0", "REAL": "0.0", "TEXT": "''", "BLOB": "x''"}


def read_watermark(data_dir: Path | None) -> dict[str, int]:
    """Last exported key per table (empty when there is no lake)."""
    if data_dir is None:
        return {}
    path = Path(data_dir) / "lake" / WATERMARK_FILE
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
        return {t: int(v) for t, v in doc.get("last", {}).items() if t in LAKE_TABLES}
    except (ValueError, TypeError, AttributeError):
        return {}


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
    path = store.path if store is not None else Path(source)
    conn = store.conn if store is not None else None
    probe = conn or sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cols = _columns(probe, table)
    finally:
        if conn is None:
            probe.close()
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
    if path is not None and store is None or (store is not None and store.path is not None):
        try:
            return _read_adbc(Path(path), sql, params, cols)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - any driver trouble falls back to the stdlib reader
            pass
    return _read_stdlib(conn, path, sql, params, cols)


def _read_adbc(path: Path, sql: str, params: list[Any], cols: list[tuple[str, str]]) -> pa.Table:
    import adbc_driver_sqlite.dbapi as adbc

    # ADBC infers each column's type from the first rows; a typed sentinel row first fixes the
    # types even when a column starts with NULLs. It is sliced off below.
    sentinel = ", ".join(f"{_SENTINEL.get(t, _SENTINEL['TEXT'])} AS {c}" for c, t in cols)
    typed = f"SELECT {sentinel} UNION ALL SELECT * FROM ({sql})"  # noqa: S608
    with adbc.connect(f"file:{path}?mode=ro") as con:
        cur = con.cursor()
        try:
            cur.execute(typed, params)
            table = cur.fetch_arrow_table()
        finally:
            cur.close()
    return table.slice(1)


def _arrow_type(decl: str) -> pa.DataType:
    return {"INTEGER": pa.int64(), "REAL": pa.float64(), "BLOB": pa.binary()}.get(decl, pa.string())


def _read_stdlib(
    conn: sqlite3.Connection | None,
    path: Path | None,
    sql: str,
    params: list[Any],
    cols: list[tuple[str, str]],
) -> pa.Table:
    own = conn is None
    c = conn or sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cur = c.execute(sql, params)
        rows = cur.fetchall()
    finally:
        if own:
            c.close()
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


def connect(source: Any = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose tables are named like the store's.

    Parameters
    ----------
    source
        A :class:`Store`, a data dir, a ``govlib.sqlite`` path, or None for the default data dir.

    Example:
        >>> from govlib.store.database import Store
        >>> con = connect(Store(memory=True))
        >>> con.execute("SELECT COUNT(*) FROM audit_log").fetchone()
        (0,)
    """
    mem_store, sqlite_path, data_dir = _resolve(source)
    if sqlite_path is not None and not sqlite_path.exists():
        raise StoreError(f"{sqlite_path}: no govlib store here (run `govlib demo` to make one)")
    reader: Any = mem_store if mem_store is not None else sqlite_path
    watermark = read_watermark(data_dir)
    con = duckdb.connect(":memory:")
    for table in schema.TABLES:
        last = watermark.get(table)
        lake_glob = Path(data_dir or ".") / "lake" / table / "**" / "*.parquet"
        has_lake = (
            last is not None
            and data_dir is not None
            and any(lake_glob.parent.parent.rglob("*.parquet"))
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
    return con


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
