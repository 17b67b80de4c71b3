"""The alerts read model: recent alerts and their delivery state (CLI list, executive page).

Each final delivery state names the WORM entry that records it (``alert_sent`` /
``alert_given_up``), so a page can show that the CRO was told, when, and where that is proven.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from govlib.settings import Settings, load_settings
from govlib.store.database import Store

__all__ = ["TENANT_FREE_ALERTS", "recent_alerts", "watch_state"]

#: Alert kinds about the whole store, naming no tenant's tool, workflow or spend: all a person
#: limited to some tenants is shown (drift, budget... alerts are about every tenant's calls).
TENANT_FREE_ALERTS: tuple[str, ...] = ("kill_switch", "chain", "heartbeat")

_RECENT = (
    "SELECT o.id, o.alert_id, o.destination_id, o.kind, o.name, o.summary, o.state, o.attempts, "
    "o.last_error, o.created_at, o.finished_at, o.worm_seq, w.action AS entry_action, "
    "w.outcome AS entry_outcome, json_extract(w.detail, '$.alert_id') AS entry_alert, "
    "json_extract(w.detail, '$.destination') AS entry_destination "
    "FROM alert_outbox o LEFT JOIN worm_log w ON w.seq = o.worm_seq "
    "WHERE ? OR o.kind IN (SELECT value FROM json_each(?)) ORDER BY o.id DESC LIMIT ?"
)
_FINAL = {"alert_sent": "sent", "alert_given_up": "given_up"}


def _proven_state(row: dict[str, Any]) -> str:
    """The delivery state as the WORM entry records it: a final state is read from the entry the
    row names (same alert, same destination), never from the row alone; a row claiming a final
    state without such an entry is ``unproven``."""
    if row["worm_seq"] is None:
        return "pending" if row["state"] == "pending" else "unproven"
    same = (row["entry_alert"], row["entry_destination"]) == (
        row["alert_id"],
        row["destination_id"],
    )
    final = _FINAL.get(str(row["entry_action"]))
    return final if same and final is not None else "unproven"


def recent_alerts(
    store: Store, *, limit: int = 10, kinds: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The newest alert deliveries (one per alert and destination), newest first; of ``kinds``
    only, when given.

    ``state`` is ``pending``, or the final state read from the ``alert_sent`` /
    ``alert_given_up`` WORM entry the row names (``unproven`` when no such entry backs it).
    A store older than the alert tables (schema 10) has none.

    Example:
        >>> recent_alerts(Store(memory=True))
        []
    """
    try:
        only = json.dumps(list(kinds or ()))
        rows = store.query(_RECENT, (kinds is None, only, int(limit)))
    except sqlite3.OperationalError:  # a read-only copy of an older store: no alerts table
        return []
    out = []
    for r in rows:
        row = dict(r)
        row["state"] = _proven_state(row)
        for key in ("entry_action", "entry_outcome", "entry_alert", "entry_destination"):
            del row[key]
        out.append(row)
    return out


def watch_state(
    store: Store, settings: Settings | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Whether `govlib watch` is looking: ``{"last_look", "age_s", "alive"}``.

    ``alive`` is False when the last look is older than ``alert_heartbeat_stale_s`` or there was
    none (``last_look`` None): the page says so, as `govlib alerts check-heartbeat` would.

    Example:
        >>> watch_state(Store(memory=True))
        {'last_look': None, 'age_s': None, 'alive': False}
    """
    try:
        text = store.query_one("SELECT value FROM alert_cursor WHERE name = 'heartbeat'")
    except sqlite3.OperationalError:  # an older store: no cursor table
        text = None
    if text is None:
        return {"last_look": None, "age_s": None, "alive": False}
    at = str(json.loads(text)["at"])
    moment = now or datetime.now(UTC)
    age = (moment - datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds()
    stale = float((settings or load_settings(store.data_dir)).alert_heartbeat_stale_s)
    return {"last_look": at, "age_s": round(age, 1), "alive": age <= stale}
