"""HTML of the evidence report: values in, one self-contained page out (pure, no I/O).

No external asset of any kind: CSS inline, charts inline SVG (namespace attributes dropped, the
HTML parser puts ``<svg>`` in the SVG namespace itself), no scripts but the inert JSON data block,
and a Content-Security-Policy of ``default-src 'none'`` so a browser would refuse any fetch anyway.
Print-friendly: A4, every section on a new page, table headers repeated, colours kept.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from govlib.evidence.chain import canonical_json
from govlib.present.report_format import (
    CSS,
    LEVEL,
    cost_chart_svg,
    esc,
    inline_svg,
    ms,
    num,
    pct,
    pill,
    table,
    usd,
    when,
)

__all__ = ["SECTIONS", "render_report"]

#: Section anchors and titles, in report order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("governance", "Governance state"),
    ("verification", "Chain verification"),
    ("spc", "SPC per tool"),
    ("sampling", "Sampling recommendations"),
    ("costs", "Costs"),
    ("manifest", "Manifest"),
)


def _title_page(data: dict[str, Any], meta: dict[str, Any]) -> str:
    rep, ver, gov = data["report"], data["verification"], data["governance"]
    ks = gov["kill_switch"]
    drift = sum(1 for t in data["spc"] if t["drift"] == "drift")
    chain = pill("verified" if ver["ok"] else "BROKEN", "ok" if ver["ok"] else "bad")
    toc = "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t in SECTIONS)
    return f"""<header class="title-page" id="title">
<h1>{esc(rep["title"])}</h1>
<p class="lead">Evidence produced by govlib from the store's records: governance decisions,
tamper-evident chain, statistical process control of tool calls, and costs.</p>
<dl>
<dt>Period covered</dt><dd id="period">{rep["days"]} days: {when(rep["start"])} to
{when(rep["end"])} <span class="muted">(ending at the {esc(rep["end_basis"])})</span></dd>
<dt>Generated</dt><dd>{when(meta["generated_at"])} by govlib {esc(meta["govlib_version"])}</dd>
<dt>Store</dt><dd><code>{esc(meta["store"])}</code></dd>
<dt>Kill-switch</dt><dd>{pill(str(ks["state"]).upper(), LEVEL.get(ks["state"]))}</dd>
<dt>Chain</dt><dd>{chain} {esc(ver["summary"])}</dd>
<dt>Tools in drift</dt><dd>{drift} of {len(data["spc"])}</dd>
<dt>Cost in period</dt><dd>{usd(data["costs"]["period"]["cost_usd"])}</dd>
</dl>
<p><strong>Manifest SHA-256</strong> (of the report data, see section 6):</p>
<p class="hash" id="manifest-hash">{meta["sha256"]}</p>
<nav class="toc"><h3>Contents</h3><ol>{toc}</ol></nav>
</header>"""


def _section(anchor: str, body: str) -> str:
    number = [a for a, _ in SECTIONS].index(anchor) + 1
    title = dict(SECTIONS)[anchor]
    return (
        f'<section class="report-section" id="{anchor}">'
        f"<h2>{number}. {esc(title)}</h2>{body}</section>"
    )


def _governance(gov: dict[str, Any]) -> str:
    ks = gov["kill_switch"]
    level = LEVEL.get(ks["state"], "neutral")
    box = (
        f'<div class="box {level}"><strong>Kill-switch: '
        f"{pill(str(ks['state']).upper(), level)}</strong><br>{esc(ks['describe'])}</div>"
    )
    events = table(
        ["#", "state", "at", "by", "reason", "rule", "run", "WORM seq"],
        [
            [esc(e["id"]), pill(e["state"]), when(e["at"]), esc(e["by"]), esc(e["reason"])]
            + [esc(e["rule"] or "—"), f"<code>{esc(e['run_id'] or '—')}</code>", esc(e["worm_seq"])]
            for e in gov["kill_switch_events"]
        ],
        right={0, 7},
    )
    refusals = table(
        ["reason", "calls refused", "last"],
        [[esc(r["reason"]), num(r["calls"]), when(r["last_at"])] for r in gov["refusals"]],
        right={1},
    )
    rules = table(
        ["rule", "description", "action", "enabled", "latest outcome", "at", "message"]
        + ["evaluated", "fired"],
        [
            [f"<code>{esc(r['rule'])}</code>", esc(r["description"]), esc(r["action"])]
            + ["yes" if r["enabled"] else "no", pill(r["latest_outcome"]), when(r["at"])]
            + [esc(r["message"] or "—"), num(r["period_evaluations"]), num(r["period_fired"])]
            for r in gov["rules"]
        ],
        right={7, 8},
    )
    tools = table(
        ["tool", "risk tier", "enabled", "argument schema", "description", "calls", "success"],
        [
            [f"<code>{esc(t['name'])}</code>", esc(t["risk_tier"]), "yes" if t["enabled"] else "NO"]
            + ["yes" if t["has_schema"] else "no", esc(t["description"]), num(t["period_calls"])]
            + [pct(t["period_success_rate"])]
            for t in gov["tools"]
        ],
        right={5, 6},
    )
    return (
        box
        + "<h3>Kill-switch events in the period</h3>"
        + events
        + "<h3>Calls refused by governance in the period</h3>"
        + refusals
        + '<h3>Rules and their latest outcome</h3><p class="muted">Evaluated / fired: counts '
        "in the period (fired = any outcome other than pass).</p>"
        + rules
        + "<h3>Tool registry</h3>"
        + tools
    )


def _verification(ver: dict[str, Any]) -> str:
    level = "ok" if ver["ok"] else "bad"
    head = ver["chain_head"] or {}
    facts = table(
        ["check", "value"],
        [
            ["WORM entries verified (HMAC-SHA256 chain)", num(ver["entries"])],
            ["Chain head", f"seq {esc(head.get('seq'))} <code>{esc(head.get('mac'))}</code>"],
            ["Last signed checkpoint", f"seq {esc(ver['last_checkpoint_seq'])} at "
             f"{when(ver['last_checkpoint_at'])}"],
            ["Signed checkpoints checked", num(ver["checkpoints_checked"])],
            ["Checkpoints in the store", num(ver["checkpoints_in_store"])],
            ["Pinned Ed25519 public key", f"<code>{esc(ver['public_key'] or 'none found')}</code>"],
        ],
    )  # fmt: skip
    problems = ""
    if ver["problems"]:
        shown = "".join(
            f"<li>{'seq ' + esc(p['seq']) + ': ' if p['seq'] else ''}{esc(p['reason'])}</li>"
            for p in ver["problems"]
        )
        more = ver["problems_total"] - len(ver["problems"])
        problems = f"<h3>Problems ({ver['problems_total']})</h3><ul>{shown}</ul>"
        problems += f"<p>… and {more} more (run <code>govlib verify</code>).</p>" if more else ""
    notes = "".join(f"<li>{esc(n)}</li>" for n in ver["notes"])
    return (
        f'<div class="box {level}"><strong>'
        f"{pill('VERIFIED' if ver['ok'] else 'BROKEN', level)}</strong> {esc(ver['summary'])}</div>"
        "<p>A real <code>verify_store</code> ran while this report was made: every WORM entry's "
        "MAC and link, every signed checkpoint against the pinned public key, every batch digest "
        "of tool-call rows and receipts, every verdict. It proves the records are unchanged up to "
        "the last checkpoint held outside the machine; it cannot prove that key holders did not "
        "rewrite history after it.</p>"
        + facts
        + problems
        + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")
    )


def _spark(row: dict[str, Any]) -> str:
    from govlib.present.charts import sparkline_svg

    if row["center"] is None or row["sigma"] is None:
        return '<span class="muted">—</span>'
    limits = SimpleNamespace(center=row["center"], sigma=row["sigma"])
    return inline_svg(sparkline_svg(row["sparkline"] or [], limits, width=96, height=26))


def _spc(rows: list[dict[str, Any]], thresholds: dict[str, Any]) -> str:
    heads = ["tool", "calls", "success", "accept", "p50 / p95", "drift"]
    heads += ["rule 1 · 2 · 3 · 4 fires", "newest", "latest calls"]
    right = {1, 4, 6, 7}
    cls = [' class="num"' if i in right else "" for i in range(len(heads))]
    cells = "".join(f"<th{c}>{esc(h)}</th>" for c, h in zip(cls, heads, strict=True))
    body = []
    for t in rows:
        accept = pill(pct(t["accept_rate"]), LEVEL.get(t["accept_pill"] or "", "neutral"))
        name = esc(t["tool_name"]).replace("_", "_<wbr>")
        row = [f"<code>{name}</code>", num(t["count"])]
        row += [pill(pct(t["success_rate"]), LEVEL.get(t["success_pill"] or "", "neutral"))]
        row += [f'{accept}<br><span class="muted">{t["accept_count"]}✓ {t["reject_count"]}✗</span>']
        row += [f"{ms(t['p50'])}<br>{ms(t['p95'])}", pill(t["drift"])]
        row += [" · ".join(num(t[f"rule_{k}"]) for k in (1, 2, 3, 4)), num(t["recent_fires"])]
        row += [_spark(t)]
        tds = "".join(f"<td{c}>{v}</td>" for c, v in zip(cls, row, strict=True))
        signals = "; ".join(esc(s) for s in t["drift_signals"]) or "none"
        body.append(
            f'<tbody class="tool"><tr>{tds}</tr><tr class="signals"><td></td>'
            f'<td colspan="{len(heads) - 1}">Drift signals: {signals}</td></tr></tbody>'
        )
    grid = f'<table class="spc"><thead><tr>{cells}</tr></thead>{"".join(body)}</table>'
    shown = ", ".join(f"{esc(k)} = {esc(v)}" for k, v in thresholds.items())
    return (
        "<p>Individuals control chart of log latency per tool over its newest calls in the period; "
        "Western Electric rules 1–4 counted over that window (rule 1: a point beyond 3 sigma; "
        "rule 2: 2 of 3 beyond 2 sigma; rule 3: 4 of 5 beyond 1 sigma; rule 4: 8 in a row on one "
        "side). <em>Newest</em>: rule fires among the newest calls. Pills: green at or above the "
        "green threshold, amber above the amber one, red below; the text always states the rate. "
        "Drift badge: stable (no signal), watch (one), drift (two or more).</p>"
        + f'<p class="muted">Thresholds in force (govlib settings): {shown}.</p>'
        + (grid if rows else '<p class="muted">No tool calls in the period.</p>')
    )


def _sampling(rows: list[dict[str, Any]]) -> str:
    grid = table(
        ["tool", "calls", "review sampling", "reason"],
        [
            [f"<code>{esc(t['tool_name'])}</code>", num(t["count"])]
            + [f"<strong>{esc(t['sampling'])}</strong>", esc(t["sampling_reason"])]
            for t in rows
        ],
        right={1},
    )
    return (
        "<p>How many of each tool's calls a person should review, from the evidence above: every "
        "call while a tool is new, red, drifting or rejected often; fewer as calls and accepted "
        "reviews build up; exceptions only when the accept rate's Wilson lower bound is high.</p>"
        + grid
    )


def _costs(costs: dict[str, Any], start: str, end: str) -> str:
    p = costs["period"]
    totals = table(
        ["model calls", "input tokens", "output tokens", "cache tokens", "cost", "unpriced calls"],
        [[num(p["calls"]), num(p["input_tokens"]), num(p["output_tokens"])]
         + [num(p["cache_tokens"]), usd(p["cost_usd"]), num(p["unpriced_calls"])]],
        right={0, 1, 2, 3, 4, 5},
    )  # fmt: skip
    roll = costs["rolling"]
    rolling = table(
        ["window (to the newest receipt)", "model calls", "cost"],
        [[k, num(roll[k]["calls"]), usd(roll[k]["cost_usd"])] for k in ("today", "7d", "30d")],
        right={1, 2},
    )
    wf = table(
        ["workflow", "runs", "model calls", "cost", "cost per run", "unpriced calls"],
        [
            [esc(r["workflow"]), num(r["runs"]), num(r["calls"]), usd(r["cost_usd"])]
            + [usd(r["cost_per_run"]), num(r["unpriced_calls"])]
            for r in costs["by_workflow"]
        ],
        right={1, 2, 3, 4, 5},
    )
    models = table(
        ["model", "provider", "calls", "input tokens", "output tokens", "cost", "unpriced"],
        [
            [f"<code>{esc(r['model'])}</code>", esc(r["provider"]), num(r["calls"])]
            + [num(r["input_tokens"]), num(r["output_tokens"]), usd(r["cost_usd"])]
            + [num(r["unpriced_calls"])]
            for r in costs["by_model"]
        ],
        right={2, 3, 4, 5, 6},
    )
    versions = ", ".join(f"<code>{esc(v)}</code>" for v in costs["price_table_versions"]) or "—"
    return (
        "<p>Sums of the stored receipts: each cost was fixed when the call was recorded, with the "
        f"price-table version beside it (in this period: {versions}); nothing is re-priced.</p>"
        + "<h3>Period totals</h3>"
        + totals
        + rolling
        + "<h3>Per workflow</h3>"
        + wf
        + "<h3>Per model</h3>"
        + models
        + "<h3>Cost per day</h3><figure>"
        + cost_chart_svg(costs["by_day"], start, end)
        + "<figcaption>Stored cost per UTC day in the period.</figcaption></figure>"
    )


def _manifest(data: dict[str, Any], meta: dict[str, Any]) -> str:
    rep = data["report"]
    counts = table(
        ["table", "rows"],
        [[f"<code>{esc(t)}</code>", num(n), f' data-table="{esc(t)}"']
         for t, n in data["store_counts"].items()],
        right={1},
        data_role="store-counts",
    )  # fmt: skip
    rows = table(
        ["report data list", "rows"],
        [[f"<code>{esc(k)}</code>", num(n)] for k, n in meta["data_rows"].items()],
        right={1},
        data_role="data-rows",
    )
    return (
        f"<p>Data period: {when(rep['start'])} to {when(rep['end'])} ({rep['days']} days, "
        f"<code>--period {esc(rep['period'])}</code>).</p>"
        "<h3>Rows per table in the store</h3><p>The same numbers as <code>govlib status</code> "
        "(whole store, not only the period).</p>" + counts + "<h3>SHA-256 of the report data</h3>"
        f'<p class="hash">{meta["sha256"]}</p>'
        "<p>The SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of every figure this "
        "report shows. That JSON is embedded in this file (element <code>#report-data</code>); "
        "recompute with <code>govlib.report.contents.read_report_data(html)</code>. Not hashed: generation "
        "time, file paths, govlib version.</p>"
        "<h3>Rows in the report data</h3>" + rows
    )


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
    from govlib.report.contents import DATA_ELEMENT_ID

    body = [_title_page(data, meta)]
    body.append(_section("governance", _governance(data["governance"])))
    body.append(_section("verification", _verification(data["verification"])))
    body.append(_section("spc", _spc(data["spc"], data["thresholds"])))
    body.append(_section("sampling", _sampling(data["spc"])))
    body.append(
        _section("costs", _costs(data["costs"], data["report"]["start"], data["report"]["end"]))
    )
    body.append(_section("manifest", _manifest(data, meta)))
    blob = canonical_json(data)
    blob = blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(data['report']['title'])} — {when(data['report']['end'])}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}"
        f'<script type="application/json" id="{DATA_ELEMENT_ID}" '
        f'data-sha256="{meta["sha256"]}">{blob}</script></body></html>\n'
    )
