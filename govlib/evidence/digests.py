"""Batch digests: a hash of a batch of rows, appended to the WORM log with the rows.

``rows_digest`` = SHA-256 over ``canonical_json(list(row)) + "\\n"`` per row, rows in id order, values
in the column order of :data:`govlib.store.schema.AUDIT_IMMUTABLE` (audit_log) or
:data:`govlib.store.schema.LEDGER_COLUMNS` (token_ledger). ``verify`` recomputes it from the stored rows, so
an edited, deleted or inserted tool-call row or receipt is detected, not only governance events.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from govlib.evidence import worm
from govlib.evidence.chain import canonical_json
from govlib.store.schema import AUDIT_IMMUTABLE, LEDGER_COLUMNS, LEDGER_EXTRA_COLUMNS

__all__ = [
    "BATCH_ACTIONS",
    "DIGEST_COLUMNS",
    "rows_digest",
    "append_batch_digest",
    "batch_digest_check",
    "batch_digest_problems",
]

#: WORM action per digested table.
BATCH_ACTIONS = {"audit_log": "audit_batch", "token_ledger": "ledger_batch"}
#: Columns covered by the digest, per table, in order.
DIGEST_COLUMNS: dict[str, tuple[str, ...]] = {
    "audit_log": AUDIT_IMMUTABLE,
    "token_ledger": LEDGER_COLUMNS + LEDGER_EXTRA_COLUMNS,
}
#: Leading columns always in the digest; later ones only up to the row's last non-NULL value
#: (columns added by a later schema leave the digests of older rows unchanged).
_BASE_WIDTH = {"audit_log": len(AUDIT_IMMUTABLE), "token_ledger": len(LEDGER_COLUMNS)}


def digest_columns(conn: Any, table: str) -> tuple[str, ...]:
    """The digest columns ``table`` has (a store of an older schema, opened read-only, lacks
    the later ones; their values would be NULL, which the digest leaves out anyway).

    Example:
        >>> from govlib.store.database import Store
        >>> digest_columns(Store(memory=True).conn, "token_ledger")[-1]
        'priced_as'
    """
    present = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    return tuple(c for c in DIGEST_COLUMNS[table] if c in present)


def digest_values(table: str, row: Sequence[Any]) -> list[Any]:
    """The values of ``row`` that its digest covers: trailing NULLs of later columns dropped.

    Example:
        >>> digest_values("token_ledger", [1] * 21 + [None, None]) == [1] * 21
        True
    """
    values = list(row)
    base = _BASE_WIDTH[table]
    while len(values) > base and values[-1] is None:
        values.pop()
    return values


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
    cols = digest_columns(store.conn, table)
    rows = store.query(
        f"SELECT {', '.join(cols)} FROM {table} WHERE id BETWEEN ? AND ? ORDER BY id",  # noqa: S608
        (first_id, last_id),
    )
    detail = {
        "table": table,
        "first_id": first_id,
        "last_id": last_id,
        "count": len(rows),
        "digest": rows_digest(digest_values(table, r) for r in rows),
    }
    return worm.append(
        store, BATCH_ACTIONS[table], run_id=run_id, outcome="recorded", detail=detail, ts=ts
    )


def batch_digest_problems(conn: sqlite3.Connection, table: str) -> list[tuple[int | None, str]]:
    """Recompute every batch digest of ``table``; each row must be in exactly one batch.

    Returns (WORM seq or None, reason) per problem found, in the order found; none when intact.

    Example:
        >>> from govlib.store.database import Store
        >>> batch_digest_problems(Store(memory=True).conn, "audit_log")
        []
    """
    return batch_digest_check(conn, table)[0]


def batch_digest_check(
    conn: sqlite3.Connection,
    table: str,
    *,
    after_seq: int = 0,
    covered: tuple[int, int] | None = None,
) -> tuple[list[tuple[int | None, str]], tuple[int, int]]:
    """:func:`batch_digest_problems`, optionally only for what came after a verified point.

    Parameters
    ----------
    after_seq
        Recompute only the batch digests appended after this WORM seq (0: all of them).
    covered
        With ``after_seq``: ``(max id, rows up to it)`` the earlier batches covered when verified;
        the row count up to that id must be unchanged and only later rows are checked for cover.

    Returns
    -------
    (problems, ``(max id covered, rows up to it)`` now: the mark for the next call)

    Example:
        >>> from govlib.store.database import Store
        >>> batch_digest_check(Store(memory=True).conn, "audit_log")
        ([], (0, 0))
    """
    problems: list[tuple[int | None, str]] = []
    action, cols = BATCH_ACTIONS[table], ", ".join(digest_columns(conn, table))
    rows_sql = f"SELECT {cols} FROM {table} WHERE id BETWEEN ? AND ? ORDER BY id"  # noqa: S608 - constant identifiers
    old_reach, old_rows = covered if after_seq and covered is not None else (0, 0)
    count_sql = f"SELECT COUNT(*) FROM {table} WHERE id > ? AND id <= ?"  # noqa: S608
    if old_reach:
        (now,) = conn.execute(count_sql, (0, old_reach)).fetchone()
        if now != old_rows:
            msg = f"{table} rows 1..{old_reach}: {old_rows} when verified earlier, "
            problems.append((None, msg + f"{now} now (a row was deleted or inserted)"))
    ranges: list[tuple[int, int, int]] = []
    batches = conn.execute(
        "SELECT seq, detail FROM worm_log WHERE action = ? AND seq > ? ORDER BY seq",
        (action, after_seq),
    ).fetchall()
    for seq, raw in batches:
        problem, span = _batch_problem(conn, rows_sql, table, seq, raw)
        if problem is not None:
            problems.append((seq, problem))
        if span is not None:
            ranges.append((*span, seq))
    ranges.sort()
    reach = _overlaps(ranges, table, old_reach, after_seq, problems)
    uncovered, i = [], 0
    for (row_id,) in conn.execute(f"SELECT id FROM {table} WHERE id > ? ORDER BY id", (old_reach,)):  # noqa: S608
        while i < len(ranges) and ranges[i][1] < row_id:
            i += 1
        if i >= len(ranges) or ranges[i][0] > row_id:
            uncovered.append(row_id)
    if uncovered:
        ids = ", ".join(map(str, uncovered[:5])) + (", ..." if len(uncovered) > 5 else "")
        msg = f"{table}: {len(uncovered)} row(s) covered by no {action} digest (id {ids}): "
        problems.append((None, msg + "written outside the recorder or inserted afterwards"))
    (more,) = conn.execute(count_sql, (old_reach, reach)).fetchone() if reach > old_reach else (0,)
    return problems, (reach, old_rows + int(more))


def _batch_problem(
    conn: sqlite3.Connection, rows_sql: str, table: str, seq: int, raw: Any
) -> tuple[str | None, tuple[int, int] | None]:
    """What is wrong with one batch entry (or None), and the id range it covers."""
    action = BATCH_ACTIONS[table]
    d = _batch_detail(raw, table)
    if isinstance(d, str):
        return f"{action} detail malformed: {d}", None
    first, last = d["first_id"], d["last_id"]
    span = f"{table} rows {first}..{last}"
    rows = conn.execute(rows_sql, (first, last)).fetchall()
    if len(rows) != d["count"]:
        msg = f"{span}: {d['count']} recorded by this {action}, {len(rows)} now "
        return msg + "(a row was deleted or inserted)", (first, last)
    if rows_digest(digest_values(table, r) for r in rows) != d["digest"]:
        return f"{span} no longer match this {action} digest (a row was edited)", (first, last)
    return None, (first, last)


def _overlaps(
    ranges: list[tuple[int, int, int]],
    table: str,
    reach: int,
    reach_seq: int,
    problems: list[tuple[int | None, str]],
) -> int:
    """Report rows covered by two batches (sorted ranges, after ``reach``); the new reach."""
    for first, last, seq in ranges:
        if first <= reach:
            older, newer = sorted((reach_seq, seq))  # anchored at the newer of the two
            msg = f"{table} rows {first}..{min(last, reach)} are covered by two batch digests "
            problems.append((newer, msg + f"(seq {older} and {newer})"))
        if last > reach:
            reach, reach_seq = last, seq
    return reach


def _batch_detail(raw: Any, table: str) -> dict[str, Any] | str:
    """The batch detail, or what is wrong with it."""
    try:
        d = json.loads(raw)
    except (TypeError, ValueError):
        d = None
    shape = f"expected {{table: {table!r}, first_id <= last_id, count, digest}}"
    if not isinstance(d, dict) or d.get("table") != table or not isinstance(d.get("digest"), str):
        return f"{raw!r}; {shape}"
    if any(type(d.get(k)) is not int for k in ("first_id", "last_id", "count")):
        return f"{raw!r}; {shape}"
    return d if d["first_id"] <= d["last_id"] else f"{raw!r}; {shape}"
