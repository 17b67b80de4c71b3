"""Workflow runs and their nodes, each row bound to the WORM entry written with it.

An agent workflow run is a ``workflow_runs`` row (started, then finished with a status and a
one-line summary) plus one ``node_runs`` row per node. These are what the executive page and
the report show as "what happened", so each write appends the entry that binds the row
(``run_started``, ``node_finished``, ``run_finished``, ``run_ingested``): the chain proves every
row, and ``govlib verify`` names any row edited, inserted, moved or deleted behind govlib's back.

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
    detail = dict(detail or {})
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
