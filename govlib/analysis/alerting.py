"""The alerts read model: recent alerts and their delivery state (CLI list, executive page).

Each final delivery state names the WORM entry that records it (``alert_sent`` /
``alert_given_up``), so a page can show that the CRO was told, when, and where that is proven.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from govlib.store.database import Store

__all__ = ["recent_alerts"]

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
