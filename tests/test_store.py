"""The write path: schema, append-only guards, versions, open modes."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from govlib.store import schema
from govlib.store.busy import MAX_SLEEP_S, retry_busy
from govlib.store.database import SchemaVersionError, Store, StoreError


def _audit_row(store: Store, **over: object) -> int:
    row = dict(
        tenant_id="t1",
        tool_name="policy_lookup",
        actor="agent",
        composition_id="run-1",
        success=1,
        schema_valid=1,
        latency_ms=12,
        output_hash="0badf00d",
        error=None,
        created_at="2026-11-01T00:00:00.000000Z",
    )
    row.update(over)
    return store.insert("audit_log", row)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    yield s
    s.close()


def test_file_store_is_wal_with_busy_timeout(store):
    assert store.query_one("PRAGMA journal_mode") == "wal"
    assert store.query_one("PRAGMA busy_timeout") == 60_000
    assert store.query_one("PRAGMA synchronous") == 2  # FULL


def test_audit_log_has_exactly_the_contract_columns(store):
    cols = [r[1] for r in store.query("PRAGMA table_info(audit_log)")]
    assert tuple(cols) == schema.AUDIT_COLUMNS


def test_every_table_exists(store):
    assert set(store.counts()) == set(schema.TABLES)
    assert all(n == 0 for n in store.counts().values())


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM audit_log",
        "UPDATE audit_log SET tool_name = 'other'",
        "UPDATE audit_log SET latency_ms = 1",
        "UPDATE audit_log SET created_at = '2020-01-01'",
        "UPDATE audit_log SET human_verdict = 'accept', verdict_by = 'x', verdict_at = 'y'",
        "INSERT OR REPLACE INTO audit_log(id, tenant_id, tool_name) VALUES (1, 't', 'x')",
    ],
)
def test_audit_log_refuses_raw_changes(store, sql):
    _audit_row(store)
    before = [tuple(r) for r in store.query("SELECT * FROM audit_log")]
    with pytest.raises(sqlite3.IntegrityError):
        store.execute(sql)
    assert [tuple(r) for r in store.query("SELECT * FROM audit_log")] == before


def test_verdict_triple_changes_only_with_its_event(store):
    audit_id = _audit_row(store)
    with store.transaction():
        store.insert(
            "verdict_events",
            dict(
                audit_id=audit_id, verdict="accept", kind="stamp", verdict_by="ana", verdict_at="T1"
            ),
        )
        store.execute(
            "UPDATE audit_log SET human_verdict='accept', verdict_by='ana', verdict_at='T1' WHERE id=?",
            (audit_id,),
        )
    assert tuple(store.query("SELECT human_verdict, verdict_by FROM audit_log")[0]) == (
        "accept",
        "ana",
    )
    # Same event, different value: refused.
    with pytest.raises(sqlite3.IntegrityError):
        store.execute("UPDATE audit_log SET human_verdict='reject' WHERE id=?", (audit_id,))


@pytest.mark.parametrize("table", [t for t in schema.APPEND_ONLY if t != "ingested_spans"])
def test_append_only_tables_refuse_update_delete_replace(store, table):
    from govlib.evidence import worm

    if table == "worm_log":
        worm.append(store, "note")
        key = "seq"
    else:
        key = "id"
        rows = {
            "worm_checkpoints": dict(
                seq=1,
                log_size=1,
                head_mac="m",
                created_at="t",
                key_id="k",
                body="{}",
                signature="s",
            ),
            "token_ledger": dict(
                model="m",
                input_tokens=1,
                output_tokens=1,
                usage_source="estimated",
                cost_source="price_table",
                created_at="t",
            ),
            "kill_switch_events": dict(state="triggered", by="x", reason="r", at="t"),
            "node_runs": dict(run_id="r", node="n", position=0, status="completed"),
            "verdict_events": dict(
                audit_id=1, verdict="accept", kind="stamp", verdict_by="a", verdict_at="t"
            ),
            "evaluator_verdicts": dict(
                source="evaluator:judge",
                target_table="audit_log",
                target_id=1,
                verdict="reject",
                evaluated_at="t",
            ),
            "ingest_errors": dict(at="t", source="collect", requests=1, spans=0, reason="r"),
        }
        store.insert(table, rows[table])
    before = [tuple(r) for r in store.query(f"SELECT * FROM {table}")]
    for sql in (
        f"UPDATE {table} SET {key} = {key}",
        f"DELETE FROM {table}",
        f"INSERT OR REPLACE INTO {table} SELECT * FROM {table}"
        if table != "worm_log"
        else "INSERT OR REPLACE INTO worm_log(seq, body, prev_mac, mac) SELECT seq, body, prev_mac, mac FROM worm_log",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.execute(sql)
    assert [tuple(r) for r in store.query(f"SELECT * FROM {table}")] == before


def test_ingested_spans_are_idempotent_and_immutable(store):
    row = dict(
        trace_id="t",
        span_id="s",
        kind="tool",
        target_table="audit_log",
        target_id=1,
        ingested_at="x",
    )
    store.insert("ingested_spans", row)
    store.insert("ingested_spans", {**row, "target_id": 99})  # silently skipped
    assert [tuple(r)[4] for r in store.query("SELECT * FROM ingested_spans")] == [1]
    with pytest.raises(sqlite3.IntegrityError):
        store.execute("DELETE FROM ingested_spans")


def test_schema_creation_is_idempotent(tmp_path):
    Store(tmp_path).close()
    Store(tmp_path).close()
    s = Store(tmp_path)
    assert s.query_one("SELECT COUNT(*) FROM schema_version") == 1


def test_older_version_migrates_newer_is_refused(tmp_path):
    s = Store(tmp_path)
    s.execute("DELETE FROM schema_version")
    s.execute("INSERT INTO schema_version VALUES (0, 'old')")
    s.close()
    s = Store(tmp_path)
    assert s.query_one("SELECT MAX(version) FROM schema_version") == schema.SCHEMA_VERSION
    s.execute("INSERT INTO schema_version VALUES (99, 'future')")
    s.close()
    with pytest.raises(SchemaVersionError, match="schema version 99 is newer"):
        Store(tmp_path)


def test_open_modes(tmp_path):
    with pytest.raises(StoreError, match="no govlib store"):
        Store(tmp_path / "nothing", create=False)
    mem = Store(memory=True)
    assert mem.path is None and mem.count("audit_log") == 0
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert Store(conn=conn).count("worm_log") == 0
    Store(tmp_path).close()
    ro = Store(tmp_path, readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        ro.execute("INSERT INTO workflows(id, name) VALUES ('a', 'b')")


def test_corrupt_file_gives_a_clear_error(tmp_path):
    (tmp_path / "govlib.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="unreadable or corrupt"):
        Store(tmp_path)


def test_unknown_table_and_column_are_named(store):
    with pytest.raises(ValueError, match="'nope' is not a govlib table"):
        store.count("nope")
    with pytest.raises(ValueError, match="unknown column"):
        store.insert("workflows", {"id": "a", "name": "b", "colour": "red"})


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.insert("workflows", {"id": "a", "name": "A"})
            raise RuntimeError("boom")
    assert store.count("workflows") == 0


# --- the write lock: retried fairly up to a deadline, then a clear StoreError ------------------
def _hold_write_lock(store: Store) -> sqlite3.Connection:
    """Another connection that holds the store's write lock until it commits."""
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO workflows(id, name) VALUES ('other', 'Other')")
    return other


def _locked_out(store: Store) -> bool:
    """True when SQLite's busy handler alone (1 ms) gives up on the write lock."""
    probe = sqlite3.connect(store.path, isolation_level=None)
    probe.execute("PRAGMA busy_timeout=1")
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        probe.close()


@pytest.mark.slow
def test_a_write_outlasts_a_lock_held_longer_than_sqlites_own_wait(store):
    store.conn.execute("PRAGMA busy_timeout=1")
    other = _hold_write_lock(store)
    assert _locked_out(store)  # SQLite's busy handler alone would fail with "database is locked"
    released = threading.Event()

    def release() -> None:
        time.sleep(1.5)
        released.set()
        other.execute("COMMIT")

    holder = threading.Thread(target=release)
    holder.start()
    try:
        with store.transaction():
            assert released.is_set(), "the transaction began while the lock was held"
            store.insert("workflows", {"id": "mine", "name": "Mine"})
    finally:
        holder.join()
        other.close()
    assert sorted(r[0] for r in store.query("SELECT id FROM workflows")) == ["mine", "other"]


def test_a_lock_held_past_the_deadline_is_a_store_error_naming_the_store(store):
    store.write_deadline_s = 0.3
    ran_after_commit = []
    other = _hold_write_lock(store)
    try:
        with pytest.raises(StoreError) as info:
            with store.transaction():
                store.call_after_commit(lambda: ran_after_commit.append(1))
                store.insert("workflows", {"id": "mine", "name": "Mine"})
        msg = str(info.value)
        assert str(store.path) in msg and "BEGIN IMMEDIATE" in msg, msg
        assert "could not get the write lock" in msg and "nothing was written" in msg, msg
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert not store.in_transaction and not store.conn.in_transaction
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert ran_after_commit == [] and store.count("workflows") == 0
    with store.transaction():  # the lock is free again: writes work
        store.insert("workflows", {"id": "later", "name": "Later"})
    assert [r[0] for r in store.query("SELECT id FROM workflows")] == ["later"]


def test_retry_busy_retries_only_busy_errors():
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # as raised by SQLite
    outcomes = [busy, busy, busy, None]
    slept: list[float] = []

    def attempt() -> None:
        exc = outcomes.pop(0)
        if exc is not None:
            raise exc

    retry_busy(attempt, deadline_s=60, where="s.sqlite", what="COMMIT", sleep=slept.append)
    assert outcomes == [] and len(slept) == 3 and all(0 < s <= MAX_SLEEP_S for s in slept)
    io_error = sqlite3.OperationalError("disk I/O error")

    def broken() -> None:
        raise io_error

    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        retry_busy(broken, deadline_s=60, where="s.sqlite", what="COMMIT", sleep=slept.append)
    assert len(slept) == 3  # not retried
