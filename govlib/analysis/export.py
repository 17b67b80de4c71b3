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
from govlib.store import schema
from govlib.store.database import STORE_FILENAME, StoreError

__all__ = ["export_lake", "quarantine_lake", "DUCKDB_FILENAME", "QUARANTINE_DIRNAME"]

DUCKDB_FILENAME = "govlib.duckdb"
QUARANTINE_DIRNAME = "lake-quarantine"
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


def _export_table(sqlite_path: Path, lake: Path, table: str, last: int) -> tuple[int, int]:
    """Write rows after ``last``; returns (rows written, new last key)."""
    key = LAKE_TABLES[table]
    columns = list(schema.AUDIT_IMMUTABLE) if table == "audit_log" else None
    data = read_table_arrow(sqlite_path, table, columns=columns, after=last)
    if data.num_rows == 0:
        return 0, last
    keys = data.column(key)
    first, new_last = int(pc.min(keys).as_py()), int(pc.max(keys).as_py())
    if table != "audit_log":
        _write_parquet(data, lake / table / f"part-{first:012d}-{new_last:012d}.parquet")
        return data.num_rows, new_last
    dates = pc.utf8_slice_codeunits(data.column("created_at").fill_null("unknown"), 0, 10)
    data = data.append_column("_date", dates)
    groups = data.group_by(["tenant_id", "_date"]).aggregate([]).to_pylist()
    for g in groups:
        mask = pc.and_(
            pc.equal(data.column("tenant_id"), g["tenant_id"]),
            pc.equal(data.column("_date"), g["_date"]),
        )
        part = data.filter(mask).drop_columns(["_date"])
        ids = part.column("id")
        lo, hi = int(pc.min(ids).as_py()), int(pc.max(ids).as_py())
        folder = lake / table / f"tenant_id={quote(g['tenant_id'], safe='')}" / f"date={g['_date']}"
        _write_parquet(part, folder / f"part-{lo:012d}-{hi:012d}.parquet")
    return data.num_rows, new_last


def export_lake(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Export new rows to the lake, then rebuild ``govlib.duckdb``; returns a summary.

    Example:
        >>> export_lake("data")["message"]  # doctest: +SKIP
        'Exported 120 new rows to data/lake; data/govlib.duckdb rebuilt'
    """
    base = Path(data_dir)
    sqlite_path = base / STORE_FILENAME
    if not sqlite_path.exists():
        raise StoreError(f"{sqlite_path}: no govlib store here (run `govlib demo` to make one)")
    lake = base / "lake"
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
        written[table], marks[table] = _export_table(sqlite_path, lake, table, last)
    files = _digests(base, marks, digests)
    wm = lake / WATERMARK_FILE
    tmp = wm.with_name(wm.name + f".tmp{os.getpid()}")
    doc = {"last": marks, "exported_at": utc_now_iso(), "files": files}
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    os.replace(tmp, wm)
    duck = _build_duckdb(base)
    total = sum(written.values())
    message = f"Exported {total} new rows to {lake}; {duck} rebuilt"
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
        "message": message,
    }


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
