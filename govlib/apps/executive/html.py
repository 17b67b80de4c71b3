"""HTML fragments of the executive SPOG, from the plain dicts of :mod:`govlib.analysis.executive`. Pure.

Every coloured element carries its state in words too (``pill``/``badge`` add a symbol and text).
Stable CSS classes and ``data-*`` attributes let the browser test read the page without guessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from govlib.analysis.executive import OUTCOME_LEVEL, humanize, short_time
from govlib.apps.widgets import badge, esc, pill

__all__ = [
    "audit_table_html",
    "breakdown_html",
    "chain_html",
    "cost_chart_svg",
    "cost_summary_html",
    "headline_html",
    "kill_switch_html",
    "money",
    "nodes_html",
    "periods_html",
    "registry_html",
    "rules_html",
    "steps_table_html",
]

SPOG_CSS = """
.gl-spog .gl-ks-lines{margin:6px 0 0 0;font-size:12px;line-height:1.5;}
.gl-spog .gl-ks-lines b{display:inline-block;min-width:44px;color:#495057;}
.gl-spog .gl-nodes{display:flex;flex-wrap:wrap;gap:4px;align-items:center;}
.gl-spog .gl-nodes .gl-arrow{color:#6c757d;}
.gl-spog .gl-total{font-size:24px;font-weight:700;}
.gl-spog .gl-periods{display:flex;gap:6px;}
.gl-spog .gl-period{flex:1;border:1px solid #dee2e6;border-radius:6px;padding:4px 6px;}
.gl-spog .gl-period b{display:block;font-size:15px;}
.gl-spog .gl-audit-table tr.gl-last td{border-bottom:2px solid #212529;}
.gl-spog .gl-audit-table tr.gl-broken td{background:#f8d7da;}
.gl-spog .gl-audit-table .gl-mono{white-space:nowrap;}
.gl-spog .gl-chart svg{max-width:100%;height:auto;}
.gl-spog .gl-title{font-size:15px;font-weight:700;margin-right:12px;white-space:nowrap;}
"""


def money(usd: float | None, *, digits: int = 6) -> str:
    """Dollars with a fixed number of decimals (tiny per-call costs stay visible).

    Example:
        >>> money(0.0123456)
        '$0.012346'
        >>> money(None)
        '—'
    """
    return "—" if usd is None else f"${float(usd):,.{digits}f}"


def _tokens(n: Any) -> str:
    return "—" if n is None else f"{int(n):,}"


def headline_html(head: Mapping[str, str]) -> str:
    """The plain-language strip at the top of the page."""
    level = head.get("level", "neutral")
    return (
        f'<div class="gl-headline gl-badge gl-{esc(level)}" data-level="{esc(level)}">'
        f"{esc(head.get('text', ''))}</div>"
    )


def kill_switch_html(ks: Mapping[str, Any], rules: Sequence[Mapping[str, Any]] = ()) -> str:
    """The big ARMED/TRIGGERED indicator with who, when, why and the rule named.

    Example:
        >>> "TRIGGERED" in kill_switch_html({"armed": False, "state": "TRIGGERED", "rule": "r1"})
        True
    """
    state = ks.get("state") or ("ARMED" if ks.get("armed") else "TRIGGERED")
    level = "ok" if ks.get("armed") else "bad"
    big = badge(state, level, big=True, title=ks.get("describe"))
    rule_id = ks.get("rule")
    desc = next((r.get("description") for r in rules if r.get("rule") == rule_id), None)
    verb = "Since" if ks.get("armed") else "When"
    lines = []
    if not ks.get("armed") or ks.get("by"):
        who = ks.get("by") or "—"
        if who.startswith("rule:"):
            who = f"automatic, by governance rule {who[5:]}"
        lines.append(f"<div><b>{'Reset by' if ks.get('armed') else 'Who'}</b> {esc(who)}</div>")
        lines.append(f"<div><b>{verb}</b> {esc(short_time(ks.get('at'), date=True))}</div>")
        lines.append(f"<div><b>Why</b> {esc(ks.get('reason') or '—')}</div>")
    if rule_id and not ks.get("armed"):
        extra = f" — {esc(desc)}" if desc else ""
        lines.append(
            f'<div><b>Rule</b> <span class="gl-ks-rule">{esc(rule_id)}</span>{extra}</div>'
        )
    if ks.get("armed") and not ks.get("by"):
        lines.append("<div>Never triggered: governed calls run normally.</div>")
    return (
        f'<div class="gl-killswitch" data-state="{esc(state)}">'
        f'<div class="gl-section">Kill-switch</div>{big}'
        f'<div class="gl-ks-lines">{"".join(lines)}</div></div>'
    )


def _table(head: Sequence[str], rows: Sequence[str], css: str = "", num: Sequence[int] = ()) -> str:
    ths = "".join(
        f'<th class="gl-num">{esc(h)}</th>' if i in num else f"<th>{esc(h)}</th>"
        for i, h in enumerate(head)
    )
    body = "".join(rows)
    return (
        f'<table class="gl-table {css}"><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>'
    )


def _td(value: str, *, num: bool = False, raw: bool = False, title: str | None = None) -> str:
    cls = ' class="gl-num"' if num else ""
    tip = f' title="{esc(title)}"' if title else ""
    return f"<td{cls}{tip}>{value if raw else esc(value)}</td>"


def rules_html(rules: Sequence[Mapping[str, Any]]) -> str:
    """Active rules with their latest outcome (anywhere) and their outcome in the selected run."""
    if not rules:
        return '<div class="gl-muted">No governance rules loaded.</div>'
    rows = []
    for r in rules:
        latest = r.get("latest_outcome")
        when = f"{short_time(r.get('at'), date=True)}: {r.get('message')}" if latest else None
        latest_pill = pill(latest or "not evaluated", r.get("level", "neutral"), title=when)
        here = r.get("run_outcome")
        here_pill = pill(here, OUTCOME_LEVEL.get(here, "neutral")) if here else "—"
        off = "" if r.get("enabled", True) else " (disabled)"
        name = (
            f"<b>{esc(r['rule'])}</b>{off}<br><span class='gl-muted'>{esc(r.get('description'))}"
            f" · on fire: {esc(humanize(r.get('action')))}</span>"
        )
        rows.append(
            f'<tr data-rule="{esc(r["rule"])}">{_td(name, raw=True)}'
            f"{_td(latest_pill, raw=True)}{_td(here_pill, raw=True)}</tr>"
        )
    return _table(["Rule", "Latest", "This run"], rows, "gl-rules")


def registry_html(tools: Sequence[Mapping[str, Any]]) -> str:
    """Tool registry: enabled/disabled, risk tier, calls and success in the selected run."""
    if not tools:
        return '<div class="gl-muted">No tools registered.</div>'
    tier_level = {"low": "ok", "medium": "warn", "high": "bad"}
    rows = []
    for t in tools:
        if not t.get("registered", True):
            state = pill("unregistered", "bad")
        else:
            state = pill("enabled", "ok") if t.get("enabled") else pill("disabled", "bad")
        tier = t.get("risk_tier")
        tier_pill = pill(f"{tier} risk", tier_level.get(tier, "neutral")) if tier else ""
        calls, rate = t.get("calls") or 0, t.get("success_rate")
        ok = "no calls" if rate is None else f"{calls} · {rate:.0%} ok"
        rows.append(
            f'<tr data-tool="{esc(t["name"])}">{_td(t["name"], title=t.get("description"))}'
            f"{_td(state + ' ' + tier_pill, raw=True)}{_td(ok, num=True)}</tr>"
        )
    return _table(["Tool", "State · risk", "Calls in run"], rows, "gl-registry", (2,))


def nodes_html(nodes: Sequence[Mapping[str, Any]]) -> str:
    """The selected run's workflow nodes as a strip of labelled pills joined by arrows."""
    if not nodes:
        return '<div class="gl-muted">No node steps recorded for this run.</div>'
    parts = []
    for n in nodes:
        label = f"{n.get('label') or humanize(n['node'])}: {n['status']}"
        parts.append(
            f'<span class="gl-node" data-node="{esc(n["node"])}" data-status="{esc(n["status"])}">'
            f"{pill(label, n.get('level', 'neutral'), title=short_time(n.get('started_at')))}"
            "</span>"
        )
    return f'<div class="gl-nodes">{"<span class=gl-arrow>→</span>".join(parts)}</div>'


def chain_html(chain: Mapping[str, Any]) -> str:
    """The chain badge: verified (green) or broken at seq S (red), from a real verification."""
    attrs = f'data-ok="{str(bool(chain.get("ok"))).lower()}"'
    if chain.get("bad_seq") is not None:
        attrs += f' data-bad-seq="{esc(chain["bad_seq"])}"'
    return (
        f'<div class="gl-chain-badge" {attrs}>'
        f"{badge(chain.get('text', ''), chain.get('level', 'neutral'), title=chain.get('summary'))}"
        "</div>"
    )


def audit_table_html(
    entries: Sequence[Mapping[str, Any]],
    *,
    node: str | None = None,
    outcome: str | None = None,
    bad_seq: int | None = None,
) -> str:
    """The run's WORM entries in time order, optionally filtered by node and/or outcome.

    The entry verification found broken (``bad_seq``) is marked in red with the word "broken".

    Example:
        >>> e = {"seq": 3, "ts": "2026-01-01T00:00:01Z", "node": "n", "action": "a", "rule": None,
        ...      "outcome": "pass", "mac_short": "ab", "prev_short": "cd", "level": "ok"}
        >>> 'data-seq="3"' in audit_table_html([e])
        True
    """
    shown = [
        e
        for e in entries
        if (node is None or e.get("node") == node)
        and (outcome is None or e.get("outcome") == outcome)
    ]
    if not shown:
        return '<div class="gl-muted">No WORM entries match.</div>'
    rows = []
    for i, e in enumerate(shown):
        css = ["gl-last"] if i == len(shown) - 1 else []
        broken = bad_seq is not None and e["seq"] == bad_seq
        css += ["gl-broken"] if broken else []
        last = f' class="{" ".join(css)}"' if css else ""
        out = e.get("outcome")
        what = f"<b>{esc(humanize(e.get('node')))}</b> " if e.get("node") else ""
        what += esc(humanize(e.get("action")))
        cell = pill(out, e.get("level", "neutral")) if out else "—"
        cell += "<br>" + pill("chain broken here", "bad") if broken else ""
        if e.get("rule"):
            cell += f"<br><span class='gl-muted'>rule {esc(e['rule'])}</span>"
        tip = f"MAC {e.get('mac')}&#10;prev {e.get('prev_mac')}"
        chain = (
            f'<span class="gl-mono" title="{esc(tip)}">{esc(e.get("mac_short"))}<br>'
            f"← {esc(e.get('prev_short'))}</span>"
        )
        rows.append(
            f'<tr data-seq="{esc(e["seq"])}" data-action="{esc(e.get("action"))}"'
            f' data-outcome="{esc(out)}"{last}>{_td(str(e["seq"]), num=True)}'
            f"{_td(short_time(e.get('ts'))[:8], num=True, title=e.get('ts'))}"
            f"{_td(what, raw=True)}{_td(cell, raw=True)}{_td(chain, raw=True)}</tr>"
        )
    head = ["Seq", "UTC", "Step · action", "Outcome", "MAC ← prev"]
    return _table(head, rows, "gl-audit-table", (0, 1))


def cost_summary_html(cost: Mapping[str, Any]) -> str:
    """Run total (exact value in ``data-usd``), receipts count, price-table version."""
    total = float(cost.get("run_total_usd") or 0.0)
    unpriced = cost.get("unpriced") or 0
    note = f", {unpriced} unpriced" if unpriced else ""
    versions = ", ".join(cost.get("run_price_versions") or []) or "—"
    return (
        '<div class="gl-section">This run</div>'
        f'<div class="gl-total gl-run-total" data-usd="{total!r}">{esc(money(total))}</div>'
        f'<div class="gl-muted">Sum of {cost.get("receipts", 0)} stored receipts{note}. '
        "Price table in force: "
        f"<b class='gl-price-version'>{esc(cost.get('price_table_version'))}</b>; "
        f"this run priced with: {esc(versions)}.</div>"
    )


def steps_table_html(steps: Sequence[Mapping[str, Any]]) -> str:
    """Per-step token usage and cost (from the stored receipts); the model under the step name."""
    if not steps:
        return '<div class="gl-muted">No receipts for this run.</div>'
    rows = []
    for s in steps:
        name = f"{esc(humanize(s['node']))}<br><span class='gl-muted'>{esc(s.get('models'))}</span>"
        rows.append(
            f'<tr data-step="{esc(s["node"])}" data-usd="{float(s["cost_usd"])!r}">'
            f"{_td(name, raw=True)}{_td(_tokens(s.get('input_tokens')), num=True)}"
            f"{_td(_tokens(s.get('output_tokens')), num=True)}"
            f"{_td(money(s['cost_usd']), num=True)}</tr>"
        )
    return _table(["Step · model", "In tok", "Out tok", "Cost"], rows, "gl-steps", (1, 2, 3))


def cost_chart_svg(steps: Sequence[Mapping[str, Any]], *, width: int = 340) -> str:
    """A static horizontal bar chart (inline SVG) of the stored cost per step.

    Written directly rather than through vl-convert: its engine start (0.5-1.9 s measured here)
    sat on the cold-kernel path of every page load, for four rectangles. Each bar carries its
    value in text and a ``<title>`` (hover); no script, no network reference.

    Example:
        >>> svg = cost_chart_svg([{"node": "fraud_scoring", "cost_usd": 0.002}])
        >>> svg.startswith("<svg") and "fraud scoring" in svg and "$0.002000" in svg
        True
    """
    if not steps:
        return '<div class="gl-muted">No cost to chart.</div>'
    label_w, value_w, row_h, bar_h = 120, 78, 22, 14
    bar_w = max(40, width - label_w - value_w)
    top = max(float(s.get("cost_usd") or 0.0) for s in steps) or 1.0
    rows = []
    for i, s in enumerate(steps):
        usd = float(s.get("cost_usd") or 0.0)
        name, y = humanize(s["node"]), i * row_h
        w = round(bar_w * usd / top, 1)
        short = name if len(name) <= 19 else name[:18] + "…"
        rows.append(
            f'<g class="gl-bar" data-step="{esc(s["node"])}"><title>{esc(name)}: '
            f"{esc(money(usd))}</title>"
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{esc(short)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="{bar_h}" fill="#0d6efd"/>'
            f'<text x="{label_w + w + 4}" y="{y + 15}">{esc(money(usd))}</text></g>'
        )
    height = row_h * len(steps) + 4
    axis = f'<line x1="{label_w}" y1="0" x2="{label_w}" y2="{height}" stroke="#6c757d"/>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Cost per step (USD)" '
        f'font-family="sans-serif" font-size="11" fill="#212529">{axis}{"".join(rows)}</svg>'
    )


_PERIOD_NAMES = {"today": "Today", "7d": "7 days", "30d": "30 days"}


def periods_html(periods: Sequence[Mapping[str, Any]]) -> str:
    """Today / 7 days / 30 days totals (relative to the newest receipt) as three small boxes.

    Example:
        >>> "7 days" in periods_html([{"name": "7d", "cost_usd": 1.5, "calls": 3}])
        True
    """
    boxes = [
        f'<div class="gl-period" data-period="{esc(p["name"])}"'
        f' data-usd="{float(p["cost_usd"])!r}">{esc(_PERIOD_NAMES.get(p["name"], p["name"]))}'
        f"<b>{esc(money(p['cost_usd'], digits=4))}</b>"
        f'<span class="gl-muted">{int(p.get("calls") or 0):,} receipts</span></div>'
        for p in periods
    ]
    return f'<div class="gl-periods">{"".join(boxes)}</div>'


def breakdown_html(rows: Sequence[Mapping[str, Any]], label: str, count: str = "calls") -> str:
    """A table of cost per workflow or per model (``label`` names the column: "Workflow")."""
    out = [
        f"<tr>{_td(str(r.get(label.lower()) or '—'))}"
        f"{_td(f'{int(r.get(count) or 0):,}', num=True)}"
        f"{_td(money(r.get('cost_usd'), digits=4), num=True)}</tr>"
        for r in rows
    ]
    if not out:
        return '<div class="gl-muted">No receipts in this period.</div>'
    head = [label, humanize(count).capitalize(), "Cost"]
    return _table(head, out, f"gl-by-{label.lower()}", (1, 2))
