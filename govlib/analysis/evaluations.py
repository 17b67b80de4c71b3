"""Machine evaluators' verdicts, shown apart from human review.

A verdict carries its source: ``human`` (a reviewer, counted by the sampling gate and the accept
rate) or ``evaluator:<name>`` (an OTel ``gen_ai.evaluation.result``, in ``evaluator_verdicts``).
:func:`evaluator_verdict_counts` gives the second kind per evaluator and per tool or model, for
the pages and the report to show next to, never inside, the human figures.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from govlib.analysis.review import tenant_condition
from govlib.store.database import Store

__all__ = ["evaluator_verdict_counts"]

# The latest verdict of each evaluator on each call counts (an evaluator may re-evaluate).
_COUNTS = """
WITH latest AS (
  SELECT e.*, ROW_NUMBER() OVER (
    PARTITION BY e.source, e.target_table, e.target_id ORDER BY e.evaluated_at DESC, e.id DESC
  ) AS n
  FROM evaluator_verdicts e
)
SELECT l.source AS source,
  CASE l.target_table WHEN 'audit_log' THEN 'tool call' ELSE 'model call' END AS evaluated,
  COALESCE(a.tool_name, t.model, '?') AS name,
  SUM(l.verdict = 'accept') AS accept_count,
  SUM(l.verdict = 'reject') AS reject_count,
  MAX(l.evaluated_at) AS latest_at
FROM latest l
LEFT JOIN audit_log a ON l.target_table = 'audit_log' AND a.id = l.target_id
LEFT JOIN token_ledger t ON l.target_table = 'token_ledger' AND t.id = l.target_id
WHERE l.n = 1 AND l.evaluated_at >= ? AND {tenants}
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""


def evaluator_verdict_counts(
    store: Store, *, since: str | None = None, tenants: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Evaluators' verdicts per source, kind of call and tool or model, latest per call.

    Keys: ``source`` (``evaluator:<name>``), ``evaluated`` (``tool call`` / ``model call``),
    ``name`` (the tool or the model), ``accept_count``, ``reject_count``, ``latest_at``. None of
    these count toward the sampling gate or the accept rate (human review only).

    Parameters
    ----------
    store : Store
    since : str, optional
        Only verdicts evaluated at or after this ISO-8601 UTC time.
    tenants : collection of str, optional
        Only verdicts on calls of these tenants (the person looking may see no others; None:
        every tenant).

    Example:
        >>> from govlib.capture.rows import insert_audit_batch
        >>> from govlib.capture.verdicts import record_evaluator_verdict
        >>> s = Store(memory=True)
        >>> _ = insert_audit_batch(s, [("t", "lookup", None, None, 1, 1, 3, "0000abcd", None, 0)])
        >>> _ = record_evaluator_verdict(s, "audit_log", 1, "reject", "judge",
        ...     at="2026-01-01T09:00:00Z")
        >>> [(r["source"], r["name"], r["reject_count"]) for r in evaluator_verdict_counts(s)]
        [('evaluator:judge', 'lookup', 1)]
        >>> evaluator_verdict_counts(s, tenants=["other"])
        []
    """
    present = store.query_one(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'evaluator_verdicts'"
    )
    if not present:  # an older store opened read-only (schema before 12): none recorded
        return []
    where, params = tenant_condition("COALESCE(a.tenant_id, t.tenant_id)", tenants)
    rows = store.query(_COUNTS.replace("{tenants}", where), (since or "", *params))
    return [dict(r) for r in rows]
