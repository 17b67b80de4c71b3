"""The head of the WORM log: the newest entry's ``(seq, mac)``, read by appends and checkpoints."""

from __future__ import annotations

from govlib.evidence.chain import GENESIS_MAC
from govlib.store.database import Store

__all__ = ["head"]


def head(store: Store) -> tuple[int, str]:
    """``(seq, mac)`` of the newest entry, or ``(0, GENESIS_MAC)`` for an empty log.

    Example:
        >>> head(Store(memory=True)) == (0, GENESIS_MAC)
        True
    """
    rows = store.query("SELECT seq, mac FROM worm_log ORDER BY seq DESC LIMIT 1")
    return (int(rows[0]["seq"]), str(rows[0]["mac"])) if rows else (0, GENESIS_MAC)
