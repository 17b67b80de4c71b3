"""Batch digests: a hash of a batch of rows, appended to the WORM log with the rows.

``rows_digest`` = SHA-256 over ``canonical_json(list(row)) + "\\n"`` per row, rows in id order, values
in the column order of :data:`govlib.schema.AUDIT_IMMUTABLE` (audit_log) or
:data:`govlib.schema.LEDGER_COLUMNS` (token_ledger). ``verify`` recomputes it from the stored rows, so
an edited, deleted or inserted tool-call row or receipt is detected, not only governance events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from govlib.chain import canonical_json
from govlib.schema import AUDIT_IMMUTABLE, LEDGER_COLUMNS

__all__ = ["BATCH_ACTIONS", "DIGEST_COLUMNS", "rows_digest", "append_batch_digest"]

#: WORM action per digested table.
BATCH_ACTIONS = {"audit_log": "audit_batch", "token_ledger": "ledger_batch"}
#: Columns covered by the digest, per table, in order.
DIGEST_COLUMNS: dict[str, tuple[str, ...]] = {
    "audit_log": AUDIT_IMMUTABLE,
    "token_ledger": LEDGER_COLUMNS,
}


def rows_digest(rows: Iterable[Sequence[Any]]) -> str:
    """SHA-256 hex of rows given as value sequences in id order.

    Example:
        >>> len(rows_digest([[1, "a"], [2, "b"]]))
        64
    """
    h = hashlib.sha256()
    for row in rows:
        h.update(canonical_json(list(row)).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def append_batch_digest(
    store: Any,
    table: str,
    first_id: int,
    last_id: int,
    *,
    run_id: str | None = None,
    ts: str | None = None,
) -> Any:
    """Digest rows ``first_id..last_id`` of ``table`` and append the ``*_batch`` WORM entry.

    Call inside the transaction that inserted the rows, so rows and digest commit together.
    ``ts`` stamps the entry (a simulated clock's time keeps seeded histories reproducible).
    """
    from govlib import worm

    cols = DIGEST_COLUMNS[table]
    rows = store.query(
        f"SELECT {', '.join(cols)} FROM {table} WHERE id BETWEEN ? AND ? ORDER BY id",  # noqa: S608
        (first_id, last_id),
    )
    detail = {
        "table": table,
        "first_id": first_id,
        "last_id": last_id,
        "count": len(rows),
        "digest": rows_digest(tuple(r) for r in rows),
    }
    return worm.append(
        store, BATCH_ACTIONS[table], run_id=run_id, outcome="recorded", detail=detail, ts=ts
    )
