"""The alerts read model: recent alerts and their delivery state (CLI list, executive page).

Each final delivery state names the WORM entry that records it (``alert_sent`` /
``alert_given_up``), so a page can show that the CRO was told, when, and where that is proven.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from govlib.settings import Settings, load_settings
from govlib.store.database import Store

__all__ = ["recent_alerts", "watch_state"]

_RECENT = (
    "SELECT id, alert_id, destination_id, kind, name, summary, state, attempts, last_error, "
    "created_at, finished_at, worm_seq FROM alert_outbox ORDER BY id DESC LIMIT ?"
)


def recent_alerts(store: Store, *, limit: int = 10) -> list[dict[str, Any]]:
    """The newest alert deliveries (one per alert and destination), newest first.

    A store older than the alert tables (schema 10) has none.

    Example:
        >>> recent_alerts(Store(memory=True))
        []
    """
    try:
        rows = store.query(_RECENT, (int(limit),))
    except sqlite3.OperationalError:  # a read-only copy of an older store: no alerts table
        return []
    return [dict(r) for r in rows]


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
