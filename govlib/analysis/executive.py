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

import dataclasses
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from govlib.analysis import stats
from govlib.analysis.alerting import TENANT_FREE_ALERTS, recent_alerts, watch_state
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
    "tool_health",
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
def _kill_switch(store: Store, visible_runs: Collection[str] | None = None) -> dict[str, Any]:
    """The kill-switch (governance-wide: it stops every tenant's calls). With
    ``visible_runs`` (the person looking is limited to some tenants) the run it names is left
    out unless it is one of those."""
    try:
        st, problem = KillSwitch(store).state(), None
    except BindingError as exc:  # what decisions see: unproven, so every step is refused
        st, problem = KillSwitch(store).state(proven=False), str(exc)
    if visible_runs is not None and st.run_id is not None and st.run_id not in visible_runs:
        st = dataclasses.replace(st, run_id=None)
    out = {k: getattr(st, k) for k in ("by", "at", "reason", "rule", "run_id", "worm_seq")}
    if problem is not None:
        describe = f"The kill-switch state cannot be trusted: {problem}"
        return out | {"armed": False, "state": "UNPROVEN", "describe": describe, "problem": problem}
    state = "ARMED" if st.armed else "TRIGGERED"
    return out | {"armed": st.armed, "state": state, "describe": st.describe(), "problem": None}


def _rules(
    store: Any,
    run_id: str | None,
    *,
    current: Store | None = None,
    visible_runs: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Stored rules with their latest outcome anywhere (from ``current``, default ``store``) and
    their (last) outcome in this run (from ``store``: a sealed run's entries are in its segment).
    With ``visible_runs`` (the person looking is limited to some tenants) "anywhere" means in
    those runs: the rules are governance-wide, their outcomes in other tenants' runs are not."""
    sql = "SELECT rule, outcome FROM worm_log WHERE action = 'rule_evaluated' AND run_id = ?"
    in_run = dict(store.query(sql + " ORDER BY seq", (run_id,)))
    rules = latest_rule_outcomes(store if current is None else current, proven=False)
    if visible_runs is not None:
        _outcomes_in(store if current is None else current, rules, visible_runs)
    for r in rules:
        r["run_outcome"] = in_run.get(r["rule"])
    return rules


_RULE_ENTRIES_IN = (
    "SELECT rule, outcome, ts, run_id, detail FROM worm_log WHERE action = 'rule_evaluated'"
    " AND run_id IN (SELECT value FROM json_each(?)) ORDER BY seq"
)


def _outcomes_in(store: Store, rules: list[dict[str, Any]], runs: Collection[str]) -> None:
    """Replace each rule's latest outcome and counts by those of its evaluations in ``runs``."""
    latest: dict[str, Any] = {}
    counts: dict[str, list[int]] = {}
    for e in store.query(_RULE_ENTRIES_IN, (json.dumps(sorted(runs)),)):
        latest[e["rule"]] = e
        n = counts.setdefault(e["rule"], [0, 0])
        n[0] += 1
        n[1] += e["outcome"] != "pass"
    for r in rules:
        e = latest.get(r["rule"])
        detail = _loads(e["detail"]) if e else None
        message = detail.get("message") if isinstance(detail, dict) else None
        r.update(
            latest_outcome=e["outcome"] if e else None,
            at=e["ts"] if e else None,
            run_id=e["run_id"] if e else None,
            message=message,
            evaluations=counts.get(r["rule"], [0, 0])[0],
            fired=counts.get(r["rule"], [0, 0])[1],
        )


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
_BEFORE_RUN = (
    "SELECT seq, ts, run_id, node, action, rule, outcome, detail, key_id, prev_mac, mac"
    " FROM worm_log WHERE run_id IS NULL AND action IN ('kill_switch_reset', 'kill_switch_triggered')"
    " AND seq < ? AND seq > COALESCE((SELECT seq FROM worm_log WHERE seq < ?"
    " AND run_id IS NOT NULL AND run_id != ? ORDER BY seq DESC LIMIT 1), 0) ORDER BY seq"
)


def _worm(store: Store, run_id: str | None) -> list[dict[str, Any]]:
    """The run's entries, after the kill-switch changes made by hand between the previous run and
    this one (the reset that let this run go ahead), each marked ``before_run``."""
    if run_id is None:
        return []
    out = entries(store, run_id=run_id)
    if out:
        first = out[0]["seq"]
        before = [dict(r) for r in store.query(_BEFORE_RUN, (first, first, run_id))]
        for e in before:
            e["detail"] = _loads(e["detail"]) or {}
        out = [e | {"before_run": True} for e in before] + out
    for e in out:
        e["mac_short"] = e["mac"][:8]
        e["prev_short"] = e["prev_mac"][:8]
    return out


# --- tool health ----------------------------------------------------------------------------------
def tool_health(store: Store, *, tenants: Sequence[str] | None = None) -> dict[str, Any]:
    """Each tool's drift badge, as the SPC dashboard computes it (:func:`stats.tool_stats`, all
    calls of every tenant, or of ``tenants`` only: the person looking may see no others).

    Returns
    -------
    dict
        ``tools``: ``[{"name", "drift", "signals"}]`` in the dashboard's order; ``stable``,
        ``watch``, ``drift``: the tool names with that badge; ``error``: why the badges could not
        be read (None when they were).

    Example:
        >>> tool_health(Store(memory=True))["tools"]
        []
    """
    try:
        frame = stats.tool_stats(store, settings=load_settings(store.data_dir), tenants=tenants)
    except Exception as exc:  # noqa: BLE001 - the strip says so; the page must still load
        return {"tools": [], "stable": [], "watch": [], "drift": [], "error": str(exc)}
    tools = [
        {"name": str(r["tool_name"]), "drift": str(r["drift"]), "signals": list(r["drift_signals"])}
        for r in frame[["tool_name", "drift", "drift_signals"]].to_dict("records")
    ]
    by = {k: [t["name"] for t in tools if t["drift"] == k] for k in ("stable", "watch", "drift")}
    return {"tools": tools, **by, "error": None}


# --- cost ledger ----------------------------------------------------------------------------------
def cost_data(
    store: Store,
    run_id: str | None,
    *,
    run_source: Any = None,
    tenants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Per-step tokens and cost from the run's stored receipts, run total, periods, breakdowns.

    Per workflow and per model cover the 30 days up to the newest receipt. ``run_source`` reads
    the run's own receipts (a :class:`SealedReader` for a run in a sealed segment; default the
    store). With ``tenants`` the periods and breakdowns count only receipts of those tenants
    (the run itself is one of theirs: :func:`load_spog` shows no other).

    Example:
        >>> cost_data(Store(memory=True), None)["run_total_usd"]
        0.0
    """
    of_run = store if run_source is None else run_source
    steps = ledger.cost_by_step_rows(of_run, run_id) if run_id else []
    models = dict(
        of_run.query(
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
        for r in of_run.query(
            "SELECT DISTINCT price_table_version FROM token_ledger WHERE run_id = ?"
            " AND price_table_version IS NOT NULL ORDER BY 1",
            (run_id,),
        )
    ]
    # the periods and breakdowns cover sealed segments too: a seal does not change them
    source = SealedReader(store) if has_sealed_rows(store) else store
    try:
        periods = ledger.period_totals(source, tenants=tenants)
        since = None
        if periods.get("as_of"):
            newest = datetime.fromisoformat(str(periods["as_of"]).replace("Z", "+00:00"))
            since = iso(newest - timedelta(days=30))
        by_workflow = ledger.cost_by_workflow_rows(source, since, tenants=tenants)
        by_model = ledger.cost_by_model_rows(source, since, tenants=tenants)
    finally:
        if source is not store:
            source.close()
    try:
        table_version = str(load_price_table().version)
    except GovlibError as exc:  # shown on the page, never fatal
        table_version = f"unavailable ({exc})"
    return {
        "steps": steps,
        "run_total_usd": ledger.run_cost(of_run, run_id) if run_id else 0.0,
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
    full_verify: bool = False,
    tenants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Everything the SPOG shows for ``run_id`` (default: the most recent run).

    The chain is verified from the last point verified in this process (``full_verify``: from
    the first entry, as ``govlib verify`` does). With ``tenants`` (the person looking is limited
    to them) only runs of those tenants are listed or shown: another tenant's ``run_id`` (or a
    sealed run) shows no run; the tool health and the cost periods and breakdowns count only
    those tenants' calls and receipts, and alerts are only the governance-wide kinds
    (:data:`govlib.analysis.alerting.TENANT_FREE_ALERTS`). The kill-switch, the rules, the tool
    registry, the chain and the sealed ranges have no tenant and are shown whole (the
    kill-switch without the run it names unless that run is one of theirs; each rule's latest
    outcome as of their runs).

    Returns
    -------
    dict
        ``runs``, ``run`` (None when there is none), ``kill_switch``, ``rules``, ``registry``,
        ``nodes``, ``worm``, ``chain``, ``cost``, ``sealed``, ``health`` (:func:`tool_health`),
        ``alerts``, ``watch``.

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
    sealed = None
    if run is None and run_id is not None and tenants is None and has_sealed_rows(store):
        # a run moved into a sealed segment (``govlib seal``) opens from the segment's files
        sealed = SealedReader(store)
        run = get_run(sealed, run_id)
        if run is not None:
            run["sealed"] = True
    try:
        return _spog(store, runs, run, sealed, full_verify=full_verify, tenants=tenants)
    finally:
        if sealed is not None:
            sealed.close()


def _spog(
    store: Store,
    runs: list[dict[str, Any]],
    run: dict[str, Any] | None,
    sealed: Any,
    *,
    full_verify: bool = False,
    tenants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The SPOG's dict for one run; the run's own rows from ``sealed`` when it is sealed."""
    rid = run["run_id"] if run else None
    of_run = store if sealed is None else sealed
    visible = None if tenants is None else {r["run_id"] for r in runs}
    kinds = None if tenants is None else TENANT_FREE_ALERTS
    return {
        "runs": runs,
        "run": run,
        "kill_switch": _kill_switch(store, visible),
        "rules": _rules(of_run, rid, current=store, visible_runs=visible),
        "registry": _registry(of_run, rid),
        "nodes": _nodes(of_run, run),
        "worm": _worm(of_run, rid),
        "chain": verified_state(store, full=full_verify)
        | {"settings": recorded_settings(store, load_settings(store.data_dir)).describe()},
        "cost": cost_data(store, rid, run_source=sealed, tenants=tenants),
        "sealed": sealed_ranges(store),  # data lifecycle: sealed and purged ranges of the log
        "health": tool_health(store, tenants=tenants),
        # who was told, and whether it reached them
        "alerts": recent_alerts(store, limit=8, kinds=kinds),
        "watch": watch_state(store),  # is anyone (govlib watch) looking?
    }
