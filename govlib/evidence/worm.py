"""The WORM governance log: append-only, every entry chained with HMAC-SHA256.

Appends are serialised across processes: one ``BEGIN IMMEDIATE`` transaction reads the head and
inserts, so ``seq`` stays gapless from 1 under any concurrency. The stored ``body`` is the entry's
canonical bytes (see :mod:`govlib.evidence.chain`); the readable columns are generated from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from govlib.clock import utc_now_iso
from govlib.evidence import checkpoints
from govlib.evidence.chain import entry_body, entry_mac
from govlib.evidence.head import head
from govlib.evidence.keys import keyring_for
from govlib.store.database import Store

__all__ = ["WormEntry", "append", "head", "entries"]


@dataclass(frozen=True)
class WormEntry:
    """One appended entry, as stored."""

    seq: int
    ts: str
    run_id: str | None
    node: str | None
    action: str
    rule: str | None
    outcome: str | None
    detail: dict[str, Any]
    key_id: str
    prev_mac: str
    mac: str


def append(
    store: Store,
    action: str,
    *,
    run_id: str | None = None,
    node: str | None = None,
    rule: str | None = None,
    outcome: str | None = None,
    detail: Mapping[str, Any] | None = None,
    ts: str | None = None,
    clock: Callable[[], str] | None = None,
) -> WormEntry:
    """Append one entry and return it. Joins the caller's transaction when there is one.

    Fails loudly (the SQLite error propagates): a governance event that cannot be recorded must
    stop the step that needed it.

    Example:
        >>> from govlib.store.database import Store
        >>> e = append(Store(memory=True), "note", outcome="ok")
        >>> e.seq
        1
    """
    ring = keyring_for(store)
    key_id = ring.current_id
    with store.transaction():
        seq, prev = head(store)
        seq += 1
        when = ts or (clock() if clock else utc_now_iso())
        body = entry_body(
            seq=seq,
            ts=when,
            run_id=run_id,
            node=node,
            action=action,
            rule=rule,
            outcome=outcome,
            detail=detail,
            key_id=key_id,
            prev_mac=prev,
        )
        mac = entry_mac(ring.current_key, body)
        store.execute(
            "INSERT INTO worm_log(seq, body, prev_mac, mac) VALUES (?, ?, ?, ?)",
            (seq, body, prev, mac),
        )
        _after_append(store, seq)
    if not store.in_transaction:
        _after_commit(store)
    return WormEntry(
        seq, when, run_id, node, action, rule, outcome, dict(detail or {}), key_id, prev, mac
    )


def _after_append(store: Store, seq: int) -> None:
    """Hook run inside the append transaction: a checkpoint row every ``checkpoint_every``.

    Only the row is written here (it commits with the entry); its export-file line is written
    after the commit by :func:`_after_commit`, so a file line never names an uncommitted row.
    """
    checkpoints.sign_if_due(store, seq)


def _after_commit(store: Store) -> None:
    """Hook run after an append committed: write pending checkpoint-file lines (never raises)."""
    checkpoints.flush_pending(store)


def entries(store: Store, *, run_id: str | None = None) -> list[dict[str, Any]]:
    """Entries in seq order (optionally of one run), readable columns plus chain fields."""
    sql = (
        "SELECT seq, ts, run_id, node, action, rule, outcome, detail, key_id, prev_mac, mac "
        "FROM worm_log"
    )
    params: tuple[Any, ...] = ()
    if run_id is not None:
        sql += " WHERE run_id = ?"
        params = (run_id,)
    rows = store.query(sql + " ORDER BY seq", params)
    out = []
    for r in rows:
        d = dict(r)
        d["detail"] = json.loads(d["detail"]) if d["detail"] else {}
        out.append(d)
    return out
