"""What sealing left in the live store: where the live chain starts and the retained entries.

``govlib seal`` (:mod:`govlib.evidence.archive`) moves a prefix of the WORM log (seq 1..S, then
S+1..S2, ...) with the rows it binds into sealed segments under ``DIR/archive/``. The live log then
starts at S+1, and its anchor is the newest ``segment_sealed`` entry still in the live log: a
MAC'd entry whose detail names the last sealed seq and MAC, so the live chain is checked from
there (``first_seq = last_seq + 1``, ``prev_mac = last_mac``).

Rows that hold current state (the latest kill-switch event, the rules and registry in force, open
runs) never move; when the WORM entry that binds one of them is sealed, a copy of that entry stays
in ``worm_retained`` with the keys of the live rows it stands for. A copy is trusted only when its
MAC verifies under the HMAC key ring (``govlib verify --archives`` also checks it against the
sealed segment), and only for the rows listed with it: a listed key names no more than that entry
bound, so editing the list can hide nothing (an unlisted live row has no binding and is
reported).

Pure helpers over a ``sqlite3`` connection; they write nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from govlib.evidence.chain import GENESIS_MAC, entry_mac

__all__ = [
    "SEGMENT_SEALED",
    "SEGMENT_PURGED",
    "LiveAnchor",
    "live_anchor",
    "retained_entries",
    "sealed_audit_max",
]

SEGMENT_SEALED = "segment_sealed"
SEGMENT_PURGED = "segment_purged"


@dataclass(frozen=True)
class LiveAnchor:
    """Where the live chain starts: after ``last_seq`` (0 when nothing is sealed).

    Example:
        >>> LiveAnchor().first_seq, LiveAnchor().sealed
        (1, False)
    """

    last_seq: int = 0
    last_mac: str = GENESIS_MAC
    entry_seq: int | None = None  #: the ``segment_sealed`` entry that names the boundary
    segment: str | None = None
    segments: int = 0

    @property
    def first_seq(self) -> int:
        """The first seq the live log must hold."""
        return self.last_seq + 1

    @property
    def sealed(self) -> bool:
        """True when some prefix of the log is sealed."""
        return self.last_seq > 0


def live_anchor(conn: sqlite3.Connection) -> LiveAnchor:
    """The boundary named by the newest ``segment_sealed`` entry in the live log.

    The entry's MAC is checked with the rest of the live chain by ``verify``; a store that has
    no ``sealed_segments`` table (older schema) or no such entry starts at seq 1.

    Example:
        >>> live_anchor(sqlite3.connect(":memory:")).first_seq
        1
    """
    try:
        row = conn.execute(
            "SELECT seq, body FROM worm_log WHERE action = ? ORDER BY seq DESC LIMIT 1",
            (SEGMENT_SEALED,),
        ).fetchone()
    except sqlite3.OperationalError:
        return LiveAnchor()
    if row is None:
        return LiveAnchor()
    seq, body = row
    detail = _detail(body)
    try:
        count = conn.execute("SELECT COUNT(*) FROM sealed_segments").fetchone()[0]
    except sqlite3.OperationalError:
        count = 0
    return LiveAnchor(
        int(detail.get("last_seq") or 0),
        str(detail.get("last_mac") or GENESIS_MAC),
        int(seq),
        detail.get("segment"),
        int(count),
    )


def _detail(body: Any) -> dict[str, Any]:
    try:
        detail = json.loads(body).get("detail")
    except (TypeError, ValueError, AttributeError):
        return {}
    return detail if isinstance(detail, dict) else {}


@dataclass(frozen=True)
class RetainedEntry:
    """A sealed WORM entry kept live because it binds rows that stay live."""

    seq: int
    body: str
    prev_mac: str
    mac: str
    keys: frozenset[tuple[str, str]]

    def detail(self) -> dict[str, Any]:
        """The entry's detail (its ``bound`` list filtered to :attr:`keys`)."""
        detail = _detail(self.body)
        bound = detail.get("bound")
        if isinstance(bound, list):
            detail = {
                **detail,
                "bound": [
                    b
                    for b in bound
                    if isinstance(b, Mapping)
                    and (str(b.get("table")), str(b.get("key"))) in self.keys
                ],
            }
        return detail


def retained_entries(
    conn: sqlite3.Connection, keys: Mapping[str, bytes], *, actions: Iterable[str] | None = None
) -> tuple[list[RetainedEntry], list[tuple[int, str]]]:
    """The retained entries whose MAC verifies, and ``(seq, reason)`` for those that do not.

    Example:
        >>> retained_entries(sqlite3.connect(":memory:"), {})
        ([], [])
    """
    try:
        rows = conn.execute(
            "SELECT seq, body, prev_mac, mac, keys FROM worm_retained ORDER BY seq"
        ).fetchall()
    except sqlite3.OperationalError:
        return [], []
    wanted = None if actions is None else set(actions)
    good: list[RetainedEntry] = []
    bad: list[tuple[int, str]] = []
    for seq, body, prev_mac, mac, listed in rows:
        try:
            parsed = json.loads(body)
            key = keys.get(parsed.get("key_id"))
            ok = key is not None and entry_mac(key, body) == mac and parsed.get("seq") == seq
            pairs = frozenset((str(t), str(k)) for t, k in json.loads(listed))
        except (TypeError, ValueError, AttributeError):
            ok, parsed, pairs = False, {}, frozenset()
        if not ok:
            bad.append((seq, f"worm_retained entry {seq}: its MAC does not verify (altered)"))
            continue
        if wanted is not None and parsed.get("action") not in wanted:
            continue
        good.append(RetainedEntry(int(seq), body, prev_mac, mac, pairs))
    return good, bad


def sealed_audit_max(conn: sqlite3.Connection) -> tuple[int, int]:
    """The highest ``audit_log`` and ``token_ledger`` ids moved into a sealed segment (0, 0).

    Example:
        >>> sealed_audit_max(sqlite3.connect(":memory:"))
        (0, 0)
    """
    try:
        row = conn.execute(
            "SELECT COALESCE(MAX(audit_max_id), 0), COALESCE(MAX(ledger_max_id), 0) "
            "FROM sealed_segments"
        ).fetchone()
    except sqlite3.OperationalError:
        return 0, 0
    return int(row[0]), int(row[1])
