"""``govlib export``: the Parquet lake under ``DIR/lake/`` and ``DIR/govlib.duckdb`` for analysts.

Only rows after the export watermark are written, each batch to a temp name then renamed, so a
re-export with nothing new writes nothing and a crashed export leaves no half file. The watermark
file moves last; files beyond it (left by a crash) are removed before the next export writes.
``audit_log`` is hive-partitioned by ``tenant_id`` and ``date``; its verdict triple is not exported
(verdicts are always read live). The watermark file also records each file's SHA-256 (``files``),
which the read path checks.

A damaged lake heals here: when :func:`govlib.analysis.read_path.lake_problems` finds a problem
with a table's lake (a file that does not read or does not match its digest, files missing or
added), that table's folder is moved aside, never deleted, to
``DIR/lake-quarantine/<time>/<table>/`` (with ``problems.json``) and the table is exported again
from SQLite: the lake is rebuilt from what the store still holds.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from govlib.analysis.read_path import (
    LAKE_TABLES,
    PART,
    WATERMARK_FILE,
    LakeProblem,
    connect,
    lake_files,
    lake_problems,
    read_table_arrow,
    read_watermark,
    recorded_digests,
    sha256_file,
)
from govlib.clock import utc_now_iso
from govlib.evidence.archive import segment_files
from govlib.store import schema
from govlib.store.database import STORE_FILENAME, StoreError, read_only_connection
from govlib.store.datadir import ensure_store_id

__all__ = [
    "export_lake",
    "mirror_to_shared_lake",
    "quarantine_lake",
    "DUCKDB_FILENAME",
    "QUARANTINE_DIRNAME",
    "SEALED_DIRNAME",
]

DUCKDB_FILENAME = "govlib.duckdb"
QUARANTINE_DIRNAME = "lake-quarantine"
#: In a shared lake: ``sealed/store_id=<id>/<table>/<segment>-<file>`` (rows of sealed segments,
#: each with ``store_id``), read beside the tables so sealed history still counts.
SEALED_DIRNAME = "sealed"
_PART = PART


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    pq.write_table(table, tmp, write_page_checksum=True)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _drop_orphans(table_dir: Path, last: int) -> None:
    if not table_dir.exists():
        return
    for f in table_dir.rglob("*.parquet*"):
        m = _PART.search(f.name)
        if ".tmp" in f.name or (m and int(m.group(1)) > last):
            f.unlink()


#: How each table's files are laid out under ``<table>/store_id=<id>/``: the tenant column and the
#: column whose first ten characters (an ISO date) name the day, Hive-style (``tenant=``/``day=``).
PARTITIONS: dict[str, tuple[str | None, str]] = {
    "audit_log": ("tenant_id", "created_at"),
    "token_ledger": ("tenant_id", "created_at"),
    "worm_log": (None, "ts"),
    "workflow_runs": ("tenant_id", "started_at"),
}
#: Tables written whole at every export (they change after insert, or are small): what the
#: statistics read beside the calls. Not part of the read path's lake (read live there).
SNAPSHOTS: dict[str, list[str] | None] = {
    "workflow_runs": None,
    "workflows": ["id", "name"],
    "audit_verdicts": None,
    "tool_registry": ["name", "input_schema"],  # which tools declare a schema (schema_declared)
}


def _partitioned(data: pa.Table, table: str, store_id: str) -> list[tuple[str, pa.Table]]:
    """``[(folder relative to the table's folder, rows)]``: the Hive partitions of ``data``, each
    row carrying ``store_id`` so several stores' files can share one lake."""
    data = data.append_column("store_id", pa.array([store_id] * data.num_rows, pa.string()))
    tenant, day_col = PARTITIONS.get(table, (None, ""))
    base = f"store_id={store_id}"
    if day_col not in data.column_names:
        return [(base, data)]
    keys = {"_day": pc.utf8_slice_codeunits(data.column(day_col).fill_null("unknown"), 0, 10)}
    if tenant is not None:
        keys["_tenant"] = data.column(tenant).cast(pa.string()).fill_null("")
    for name, col in keys.items():
        data = data.append_column(name, col)
    out = []
    for g in data.group_by(list(keys)).aggregate([]).to_pylist():
        mask = pc.equal(data.column("_day"), g["_day"])
        if tenant is not None:
            mask = pc.and_(mask, pc.equal(data.column("_tenant"), g["_tenant"]))
        folder = base + (f"/tenant={quote(g['_tenant'], safe='')}" if tenant else "")
        out.append((f"{folder}/day={g['_day']}", data.filter(mask).drop_columns(list(keys))))
    return out


def _export_table(
    sqlite_path: Path, lake: Path, table: str, last: int, store_id: str
) -> tuple[int, int]:
    """Write rows after ``last``; returns (rows written, new last key)."""
    key = LAKE_TABLES[table]
    columns = list(schema.AUDIT_IMMUTABLE) if table == "audit_log" else None
    data = read_table_arrow(sqlite_path, table, columns=columns, after=last)
    if data.num_rows == 0:
        return 0, last
    new_last = int(pc.max(data.column(key)).as_py())
    for folder, part in _partitioned(data, table, store_id):
        keys = part.column(key)
        lo, hi = int(pc.min(keys).as_py()), int(pc.max(keys).as_py())
        _write_parquet(part, lake / table / folder / f"part-{lo:012d}-{hi:012d}.parquet")
    return data.num_rows, new_last


def _export_snapshots(sqlite_path: Path, lake: Path, store_id: str) -> dict[str, int]:
    """Write :data:`SNAPSHOTS` whole under ``<table>/store_id=<id>/`` (a new folder swapped in for
    the old one: readers see the old or the new snapshot, never half of one)."""
    written = {}
    for table, columns in SNAPSHOTS.items():
        if table == "audit_verdicts":  # verdicts change after export: the lake carries a copy
            data = read_table_arrow(
                sqlite_path,
                "audit_log",
                columns=["id", "human_verdict"],
                where="human_verdict IS NOT NULL",
            )
        else:
            data = read_table_arrow(sqlite_path, table, columns=columns)
        base = f"store_id={store_id}"
        target, staging = lake / table / base, lake / table / f".{base}.new{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for folder, part in _partitioned(data, table, store_id):
            _write_parquet(part, staging / folder.removeprefix(base).lstrip("/") / "data.parquet")
        old = lake / table / f".{base}.old{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
        written[table] = data.num_rows
    return written


def export_lake(
    data_dir: str | os.PathLike[str], *, shared_lake: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Export new rows to the lake, then rebuild ``govlib.duckdb``; returns a summary.

    Every file sits under ``<table>/store_id=<this store's id>/`` (then ``tenant=``/``day=``)
    and every row carries ``store_id``. With ``shared_lake``, this store's part of the lake and
    its sealed segments are then mirrored into that folder (:func:`mirror_to_shared_lake`),
    which several stores export into without touching each other's files.

    Example:
        >>> export_lake("data")["message"]  # doctest: +SKIP
        'Exported 120 new rows to data/lake; data/govlib.duckdb rebuilt'
    """
    base = Path(data_dir)
    sqlite_path = base / STORE_FILENAME
    if not sqlite_path.exists():
        raise StoreError(f"{sqlite_path}: no govlib store here (run `govlib demo` to make one)")
    lake = base / "lake"
    store_id = ensure_store_id(base)
    problems = lake_problems(base)
    quarantine = quarantine_lake(base, problems)
    lake.mkdir(parents=True, exist_ok=True)
    marks = read_watermark(base)
    for table in {p.table for p in problems}:
        marks.pop(table, None)  # rebuilt from SQLite: everything the store still holds
    rebuilt = {p.table for p in problems}
    digests = {  # a rebuilt table's files are hashed afresh
        rel: d for rel, d in recorded_digests(base).items() if rel.split("/")[0] not in rebuilt
    }
    written: dict[str, int] = {}
    for table in LAKE_TABLES:
        last = marks.get(table, 0)
        _drop_orphans(lake / table, last)
        written[table], marks[table] = _export_table(sqlite_path, lake, table, last, store_id)
    snapshots = _export_snapshots(sqlite_path, lake, store_id)
    files = _digests(base, marks, digests)
    wm = lake / WATERMARK_FILE
    tmp = wm.with_name(wm.name + f".tmp{os.getpid()}")
    doc = {"last": marks, "exported_at": utc_now_iso(), "files": files}
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    os.replace(tmp, wm)
    duck = _build_duckdb(base)
    total = sum(written.values())
    message = f"Exported {total} new rows to {lake}; {duck} rebuilt"
    mirrored = None
    if shared_lake is not None:
        mirrored = mirror_to_shared_lake(base, shared_lake)
        message += f"; store {store_id} mirrored to {shared_lake} ({mirrored} files copied)"
    if quarantine is not None:
        names = sorted(rebuilt - {"*"}) if "*" not in rebuilt else sorted(LAKE_TABLES)
        message = (
            f"The lake was damaged ({len(problems)} problem(s)): moved aside to {quarantine}; "
            f"{', '.join(names)} rebuilt from the store. " + message
        )
    return {
        "written": written,
        "watermark": marks,
        "duckdb": str(duck),
        "problems": [p.describe() for p in problems],
        "quarantined": None if quarantine is None else str(quarantine),
        "store_id": store_id,
        "snapshots": snapshots,
        "mirrored": mirrored,
        "message": message,
    }


def mirror_to_shared_lake(
    data_dir: str | os.PathLike[str], shared_lake: str | os.PathLike[str]
) -> int:
    """Copy this store's part of ``DIR/lake`` (every ``<table>/store_id=<id>/`` folder) and the
    rows of its sealed segments into ``shared_lake``; returns how many files were copied.

    Only this store's folders are written (files it no longer has are removed there), so stores
    export into one lake concurrently without collisions. Files are copied to a temporary name
    and renamed; a file already there with the same size is kept (lake files never change).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "store_id").write_text("0" * 32)
        >>> mirror_to_shared_lake(folder, Path(tempfile.mkdtemp()) / "fleet")
        0
    """
    base, dest = Path(data_dir), Path(shared_lake)
    store_id = ensure_store_id(base)
    part = f"store_id={store_id}"
    copied = 0
    for table in [*LAKE_TABLES, *SNAPSHOTS]:
        source = base / "lake" / table / part
        wanted = sorted(source.rglob("*.parquet")) if source.is_dir() else []
        rels = {f.relative_to(source).as_posix(): f for f in wanted}
        copied += _mirror_files(rels, dest / table / part)
    copied += _mirror_files(_sealed_files(base, store_id), dest / SEALED_DIRNAME / part)
    return copied


def _sealed_files(base: Path, store_id: str) -> dict[str, Any]:
    """``{<table>/<segment>-<file>: Arrow table with store_id}`` of every sealed segment."""
    if not (base / "archive").is_dir() or not (base / STORE_FILENAME).exists():
        return {}
    conn, _access, _why = read_only_connection(base / STORE_FILENAME)
    try:
        files = segment_files(base, conn)
    finally:
        conn.close()
    out: dict[str, Any] = {}
    for table, parts in files.items():
        for path, _digest in parts:
            out[f"{table}/{path.parent.name}-{path.name}"] = (path, store_id)
    return out


def _mirror_files(files: dict[str, Any], target: Path) -> int:
    """Make ``target`` hold exactly ``files`` (relative name -> source path, or (segment file,
    store id) to copy with a ``store_id`` column added); returns how many were written."""
    copied = 0
    for rel, source in files.items():
        out = target / rel
        if isinstance(source, tuple):
            if out.exists():
                continue
            data = pq.read_table(source[0])
            data = data.append_column(
                "store_id", pa.array([source[1]] * data.num_rows, pa.string())
            )
            _write_parquet(data, out)
        else:
            if out.exists() and out.stat().st_size == source.stat().st_size:
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + f".tmp{os.getpid()}")
            shutil.copyfile(source, tmp)
            os.replace(tmp, out)
        copied += 1
    if target.is_dir():
        for f in target.rglob("*.parquet"):
            if f.relative_to(target).as_posix() not in files:
                f.unlink()
    return copied


def _digests(base: Path, marks: dict[str, int], known: dict[str, str]) -> dict[str, str]:
    """SHA-256 of every lake file up to the watermark (known digests kept, new files hashed)."""
    lake, out = base / "lake", {}
    for table, last in marks.items():
        for f in lake_files(base, table):
            m = _PART.search(f.name)
            if m is not None and int(m.group(1)) > last:
                continue
            rel = f.relative_to(lake).as_posix()
            out[rel] = known.get(rel) or sha256_file(f)
    return out


def quarantine_lake(data_dir: str | os.PathLike[str], problems: list[LakeProblem]) -> Path | None:
    """Move the lake of every table with a problem to ``DIR/lake-quarantine/<time>/``.

    Nothing is deleted: the folder keeps the files as found plus ``problems.json``. A damaged
    watermark (table ``"*"``) moves the whole lake. Returns the quarantine folder (None when
    there was nothing to move).

    Example:
        >>> import tempfile
        >>> quarantine_lake(tempfile.mkdtemp(), []) is None
        True
    """
    if not problems:
        return None
    base = Path(data_dir)
    lake = base / "lake"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = base / QUARANTINE_DIRNAME / stamp
    target.mkdir(parents=True)
    tables = {p.table for p in problems}
    names = [WATERMARK_FILE, *LAKE_TABLES] if "*" in tables else sorted(tables)
    for name in names:
        if (lake / name).exists():
            shutil.move(str(lake / name), str(target / name))
    (target / "problems.json").write_text(
        json.dumps(
            {
                "quarantined_at": utc_now_iso(),
                "problems": [
                    {"table": p.table, "path": p.path, "problem": p.problem} for p in problems
                ],
            },
            indent=2,
        )
    )
    return target


def _build_duckdb(base: Path) -> Path:
    target = base / DUCKDB_FILENAME
    tmp = base / f".{DUCKDB_FILENAME}.tmp{os.getpid()}"
    for leftover in (tmp, Path(str(tmp) + ".wal")):
        if leftover.exists():
            leftover.unlink()
    con = connect(base)
    try:
        con.execute(f"ATTACH '{_quote(tmp)}' AS out")
        for table in schema.TABLES:
            con.execute(f"CREATE TABLE out.{table} AS SELECT * FROM {table}")
        con.execute("DETACH out")
    finally:
        con.close()
    os.replace(tmp, target)
    return target


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def duckdb_file(data_dir: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """Open the analysts' ``govlib.duckdb`` read-only."""
    return duckdb.connect(str(Path(data_dir) / DUCKDB_FILENAME), read_only=True)
