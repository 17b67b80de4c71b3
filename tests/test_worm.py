"""The WORM log: chain maths, appends, signed checkpoints and their export file, concurrency."""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import worm_entry

from govlib.evidence import worm
from govlib.evidence.chain import (
    GENESIS_MAC,
    canonical_json,
    entry_body,
    entry_mac,
    first_chain_problem,
)
from govlib.evidence.checkpoints import (
    Checkpoint,
    CheckpointExportError,
    export_checkpoints,
    read_checkpoint_file,
    sign_checkpoint,
)
from govlib.evidence.keys import PUBKEY_FILE, KeyMaterialError, load_public_key, public_key_pem
from govlib.evidence.verify import CHAIN_SQL, verify_store
from govlib.store.database import Store

KEYS = {"k1": b"\x01" * 32, "k2": b"\x02" * 32}
text = st.text(max_size=20)
details = st.dictionaries(
    st.text(max_size=8), st.one_of(st.integers(), text, st.none()), max_size=4
)
entry_args = worm_entry(text, details, sorted(KEYS))


def chain_rows(entries: list[dict]) -> list[tuple]:
    """Rows as verify reads them (seq, body, prev_mac, mac, body seq, body prev_mac, key id)."""
    rows, prev = [], GENESIS_MAC
    for seq, args in enumerate(entries, start=1):
        body = entry_body(seq=seq, prev_mac=prev, **args)
        mac = entry_mac(KEYS[args["key_id"]], body)
        doc = json.loads(body)
        rows.append((seq, body, prev, mac, doc["seq"], doc["prev_mac"], doc["key_id"]))
        prev = mac
    return rows


def set_every(data_dir: Path, n: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "govlib.json").write_text(json.dumps({"checkpoint_every": n}))


# --- chain maths -------------------------------------------------------------------------------
def test_canonical_bytes_and_mac_exact_values() -> None:
    body = entry_body(
        seq=1,
        ts="2026-11-23T10:00:00.000000Z",
        action="note",
        key_id="k1",
        prev_mac=GENESIS_MAC,
        detail={"b": 1, "a": "é"},
    )
    assert body == (
        '{"action":"note","detail":{"a":"é","b":1},"key_id":"k1","node":null,"outcome":null,'
        f'"prev_mac":"{GENESIS_MAC}","rule":null,"run_id":null,"seq":1,'
        '"ts":"2026-11-23T10:00:00.000000Z"}'
    )
    assert (
        entry_mac(b"k" * 32, body) == hmac.new(b"k" * 32, body.encode(), hashlib.sha256).hexdigest()
    )
    assert canonical_json({"z": [1.5, None], "a": True}) == '{"a":true,"z":[1.5,null]}'
    with pytest.raises(ValueError, match="seq: 0 is not a positive integer"):
        entry_body(seq=0, ts="t", action="a", key_id="k", prev_mac=GENESIS_MAC)


@settings(max_examples=60, deadline=None)
@given(st.lists(entry_args, min_size=1, max_size=12), st.data())
def test_any_chain_verifies_and_any_byte_flip_is_found(entries: list[dict], data) -> None:
    rows = chain_rows(entries)
    problem, n, head = first_chain_problem(rows, KEYS)
    assert (problem, n, head) == (None, len(rows), rows[-1][3])
    # bytes bodies (CAST(body AS BLOB)) give the same answer
    as_bytes = [(r[0], r[1].encode(), *r[2:]) for r in rows]
    assert first_chain_problem(as_bytes, KEYS) == (None, len(rows), rows[-1][3])
    i = data.draw(st.integers(0, len(rows) - 1))
    raw = bytearray(rows[i][1].encode())
    j = data.draw(st.integers(0, len(raw) - 1))
    raw[j] ^= data.draw(st.integers(1, 255))
    tampered = list(as_bytes)
    tampered[i] = (rows[i][0], bytes(raw), *rows[i][2:])
    problem, n, _ = first_chain_problem(tampered, KEYS)
    assert problem is not None and problem.seq == i + 1 and n == i
    assert problem.reason == "MAC mismatch: the entry was altered or forged"


@settings(max_examples=40, deadline=None)
@given(st.lists(entry_args, min_size=3, max_size=10), st.data())
def test_swapped_or_dropped_rows_are_found_at_the_first_bad_seq(entries: list[dict], data) -> None:
    rows = chain_rows(entries)
    i = data.draw(st.integers(0, len(rows) - 2))
    swapped = list(rows)
    swapped[i], swapped[i + 1] = rows[i + 1], rows[i]
    problem, n, _ = first_chain_problem(swapped, KEYS)
    assert (problem.seq, problem.reason, n) == (i + 1, f"entry missing (found seq {i + 2})", i)
    dropped = rows[:i] + rows[i + 1 :]
    problem, n, _ = first_chain_problem(dropped, KEYS)
    assert (problem.seq, problem.reason, n) == (i + 1, f"entry missing (found seq {i + 2})", i)


def test_unknown_key_id_is_named() -> None:
    rows = chain_rows([{"ts": "t", "action": "a", "key_id": "k2"}])
    problem, n, _ = first_chain_problem(rows, {"k1": KEYS["k1"]})
    assert (problem.seq, problem.reason, n) == (1, "unknown key id 'k2'", 0)


# --- appends -----------------------------------------------------------------------------------
def test_append_stores_canonical_bytes_and_generated_columns(tmp_path: Path) -> None:
    store = Store(tmp_path)
    e = worm.append(
        store,
        "rule_evaluated",
        run_id="r1",
        node="triage",
        rule="max_amount",
        outcome="deny",
        detail={"amount": 12000},
        ts="2026-11-23T10:00:00.000000Z",
    )
    assert (e.seq, e.prev_mac, e.key_id) == (1, GENESIS_MAC, "k1")
    row = store.query("SELECT * FROM worm_log WHERE seq = 1")[0]
    assert row["body"] == entry_body(
        seq=1,
        ts=e.ts,
        run_id="r1",
        node="triage",
        action="rule_evaluated",
        rule="max_amount",
        outcome="deny",
        detail={"amount": 12000},
        key_id="k1",
        prev_mac=GENESIS_MAC,
    )
    assert row["mac"] == entry_mac(store.keyring.current_key, row["body"]) == e.mac
    assert (row["action"], row["rule"], row["outcome"], json.loads(row["detail"])) == (
        "rule_evaluated",
        "max_amount",
        "deny",
        {"amount": 12000},
    )
    e2 = worm.append(store, "note")
    assert (e2.seq, e2.prev_mac) == (2, e.mac)
    assert worm.head(store) == (2, e2.mac)
    assert [x["seq"] for x in worm.entries(store, run_id="r1")] == [1]


def test_append_joins_the_callers_transaction_and_rolls_back_with_it(tmp_path: Path) -> None:
    store = Store(tmp_path)
    worm.append(store, "kept")
    with pytest.raises(RuntimeError), store.transaction():
        worm.append(store, "lost")
        raise RuntimeError("step failed")
    assert worm.head(store)[0] == 1
    assert verify_store(store).ok


def test_append_fails_loudly_on_a_read_only_store(tmp_path: Path) -> None:
    worm.append(Store(tmp_path), "note")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        worm.append(Store(tmp_path, readonly=True), "note")


def test_verify_reads_with_the_documented_query(tmp_path: Path) -> None:
    assert "json_extract(body, '$.seq')" in CHAIN_SQL and "ORDER BY seq" in CHAIN_SQL


# --- checkpoints -------------------------------------------------------------------------------
def test_sign_checkpoint_row_file_line_and_pubkey(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert sign_checkpoint(store) is None  # empty log
    for _ in range(3):
        worm.append(store, "note")
    cp = sign_checkpoint(store, at="2026-11-23T10:00:00.000000Z")
    assert (cp.log_size, cp.head_seq, cp.head_mac) == (3, 3, worm.head(store)[1])
    assert cp.key_id == store.keyring.signing_key_id
    assert sign_checkpoint(store) is None  # head already checkpointed
    assert sign_checkpoint(store, force=True).head_seq == 3
    row = store.query("SELECT * FROM worm_checkpoints WHERE id = 1")[0]
    assert (
        row["body"]
        == cp.body
        == (
            f'{{"head_mac":"{cp.head_mac}","head_seq":3,"key_id":"{cp.key_id}","log_size":3,'
            '"time":"2026-11-23T10:00:00.000000Z"}'
        )
    )
    assert row["signature"] == cp.signature and (row["seq"], row["log_size"]) == (3, 3)
    lines = (tmp_path / "checkpoints.jsonl").read_text().splitlines()
    assert lines[0] == cp.line() and json.loads(lines[0])["signature"] == cp.signature
    assert len(lines) == 2
    public = load_public_key(tmp_path / PUBKEY_FILE)
    assert cp.signature_valid(public)
    assert Checkpoint.from_line(lines[0]) == Checkpoint(**{**cp.__dict__, "id": None})
    assert oct((tmp_path / PUBKEY_FILE).stat().st_mode & 0o777) == "0o644"


def test_periodic_checkpoints_every_n_entries(tmp_path: Path) -> None:
    set_every(tmp_path, 5)
    store = Store(tmp_path)
    for i in range(12):
        worm.append(store, "note", ts=f"2026-11-23T10:00:{i:02d}.000000Z")
    rows = store.query("SELECT seq, created_at FROM worm_checkpoints")
    # the time of a periodic checkpoint is its head entry's ts (reproducible under a sim clock)
    assert [tuple(r) for r in rows] == [
        (5, "2026-11-23T10:00:04.000000Z"),
        (10, "2026-11-23T10:00:09.000000Z"),
    ]
    lines = read_checkpoint_file(tmp_path / "checkpoints.jsonl")
    assert [c.head_seq for _, c in lines] == [5, 10]
    r = verify_store(store)
    assert r.ok and (r.last_checkpoint_seq, r.checkpoints_checked) == (10, 2)


def test_checkpoint_inside_a_transaction_reaches_the_file_after_commit(tmp_path: Path) -> None:
    set_every(tmp_path, 3)
    store = Store(tmp_path)
    cp_file = tmp_path / "checkpoints.jsonl"
    with store.transaction():
        for _ in range(3):
            worm.append(store, "note")
        assert store.query_one("SELECT COUNT(*) FROM worm_checkpoints") == 1
        assert not cp_file.exists()  # never a line for an uncommitted row
    worm.append(store, "note")  # the next append after the commit writes the pending line
    assert [c.head_seq for _, c in read_checkpoint_file(cp_file)] == [3]


def test_rolled_back_checkpoint_never_reaches_the_file(tmp_path: Path) -> None:
    set_every(tmp_path, 2)
    store = Store(tmp_path)
    with pytest.raises(RuntimeError), store.transaction():
        worm.append(store, "a")
        worm.append(store, "b")  # periodic checkpoint row, then rolled back
        raise RuntimeError("boom")
    worm.append(store, "c")
    export_checkpoints(store)
    assert store.count("worm_checkpoints") == 0
    assert (
        not (tmp_path / "checkpoints.jsonl").exists()
        or read_checkpoint_file(tmp_path / "checkpoints.jsonl") == []
    )
    assert verify_store(store).ok


def test_unwritable_export_file_keeps_the_row_and_catches_up_later(tmp_path: Path) -> None:
    store = Store(tmp_path)
    worm.append(store, "note")
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(CheckpointExportError, match="saved in the store"):
        sign_checkpoint(store, export_path=blocker / "checkpoints.jsonl")
    assert store.count("worm_checkpoints") == 1
    worm.append(store, "note")
    sign_checkpoint(store)  # the default file gets both lines
    assert [c.head_seq for _, c in read_checkpoint_file(tmp_path / "checkpoints.jsonl")] == [1, 2]


def test_torn_last_line_is_ignored_then_replaced_by_the_whole_line(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for _ in range(2):
        worm.append(store, "note")
        sign_checkpoint(store)
    cp_file = tmp_path / "checkpoints.jsonl"
    whole = cp_file.read_bytes().splitlines(keepends=True)
    cp_file.write_bytes(whole[0] + whole[1][:40])  # the second write cut short by a crash
    assert [c.head_seq for _, c in read_checkpoint_file(cp_file)] == [1]
    assert verify_store(store).ok
    worm.append(store, "note")
    sign_checkpoint(Store(tmp_path))  # a fresh process: the fragment goes, its row is re-exported
    assert cp_file.read_bytes().startswith(whole[0] + whole[1])
    assert [c.head_seq for _, c in read_checkpoint_file(cp_file)] == [1, 2, 3]
    assert verify_store(store).ok


def test_last_line_that_only_lost_its_newline_is_kept(tmp_path: Path) -> None:
    store = Store(tmp_path)
    worm.append(store, "note")
    sign_checkpoint(store)
    cp_file = tmp_path / "checkpoints.jsonl"
    cp_file.write_bytes(cp_file.read_bytes().rstrip(b"\n"))
    worm.append(store, "note")
    sign_checkpoint(Store(tmp_path))
    assert [c.head_seq for _, c in read_checkpoint_file(cp_file)] == [1, 2]
    assert cp_file.read_bytes().count(b"\n") == 2


def test_export_elsewhere_writes_the_public_key_beside_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    worm.append(store, "note")
    offsite = tmp_path / "offsite" / "cp.jsonl"
    sign_checkpoint(store, export_path=offsite)
    assert (offsite.parent / PUBKEY_FILE).read_bytes() == (
        tmp_path / "data" / PUBKEY_FILE
    ).read_bytes()
    r = verify_store(store, checkpoints=offsite)
    assert r.ok and r.checkpoints_checked == 1


def test_env_points_the_default_export_file_elsewhere(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "mounted" / "cps.jsonl"
    monkeypatch.setenv("GOVLIB_CHECKPOINT_FILE", str(target))
    store = Store(tmp_path / "data")
    worm.append(store, "note")
    sign_checkpoint(store)
    assert [c.head_seq for _, c in read_checkpoint_file(target)] == [1]
    assert not (tmp_path / "data" / "checkpoints.jsonl").exists()
    assert verify_store(store).ok


def test_signing_key_that_differs_from_the_pinned_key_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path)
    worm.append(store, "note")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    (tmp_path / PUBKEY_FILE).write_bytes(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    with pytest.raises(KeyMaterialError, match="holds a different checkpoint public key"):
        sign_checkpoint(store)


def test_memory_store_signs_without_a_file() -> None:
    store = Store(memory=True)
    worm.append(store, "note")
    assert sign_checkpoint(store).head_seq == 1
    r = verify_store(store)
    assert r.ok and r.last_checkpoint_seq == 1


CRASH_CHILD = """
import sys
from govlib.evidence import worm
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.store.database import Store
store = Store(sys.argv[1])
print("ready", flush=True)
while True:
    worm.append(store, "note", detail={"n": 1})
    sign_checkpoint(store)
"""


def test_sigkill_mid_sign_never_leaves_a_line_without_its_row(tmp_path: Path) -> None:
    Store(tmp_path).close()
    cp_file = tmp_path / "checkpoints.jsonl"
    for _round in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", CRASH_CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout.readline().strip() == "ready"
        while not cp_file.exists() or len(cp_file.read_bytes()) < 2000 * (_round + 1):
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    store = Store(tmp_path)
    sigs = {r[0] for r in store.query("SELECT signature FROM worm_checkpoints")}
    lines = [c for _, c in read_checkpoint_file(cp_file)]
    assert lines and all(isinstance(c, Checkpoint) and c.signature in sigs for c in lines)
    r = verify_store(store)
    assert r.ok, r.describe()


def test_verify_while_a_writer_appends_and_signs_never_false_alarms(tmp_path: Path) -> None:
    """The file is read before the snapshot, so every line it names is in the snapshot."""
    set_every(tmp_path, 7)
    worm.append(Store(tmp_path), "genesis")  # keys exist before the writer starts
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        store = Store(tmp_path)
        results = [verify_store(store, integrity_check=False)]
        while len(results) < 15 or results[-1].entries < results[0].entries + 30:
            results.append(verify_store(store, integrity_check=False))
            assert len(results) < 5000, "the writer made no progress"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert all(r.ok for r in results), [r.summary for r in results if not r.ok]
    assert results[-1].last_checkpoint_seq is not None


# --- concurrency -------------------------------------------------------------------------------
def _append_many(path: str, n: int, tag: int) -> None:
    store = Store(path)
    for i in range(n):
        worm.append(store, "note", detail={"writer": tag, "i": i})
    store.close()


@pytest.mark.slow
def test_four_processes_append_1000_each_gapless(tmp_path: Path) -> None:
    Store(tmp_path).close()  # keys and schema exist before the writers start
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), 1000, t)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = Store(tmp_path)
    seqs = [r[0] for r in store.query("SELECT seq FROM worm_log ORDER BY seq")]
    assert seqs == list(range(1, 4001))
    per_writer = store.query(
        "SELECT json_extract(detail, '$.writer'), COUNT(*) FROM worm_log GROUP BY 1 ORDER BY 1"
    )
    assert [tuple(r) for r in per_writer] == [(0, 1000), (1, 1000), (2, 1000), (3, 1000)]
    # periodic checkpoints (every 1000) were signed by whichever writer hit the boundary
    assert [r[0] for r in store.query("SELECT seq FROM worm_checkpoints ORDER BY seq")] == [
        1000,
        2000,
        3000,
        4000,
    ]
    assert sorted(c.head_seq for _, c in read_checkpoint_file(tmp_path / "checkpoints.jsonl")) == [
        1000,
        2000,
        3000,
        4000,
    ]
    r = verify_store(store)
    assert r.ok, r.describe()
    assert r.summary.startswith("Chain verified: 4000 entries, last signed checkpoint at seq 4000")
