"""The fast chain pass ``verify`` runs first: it must agree with the exact pass on every store.

``chain_intact`` reads seq, ``prev_mac`` and the key id out of the stored bytes by position; the
exact ``first_chain_problem`` reads them with SQLite's ``json_extract``. Fast says intact exactly
when exact finds no problem: on chains built with hostile text in every field, and on the same
chains tampered with in raw SQL (triggers dropped) in every way the tamper suite knows.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from harness import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import worm_entry

from govlib.evidence.chain import (
    GENESIS_MAC,
    chain_intact,
    entry_body,
    entry_mac,
    first_chain_problem,
    hmac_sha256,
)
from govlib.evidence.verify import CHAIN_BYTES_SQL, CHAIN_SQL
from govlib.store.database import Store

KEYS = {"k1": b"\x01" * 32, "k-two": b"\x02" * 40}
# Text meant to confuse a parser that reads by position: quotes, backslashes, fake tails.
TRICKY = [
    '","prev_mac":"' + "0" * 64 + '","rule":',
    ',"seq":1,"ts":"',
    ',"key_id":"k1","node":',
    '\\"',
    "}",
    "ü∑🙂",
    '"',
]
text = st.one_of(st.text(max_size=12), st.sampled_from(TRICKY))
details = st.dictionaries(
    st.one_of(st.sampled_from(["prev_mac", "seq", "key_id", "rule", "ts"]), st.text(max_size=6)),
    st.one_of(st.integers(), text, st.none(), st.just({"prev_mac": "0" * 64, "seq": 1})),
    max_size=5,
)
entries = st.lists(worm_entry(text, details, sorted(KEYS)), min_size=1, max_size=9)


def memory_log(items: list[dict]) -> Store:
    """A memory store whose worm_log holds a chain of ``items`` (MACs under KEYS), no triggers."""
    store = Store(memory=True)
    for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'"):
        store.conn.execute(f'DROP TRIGGER "{name}"')
    prev = GENESIS_MAC
    for seq, item in enumerate(items, 1):
        body = entry_body(seq=seq, prev_mac=prev, **item)
        mac = entry_mac(KEYS[item["key_id"]], body)
        store.conn.execute(
            "INSERT INTO worm_log(seq, body, prev_mac, mac) VALUES (?, ?, ?, ?)",
            (seq, body, prev, mac),
        )
        prev = mac
    return store


def both_passes(store: Store, chunk: int = 3) -> tuple[bool, bool]:
    """(fast pass says intact, exact pass found no problem) over the same rows."""
    cur = store.conn.cursor()
    cur.row_factory = None
    cur.execute(CHAIN_BYTES_SQL)
    fast = chain_intact(iter(lambda: cur.fetchmany(chunk), []), KEYS)[0]
    exact = first_chain_problem(cur.execute(CHAIN_SQL), KEYS)[0] is None
    return fast, exact


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=700))
def test_hmac_sha256_is_the_standard_hmac(key: bytes, message: bytes) -> None:
    assert hmac_sha256(key)(message) == hmac.digest(key, message, hashlib.sha256)


@settings(max_examples=80, deadline=None)
@given(entries, st.integers(1, 5))
def test_every_chain_govlib_can_write_is_intact_at_any_chunk_size(
    items: list[dict], chunk: int
) -> None:
    """Hostile text in every field, key rotations inside a chunk: still intact, with the head."""
    store = memory_log(items)
    cur = store.conn.cursor()
    cur.row_factory = None
    cur.execute(CHAIN_BYTES_SQL)
    intact, n, head = chain_intact(iter(lambda: cur.fetchmany(chunk), []), KEYS)
    last_mac = store.conn.execute("SELECT mac FROM worm_log ORDER BY seq DESC LIMIT 1").fetchone()
    assert (intact, n, head) == (True, len(items), last_mac[0])
    assert both_passes(store, chunk) == (True, True)


TAMPERS = {
    # name: (SQL, needs at least this many entries)
    # (SQL can only write valid JSON bodies: the generated columns parse them on write)
    "edit the action": (
        'UPDATE worm_log SET body = replace(body, \'"action":"\', \'"action":"Z\') WHERE seq = 1',
        1,
    ),
    "edit a detail value": (
        'UPDATE worm_log SET body = replace(body, \'"detail":{\', \'"detail":{"x":1,\') '
        "WHERE seq = 1 AND body NOT LIKE '%\"detail\":{}%'",
        1,
    ),
    "edit the mac column": ("UPDATE worm_log SET mac = upper(mac) WHERE seq = 1", 1),
    "edit the prev_mac column": (
        "UPDATE worm_log SET prev_mac = '" + "1" * 64 + "' WHERE seq = 1",
        1,
    ),
    "delete the first entry": ("DELETE FROM worm_log WHERE seq = 1", 2),
    "delete a middle entry": ("DELETE FROM worm_log WHERE seq = 2", 3),
    "renumber after a delete": (
        "DELETE FROM worm_log WHERE seq = 2; UPDATE worm_log SET seq = seq - 1 WHERE seq > 2",
        3,
    ),
    "swap two entries": (
        "UPDATE worm_log SET seq = -1 WHERE seq = 1; UPDATE worm_log SET seq = 1 WHERE seq = 2; "
        "UPDATE worm_log SET seq = 2 WHERE seq = -1",
        2,
    ),
    "duplicate an entry at the end": (
        "INSERT INTO worm_log(seq, body, prev_mac, mac) SELECT (SELECT MAX(seq) FROM worm_log) "
        "+ 1, body, prev_mac, mac FROM worm_log WHERE seq = 1",
        1,
    ),
    "empty body": ("UPDATE worm_log SET body = '{}' WHERE seq = 1", 1),
    "blob in the mac column": ("UPDATE worm_log SET mac = x'0102' WHERE seq = 1", 1),
    "number in the prev_mac column": ("UPDATE worm_log SET prev_mac = 7 WHERE seq = 1", 1),
    "seq column moved": ("UPDATE worm_log SET seq = seq + 100 WHERE seq = 1", 1),
}


@settings(max_examples=25, deadline=None)
@given(entries, st.sampled_from(sorted(TAMPERS)), st.integers(1, 4))
def test_the_fast_pass_agrees_with_the_exact_pass_on_tampered_logs(
    items: list[dict], tamper: str, chunk: int
) -> None:
    sql, needs = TAMPERS[tamper]
    store = memory_log(items)
    if len(items) < needs:
        return
    before = store.conn.total_changes
    store.conn.executescript(sql)
    if store.conn.total_changes == before:
        return  # "edit a detail value" of an entry whose detail is empty: nothing changed
    assert both_passes(store, chunk) == (False, False), tamper


def test_a_fake_tail_inside_detail_does_not_hide_a_deleted_entry() -> None:
    """Entry 3's detail carries a well-formed copy of the tail entry 2 would have: deleting entry 2
    and relinking the columns must still be caught, because only the top-level fields count."""
    store = memory_log([{"ts": "t", "action": "a", "key_id": "k1"}] * 2)
    mac1 = store.conn.execute("SELECT mac FROM worm_log WHERE seq = 1").fetchone()[0]
    mac2 = store.conn.execute("SELECT mac FROM worm_log WHERE seq = 2").fetchone()[0]
    fake = {"a": 1, "prev_mac": mac1, "rule": None, "run_id": None, "seq": 2, "ts": "t"}
    body = entry_body(seq=3, ts="t", action="a", key_id="k1", prev_mac=mac2, detail=fake)
    assert f',"prev_mac":"{mac1}","rule":null,"run_id":null,"seq":2,"ts":"t"}}' in body
    store.conn.execute(
        "INSERT INTO worm_log(seq, body, prev_mac, mac) VALUES (3, ?, ?, ?)",
        (body, mac2, entry_mac(KEYS["k1"], body)),
    )
    assert both_passes(store) == (True, True)
    store.conn.executescript(
        "DELETE FROM worm_log WHERE seq = 2; "
        f"UPDATE worm_log SET seq = 2, prev_mac = '{mac1}' WHERE seq = 3"
    )
    assert both_passes(store) == (False, False)


def test_an_unknown_key_id_is_not_intact() -> None:
    store = memory_log([{"ts": "t", "action": "a", "key_id": "k1"}])
    cur = store.conn.cursor()
    cur.row_factory = None
    cur.execute(CHAIN_BYTES_SQL)
    assert chain_intact([cur.fetchall()], {"k9": b"x"})[:2] == (False, 0)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("rule", {"prev_mac": "x"}, "rule: {'prev_mac': 'x'} is a dict; expected text or None"),
        ("node", 3, "node: 3 is a int; expected text or None"),
        ("ts", None, "ts: None is a NoneType; expected text"),
        ("action", "", "action: ''; expected a name such as 'rule_evaluated'"),
    ],
)
def test_entry_fields_after_detail_must_be_text(field: str, value: object, expected: str) -> None:
    """The fast pass relies on a flat tail: an object or number there is refused when written."""
    args = {"seq": 1, "ts": "t", "action": "a", "key_id": "k1", "prev_mac": GENESIS_MAC}
    with pytest.raises(ValueError) as err:
        entry_body(**{**args, field: value})
    assert str(err.value) == expected


def test_a_body_that_is_not_canonical_falls_back_to_the_exact_pass() -> None:
    """A body with a valid MAC but spaces in it (not what govlib writes): the fast pass says
    "not intact", the exact pass decides (and finds it intact), so verify never false-alarms."""
    store = memory_log([])
    body = json.dumps(
        {
            "seq": 1,
            "ts": "t",
            "run_id": None,
            "node": None,
            "action": "a",
            "rule": None,
            "outcome": None,
            "detail": {},
            "key_id": "k1",
            "prev_mac": GENESIS_MAC,
        }
    )
    store.conn.execute(
        "INSERT INTO worm_log(seq, body, prev_mac, mac) VALUES (1, ?, ?, ?)",
        (body, GENESIS_MAC, entry_mac(KEYS["k1"], body)),
    )
    assert both_passes(store) == (False, True)


def test_a_file_store_with_a_key_rotation_verifies_on_the_fast_pass(tmp_path) -> None:
    """Entries under k1, a rotation, entries under k2: the fast pass alone says intact (the exact
    pass is only for naming problems), and verify_store agrees."""
    from govlib.evidence import worm
    from govlib.evidence.verify import verify_store

    store = Store(tmp_path / "data")
    for i in range(300):
        worm.append(store, "note", detail={"i": i})
        if i == 140:
            assert store.keyring.rotate() == "k2"
    keys = dict(store.keyring.hmac_keys)
    cur = store.conn.cursor()
    cur.row_factory = None
    cur.execute(CHAIN_BYTES_SQL)
    assert chain_intact(iter(lambda: cur.fetchmany(256), []), keys)[:2] == (True, 300)
    result = verify_store(store)
    assert result.ok and result.entries == 300, result.summary
