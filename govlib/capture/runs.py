"""Workflow runs and their nodes, each row bound to the WORM entry written with it.

An agent workflow run is a ``workflow_runs`` row (started, then finished with a status and a
one-line summary) plus one ``node_runs`` row per node. These are what the executive page and
the report show as "what happened", so each write appends the entry that binds the row
(``run_started``, ``node_finished``, ``run_finished``, ``run_ingested``): the chain proves every
row, and ``govlib verify`` names any row edited, inserted, moved or deleted behind govlib's back.

Bounds (:mod:`govlib.bounds`): ids, names, subject and status within their lengths, times from
2000-01-01 to now + ``max_clock_skew_s``, a node's ``detail`` at most 20,000 characters of JSON;
beyond them the write is refused (:class:`~govlib.bounds.BoundsError`, nothing written). A
``summary`` and a node's ``detail["message"]`` record what happened: longer ones are truncated
with the marker ``…[truncated, N characters]``.

Example:
    >>> from govlib.store import Store
    >>> store = Store(memory=True)
    >>> start_run(store, "run-1", workflow_id="claims", subject="CLM-1", at="2026-01-01T00:00:00Z")
    >>> _ = record_node(store, "run-1", "intake", 0, "completed", at="2026-01-01T00:00:01Z")
    >>> finish_run(store, "run-1", "completed", summary="paid", at="2026-01-01T00:00:02Z")
    >>> store.query_one("SELECT status FROM workflow_runs")
    'completed'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from govlib import bounds
from govlib.evidence.binder import append_bound, binding_seq
from govlib.store.database import Store

__all__ = ["finish_run", "record_node", "record_run", "start_run"]


def start_run(
    store: Store,
    composition_id: str,
    *,
    workflow_id: str | None,
    subject: str | None,
    at: str,
    tenant_id: str | None = None,
) -> None:
    """Record a run as started (``running``), bound by its ``run_started`` entry."""
    _check(store, {"composition_id": composition_id}, {"at": at})
    _check(store, {"workflow_id": workflow_id, "subject": subject, "tenant_id": tenant_id}, {})
    with store.transaction():
        row = {"composition_id": composition_id, "workflow_id": workflow_id}
        row |= {"tenant_id": tenant_id, "subject": subject, "started_at": at}
        store.insert("workflow_runs", row | {"status": "running", "worm_seq": binding_seq(store)})
        append_bound(
            store,
            "run_started",
            [("workflow_runs", composition_id)],
            run_id=composition_id,
            outcome="running",
            detail={"workflow": workflow_id, "subject": subject},
            ts=at,
        )


def record_node(
    store: Store,
    run_id: str,
    node: str,
    position: int,
    status: str,
    *,
    at: str,
    started_at: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Record how one node of a run ended (skipped nodes too); returns the ``node_runs`` id.

    ``detail`` is stored as JSON on the row; its ``message`` also goes into the entry.
    """
    detail = _detail(detail)
    _check(store, {"run_id": run_id, "node": node, "status": status}, {"at": at})
    _check(store, {}, {"started_at": started_at})
    ended = at if started_at is not None else None
    with store.transaction():
        row = {"run_id": run_id, "node": node, "position": position, "status": status}
        row |= {"started_at": started_at, "ended_at": ended}
        row["detail"] = json.dumps(detail, sort_keys=True, default=str)
        node_id = store.insert("node_runs", row | {"worm_seq": binding_seq(store)})
        append_bound(
            store,
            "node_finished",
            [("node_runs", node_id)],
            run_id=run_id,
            node=node,
            outcome=status,
            detail={k: detail[k] for k in ("message",) if k in detail},
            ts=at,
        )
    return node_id


def finish_run(
    store: Store,
    composition_id: str,
    status: str,
    *,
    summary: str | None,
    at: str,
    stopped_at_node: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record how a run ended, bound by its ``run_finished`` entry (the row's new version)."""
    summary = bounds.truncated("summary", summary)
    _check(store, {"composition_id": composition_id, "status": status}, {"at": at})
    _check(store, {"stopped_at_node": stopped_at_node}, {})
    detail = _detail(detail)
    with store.transaction():
        store.execute(
            "UPDATE workflow_runs SET status = ?, ended_at = ?, stopped_at_node = ?, "
            "summary = ?, worm_seq = ? WHERE composition_id = ?",
            (status, at, stopped_at_node, summary, binding_seq(store), composition_id),
        )
        append_bound(
            store,
            "run_finished",
            [("workflow_runs", composition_id)],
            run_id=composition_id,
            outcome=status,
            detail=dict(detail or {}) | {"summary": summary},
            ts=at,
        )


def record_run(store: Store, run: Mapping[str, Any]) -> bool:
    """Record a whole run known after the fact (e.g. from a trace), once; True if written.

    ``run`` has ``composition_id``, ``workflow_id``, ``tenant_id``, ``started_at``,
    ``ended_at``, ``status`` and ``summary``. A run already recorded keeps its row and binding.
    """
    cols = ("composition_id", "workflow_id", "tenant_id", "started_at", "ended_at", "status")
    run = dict(run) | {"summary": bounds.truncated("summary", run["summary"])}
    _check(store, {c: run[c] for c in cols[:3] + cols[-1:]}, {c: run[c] for c in cols[3:5]})
    with store.transaction():
        added = store.execute(
            "INSERT OR IGNORE INTO workflow_runs(composition_id, workflow_id, tenant_id, "
            "started_at, ended_at, status, summary, worm_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [run[c] for c in cols] + [run["summary"], binding_seq(store)],
        ).rowcount
        if added:
            append_bound(
                store,
                "run_ingested",
                [("workflow_runs", run["composition_id"])],
                run_id=run["composition_id"],
                outcome=run["status"],
                detail={"workflow": run["workflow_id"], "summary": run["summary"]},
                ts=run["ended_at"] or run["started_at"],
            )
    return bool(added)


#: The bound (:data:`govlib.bounds.TEXT_LIMITS`) of each text field of a run or node.
_KINDS = {
    "composition_id": "run_id",
    "run_id": "run_id",
    "workflow_id": "workflow_id",
    "subject": "subject",
    "tenant_id": "tenant",
    "node": "node",
    "stopped_at_node": "node",
    "status": "status",
}


def _check(store: Store, texts: Mapping[str, Any], times: Mapping[str, Any]) -> None:
    """Refuse (:class:`~govlib.bounds.BoundsError`) text or times out of bounds."""
    for field, value in texts.items():
        bounds.checked_text(field, value, kind=_KINDS[field])
    if any(value is not None for value in times.values()):
        skew = bounds.skew_seconds(store.data_dir)
        for field, value in times.items():
            if value is not None:
                bounds.checked_time(field, value, skew_s=skew)


def _detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    """A node's detail: its ``message`` truncated to its bound, the whole JSON within its own."""
    out = dict(detail or {})
    if isinstance(out.get("message"), str):
        out["message"] = bounds.truncated("message", out["message"])
    size = len(json.dumps(out, sort_keys=True, default=str))
    limit = bounds.TEXT_LIMITS["detail"]
    if size > limit:
        raise bounds.BoundsError(
            "detail", f"<{size:,} characters of JSON>", f"at most {limit:,} characters of JSON"
        )
    return out
