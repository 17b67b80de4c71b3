"""The alert outbox and the watch cursor, persisted in the store (at-least-once across restarts).

An alert raised for a destination is a ``pending`` row of ``alert_outbox`` written in the same
transaction as the cursor that says what the watch has seen, so a crash never loses an alert and
never raises one twice. A delivery is recorded *after* the destination answered: a crash between
the two sends the alert again on restart (at most one duplicate, carrying the same ``alert_id``).
Each final state is a WORM entry: ``alert_sent`` (the destination accepted it, after how many
attempts) or ``alert_given_up`` (too old, or pushed out of a full outbox), so the audit trail
shows who was told what, and when.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from govlib.alerts.rules import Alert
from govlib.clock import iso
from govlib.evidence import worm
from govlib.settings import Settings
from govlib.store.database import Store

__all__ = [
    "backoff_s",
    "enqueue",
    "due",
    "record_sent",
    "record_failure",
    "give_up_overflow",
    "pending_count",
    "get_cursor",
    "set_cursor",
    "outbox_rows",
]


def backoff_s(
    attempts: int, base_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Delay before the next attempt after ``attempts`` failures: exponential, capped, jittered.

    The delay is ``min(max_s, base_s * 2**(attempts-1))`` times a random factor in [0.5, 1.0),
    so destinations recovering from an outage are not hit by every retry at once.

    Example:
        >>> 0.5 <= backoff_s(1, 1.0, 60.0) < 1.0, 16.0 <= backoff_s(6, 1.0, 32.0) < 32.0
        (True, True)
    """
    delay = min(max_s, base_s * 2 ** max(0, attempts - 1))
    return delay * (0.5 + 0.5 * (rng or random).random())


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def enqueue(
    store: Store,
    alert: Alert,
    destination_ids: Iterable[str],
    *,
    now: datetime | None = None,
) -> int:
    """Put one alert in the outbox for each destination (the same alert twice is ignored).

    Joins the caller's transaction (the watch writes its cursor in the same one).

    Returns
    -------
    The number of rows added.

    Example:
        >>> from govlib.alerts.rules import Alert
        >>> a = Alert("a1", "chain", "chain_broken", "chain", "broken", "", {}, "t")
        >>> store = Store(memory=True)
        >>> enqueue(store, a, ["d1", "d2"]), enqueue(store, a, ["d1"])
        (2, 0)
    """
    stamp = iso(_now(now))
    payload = json.dumps(alert.as_payload(), sort_keys=True)
    added = 0
    with store.transaction():
        for dest in destination_ids:
            cur = store.execute(
                "INSERT OR IGNORE INTO alert_outbox(alert_id, destination_id, kind, name, "
                "summary, payload, state, next_attempt_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (alert.alert_id, dest, alert.kind, alert.name, alert.summary, payload)
                + (stamp, stamp),
            )
            added += cur.rowcount
    return added


def due(store: Store, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Pending rows whose next attempt is due, oldest first."""
    rows = store.query(
        "SELECT * FROM alert_outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id",
        (iso(_now(now)),),
    )
    return [dict(r) for r in rows]


def pending_count(store: Store) -> int:
    """Rows still waiting for delivery."""
    return int(store.query_one("SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending'"))


def _finish(
    store: Store, row: Mapping[str, Any], state: str, attempts: int, why: str | None
) -> int:
    """Mark one row final and append the WORM entry that records it (one transaction)."""
    action = "alert_sent" if state == "sent" else "alert_given_up"
    with store.transaction():
        current = store.query_one("SELECT state FROM alert_outbox WHERE id = ?", (row["id"],))
        if current != "pending":  # another watch recorded it first
            return 0
        detail = {
            "alert_id": row["alert_id"],
            "destination": row["destination_id"],
            "alert": row["name"],
            "attempts": attempts,
            "outbox_id": row["id"],
        }
        if why:
            detail["reason"] = why
        entry = worm.append(store, action, rule=row["kind"], outcome=state, detail=detail)
        store.execute(
            "UPDATE alert_outbox SET state = ?, attempts = ?, finished_at = ?, last_error = "
            "COALESCE(?, last_error), worm_seq = ? WHERE id = ?",
            (state, attempts, entry.ts, why, entry.seq, row["id"]),
        )
    return entry.seq


def record_sent(store: Store, row: Mapping[str, Any]) -> int:
    """The destination accepted the alert: ``sent`` plus an ``alert_sent`` entry (its seq)."""
    return _finish(store, row, "sent", int(row["attempts"]) + 1, None)


def record_failure(
    store: Store,
    row: Mapping[str, Any],
    error: str,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> str:
    """One attempt failed: schedule the next (backoff) or give up when the alert is too old.

    Returns
    -------
    ``"retry"`` or ``"given_up"``.
    """
    moment = _now(now)
    attempts = int(row["attempts"]) + 1
    created = datetime.fromisoformat(str(row["created_at"]).replace("Z", "+00:00"))
    if (moment - created).total_seconds() >= float(settings.alert_give_up_after_s):
        _finish(store, row, "given_up", attempts, f"undelivered after {attempts} attempts: {error}")
        return "given_up"
    wait = backoff_s(
        attempts, float(settings.alert_retry_base_s), float(settings.alert_retry_max_s)
    )
    with store.transaction():
        store.execute(
            "UPDATE alert_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? "
            "WHERE id = ? AND state = 'pending'",
            (attempts, iso(moment + timedelta(seconds=wait)), error[:500], row["id"]),
        )
    return "retry"


def give_up_overflow(store: Store, limit: int) -> int:
    """Keep at most ``limit`` pending rows: the oldest beyond it are given up (and recorded)."""
    over = pending_count(store) - limit
    if over <= 0:
        return 0
    rows = store.query(
        "SELECT * FROM alert_outbox WHERE state = 'pending' ORDER BY id LIMIT ?", (over,)
    )
    for row in rows:
        _finish(store, dict(row), "given_up", int(row["attempts"]), f"outbox full ({limit})")
    return len(rows)


def get_cursor(store: Store, name: str, default: Any = None) -> Any:
    """A value the watch remembered (JSON), or ``default``.

    Example:
        >>> store = Store(memory=True)
        >>> set_cursor(store, "seen", {"seq": 3}); get_cursor(store, "seen")
        {'seq': 3}
    """
    text = store.query_one("SELECT value FROM alert_cursor WHERE name = ?", (name,))
    return default if text is None else json.loads(text)


def set_cursor(store: Store, name: str, value: Any, *, now: datetime | None = None) -> None:
    """Remember a value (joins the caller's transaction)."""
    store.execute(
        "INSERT INTO alert_cursor(name, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (name, json.dumps(value, sort_keys=True), iso(_now(now))),
    )


def outbox_rows(store: Store, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest outbox rows (newest first)."""
    rows = store.query("SELECT * FROM alert_outbox ORDER BY id DESC LIMIT ?", (limit,))
    return [dict(r) for r in rows]
