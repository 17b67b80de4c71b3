"""Data of the executive single pane of glass (SPOG) for one workflow run: plain dicts, no widgets.

:func:`load_spog` reads everything the page shows from a :class:`govlib.store.database.Store` in one
pass: the run list, the kill-switch, rules with their latest outcome, the tool registry with per-run
calls, node statuses, the run's WORM entries with their chain references, the chain state from a
real :func:`govlib.evidence.verify.verify_store`, and the cost ledger (per step, run total, periods,
per workflow and model, price-table version). Costs are summed from the stored receipts'
``cost_usd``; nothing is re-priced here. Raw values only: the words, times and colours readers see
are made by :mod:`govlib.apps.executive` with :mod:`govlib.present`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from govlib.analysis.lifecycle import sealed_ranges
from govlib.analysis.read_path import SealedReader, has_sealed_rows
from govlib.analysis.trust import verified_state
from govlib.clock import iso
from govlib.costs import ledger
from govlib.costs.pricing import load_price_table
from govlib.errors import GovlibError
from govlib.evidence.bindings import BindingError
from govlib.evidence.settings_log import recorded_settings
from govlib.evidence.worm import entries
from govlib.governance.governor import KillSwitch, latest_rule_outcomes
from govlib.settings import load_settings
from govlib.store.database import Store

__all__ = [
    "cost_data",
    "get_run",
    "list_runs",
    "load_spog",
    "records",
]


def records(frame: Any) -> list[dict[str, Any]]:
    """A DataFrame's rows as plain dicts (NaN becomes None).

    Example:
        >>> import pandas as pd
        >>> records(pd.DataFrame({"a": [1.0, float("nan")]}))
        [{'a': 1.0}, {'a': None}]
    """
    clean = frame.astype(object).where(frame.notna(), None)
    return [dict(r) for r in clean.to_dict(orient="records")]


def _loads(text: Any) -> Any:
    if not isinstance(text, str) or not text:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


# --- runs -----------------------------------------------------------------------------------------
_RUN_SELECT = (
    "SELECT r.composition_id AS run_id, r.workflow_id, w.name AS workflow, r.subject,"
    " r.status, r.started_at, r.ended_at, r.stopped_at_node, r.summary"
    " FROM workflow_runs r LEFT JOIN workflows w ON w.id = r.workflow_id"
)


_RUNS_OF_TENANTS = (
    _RUN_SELECT + " WHERE r.tenant_id IN (SELECT value FROM json_each(?))"  # noqa: S608
    " ORDER BY r.started_at DESC, r.rowid DESC LIMIT ?"
)


def list_runs(
    store: Store, *, limit: int = 300, tenants: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The newest workflow runs first (run id, workflow, subject, status, times, summary);
    with ``tenants``, only runs of those tenants (the person looking may see no others).

    Example:
        >>> list_runs(Store(memory=True), tenants=["acme"])
        []
    """
    store.check_intact()
    if tenants is None:
        sql = _RUN_SELECT + " ORDER BY r.started_at DESC, r.rowid DESC LIMIT ?"
        return [dict(r) for r in store.query(sql, (int(limit),))]
    return [dict(r) for r in store.query(_RUNS_OF_TENANTS, (json.dumps(list(tenants)), int(limit)))]


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    """One run by id (also one older than the selector's window), or None.

    Example:
        >>> get_run(Store(memory=True), "nope") is None
        True
    """
    rows = store.query(_RUN_SELECT + " WHERE r.composition_id = ?", (run_id,))
    return dict(rows[0]) if rows else None


# --- governance -----------------------------------------------------------------------------------
def _kill_switch(store: Store) -> dict[str, Any]:
    try:
        st, problem = KillSwitch(store).state(), None
    except BindingError as exc:  # what decisions see: unproven, so every step is refused
        st, problem = KillSwitch(store).state(proven=False), str(exc)
    out = {k: getattr(st, k) for k in ("by", "at", "reason", "rule", "run_id", "worm_seq")}
    if problem is not None:
        describe = f"The kill-switch state cannot be trusted: {problem}"
        return out | {"armed": False, "state": "UNPROVEN", "describe": describe, "problem": problem}
    state = "ARMED" if st.armed else "TRIGGERED"
    return out | {"armed": st.armed, "state": state, "describe": st.describe(), "problem": None}


def _rules(store: Store, run_id: str | None) -> list[dict[str, Any]]:
    """Stored rules with their latest outcome anywhere and their (last) outcome in this run."""
    sql = "SELECT rule, outcome FROM worm_log WHERE action = 'rule_evaluated' AND run_id = ?"
    in_run = dict(store.query(sql + " ORDER BY seq", (run_id,)))
    rules = latest_rule_outcomes(store, proven=False)
    for r in rules:
        r["run_outcome"] = in_run.get(r["rule"])
    return rules


def _registry(store: Store, run_id: str | None) -> list[dict[str, Any]]:
    calls = {
        r["tool_name"]: (int(r["calls"]), int(r["ok"] or 0))
        for r in store.query(
            "SELECT tool_name, COUNT(*) AS calls, SUM(success) AS ok FROM audit_log"
            " WHERE composition_id = ? GROUP BY tool_name",
            (run_id,),
        )
    }
    out = []
    for r in store.query(
        "SELECT name, description, risk_tier, enabled FROM tool_registry ORDER BY name"
    ):
        d = dict(r)
        n, ok = calls.pop(d["name"], (0, 0))
        d.update(enabled=bool(d["enabled"]), registered=True, calls=n, successes=ok)
        out.append(d)
    for name, (n, ok) in sorted(calls.items()):  # called in the run but not registered
        out.append(
            dict(name=name, description="", risk_tier=None, enabled=False, registered=False)
            | {"calls": n, "successes": ok}
        )
    for d in out:
        d["success_rate"] = (d["successes"] / d["calls"]) if d["calls"] else None
    return out


def _nodes(store: Store, run: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The run's node statuses in graph order; graph nodes the run never reached are "not run".

    ``label`` is the graph's label of the node (None when the graph has none)."""
    if not run:
        return []
    sql = "SELECT node, status, started_at, ended_at, detail FROM node_runs WHERE run_id = ?"
    done = {
        r["node"]: dict(r) for r in store.query(sql + " ORDER BY position, id", (run["run_id"],))
    }
    graph = _loads(
        store.query_one("SELECT graph FROM workflows WHERE id = ?", (run["workflow_id"],))
    )
    order = [g["node"] for g in graph if isinstance(g, Mapping)] if isinstance(graph, list) else []
    labels = {g["node"]: g.get("label") for g in graph or [] if isinstance(g, Mapping)}
    rows = []
    for name in [*order, *(n for n in done if n not in order)]:
        r = done.get(name) or {"node": name, "status": "not run", "started_at": None}
        rows.append(dict(r, label=labels.get(name), detail=_loads(r.get("detail"))))
    return rows


# --- audit trail ----------------------------------------------------------------------------------
def _worm(store: Store, run_id: str | None) -> list[dict[str, Any]]:
    if run_id is None:
        return []
    out = entries(store, run_id=run_id)
    for e in out:
        e["mac_short"] = e["mac"][:8]
        e["prev_short"] = e["prev_mac"][:8]
    return out


# --- cost ledger ----------------------------------------------------------------------------------
def cost_data(store: Store, run_id: str | None) -> dict[str, Any]:
    """Per-step tokens and cost from the run's stored receipts, run total, periods, breakdowns.

    Per workflow and per model cover the 30 days up to the newest receipt.

    Example:
        >>> cost_data(Store(memory=True), None)["run_total_usd"]
        0.0
    """
    steps = records(ledger.cost_by_step(store, run_id)) if run_id else []
    models = dict(
        store.query(
            "SELECT node, GROUP_CONCAT(DISTINCT model) FROM token_ledger WHERE run_id = ?"
            " GROUP BY node",
            (run_id,),
        )
    )
    for s in steps:
        s["models"] = models.get(s["node"])
        s["node"] = s["node"] or "(no node)"
        s["cost_usd"] = float(s["cost_usd"] or 0.0)
    versions = [
        r[0]
        for r in store.query(
            "SELECT DISTINCT price_table_version FROM token_ledger WHERE run_id = ?"
            " AND price_table_version IS NOT NULL ORDER BY 1",
            (run_id,),
        )
    ]
    # the periods and breakdowns cover sealed segments too: a seal does not change them
    source = SealedReader(store) if has_sealed_rows(store) else store
    try:
        periods = ledger.period_totals(source)
        since = None
        if periods.get("as_of"):
            newest = datetime.fromisoformat(str(periods["as_of"]).replace("Z", "+00:00"))
            since = iso(newest - timedelta(days=30))
        by_workflow = records(ledger.cost_by_workflow(source, since))
        by_model = records(ledger.cost_by_model(source, since))
    finally:
        if source is not store:
            source.close()
    try:
        table_version = str(load_price_table().version)
    except GovlibError as exc:  # shown on the page, never fatal
        table_version = f"unavailable ({exc})"
    return {
        "steps": steps,
        "run_total_usd": ledger.run_cost(store, run_id) if run_id else 0.0,
        "receipts": int(sum(s["calls"] for s in steps)),
        "unpriced": int(sum(s["unpriced_calls"] for s in steps)),
        "as_of": periods.get("as_of"),
        "periods": [{"name": k, **v} for k, v in periods.items() if isinstance(v, Mapping)],
        "by_workflow": by_workflow,
        "by_model": by_model,
        "price_table_version": table_version,
        "run_price_versions": versions,
    }


# --- everything -----------------------------------------------------------------------------------
def load_spog(
    store: Store,
    run_id: str | None = None,
    *,
    runs_limit: int = 300,
    tenants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Everything the SPOG shows for ``run_id`` (default: the most recent run).

    With ``tenants`` (the person looking is limited to them) only runs of those tenants are
    listed or shown: another tenant's ``run_id`` shows no run.

    Returns
    -------
    dict
        ``runs``, ``run`` (None when there is none), ``kill_switch``, ``rules``, ``registry``,
        ``nodes``, ``worm``, ``chain``, ``cost``.

    Example:
        >>> data = load_spog(Store(memory=True))
        >>> data["run"] is None, data["chain"]["ok"]
        (True, True)
    """
    store.check_intact()
    runs = list_runs(store, limit=runs_limit, tenants=tenants)
    run = None
    if run_id is not None:
        run = next((r for r in runs if r["run_id"] == run_id), None)
        if run is None and tenants is None:
            run = get_run(store, run_id)
    elif runs:
        run = runs[0]
    rid = run["run_id"] if run else None
    return {
        "runs": runs,
        "run": run,
        "kill_switch": _kill_switch(store),
        "rules": _rules(store, rid),
        "registry": _registry(store, rid),
        "nodes": _nodes(store, run),
        "worm": _worm(store, rid),
        "chain": verified_state(store)
        | {"settings": recorded_settings(store, load_settings(store.data_dir)).describe()},
        "cost": cost_data(store, rid),
        "sealed": sealed_ranges(store),  # data lifecycle: sealed and purged ranges of the log
    }
