"""The read path: DuckDB over the lake + live SQLite tail, export, concurrency with writers."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import traceback

import pytest

from govlib.analysis import read_path as analytics
from govlib.analysis.export import export_lake
from govlib.evidence import worm
from govlib.store.database import Store


def _rows(n: int, *, start: int = 0, tenant: str = "acme") -> list[dict]:
    return [
        dict(
            tenant_id=tenant if i % 3 else "globex",
            tool_name=f"tool_{i % 4}",
            actor="agent",
            composition_id=f"run-{i // 5}",
            success=int(i % 17 != 0),
            schema_valid=1,
            latency_ms=10 + i % 50,
            output_hash=f"{i:08x}",
            created_at=f"2026-11-{1 + i % 20:02d}T12:00:00.000000Z",
        )
        for i in range(start, start + n)
    ]


def _stamp(store: Store, audit_id: int, verdict: str, by: str, at: str) -> None:
    with store.transaction():
        store.insert(
            "verdict_events",
            dict(audit_id=audit_id, verdict=verdict, kind="stamp", verdict_by=by, verdict_at=at),
        )
        store.execute(
            "UPDATE audit_log SET human_verdict=?, verdict_by=?, verdict_at=? WHERE id=?",
            (verdict, by, at, audit_id),
        )


def test_connect_reads_live_tables_without_a_lake(tmp_path):
    s = Store(tmp_path)
    s.insert_many("audit_log", _rows(10))
    con = analytics.connect(tmp_path)
    assert con.execute("SELECT COUNT(*), SUM(latency_ms) FROM audit_log").fetchone() == (10, 145)
    assert con.execute("SELECT COUNT(*) FROM workflow_runs").fetchone() == (0,)


def test_lake_plus_tail_and_verdict_after_export(tmp_path):
    s = Store(tmp_path)
    s.insert_many("audit_log", _rows(300))
    worm.append(s, "note")
    first = export_lake(tmp_path)
    assert first["written"]["audit_log"] == 300
    assert first["watermark"]["audit_log"] == 300
    # hive layout: store, tenant and day folders
    parts = sorted(
        p.relative_to(tmp_path / "lake/audit_log").parts[:3]
        for p in (tmp_path / "lake/audit_log").rglob("*.parquet")
    )
    assert parts[0][0].startswith("store_id=") and parts[0][1].startswith("tenant=")
    assert parts[0][2].startswith("day=")
    # a verdict stamped after the export shows without re-exporting
    _stamp(s, 7, "reject", "ana", "2026-11-22T00:00:00.000000Z")
    s.insert_many("audit_log", _rows(20, start=300))
    con = analytics.connect(tmp_path)
    assert con.execute("SELECT COUNT(*), MAX(id) FROM audit_log").fetchone() == (320, 320)
    assert con.execute(
        "SELECT human_verdict, verdict_by FROM audit_log WHERE id = 7"
    ).fetchone() == ("reject", "ana")
    assert con.execute(
        "SELECT COUNT(*) FROM audit_log WHERE human_verdict IS NOT NULL"
    ).fetchone() == (1,)
    # the same answer as SQLite, column by column
    live = [tuple(r) for r in s.query("SELECT * FROM audit_log ORDER BY id")]
    assert [tuple(r) for r in con.execute("SELECT * FROM audit_log ORDER BY id").fetchall()] == live


def test_connect_opens_only_the_tables_asked_for(tmp_path):
    s = Store(tmp_path)
    s.insert_many("audit_log", _rows(300))
    export_lake(tmp_path)
    s.insert_many("audit_log", _rows(20, start=300))
    con = analytics.connect(tmp_path, tables=["workflows", "audit_log"])
    assert con.execute("SELECT COUNT(*), MAX(id) FROM audit_log").fetchone() == (320, 320)
    tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    names = {r[0] for r in tables}
    assert {"audit_log", "workflows"} <= names
    assert not {"token_ledger", "worm_log", "workflow_runs"} & names
    with pytest.raises(ValueError, match=r"\['audit_logs'\]: not govlib tables"):
        analytics.connect(tmp_path, tables=["audit_logs"])


def test_reexport_is_idempotent_and_drops_crash_orphans(tmp_path):
    s = Store(tmp_path)
    s.insert_many("audit_log", _rows(50))
    export_lake(tmp_path)
    files = sorted((tmp_path / "lake").rglob("*.parquet"))
    again = export_lake(tmp_path)
    assert again["written"] == {"audit_log": 0, "token_ledger": 0, "worm_log": 0}
    assert sorted((tmp_path / "lake").rglob("*.parquet")) == files
    # a file beyond the watermark (a crashed export) is removed, not double counted
    orphan = (
        tmp_path
        / "lake/audit_log/tenant_id=x/date=2026-11-30/part-000000000099-000000000120.parquet"
    )
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(files[0].read_bytes())
    (orphan.parent / "part-1.parquet.tmp123").write_bytes(b"half")
    s.insert_many("audit_log", _rows(5, start=50))
    export_lake(tmp_path)
    assert not orphan.exists()
    assert analytics.connect(tmp_path).execute("SELECT COUNT(*) FROM audit_log").fetchone() == (55,)


def test_duckdb_file_for_analysts(tmp_path):
    import duckdb

    s = Store(tmp_path)
    s.insert_many("audit_log", _rows(40))
    export_lake(tmp_path)
    con = duckdb.connect(str(tmp_path / "govlib.duckdb"), read_only=True)
    assert con.execute("SELECT COUNT(*) FROM audit_log").fetchone() == (40,)
    assert {r[0] for r in con.execute("SHOW TABLES").fetchall()} >= {
        "audit_log",
        "worm_log",
        "token_ledger",
    }


def test_connect_holds_no_lock(tmp_path):
    s = Store(tmp_path)
    s.insert_many("audit_log", _rows(5))
    analytics.connect(tmp_path)
    # an exclusive lock is possible right after: nothing is left open on the file
    other = sqlite3.connect(tmp_path / "govlib.sqlite", timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("ROLLBACK")


def _writer(path: str, wid: int, n: int, q) -> None:
    try:
        s = Store(path)
        for i in range(n):
            with s.transaction():
                s.insert("audit_log", _rows(1, start=wid * n + i, tenant=f"w{wid}")[0])
        q.put(("ok", wid))
    except Exception:  # noqa: BLE001 - report to the parent
        q.put(("error", traceback.format_exc()))


def _reader(path: str, stop, q) -> None:
    loops = 0
    try:
        while not stop.is_set():
            con = analytics.connect(path)
            con.execute("SELECT tool_name, COUNT(*) FROM audit_log GROUP BY 1").fetchall()
            con.close()
            loops += 1
        q.put(("reader", loops))
    except Exception:  # noqa: BLE001
        q.put(("error", traceback.format_exc()))


@pytest.mark.slow
def test_four_writers_and_a_reader(tmp_path):
    Store(tmp_path).close()
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    reader = ctx.Process(target=_reader, args=(str(tmp_path), stop, q))
    reader.start()
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), w, 2000, q)) for w in range(4)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(300)
    stop.set()
    reader.join(60)
    results = [q.get(timeout=10) for _ in range(5)]
    errors = [r[1] for r in results if r[0] == "error"]
    assert not errors, errors[0]
    loops = [r[1] for r in results if r[0] == "reader"][0]
    assert loops >= 1
    s = Store(tmp_path)
    assert s.count("audit_log") == 8000
    ids = [r[0] for r in s.query("SELECT output_hash FROM audit_log")]
    assert len(set(ids)) == 8000
    print(f"4 writers x 2000 rows + reader: {loops} reader loops, 8000 rows present")
