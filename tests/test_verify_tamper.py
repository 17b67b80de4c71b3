"""govlib.evidence.verify against a store tampered with directly in SQLite (triggers dropped where needed).

Every case builds a real store under tmp_path (WORM events, audit rows and receipts with their batch
digests, a verdict, signed checkpoints exported to the checkpoint file), closes it, tampers with
the file through a plain ``sqlite3`` connection, then verifies from a fresh ``Store``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from govlib.cli.main import cli
from govlib.evidence import worm
from govlib.evidence.chain import entry_body, entry_mac
from govlib.evidence.checkpoints import Checkpoint, sign_checkpoint
from govlib.evidence.digests import append_batch_digest
from govlib.evidence.keys import HMAC_KEYS_FILE, PUBKEY_FILE, KeyRing
from govlib.evidence.verify import VerifyError, verify_store
from govlib.store.database import Store

T0 = "2026-11-23T10:00:00.000000Z"


@dataclass
class Built:
    """A closed store and what the tests need to know about it."""

    dir: Path
    entries: int
    audit_batch_seq: int
    ledger_batch_seq: int
    verdict_seq: int
    verdict_audit_id: int
    checkpoint_seqs: list[int]

    @property
    def db(self) -> Path:
        return self.dir / "govlib.sqlite"

    @property
    def cp_file(self) -> Path:
        return self.dir / "checkpoints.jsonl"


def _audit_row(i: int) -> dict:
    return {
        "tenant_id": "acme",
        "tool_name": "lookup_policy",
        "actor": "claims-agent",
        "composition_id": "run-1",
        "success": 1,
        "schema_valid": 1,
        "latency_ms": 10 + i,
        "output_hash": f"{i:08x}",
        "error": None,
        "created_at": T0,
    }


def _receipt(i: int) -> dict:
    return {
        "run_id": "run-1",
        "node": "triage",
        "tenant_id": "acme",
        "model": "claude-sonnet",
        "provider": "anthropic",
        "input_tokens": 1000 + i,
        "output_tokens": 200,
        "input_price_per_mtok": 3.0,
        "output_price_per_mtok": 15.0,
        "cost_usd": round((1000 + i) * 3e-6 + 200 * 15e-6, 10),
        "currency": "USD",
        "price_table_version": "2026-11",
        "usage_source": "estimated",
        "cost_source": "price_table",
        "created_at": T0,
    }


def _stamp(store: Store, audit_id: int, verdict: str, by: str, at: str) -> int:
    """What the verdict API does, written directly: event row, WORM entry, triple, one tx."""
    with store.transaction():
        store.insert(
            "verdict_events",
            {
                "audit_id": audit_id,
                "verdict": verdict,
                "kind": "stamp",
                "verdict_by": by,
                "verdict_at": at,
            },
        )
        entry = worm.append(
            store,
            "verdict_stamped",
            run_id="run-1",
            outcome=verdict,
            detail={
                "audit_id": audit_id,
                "output_hash": "x",
                "verdict": verdict,
                "previous": None,
                "by": by,
                "at": at,
                "reason": None,
            },
        )
        store.execute(
            "UPDATE audit_log SET human_verdict = ?, verdict_by = ?, verdict_at = ? WHERE id = ?",
            (verdict, by, at, audit_id),
        )
    return entry.seq


def build(root: Path, *, checkpoint_every: int = 10) -> Built:
    """A store with every kind of evidence verify checks, closed, with an intact chain."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "govlib.json").write_text(json.dumps({"checkpoint_every": checkpoint_every}))
    store = Store(root)
    for i in range(8):
        worm.append(
            store,
            "rule_evaluated",
            run_id="run-1",
            node="triage",
            rule=f"r{i}",
            outcome="pass",
            detail={"message": f"rule {i} held"},
            ts=T0,
        )
    with store.transaction():
        store.insert_many("audit_log", [_audit_row(i) for i in range(5)])
        audit_seq = append_batch_digest(store, "audit_log", 1, 5).seq
    with store.transaction():
        store.insert_many("audit_log", [_audit_row(i) for i in range(5, 9)])
        append_batch_digest(store, "audit_log", 6, 9)
    with store.transaction():
        store.insert_many("token_ledger", [_receipt(i) for i in range(3)])
        ledger_seq = append_batch_digest(store, "token_ledger", 1, 3).seq
    verdict_seq = _stamp(store, 2, "accept", "Ana Reviewer", "2026-11-23T11:00:00.000000Z")
    sign_checkpoint(store)
    for i in range(5):
        worm.append(store, "node_finished", run_id="run-1", node=f"n{i}", outcome="completed")
    sign_checkpoint(store)
    n = worm.head(store)[0]
    cps = [r[0] for r in store.query("SELECT seq FROM worm_checkpoints ORDER BY id")]
    store.close()
    return Built(root, n, audit_seq, ledger_seq, verdict_seq, 2, cps)


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build(tmp_path / "data")


@contextmanager
def raw(db: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection with every guard trigger dropped (what an attacker would do)."""
    conn = sqlite3.connect(db, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    try:
        yield conn
    finally:
        conn.close()


def verify(b: Built, **kw):
    with Store(b.dir, create=False) as store:
        return verify_store(store, **kw)


def body_of(conn: sqlite3.Connection, seq: int) -> dict:
    return json.loads(conn.execute("SELECT body FROM worm_log WHERE seq = ?", (seq,)).fetchone()[0])


def hmac_key(b: Built) -> tuple[str, bytes]:
    ring = KeyRing.load(b.dir, create=False)
    return ring.current_id, ring.current_key


# --- intact ------------------------------------------------------------------------------------
def test_intact_store_verifies_with_the_one_line_summary(built: Built) -> None:
    r = verify(built)
    assert r.ok, r.describe()
    assert r.entries == built.entries == 17
    assert r.last_checkpoint_seq == built.entries
    assert r.summary == (
        f"Chain verified: {built.entries} entries, last signed checkpoint at seq "
        f"{built.entries}, time {r.last_checkpoint_at}"
    )
    # a periodic checkpoint at seq 10 and two signed on demand, each in the file and in the table
    assert built.checkpoint_seqs == [10, 12, 17]
    assert r.checkpoints_checked == 3
    assert len(built.cp_file.read_text().splitlines()) == 3
    assert (r.bad_seq, r.reason, r.problems) == (None, None, ())


def test_before_the_first_checkpoint_the_chain_alone_is_checked(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for _ in range(3):
        worm.append(store, "note")
    r = verify_store(store)
    assert r.ok
    assert (
        r.summary
        == "Chain verified: 3 entries; no signed checkpoint yet (the chain alone was checked)"
    )
    assert (r.last_checkpoint_seq, r.last_checkpoint_at, r.checkpoints_checked) == (None, None, 0)


def test_cli_verify_exit_codes(built: Built) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify", "--data-dir", str(built.dir)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith(f"Chain verified: {built.entries} entries")
    with raw(built.db) as conn:
        conn.execute("UPDATE worm_log SET mac = ? WHERE seq = 3", ("0" * 64,))
    bad = runner.invoke(cli, ["verify", "--data-dir", str(built.dir)])
    assert bad.exit_code == 1
    assert bad.output.startswith("Chain broken at seq 3: MAC mismatch")
    missing = runner.invoke(
        cli, ["verify", "--data-dir", str(built.dir), "--checkpoints", str(built.dir / "nope")]
    )
    assert missing.exit_code == 2 and "checkpoint file not found" in missing.output


# --- entries -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field,value", [("outcome", "deny"), ("rule", "r9"), ("ts", T0[:-2] + "1Z")]
)
def test_edited_field_in_the_body_is_a_mac_mismatch(built: Built, field: str, value: str) -> None:
    with raw(built.db) as conn:
        body = body_of(conn, 4)
        body[field] = value
        conn.execute(
            "UPDATE worm_log SET body = ? WHERE seq = 4",
            (json.dumps(body, sort_keys=True, separators=(",", ":")),),
        )
        # the readable column follows the body: it cannot disagree with what the MAC covers
        assert conn.execute(f"SELECT {field} FROM worm_log WHERE seq = 4").fetchone()[0] == value
    r = verify(built)
    assert not r.ok
    assert r.bad_seq == 4
    assert r.summary.startswith(
        "Chain broken at seq 4: MAC mismatch: the entry was altered or forged"
    )


def test_generated_columns_cannot_be_written(built: Built) -> None:
    with raw(built.db) as conn, pytest.raises(sqlite3.OperationalError):
        conn.execute("UPDATE worm_log SET outcome = 'deny' WHERE seq = 4")


def test_edited_mac_and_prev_mac_columns(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("UPDATE worm_log SET mac = ? WHERE seq = 6", ("ab" * 32,))
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 6) and "MAC mismatch" in r.reason


def test_edited_prev_mac_column_breaks_the_link(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("UPDATE worm_log SET prev_mac = ? WHERE seq = 7", ("cd" * 32,))
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 7)
    assert r.reason == "link broken: prev_mac does not match the previous entry's MAC"


def test_deleted_entry(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("DELETE FROM worm_log WHERE seq = 5")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 5)
    assert r.reason == "entry missing (found seq 6)"


def test_reordered_entries(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("UPDATE worm_log SET seq = -1 WHERE seq = 5")
        conn.execute("UPDATE worm_log SET seq = 5 WHERE seq = 6")
        conn.execute("UPDATE worm_log SET seq = 6 WHERE seq = -1")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 5)
    assert r.reason == "seq column 5 disagrees with the signed seq 6"


def test_reordered_entries_with_relinked_columns(built: Built) -> None:
    """Swapping rows and rewriting the prev_mac columns to match is caught by the MAC'd body."""
    with raw(built.db) as conn:
        rows = {s: (b, m) for s, b, m in conn.execute("SELECT seq, body, mac FROM worm_log")}
        prev4 = rows[4][1]
        conn.execute("DELETE FROM worm_log WHERE seq IN (5, 6)")
        conn.execute(
            "INSERT INTO worm_log(seq, body, prev_mac, mac) VALUES (5, ?, ?, ?)",
            (rows[6][0], prev4, rows[6][1]),
        )
        conn.execute(
            "INSERT INTO worm_log(seq, body, prev_mac, mac) VALUES (6, ?, ?, ?)",
            (rows[5][0], rows[6][1], rows[5][1]),
        )
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 5)


def test_inserted_forged_entry_at_the_end(built: Built) -> None:
    with raw(built.db) as conn:
        n, mac = conn.execute("SELECT seq, mac FROM worm_log ORDER BY seq DESC LIMIT 1").fetchone()
        body = entry_body(
            seq=n + 1,
            ts=T0,
            action="kill_switch_reset",
            key_id="k1",
            prev_mac=mac,
            detail={"by": "Mallory", "reason": "trust me"},
        )
        conn.execute(
            "INSERT INTO worm_log(seq, body, prev_mac, mac) VALUES (?, ?, ?, ?)",
            (n + 1, body, mac, entry_mac(secrets.token_bytes(32), body)),
        )
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, built.entries + 1)
    assert "MAC mismatch" in r.reason


def test_inserted_forged_entry_in_the_middle(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("UPDATE worm_log SET seq = seq + 1000 WHERE seq >= 3")
        conn.execute("UPDATE worm_log SET seq = seq - 999 WHERE seq >= 1000")
        mac2 = conn.execute("SELECT mac FROM worm_log WHERE seq = 2").fetchone()[0]
        body = entry_body(seq=3, ts=T0, action="tool_enabled", key_id="k1", prev_mac=mac2)
        conn.execute(
            "INSERT INTO worm_log(seq, body, prev_mac, mac) VALUES (3, ?, ?, ?)",
            (body, mac2, entry_mac(b"guess" * 8, body)),
        )
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 3)


def test_truncated_tail_is_caught_by_the_checkpoint_file(built: Built) -> None:
    cut = built.checkpoint_seqs[-2]  # keep up to the middle checkpoint
    with raw(built.db) as conn:
        conn.execute("DELETE FROM worm_log WHERE seq > ?", (cut,))
        conn.execute("DELETE FROM worm_checkpoints WHERE seq > ?", (cut,))  # covering tracks
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, cut + 1)
    assert r.reason.startswith(
        f"log truncated: {built.cp_file} line 3 signed {built.entries} entries"
    )
    assert r.last_checkpoint_seq == cut  # the last checkpoint the log still extends


def test_truncated_tail_is_caught_by_the_table_without_a_file(built: Built) -> None:
    built.cp_file.unlink()
    with raw(built.db) as conn:
        conn.execute("DELETE FROM worm_log WHERE seq > 11")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 12)
    assert "worm_checkpoints row 2 signed 12 entries" in r.reason


def _rebuild(conn: sqlite3.Connection, key_id: str, key: bytes, edit_seq: int) -> None:
    """Rewrite the whole chain after editing one entry, with the (stolen) HMAC key."""
    rows = conn.execute("SELECT seq, body FROM worm_log ORDER BY seq").fetchall()
    prev = "0" * 64
    for seq, body in rows:
        doc = json.loads(body)
        if seq == edit_seq:
            doc["outcome"] = "deny"
        doc["prev_mac"] = prev
        new = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        mac = entry_mac(key, new)
        conn.execute(
            "UPDATE worm_log SET body = ?, prev_mac = ?, mac = ? WHERE seq = ?",
            (new, prev, mac, seq),
        )
        prev = mac


def test_log_rebuilt_with_the_hmac_key_but_not_the_signing_key(built: Built) -> None:
    key_id, key = hmac_key(built)
    with raw(built.db) as conn:
        _rebuild(conn, key_id, key, edit_seq=3)
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 10)  # the first checkpoint no longer matches its head
    assert "the log was rewritten after it was signed" in r.reason


def test_rebuilt_log_with_forged_checkpoints_fails_the_pinned_key(
    built: Built, tmp_path: Path
) -> None:
    offsite = tmp_path / "offsite"
    offsite.mkdir()
    shutil.copy(built.dir / PUBKEY_FILE, offsite / PUBKEY_FILE)
    key_id, key = hmac_key(built)
    mallory = Ed25519PrivateKey.generate()
    with raw(built.db) as conn:
        _rebuild(conn, key_id, key, edit_seq=3)
        conn.execute("DELETE FROM worm_checkpoints")
        lines = []
        for seq, mac in conn.execute(
            "SELECT seq, mac FROM worm_log WHERE seq IN (10, 17)"
        ).fetchall():
            cp = Checkpoint.signed(mallory, log_size=seq, head_seq=seq, head_mac=mac, time=T0)
            conn.execute(
                "INSERT INTO worm_checkpoints(seq, log_size, head_mac, created_at, key_id, body, signature) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, seq, mac, T0, cp.key_id, cp.body, cp.signature),
            )
            lines.append(cp.line())
    built.cp_file.write_text("\n".join(lines) + "\n")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 10)
    assert "forged or altered checkpoint at seq 10" in r.reason
    assert "pinned is ed25519:" in r.reason
    # even when the attacker also replaces the pem in the data dir, the off-machine pin holds
    (built.dir / PUBKEY_FILE).write_bytes(
        __import__("govlib.evidence.keys", fromlist=["x"]).public_key_pem(mallory.public_key())
    )
    r2 = verify(built, pubkey=offsite / PUBKEY_FILE)
    assert (r2.ok, r2.bad_seq) == (False, 10)


# --- checkpoints -------------------------------------------------------------------------------
def test_altered_checkpoint_row_body(built: Built) -> None:
    with raw(built.db) as conn:
        body = json.loads(
            conn.execute("SELECT body FROM worm_checkpoints WHERE id = 3").fetchone()[0]
        )
        body["log_size"] = 99
        conn.execute(
            "UPDATE worm_checkpoints SET body = ?, log_size = 99 WHERE id = 3",
            (json.dumps(body, sort_keys=True, separators=(",", ":")),),
        )
    r = verify(built)
    assert not r.ok
    assert "worm_checkpoints row 3: forged or altered checkpoint" in r.reason


def test_checkpoint_row_columns_must_match_the_signed_body(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("UPDATE worm_checkpoints SET seq = 11 WHERE id = 1")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 10)
    assert r.reason == "worm_checkpoints row 1: its columns disagree with its signed body"


def test_altered_checkpoint_file_line(built: Built) -> None:
    lines = built.cp_file.read_text().splitlines()
    doc = json.loads(lines[1])
    doc["time"] = "2020-01-01T00:00:00.000000Z"
    lines[1] = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    built.cp_file.write_text("\n".join(lines) + "\n")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 12)
    assert r.reason.startswith(f"{built.cp_file} line 2: forged or altered checkpoint at seq 12")


def test_forged_checkpoint_line_appended(built: Built) -> None:
    with raw(built.db) as conn:
        mac = conn.execute("SELECT mac FROM worm_log WHERE seq = 17").fetchone()[0]
    cp = Checkpoint.signed(
        Ed25519PrivateKey.generate(), log_size=17, head_seq=17, head_mac=mac, time=T0
    )
    with built.cp_file.open("a") as f:
        f.write(cp.line() + "\n")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 17)
    assert "forged or altered" in r.reason


def test_garbage_checkpoint_line(built: Built) -> None:
    with built.cp_file.open("a") as f:
        f.write("{not json\n")
    r = verify(built)
    assert not r.ok and r.bad_seq is None
    assert (
        r.summary
        == f"Verification failed: {built.cp_file} line 4: not a checkpoint (not JSON (Expecting property name enclosed in double quotes))"
    )


def test_missing_public_key_is_not_ok_once_there_are_checkpoints(built: Built) -> None:
    (built.dir / PUBKEY_FILE).unlink()
    r = verify(built)
    assert not r.ok
    assert r.reason.startswith("cannot check 6 signed checkpoint(s): no pinned public key")


def test_missing_named_checkpoint_file_is_an_error(built: Built) -> None:
    with pytest.raises(VerifyError, match="checkpoint file not found"):
        verify(built, checkpoints=built.dir / "elsewhere.jsonl")


def test_store_copied_back_from_an_older_backup(tmp_path: Path) -> None:
    b = build(tmp_path / "data")
    backup = tmp_path / "backup.sqlite"
    src, dst = sqlite3.connect(b.db), sqlite3.connect(backup)
    src.backup(dst)
    src.close()
    dst.close()
    store = Store(b.dir)
    for i in range(4):
        worm.append(store, "rule_evaluated", rule=f"late{i}", outcome="deny")
    sign_checkpoint(store)
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(b.db) + suffix).unlink(missing_ok=True)
    shutil.copy(backup, b.db)
    r = verify(b)
    assert (r.ok, r.bad_seq) == (False, b.entries + 1)
    assert r.reason.startswith(f"log truncated: {b.cp_file} line 4 signed 20 entries up to seq 20")


def test_deleted_checkpoint_row_is_caught_from_the_file(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("DELETE FROM worm_checkpoints WHERE id = 2")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 12)
    assert "has no row in worm_checkpoints" in r.reason


# --- rows covered by batch digests -------------------------------------------------------------
def test_edited_audit_row(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("UPDATE audit_log SET latency_ms = 1 WHERE id = 3")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, built.audit_batch_seq)
    assert (
        r.reason == "audit_log rows 1..5 no longer match this audit_batch digest (a row was edited)"
    )


def test_deleted_audit_row(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("DELETE FROM audit_log WHERE id = 4")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, built.audit_batch_seq)
    assert (
        r.reason
        == "audit_log rows 1..5: 5 recorded by this audit_batch, 4 now (a row was deleted or inserted)"
    )


def test_inserted_audit_row(built: Built) -> None:
    with sqlite3.connect(built.db) as conn:  # triggers allow an insert: only the digest knows
        conn.execute("INSERT INTO audit_log(tenant_id, tool_name, success) VALUES ('acme', 'x', 1)")
    r = verify(built)
    assert not r.ok and r.bad_seq is None
    assert r.summary == (
        "Verification failed: audit_log: 1 row(s) covered by no audit_batch digest (id 10): "
        "written outside the recorder or inserted afterwards"
    )


def test_edited_receipt(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("UPDATE token_ledger SET cost_usd = 0.0001 WHERE id = 2")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, built.ledger_batch_seq)
    assert "token_ledger rows 1..3 no longer match this ledger_batch digest" in r.reason


def test_overlapping_batches_are_reported(built: Built) -> None:
    store = Store(built.dir)
    with store.transaction():
        seq = append_batch_digest(store, "audit_log", 4, 6).seq
    store.close()
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, seq)
    assert r.reason == "audit_log rows 4..5 are covered by two batch digests (seq 9 and 18)"
    assert [p.seq for p in r.problems] == [18, 18]


# --- verdicts ----------------------------------------------------------------------------------
def test_forged_verdict_with_triggers_dropped(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute(
            "UPDATE audit_log SET human_verdict = 'accept', verdict_by = 'Mallory', "
            "verdict_at = ? WHERE id = 7",
            (T0,),
        )
    r = verify(built)
    assert not r.ok and r.bad_seq is None
    assert r.reason == (
        f"audit_log row 7: verdict (accept, Mallory, {T0}) has no WORM verdict entry "
        "(set outside the verdict API)"
    )


def test_forged_verdict_through_a_forged_event_row(built: Built) -> None:
    """The trigger admits an update with a matching verdict_events row; verify still catches it."""
    with sqlite3.connect(built.db, isolation_level=None) as conn:
        conn.execute(
            "INSERT INTO verdict_events(audit_id, verdict, kind, verdict_by, verdict_at) "
            "VALUES (8, 'reject', 'stamp', 'Mallory', ?)",
            (T0,),
        )
        conn.execute(
            "UPDATE audit_log SET human_verdict = 'reject', verdict_by = 'Mallory', "
            "verdict_at = ? WHERE id = 8",
            (T0,),
        )
    r = verify(built)
    assert not r.ok and "audit_log row 8" in r.reason


def test_changed_verdict_differs_from_the_worm_entry(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute("UPDATE audit_log SET human_verdict = 'reject' WHERE id = 2")
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, built.verdict_seq)
    assert "audit_log row 2: verdict (reject, Ana Reviewer" in r.reason
    assert "differs from the latest WORM verdict entry (accept, Ana Reviewer" in r.reason


def test_erased_verdict_is_missing_from_the_row(built: Built) -> None:
    with raw(built.db) as conn:
        conn.execute(
            "UPDATE audit_log SET human_verdict = NULL, verdict_by = NULL, verdict_at = NULL WHERE id = 2"
        )
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, built.verdict_seq)
    assert r.reason.endswith("is missing from the row")


def test_correction_is_matched_against_the_latest_entry(built: Built) -> None:
    store = Store(built.dir)
    at = "2026-11-23T12:00:00.000000Z"
    with store.transaction():
        store.insert(
            "verdict_events",
            {
                "audit_id": 2,
                "verdict": "reject",
                "kind": "correct",
                "verdict_by": "Bo",
                "verdict_at": at,
                "reason": "typo",
            },
        )
        worm.append(
            store,
            "verdict_corrected",
            detail={"audit_id": 2, "verdict": "reject", "by": "Bo", "at": at},
        )
        store.execute(
            "UPDATE audit_log SET human_verdict='reject', verdict_by='Bo', verdict_at=? WHERE id=2",
            (at,),
        )
    store.close()
    assert verify(built).ok


# --- keys and the file itself ------------------------------------------------------------------
def test_swapped_hmac_key_file(built: Built) -> None:
    path = built.dir / HMAC_KEYS_FILE
    path.write_text(json.dumps({"current": "k1", "keys": {"k1": secrets.token_hex(32)}}))
    path.chmod(0o600)
    r = verify(built)
    assert (r.ok, r.bad_seq) == (False, 1)
    assert r.reason == "MAC mismatch: the entry was altered or forged"


def test_readable_columns_replaced_by_plain_columns(built: Built) -> None:
    with raw(built.db) as conn:
        conn.executescript("""
            CREATE TABLE w2(seq INTEGER PRIMARY KEY, body TEXT, prev_mac TEXT, mac TEXT, ts TEXT,
              run_id TEXT, node TEXT, action TEXT, rule TEXT, outcome TEXT, detail TEXT, key_id TEXT);
            INSERT INTO w2 SELECT seq, body, prev_mac, mac, ts, run_id, node, action, rule,
              'pass', detail, key_id FROM worm_log;
            DROP TABLE worm_log;
            ALTER TABLE w2 RENAME TO worm_log;
        """)
    r = verify(built)
    assert not r.ok
    assert "worm_log.ts is no longer generated from the MAC'd body" in r.reason
    assert any("guard triggers missing" in n for n in r.notes)


def test_truncated_sqlite_file_is_a_readable_error(built: Built) -> None:
    store = Store(built.dir, create=False)
    size = built.db.stat().st_size
    with built.db.open("r+b") as f:
        f.truncate(size // 3)
    r = verify_store(store)
    store.close()
    assert not r.ok and r.bad_seq is None
    assert r.summary.startswith("Verification failed: ")
    assert "corrupt" in r.reason or "integrity" in r.reason or "malformed" in r.reason


def test_flipped_bytes_are_a_readable_error(built: Built) -> None:
    store = Store(built.dir, create=False)
    data = bytearray(built.db.read_bytes())
    for i in range(4096, len(data), 97):  # every page after the first
        data[i] ^= 0xFF
    built.db.write_bytes(bytes(data))
    r = verify_store(store)
    store.close()
    assert not r.ok
    assert r.summary.startswith(("Verification failed: ", "Chain broken at seq "))
