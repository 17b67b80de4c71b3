"""HTML of the evidence report: values in, one self-contained page out (pure, no I/O).

The page is the template ``report/page.html.j2`` with one template per section; this module turns
the report data into their rows, formatted by :mod:`govlib.present`. No external asset of any
kind: CSS inline, charts inline SVG (namespace attributes dropped, the HTML parser puts ``<svg>``
in the SVG namespace itself), no scripts but the inert JSON data block, and a
Content-Security-Policy of ``default-src 'none'`` so a browser would refuse any fetch anyway.
Print-friendly: A4, every section on a new page, table headers repeated, colours kept.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from govlib.evidence.chain import canonical_json
from govlib.present.charts import Limits, daily_cost_svg, sparkline_svg
from govlib.present.formatting import milliseconds, number, percent, priced_money, timestamp
from govlib.present.html import display_text, inline_svg
from govlib.present.pills import level_of, pill
from govlib.present.tables import Row
from govlib.present.templating import render, source

__all__ = ["CSP", "DATA_ELEMENT_ID", "SECTIONS", "embedded_json", "render_report"]

#: ``id`` of the ``<script type="application/json">`` element holding the hashed data.
DATA_ELEMENT_ID = "report-data"
#: Content-Security-Policy of the page: nothing may be fetched.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
#: Section anchors and titles, in report order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("governance", "Governance state"),
    ("verification", "Chain verification"),
    ("spc", "SPC per tool"),
    ("sampling", "Sampling recommendations"),
    ("costs", "Costs"),
    ("manifest", "Manifest"),
)


def _code(value: Any) -> Markup:
    return Markup("<code>{}</code>").format(value)


def _name(value: Any, max_chars: int = 60) -> Markup:
    """A stored name (tool, workflow, rule, model): isolated, capped, the whole on hover."""
    return _code(display_text(value, max_chars)) if value is not None else Markup("—")


def _text(value: Any, max_chars: int = 200) -> Markup | str:
    """Stored free text (a person, a reason): isolated, capped, the whole on hover."""
    return display_text(value, max_chars) if value not in (None, "") else "—"


def _yes(flag: Any, no: str = "no") -> str:
    return "yes" if flag else no


def _governance(gov: dict[str, Any]) -> dict[str, Any]:
    events = [
        [e["id"], pill(e["state"]), timestamp(e["at"]), _text(e["by"], 60), _text(e["reason"])]
        + [_name(e["rule"]) if e["rule"] else "—", _name(e["run_id"] or "—"), e["worm_seq"]]
        for e in gov["kill_switch_events"]
    ]
    refusals = [[r["reason"], number(r["calls"]), timestamp(r["last_at"])] for r in gov["refusals"]]
    rules = [
        [_name(r["rule"]), _text(r["description"]), r["action"], _yes(r["enabled"])]
        + [pill(r["latest_outcome"]), timestamp(r["at"]), _text(r["message"])]
        + [number(r["period_evaluations"]), number(r["period_fired"])]
        for r in gov["rules"]
    ]
    tools = [
        [_name(t["name"]), t["risk_tier"], _yes(t["enabled"], "NO"), _yes(t["has_schema"])]
        + [_text(t["description"]), number(t["period_calls"]), percent(t["period_success_rate"])]
        for t in gov["tools"]
    ]
    return {"ks": gov["kill_switch"], "events": events, "refusals": refusals, "rules": rules} | {
        "tools": tools
    }


def _verification(ver: dict[str, Any]) -> dict[str, Any]:
    head = ver["chain_head"] or {}
    checkpoint = f"seq {ver['last_checkpoint_seq']} at {timestamp(ver['last_checkpoint_at'])}"
    facts = [
        ["WORM entries verified (HMAC-SHA256 chain)", number(ver["entries"])],
        ["Chain head", Markup("seq {} {}").format(head.get("seq"), _code(head.get("mac")))],
        ["Last signed checkpoint", checkpoint],
        ["Signed checkpoints checked", number(ver["checkpoints_checked"])],
        ["Checkpoints in the store", number(ver["checkpoints_in_store"])],
        ["Pinned Ed25519 public key", _code(ver["public_key"] or "none found")],
    ]
    more = ver["problems_total"] - len(ver["problems"])
    return {"ver": ver, "facts": facts, "more": more}


def _spark(row: dict[str, Any]) -> Markup:
    if row["center"] is None or row["sigma"] is None:
        return pill(None)
    limits = Limits(center=row["center"], sigma=row["sigma"])
    return inline_svg(sparkline_svg(row["sparkline"] or [], limits, width=96, height=26))


def _spc_cells(t: dict[str, Any]) -> list[Any]:
    success = pill(percent(t["success_rate"]), level_of(t["success_pill"]))
    accept = pill(percent(t["accept_rate"]), level_of(t["accept_pill"]))
    counts = Markup('{}<br><span class="gl-muted">{}✓ {}✗</span>')
    latency = Markup("{}<br>{}").format(milliseconds(t["p50"]), milliseconds(t["p95"]))
    return [
        _name(t["tool_name"]),
        number(t["count"]),
        success,
        counts.format(accept, t["accept_count"], t["reject_count"]),
        latency,
        pill(t["drift"]),
        " · ".join(number(t[f"rule_{k}"]) for k in (1, 2, 3, 4)),
        number(t["recent_fires"]),
        _spark(t),
    ]


def _spc(
    rows: list[dict[str, Any]], thresholds: dict[str, Any], version: str | None = None
) -> dict[str, Any]:
    tools = [{"cells": _spc_cells(t), "signals": t["drift_signals"]} for t in rows]
    return {"tools": tools, "thresholds": thresholds, "settings_version": version}


def _sampling(rows: list[dict[str, Any]], evaluators: list[dict[str, Any]]) -> dict[str, Any]:
    strong = Markup("<strong>{}</strong>")
    grid = [
        [_name(t["tool_name"]), number(t["count"]), strong.format(t["sampling"])]
        + [t["sampling_reason"]]
        for t in rows
    ]
    machine = [
        [_name(e["source"]), e["evaluated"], _name(e["name"])]
        + [number(e["accept_count"]), number(e["reject_count"]), timestamp(e["latest_at"])]
        for e in evaluators
    ]
    return {"rows": grid, "evaluators": machine}


def _rolled(period: dict[str, Any]) -> str:
    return priced_money(period["cost_usd"], period.get("calls"), period.get("unpriced_calls"))


def _costs(costs: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    p, roll = costs["period"], costs["rolling"]
    totals = [
        [number(p["calls"]), number(p["input_tokens"]), number(p["output_tokens"])]
        + [
            number(p["cache_tokens"]),
            priced_money(p["cost_usd"], p["calls"], p["unpriced_calls"]),
            number(p["unpriced_calls"]),
        ]
    ]
    rolling = [[k, number(roll[k]["calls"]), _rolled(roll[k])] for k in ("today", "7d", "30d")]
    workflows = [
        [
            _text(r["workflow"], 60),
            number(r["runs"]),
            number(r["calls"]),
            priced_money(r["cost_usd"], r["calls"], r["unpriced_calls"]),
        ]
        + [
            priced_money(r["cost_per_run"], r["calls"], r["unpriced_calls"]),
            number(r["unpriced_calls"]),
        ]
        for r in costs["by_workflow"]
    ]
    models = [
        [_name(r["model"]), _text(r["provider"], 40), number(r["calls"]), number(r["input_tokens"])]
        + [number(r["output_tokens"]), priced_money(r["cost_usd"], r["calls"], r["unpriced_calls"])]
        + [number(r["unpriced_calls"])]
        for r in costs["by_model"]
    ]
    versions = [_code(v) for v in costs["price_table_versions"]]
    return {"totals": totals, "rolling": rolling, "workflows": workflows, "models": models} | {
        "versions": Markup(", ").join(versions) if versions else "—",
        "chart": daily_cost_svg(costs["by_day"], start, end),
    }


def _manifest(data: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    counts = [
        Row([_code(t), number(n)], {"data_table": t}) for t, n in data["store_counts"].items()
    ]
    rows = [[_code(k), number(n)] for k, n in meta["data_rows"].items()]
    return {"counts": counts, "rows": rows}


def embedded_json(data: dict[str, Any]) -> Markup:
    """The canonical JSON of the report data, safe inside ``<script>`` (``<``, ``>`` and ``&``
    written as ``\\u003c`` ...), exactly what the manifest hash covers once decoded.

    Example:
        >>> embedded_json({"a": "</script>"})
        Markup('{"a":"\\\\u003c/script\\\\u003e"}')
    """
    blob = canonical_json(data)
    return Markup(blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render_report(data: dict[str, Any], meta: dict[str, Any]) -> str:
    """The whole report page.

    ``meta``: generated_at, store, govlib_version, sha256 (of ``data``), data_rows.

    Example:
        >>> from govlib.report.contents import report_data, report_hash, data_row_counts
        >>> from govlib.store.database import Store
        >>> d = report_data(Store(memory=True))
        >>> meta = {"generated_at": "2026-11-23T10:00:00Z", "store": "mem",
        ...         "govlib_version": "0", "sha256": report_hash(d), "data_rows": {}}
        >>> "Chain verification" in render_report(d, meta)
        True
    """
    rep = data["report"]
    page = render(
        "report/page.html.j2",
        rep=rep,
        meta=meta,
        css=Markup(source("report/report.css")),
        csp=Markup(CSP),  # a constant without quotes or markup; kept readable
        sections=SECTIONS,
        data_id=DATA_ELEMENT_ID,
        blob=embedded_json(data),
        drift=sum(1 for t in data["spc"] if t["drift"] == "drift"),
        tools=len(data["spc"]),
        chain=data["verification"],
        ks=data["governance"]["kill_switch"],
        period_cost=data["costs"]["period"]["cost_usd"],
        governance=_governance(data["governance"]),
        verification=_verification(data["verification"]),
        spc=_spc(data["spc"], data["thresholds"], data.get("settings_version")),
        sampling=_sampling(data["spc"], data.get("evaluators") or []),
        costs=_costs(data["costs"], rep["start"], rep["end"]),
        manifest=_manifest(data, meta),
    )
    return str(page) + "\n"
