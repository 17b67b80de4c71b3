"""HTML of the SPC dashboard's tables: pure functions from rows to strings, no widgets.

Every cell that uses colour also says its state in words (``pill`` puts a symbol and text on the
colour). Rows are CSS grids with fixed column widths, so the header and each row widget line up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from govlib.apps.widgets import esc, pill
from govlib.settings import Settings

__all__ = [
    "rules_map",
    "CALL_COLUMNS",
    "CSS",
    "RATE_LEVEL",
    "call_cells",
    "grid_header",
    "fmt_ms",
    "fmt_rate",
    "rate_pill",
    "short_ts",
    "thresholds_html",
    "verdict_pill",
]

#: spc.pill colour -> common.pill level.
RATE_LEVEL = {"green": "ok", "amber": "warn", "red": "bad", None: "neutral"}

#: Tool-call table columns: (key, header, width).
CALL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "Call", "64px"),
    ("time", "Time (UTC)", "138px"),
    ("tool", "Tool", "136px"),
    ("workflow", "Workflow", "92px"),
    ("tenant", "Tenant", "60px"),
    ("outcome", "Outcome", "92px"),
    ("latency", "Latency", "64px"),
    ("rules", "Rules fired", "114px"),
    ("verdict", "Verdict", "196px"),
)

CSS = """
.spc-hidden{display:none !important;}
.spc-invisible{visibility:hidden;}
.spc-grid{display:grid;column-gap:6px;align-items:center;font-size:12px;}
.spc-grid>div{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;}
.spc-grid .gl-num{text-align:right;font-variant-numeric:tabular-nums;}
.spc-grid.spc-head>div{white-space:normal;}
.spc-head{font-weight:700;color:#495057;background:#f1f3f5;border-bottom:1px solid #ced4da;
  padding:3px 0;}
.spc-call-row,.spc-stat-row{border-bottom:1px solid #e9ecef;align-items:center;}
.spc-call-row.spc-selected{background:#fff8c5;outline:2px solid #b58100;}
.spc-call-row .widget-button,.spc-stat-row .widget-button{height:24px;line-height:22px;}
.spc-msg .gl-ok-msg{border:1px solid #198754;background:#d1e7dd;color:#0f5132;padding:4px 8px;
  border-radius:6px;}
.spc-thresholds{font-size:12px;color:#41464b;}
.spc-thresholds summary{cursor:pointer;font-weight:600;}
.spc-thresholds ul{margin:2px 0 2px 18px;padding:0;}
.spc-thresholds li{line-height:1.35;margin:1px 0;}
.spc-title{font-size:20px;font-weight:700;}
.spc-drill{border:2px solid #0d6efd;border-radius:8px;padding:8px;margin-top:8px;}
.spc-drill-title{font-size:15px;font-weight:700;}
.spc-sel-marker{color:#664d03;font-weight:700;}
.spc-tool-btn button,.spc-tool-btn{text-align:left;}
"""


def grid_template(columns: tuple[tuple[str, str, str], ...]) -> str:
    """CSS ``grid-template-columns`` of a column tuple.

    Example:
        >>> grid_template((("a", "A", "10px"), ("b", "B", "20px")))
        '10px 20px'
    """
    return " ".join(w for _, _, w in columns)


def grid_header(columns: tuple[tuple[str, str, str], ...], numeric: tuple[str, ...] = ()) -> str:
    """A header row for a grid table.

    Example:
        >>> "Tool" in grid_header(CALL_COLUMNS)
        True
    """
    cells = "".join(
        f'<div class="{"gl-num" if key in numeric else ""}">{esc(head)}</div>'
        for key, head, _ in columns
    )
    return (
        f'<div class="spc-grid spc-head" role="row" '
        f'style="grid-template-columns:{grid_template(columns)}">{cells}</div>'
    )


def short_ts(ts: str | None) -> str:
    """``2026-11-23T10:02:03.123456Z`` -> ``2026-11-23 10:02:03``.

    Example:
        >>> short_ts("2026-11-23T10:02:03.123456Z")
        '2026-11-23 10:02:03'
    """
    if not ts:
        return "—"
    return str(ts).replace("T", " ")[:19]


def fmt_ms(value: Any) -> str:
    """Milliseconds for a table cell ("—" when missing).

    Example:
        >>> fmt_ms(1234.4), fmt_ms(3.25), fmt_ms(None)
        ('1,234 ms', '3.2 ms', '—')
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(v):
        return "—"
    return f"{v:,.0f} ms" if abs(v) >= 10 else f"{v:.1f} ms"


def fmt_rate(rate: Any) -> str:
    """A rate as a percentage with one decimal ("—" when missing).

    Example:
        >>> fmt_rate(0.9876), fmt_rate(None)
        ('98.8%', '—')
    """
    try:
        v = float(rate)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(v) else f"{100 * v:.1f}%"


def rate_pill(rate: Any, settings: Settings, *, what: str, extra: str = "") -> str:
    """A success or accept-rate pill: green >= pill_green_min, amber >= pill_amber_min, red below;
    "—" (neutral) when there is no rate.

    Example:
        >>> "gl-warn" in rate_pill(0.97, Settings(), what="success")
        True
        >>> "—" in rate_pill(None, Settings(), what="accept")
        True
    """
    from govlib.analysis.spc import pill as spc_pill

    colour = None if fmt_rate(rate) == "—" else spc_pill(float(rate), settings)
    word = {"green": "green", "amber": "amber", "red": "red", None: "no data"}[colour]
    title = f"{what} rate {fmt_rate(rate)} ({word}: green >= {fmt_rate(settings.pill_green_min)}, "
    title += f"amber >= {fmt_rate(settings.pill_amber_min)}, red below){extra}"
    return pill(fmt_rate(rate), RATE_LEVEL[colour], title=title)


def verdict_pill(verdict: str | None, by: str | None, at: str | None) -> str:
    """ "unreviewed", "accepted · NAME" or "rejected · NAME" with the time on hover.

    Example:
        >>> "accepted · Ana" in verdict_pill("accept", "Ana", "2026-11-23T10:00:00Z")
        True
    """
    if verdict is None:
        return pill("unreviewed", "neutral", title="no human verdict yet")
    word = "accepted" if verdict == "accept" else "rejected"
    level = "ok" if verdict == "accept" else "bad"
    return pill(f"{word} · {by or '?'}", level, title=f"{word} by {by} at {short_ts(at)} UTC")


def call_cells(row: Mapping[str, Any], rules: str | None, *, selected: bool = False) -> str:
    """The cells of one tool-call row (a grid aligned with :data:`CALL_COLUMNS`).

    Example:
        >>> html = call_cells({"id": 7, "tool_name": "ocr", "success": 1, "latency_ms": 120,
        ...                    "human_verdict": None, "created_at": "2026-11-23T10:00:00Z"}, None)
        >>> 'data-call-id="7"' in html and "unreviewed" in html
        True
    """
    ok = row.get("success")
    outcome = (
        pill("no result", "neutral")
        if ok is None
        else pill("success", "ok")
        if int(ok)
        else pill("failed", "bad", title=str(row.get("error") or "failed"))
    )
    rule_cell = pill(rules, "bad" if "rule 1" in rules else "warn", title=rules) if rules else "—"
    marker = '<span class="spc-sel-marker">▶ </span>' if selected else ""
    verdict = row.get("human_verdict")
    cells = {
        "id": f"{marker}#{esc(row.get('id'))}",
        "time": esc(short_ts(row.get("created_at"))),
        "tool": esc(row.get("tool_name")),
        "workflow": esc(row.get("workflow") or "—"),
        "tenant": esc(row.get("tenant_id") or "—"),
        "outcome": outcome,
        "latency": esc(fmt_ms(row.get("latency_ms"))),
        "rules": rule_cell,
        "verdict": verdict_pill(verdict, row.get("verdict_by"), row.get("verdict_at")),
    }
    body = "".join(
        f'<div class="spc-c-{key}{" gl-num" if key == "latency" else ""}" '
        f'title="{esc(_plain(cells[key]) if key in ("tool", "workflow") else "")}">'
        f"{cells[key]}</div>"
        for key, _, _ in CALL_COLUMNS
    )
    return (
        f'<div class="spc-grid spc-cells" data-call-id="{esc(row.get("id"))}" '
        f'data-verdict="{esc(verdict or "none")}" data-by="{esc(row.get("verdict_by") or "")}" '
        f'style="grid-template-columns:{grid_template(CALL_COLUMNS)}">{body}</div>'
    )


def _plain(html_text: str) -> str:
    import html as _html

    return _html.unescape(html_text)


def thresholds_html(settings: Settings) -> str:
    """The thresholds in force (pills, sampling ladder, drift badge), as a foldable list.

    Example:
        >>> "99.0%" in thresholds_html(Settings())
        True
    """
    s = settings
    pills = (
        f"Pills (success and accept rate): green &ge; {fmt_rate(s.pill_green_min)}, "
        f"amber &ge; {fmt_rate(s.pill_amber_min)}, red below; “—” when there are no reviews."
    )
    ladder = (
        f"Sampling ladder: 100% below {s.sampling_min_calls} calls, when success is red, drift "
        f"is flagged, or acceptance is red over &ge; {s.sampling_red_accept_min_reviews} "
        f"reviews · 50% from {s.sampling_min_calls} calls with success &ge; "
        f"{fmt_rate(s.pill_amber_min)} · 20% from {s.sampling_20_min_calls} calls, success "
        f"&ge; {fmt_rate(s.pill_green_min)} and no rule fire among the newest {s.spc_recent} · "
        f"5% needs &ge; {s.sampling_min_reviews} reviews at &ge; "
        f"{fmt_rate(s.sampling_min_accept)} acceptance · exception-only review needs "
        f"&ge; {s.sampling_exception_min_calls} calls and a Wilson 95% lower bound of "
        f"acceptance &ge; {s.sampling_exception_wilson_lb:g}."
    )
    drift = (
        f"Drift badge (newest {s.spc_recent} calls vs up to {s.spc_window} before): success "
        f"drop &gt; {s.drift_success_drop_pp:g} points; p95 latency &gt; "
        f"{s.drift_p95_ratio_high:g}&times; or &lt; {s.drift_p95_ratio_low:g}&times; the "
        f"baseline; &ge; {s.drift_rule1_fires} rule-1 fires or &ge; {s.drift_total_fires} rule "
        "fires. No signal = stable, one = watch, two or more = drift."
    )
    spc = (
        f"Control charts: newest {s.spc_window} calls per tool, limits on log latency "
        f"(moving-range sigma; latencies below {s.spc_min_latency_ms:g} ms count as "
        f"{s.spc_min_latency_ms:g} ms); the centre line is the geometric mean."
    )
    items = "".join(f"<li>{x}</li>" for x in (pills, ladder, drift, spc))
    return (
        '<details class="spc-thresholds" open><summary>Thresholds in force '
        "(you set them in govlib.json or GOVLIB_* variables)</summary>"
        f"<ul>{items}</ul></details>"
    )


def rules_map(series: pd.DataFrame) -> dict[int, str]:
    """Call id -> "rule 1, rule 4" for the calls of a chart window that fired a rule.

    Example:
        >>> df = pd.DataFrame({"id": [1, 2], "rule_1": [True, False], "rule_2": [False, False],
        ...                    "rule_3": [False, False], "rule_4": [True, False]})
        >>> rules_map(df)
        {1: 'rule 1, rule 4'}
    """
    if series.empty:
        return {}
    flags = series[[f"rule_{i}" for i in range(1, 5)]].to_numpy(dtype=bool)
    return {
        int(cid): ", ".join(f"rule {j + 1}" for j in range(4) if row[j])
        for cid, row in zip(series["id"].tolist(), flags, strict=True)
        if row.any()
    }
