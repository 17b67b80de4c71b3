"""Incremental verification per page view: verify from the last point verified in this process.

A real store under tmp_path (tests/test_verify_tamper.py's ``build``), verified once through
``govlib.analysis.trust.verified_state`` (what the pages call), then appended to or tampered with
through a plain ``sqlite3`` connection, then verified again the way the next page view does.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_verify_tamper import Built, build, hmac_key, raw

from govlib.analysis.trust import forget_verified, verified_state
from govlib.cli.main import cli
from govlib.evidence import worm
from govlib.evidence.chain import entry_mac
from govlib.evidence.digests import append_batch_digest
from govlib.evidence.keys import keyring_for
from govlib.evidence.verify import verify_store
from govlib.store.database import Store


@pytest.fixture(autouse=True)
def _fresh_process_memory() -> None:
    forget_verified()


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build(tmp_path / "data", checkpoint_every=1000)


def page_view(b: Built) -> dict:
    """What one page view runs: a store opened for reading, then ``verified_state``."""
    with Store.open_for_reading(b.dir) as store:
        return verified_state(store)


def schema_cookie(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("PRAGMA schema_version").fetchone()[0])
    finally:
        conn.close()


def restore_guards(conn: sqlite3.Connection, cookie: int) -> None:
    """The careful attacker: guard triggers back, schema cookie set back to what it was."""
    from govlib.store.schema import triggers_sql

    conn.executescript(triggers_sql())
    conn.execute(f"PRAGMA schema_version = {cookie}")


def edit_old_entry_in_place(db: Path, seq: int = 2) -> None:
    """The incremental check's blind spot: entry ``seq``'s outcome edited in place, MAC column
    untouched, the guards put back and the schema cookie set back to what it was."""
    cookie = schema_cookie(db)
    with raw(db) as conn:
        conn.execute(
            'UPDATE worm_log SET body = replace(body, \'"outcome":"pass"\', '
            f'\'"outcome":"deny"\') WHERE seq = {int(seq)}'
        )
        restore_guards(conn, cookie)


def rechain(conn: sqlite3.Connection, key: bytes, edit: dict[int, str]) -> None:
    """Rewrite the chain with the HMAC key after setting ``outcome`` of the entries in ``edit``."""
    prev = "0" * 64
    for seq, body in conn.execute("SELECT seq, body FROM worm_log ORDER BY seq").fetchall():
        doc = json.loads(body)
        if seq in edit:
            doc["outcome"] = edit[seq]
        doc["prev_mac"] = prev
        new = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        mac = entry_mac(key, new)
        conn.execute(
            "UPDATE worm_log SET body = ?, prev_mac = ?, mac = ? WHERE seq = ?",
            (new, prev, mac, seq),
        )
        prev = mac


def test_second_page_view_verifies_only_what_was_appended(built: Built) -> None:
    first = page_view(built)
    assert (first["ok"], first["incremental"], first["entries"]) == (True, False, 17)
    with Store(built.dir) as store:
        for i in range(3):
            worm.append(store, "note", detail={"i": i})
        with store.transaction():
            store.insert_many("audit_log", [_audit_row(i) for i in range(9, 12)])
            append_batch_digest(store, "audit_log", 10, 12)
    second = page_view(built)
    assert (second["ok"], second["incremental"], second["entries"]) == (True, True, 21)
    assert second["summary"] == (
        "Chain verified: 21 entries, last signed checkpoint at seq 17, time "
        f"{first['last_checkpoint_at']}; entries up to seq 17 were verified earlier "
        "(`govlib verify` checks them all again)"
    )


def _audit_row(i: int) -> dict:
    from test_verify_tamper import _audit_row as row

    return row(i)


def test_rewritten_history_before_the_cached_point_fails_the_next_page_view(
    built: Built,
) -> None:
    """Fault injection: entry 3 (before the cached point, seq 17) rewritten and re-MAC'd with the
    stolen HMAC key, guards restored and the schema cookie set back, checkpoints re-signed away:
    only the remembered MAC of seq 17 can tell."""
    assert page_view(built)["ok"]
    cookie = schema_cookie(built.db)
    _key_id, key = hmac_key(built)
    with raw(built.db) as conn:
        rechain(conn, key, {3: "deny"})
        conn.execute("DELETE FROM worm_checkpoints")  # no signed head left to compare with
        restore_guards(conn, cookie)
    (built.cp_file).unlink()
    assert schema_cookie(built.db) == cookie
    state = page_view(built)
    assert (state["ok"], state["incremental"], state["bad_seq"]) == (False, True, 17)
    assert state["reason"].startswith("entry 17 verified earlier (MAC ")
    assert state["reason"].endswith(": the log was rewritten")
    # the point is forgotten: the chain alone (no checkpoint left) cannot tell a re-MAC'd log
    assert page_view(built)["incremental"] is False


def test_deleted_entry_before_the_cached_point_fails_the_next_page_view(built: Built) -> None:
    assert page_view(built)["ok"]
    cookie = schema_cookie(built.db)
    with raw(built.db) as conn:
        conn.execute("DELETE FROM worm_log WHERE seq = 4")
        restore_guards(conn, cookie)
    state = page_view(built)
    assert (state["ok"], state["incremental"], state["bad_seq"]) == (False, True, 17)
    assert state["reason"] == (
        "the log held 17 entries up to seq 17 when verified earlier, 16 now "
        "(entries removed or added)"
    )


@pytest.mark.parametrize(
    ("sql", "bad_seq", "reason"),
    [
        (
            'UPDATE worm_log SET body = replace(body, \'"outcome":"pass"\', '
            '\'"outcome":"deny"\') WHERE seq = 2',
            2,
            "MAC mismatch: the entry was altered or forged",
        ),
        (
            "UPDATE audit_log SET tool_name = 'other' WHERE id = 3",
            9,
            "audit_log rows 1..5 no longer match this audit_batch digest (a row was edited)",
        ),
    ],
)
def test_tamper_that_drops_a_guard_gets_a_full_verification(
    built: Built, sql: str, bad_seq: int, reason: str
) -> None:
    assert page_view(built)["ok"]
    with raw(built.db) as conn:  # the guard triggers dropped: the schema cookie moves
        conn.execute(sql)
    state = page_view(built)
    assert (state["ok"], state["incremental"]) == (False, False)
    assert (state["bad_seq"], state["reason"]) == (bad_seq, reason)


def test_rows_appended_without_a_batch_digest_fail_incrementally(built: Built) -> None:
    assert page_view(built)["ok"]
    with Store(built.dir) as store, store.transaction():
        store.insert_many("audit_log", [_audit_row(20)])  # no audit_batch entry for it
    state = page_view(built)
    assert (state["ok"], state["incremental"]) == (False, True)
    assert state["reason"] == (
        "audit_log: 1 row(s) covered by no audit_batch digest (id 10): written outside the "
        "recorder or inserted afterwards"
    )


def test_govlib_verify_and_full_page_check_verify_everything(built: Built) -> None:
    """A byte edit that keeps the MAC column and the schema cookie is the incremental check's
    known blind spot before the cached point: ``govlib verify`` and ``full=True`` catch it."""
    assert page_view(built)["ok"]
    edit_old_entry_in_place(built.db)
    assert page_view(built)["incremental"] is True
    result = CliRunner().invoke(cli, ["verify", "--data-dir", str(built.dir)])
    assert result.exit_code == 1
    assert "Chain broken at seq 2: MAC mismatch" in result.output
    with Store.open_for_reading(built.dir) as store:
        full = verified_state(store, full=True)
    assert (full["ok"], full["incremental"], full["bad_seq"]) == (False, False, 2)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(min_value=1, max_value=12),
    more=st.integers(min_value=0, max_value=6),
    data=st.data(),
)
def test_incremental_equals_full_and_any_rewrite_is_caught(n: int, more: int, data) -> None:
    """Intact: verifying from the point equals a full verification. Rewritten (with the key, at
    any seq up to the point): the incremental verification fails at the point."""
    store = Store(memory=True)
    for i in range(n):
        worm.append(store, "rule_evaluated", outcome="pass", detail={"i": i})
    point = verify_store(store).point
    assert point is not None and (point.seq, point.live_entries) == (n, n)
    for i in range(more):
        worm.append(store, "note", detail={"j": i})
    full, incremental = verify_store(store), verify_store(store, since=point)
    assert (incremental.ok, incremental.entries) == (full.ok, full.entries) == (True, n + more)
    assert (incremental.verified_from, full.verified_from) == (n, None)
    assert incremental.point == full.point
    edit = data.draw(st.integers(min_value=1, max_value=n))
    conn = store.conn
    cookie = int(conn.execute("PRAGMA schema_version").fetchone()[0])
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for (name,) in names:
        conn.execute(f"DROP TRIGGER {name}")
    rechain(conn, keyring_for(store).current_key, {edit: "deny"})
    restore_guards(conn, cookie)
    assert verify_store(store).ok  # no checkpoint: the re-MAC'd chain alone looks intact
    caught = verify_store(store, since=point)
    assert (caught.ok, caught.bad_seq) == (False, n)
    store.close()


def test_executive_page_verify_all_button_runs_a_full_verification(built: Built) -> None:
    """Refresh verifies what was appended; "Verify all" (one click) verifies everything."""
    from govlib.apps.executive.page import SpogApp

    spog = SpogApp(built.dir)
    try:
        assert spog.data["chain"]["ok"] is True
        cookie = schema_cookie(built.db)
        with raw(built.db) as conn:  # the incremental blind spot: MAC column and cookie kept
            conn.execute(
                'UPDATE worm_log SET body = replace(body, \'"outcome":"pass"\', '
                '\'"outcome":"deny"\') WHERE seq = 2'
            )
            restore_guards(conn, cookie)
        spog.refresh_button.click()
        assert (spog.data["chain"]["ok"], spog.data["chain"]["verified_from"]) == (True, 17)
        spog.verify_button.click()
        chain = spog.data["chain"]
        assert (chain["ok"], chain["verified_from"], chain["bad_seq"]) == (False, None, 2)
        assert 'data-bad-seq="2"' in spog.chain_badge.value
    finally:
        spog.close()
