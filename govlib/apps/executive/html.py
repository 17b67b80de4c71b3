"""HTML fragments of the executive SPOG, from the data of :func:`govlib.apps.executive.view.page_view`.

Each fragment is a template under ``govlib/present/templates/executive``; every coloured element
carries its state in words too (``pill``/``badge`` add a symbol and text). Stable CSS classes and
``data-*`` attributes let the browser test read the page without guessing. Pure.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from govlib.apps.executive.view import audit_rows
from govlib.present.charts import step_cost_svg
from govlib.present.templating import render

__all__ = [
    "PERIOD_NAMES",
    "SPC_PAGE",
    "audit_table_html",
    "sealed_ranges_html",
    "breakdown_html",
    "chain_html",
    "cost_html",
    "cost_summary_html",
    "governance_html",
    "headline_html",
    "health_html",
    "health_link",
    "kill_switch_html",
    "nodes_html",
    "periods_html",
    "registry_html",
    "rules_html",
    "steps_table_html",
]

#: The SPC dashboard's notebook, next to the executive page's under ``/voila/render/``.
SPC_PAGE = "spc_dashboard.ipynb"

#: Cost period key -> its name on the page.
PERIOD_NAMES = {"today": "Today", "7d": "7 days", "30d": "30 days"}


def _usd(value: Any) -> str:
    """The exact float of an amount, as ``data-usd`` carries it (``repr``)."""
    return repr(float(value or 0.0))


def headline_html(head: Mapping[str, str]) -> Markup:
    """The plain-language strip at the top of the page.

    Example:
        >>> 'data-level="ok"' in headline_html({"text": "All systems normal.", "level": "ok"})
        True
    """
    return render("executive/headline.html.j2", head=dict({"level": "neutral", "text": ""}, **head))


def kill_switch_html(ks: Mapping[str, Any], rules: Sequence[Mapping[str, Any]] = ()) -> Markup:
    """The big ARMED/TRIGGERED indicator with who, when, why and the rule named.

    Example:
        >>> "TRIGGERED" in kill_switch_html({"armed": False, "state": "TRIGGERED", "rule": "r1"})
        True
    """
    state = ks.get("state") or ("ARMED" if ks.get("armed") else "TRIGGERED")
    who = ks.get("by") or "—"
    if who.startswith("rule:"):
        who = f"automatic, by governance rule {who[5:]}"
    desc = next((r.get("description") for r in rules if r.get("rule") == ks.get("rule")), None)
    context = {"armed": False, "by": None, "at": None, "reason": None, "rule": None}
    context |= {"describe": None, "problem": None} | dict(ks)
    return render(
        "executive/kill_switch.html.j2", ks=context, state=state, who=who, rule_description=desc
    )


def rules_html(rules: Sequence[Mapping[str, Any]]) -> Markup:
    """Active rules with their latest outcome (anywhere) and their outcome in the selected run.

    Example:
        >>> "not evaluated" in rules_html([{"rule": "r1", "description": "d", "action": "trip",
        ...     "latest_outcome": None, "at": None, "message": None, "run_outcome": None}])
        True
    """
    return render("executive/rules.html.j2", rules=list(rules))


def registry_html(tools: Sequence[Mapping[str, Any]]) -> Markup:
    """Tool registry: enabled/disabled, risk tier, calls and success in the selected run.

    Example:
        >>> "100% ok" in registry_html([{"name": "ocr", "description": "", "risk_tier": "low",
        ...     "enabled": True, "calls": 2, "success_rate": 1.0}])
        True
    """
    return render("executive/registry.html.j2", tools=list(tools))


def nodes_html(nodes: Sequence[Mapping[str, Any]]) -> Markup:
    """The selected run's workflow nodes as a strip of labelled pills joined by arrows.

    Example:
        >>> "fraud scoring</bdi>: blocked" in nodes_html([{"node": "fraud_scoring", "label": None,
        ...     "status": "blocked", "started_at": None}])
        True
    """
    return render("executive/nodes.html.j2", nodes=list(nodes))


def chain_html(chain: Mapping[str, Any]) -> Markup:
    """The chain badge: verified (green) or broken at seq S (red), from a real verification.

    Example:
        >>> 'data-bad-seq="4"' in chain_html({"ok": False, "bad_seq": 4, "text": "broken"})
        True
    """
    context = {"ok": False, "bad_seq": None, "text": "", "summary": None, "settings": None}
    context["verified_from"] = None
    context |= dict(chain)
    return render("executive/chain.html.j2", chain=context)


def audit_table_html(
    entries: Sequence[Mapping[str, Any]],
    *,
    node: str | None = None,
    outcome: str | None = None,
    bad_seq: int | None = None,
    links: bool = False,
) -> Markup:
    """The run's WORM entries newest first, its decisive entries pinned and highlighted above
    them (:func:`~govlib.apps.executive.view.audit_rows`), optionally filtered by node and/or
    outcome.

    The entry verification found broken (``bad_seq``) is marked in red with the word "broken";
    ``links`` adds the chain-link column (MAC and previous MAC, whole on hover).

    Example:
        >>> e = {"seq": 3, "ts": "2026-01-01T00:00:01Z", "node": "n", "action": "a", "rule": None,
        ...      "outcome": "pass", "mac": "ab12", "prev_mac": "cd34", "mac_short": "ab",
        ...      "prev_short": "cd"}
        >>> 'data-seq="3"' in audit_table_html([e]), "ab12" in audit_table_html([e])
        (True, False)
        >>> 'title="MAC ab12\\nprev cd34"' in audit_table_html([e], links=True)
        True
    """
    shown = [
        e
        for e in entries
        if (node is None or e.get("node") == node)
        and (outcome is None or e.get("outcome") == outcome)
    ]
    rows = audit_rows(shown)
    return render("executive/audit.html.j2", **rows, bad_seq=bad_seq, links=links)


def health_link(tool: str | None) -> str:
    """The SPC dashboard's address, relative to the executive page, opening ``tool``'s drill-down.

    Example:
        >>> health_link("policy lookup"), health_link(None)
        ('spc_dashboard.ipynb?tool=policy%20lookup', 'spc_dashboard.ipynb')
    """
    return SPC_PAGE + ("" if tool is None else "?tool=" + urllib.parse.quote(str(tool), safe=""))


def health_html(health: Mapping[str, Any]) -> Markup:
    """The tool-health strip: ``5 of 7 tools stable · 2 drifting: a, b``, each tool not stable a
    link to its drill-down in the SPC dashboard (:func:`health_link`).

    Example:
        >>> h = {"tools": [{"name": "a"}, {"name": "b"}], "stable": ["a"], "watch": [],
        ...      "drift": ["b"], "level": "warn", "text": ""}
        >>> 'href="spc_dashboard.ipynb?tool=b"' in health_html(h)
        True
    """
    context = {"tools": [], "stable": [], "watch": [], "drift": [], "error": None}
    context |= {"level": "neutral", "text": ""} | dict(health)
    return render("executive/health.html.j2", health=context, link=health_link)


def sealed_ranges_html(ranges: Sequence[Mapping[str, Any]]) -> Markup:
    """One line per sealed or purged range of the WORM log (empty when nothing is sealed).

    Example:
        >>> "purged by policy" in sealed_ranges_html([{"state": "purged", "text": "Entries 1–9 purged by policy on 2027-01-01"}])
        True
        >>> sealed_ranges_html([])
        Markup('')
    """
    return render("executive/sealed.html.j2", ranges=list(ranges)) if ranges else Markup("")


def cost_summary_html(cost: Mapping[str, Any]) -> Markup:
    """Run total (exact value in ``data-usd``), receipts count, price-table version.

    Example:
        >>> 'data-usd="0.25"' in cost_summary_html({"run_total_usd": 0.25, "receipts": 1})
        True
    """
    total = float(cost.get("run_total_usd") or 0.0)
    context = {"unpriced": 0, "price_table_version": None, "run_price_versions": []} | dict(cost)
    return render(
        "executive/cost_summary.html.j2", cost=context, total=total, total_repr=_usd(total)
    )


def steps_table_html(steps: Sequence[Mapping[str, Any]]) -> Markup:
    """Per-step token usage and cost (from the stored receipts); the model under the step name.

    Example:
        >>> "$0.001000" in steps_table_html([{"node": "ocr", "models": "m", "input_tokens": 10,
        ...     "output_tokens": 2, "cost_usd": 0.001, "calls": 1, "unpriced_calls": 0}])
        True
    """
    rows = [{"unpriced_calls": 0} | dict(s) | {"usd_repr": _usd(s["cost_usd"])} for s in steps]
    return render("executive/steps.html.j2", steps=rows)


def periods_html(periods: Sequence[Mapping[str, Any]]) -> Markup:
    """Today / 7 days / 30 days totals (relative to the newest receipt) as three small boxes.

    Example:
        >>> "7 days" in periods_html([{"name": "7d", "cost_usd": 1.5, "calls": 3, "unpriced_calls": 0}])
        True
    """
    rows = [{"unpriced_calls": 0} | dict(p) | {"usd_repr": _usd(p["cost_usd"])} for p in periods]
    return render("executive/periods.html.j2", periods=rows, names=PERIOD_NAMES)


def breakdown_html(rows: Sequence[Mapping[str, Any]], label: str, count: str = "calls") -> Markup:
    """A table of cost per workflow or per model (``label`` names the column: "Workflow").

    Example:
        >>> "gl-by-model" in breakdown_html([{"model": "m", "calls": 2, "cost_usd": 0.1,
        ...     "unpriced_calls": 0}], "Model")
        True
    """
    rows = [{"unpriced_calls": 0} | dict(r) for r in rows]
    return render("executive/breakdown.html.j2", rows=rows, label=label, count=count)


def alerts_html(
    alerts: Sequence[Mapping[str, Any]], watch: Mapping[str, Any] | None = None
) -> Markup:
    """Whether `govlib watch` is looking, then the last alerts and their delivery state (sent /
    pending / given up, with the WORM seq).

    Example:
        >>> 'data-state="sent"' in alerts_html([{"alert_id": "a1", "name": "kill_switch_triggered",
        ...     "summary": "s", "destination_id": "d1", "state": "sent", "attempts": 1,
        ...     "worm_seq": 9, "created_at": "2026-01-01T00:00:00.000000Z"}])
        True
    """
    watch = {"last_look": None, "alive": False} | dict(watch or {})
    return render("executive/alerts.html.j2", alerts=list(alerts), watch=watch)


def governance_html(data: Mapping[str, Any]) -> Markup:
    """The Governance State panel: kill-switch, workflow steps, rules, tool registry, alerts.

    Example:
        >>> "Governance rules" in governance_html({})
        True
    """
    rules = data.get("rules", [])
    return render(
        "executive/governance.html.j2",
        kill_switch=kill_switch_html(data.get("kill_switch", {}), rules),
        nodes=nodes_html(data.get("nodes", [])),
        rules=rules_html(rules),
        registry=registry_html(data.get("registry", [])),
        alerts=alerts_html(data.get("alerts", []), data.get("watch")),
    )


def cost_html(data: Mapping[str, Any], *, chart: Markup | None = None) -> Markup:
    """The Cost Ledger panel: run total, cost per step (chart and table), periods, breakdowns.

    ``chart``: the cost-per-step chart already drawn (default: :func:`step_cost_svg`).

    Example:
        >>> "Cost per model (30 days)" in cost_html({})
        True
    """
    cost = data.get("cost", {})
    steps = cost.get("steps", [])
    return render(
        "executive/cost.html.j2",
        summary=cost_summary_html(cost),
        chart=step_cost_svg(steps) if chart is None else chart,
        steps=steps_table_html(steps),
        periods=periods_html(cost.get("periods", [])),
        by_workflow=breakdown_html(cost.get("by_workflow", []), "Workflow", "runs"),
        by_model=breakdown_html(cost.get("by_model", []), "Model"),
    )
