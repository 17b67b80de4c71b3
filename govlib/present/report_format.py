"""Formatting helpers of the evidence report: escaped text, numbers, pills, tables, inline SVG.

Pure: values in, HTML strings out. Every helper escapes what it is given, except ``table`` whose
cells are already HTML. Pills always carry their text and a symbol, never colour alone.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

__all__ = [
    "CSS", "LEVEL", "cost_chart_svg", "esc", "inline_svg", "ms", "num", "pct", "pill", "table",
    "usd", "when", "SYMBOL",
]  # fmt: skip

#: Word shown in a pill -> its level (colour and symbol).
LEVEL = {"green": "ok", "amber": "warn", "red": "bad", "stable": "ok", "watch": "warn"}
LEVEL |= {"drift": "bad", "armed": "ok", "triggered": "bad", "reset": "ok", "pass": "ok"}
LEVEL |= {"review": "warn", "deny": "bad", "trip": "bad"}
#: A symbol per level, so a pill never relies on colour alone.
SYMBOL = {"ok": "✔", "warn": "▲", "bad": "✖", "neutral": "•"}

CSS = """
:root{--ink:#1d2327;--muted:#5f6b73;--rule:#d5dbe0;--ok:#0f5132;--ok-bg:#d1e7dd;--warn:#664d03;
--warn-bg:#fff3cd;--bad:#842029;--bad-bg:#f8d7da;--neutral:#41464b;--neutral-bg:#e2e3e5}
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:28px;margin:0 0 6px}h2{font-size:21px;border-bottom:2px solid var(--ink);
padding-bottom:4px;margin:36px 0 12px}h3{font-size:16px;margin:20px 0 8px}
p.lead{color:var(--muted);margin-top:0}.muted{color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:13px}
th,td{border-bottom:1px solid var(--rule);padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f7;font-weight:600}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}td.num{white-space:nowrap}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
.hash{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:15px;
word-break:break-all;background:#f3f5f7;padding:8px;border:1px solid var(--rule)}
.pill{display:inline-block;padding:0 7px;border-radius:9px;border:1px solid;font-size:12px;
font-weight:600;white-space:nowrap}
.ok{color:var(--ok);background:var(--ok-bg)}.warn{color:var(--warn);background:var(--warn-bg)}
.bad{color:var(--bad);background:var(--bad-bg)}.neutral{color:var(--neutral);
background:var(--neutral-bg)}
.box{border:1px solid var(--rule);border-left:6px solid var(--neutral);padding:10px 14px;
margin:10px 0}.box.ok{border-left-color:#198754}.box.bad{border-left-color:#dc3545}
.box.warn{border-left-color:#b58100}
.title-page{min-height:90vh;display:flex;flex-direction:column;justify-content:center}
.title-page dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 18px;margin:18px 0}
.title-page dt{font-weight:600}.title-page dd{margin:0}
nav.toc ol{padding-left:20px}figure{margin:8px 0}figcaption{color:var(--muted);font-size:12px}
tr.signals td{border-bottom:1px solid var(--rule);color:var(--muted);font-size:12px;
padding-top:0}table.spc tbody.tool tr:first-child td{border-bottom:none}
@page{size:A4;margin:14mm 12mm}
@media print{
body{font-size:10pt;max-width:none;padding:0}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.title-page{min-height:0;padding-top:30mm}
section.report-section{break-before:page;page-break-before:always}
h2,h3{break-after:avoid;page-break-after:avoid}
tr,tbody.tool,.box,figure{break-inside:avoid;page-break-inside:avoid}
thead{display:table-header-group}
table{font-size:8.5pt}table code{font-size:inherit}.pill{font-size:8pt;padding:0 5px}nav.toc a{color:inherit;text-decoration:none}
}
"""


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (None: empty).

    Example:
        >>> esc("a < b")
        'a &lt; b'
    """
    return escape("" if value is None else str(value))


def num(value: Any, digits: int = 0) -> str:
    """A number with thousands separators (None: a dash).

    Example:
        >>> num(12873), num(None)
        ('12,873', '—')
    """
    return "—" if value is None else f"{value:,.{digits}f}"


def pct(value: Any) -> str:
    """A rate as a percentage with one decimal (None: a dash).

    Example:
        >>> pct(0.99694)
        '99.7%'
    """
    return "—" if value is None else f"{100 * value:.1f}%"


def usd(value: Any) -> str:
    """An amount in USD to 1/100 of a cent (None: a dash).

    Example:
        >>> usd(0.583412)
        'USD 0.5834'
    """
    return "—" if value is None else f"USD {value:,.4f}"


def ms(value: Any) -> str:
    """Milliseconds, rounded (None: a dash).

    Example:
        >>> ms(1263.5)
        '1,264 ms'
    """
    return "—" if value is None else f"{value:,.0f} ms"


def when(ts: Any) -> str:
    """A stored ISO time as ``YYYY-MM-DD HH:MM:SS UTC`` (None: a dash).

    Example:
        >>> when("2026-11-23T11:40:12.120670Z")
        '2026-11-23 11:40:12 UTC'
    """
    if not ts:
        return "—"
    day, _, clock = str(ts).partition("T")
    return f"{day} {clock[:8]} UTC" if clock else str(ts)


def pill(text: Any, level: str | None = None) -> str:
    """A coloured pill that always shows its text and a symbol (level from :data:`LEVEL`).

    Example:
        >>> pill("drift")
        '<span class="pill bad">✖ drift</span>'
    """
    if text is None:
        return '<span class="muted">—</span>'
    lvl = level or LEVEL.get(str(text), "neutral")
    return f'<span class="pill {lvl}">{SYMBOL[lvl]} {esc(text)}</span>'


def table(
    heads: list[str],
    rows: list[list[str]],
    *,
    right: frozenset[int] | set[int] = frozenset(),
    **attrs: str,
) -> str:
    """A table of already-escaped cells; columns in ``right`` right-aligned (numbers).

    A row may carry one extra trailing item: attributes for its ``<tr>``. Keyword ``attrs``
    become attributes of ``<table>`` (``data_role="x"`` -> ``data-role="x"``). No rows: a note.

    Example:
        >>> table(["tool", "calls"], [["<code>ocr</code>", "12"]], right={1})[:59]
        '<table><thead><tr><th>tool</th><th class="num">calls</th></'
    """
    if not rows:
        return '<p class="muted">None in the period.</p>'
    extra = "".join(f' {k.replace("_", "-")}="{esc(v)}"' for k, v in attrs.items())
    cls = [' class="num"' if i in right else "" for i in range(len(heads))]
    head = "".join(f"<th{c}>{esc(h)}</th>" for h, c in zip(heads, cls, strict=True))
    body = []
    for row in rows:
        tag = row[-1] if len(row) > len(heads) else ""
        tds = "".join(f"<td{c}>{v}</td>" for v, c in zip(row, cls, strict=False))
        body.append(f"<tr{tag}>{tds}</tr>")
    return f"<table{extra}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def inline_svg(svg: str) -> str:
    """An SVG document as inline HTML: no XML prolog, no namespace (URL) attributes.

    Example:
        >>> inline_svg('<svg xmlns="http://www.w3.org/2000/svg" width="1"></svg>')
        '<svg width="1"></svg>'
    """
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg).strip()


def cost_chart_svg(
    by_day: list[dict[str, Any]], start: str, end: str, *, width: int = 600, height: int = 170
) -> str:
    """Bar chart of stored cost per UTC day from ``start`` to ``end`` (days without receipts
    shown as 0), an Altair spec rendered by vl-convert, as inline SVG.

    Example:
        >>> "<svg" in cost_chart_svg([{"day": "2026-11-20", "cost_usd": 0.5}], "2026-11-19",
        ...                          "2026-11-20")
        True
    """
    if not by_day:
        return '<p class="muted">No receipts in the period.</p>'
    import altair as alt
    import pandas as pd
    import vl_convert

    cost = {r["day"]: r["cost_usd"] or 0.0 for r in by_day}
    days = pd.date_range(start[:10], end[:10], freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"day": days, "cost_usd": [cost.get(d, 0.0) for d in days]})
    chart = (
        alt.Chart(frame)
        .mark_bar(color="#3b6e8f")
        .encode(
            x=alt.X("day:O", title="UTC day", axis=alt.Axis(labelAngle=-60, labelOverlap=True)),
            y=alt.Y("cost_usd:Q", title="cost (USD, stored receipts)"),
            tooltip=["day:O", alt.Tooltip("cost_usd:Q", format=".4f")],
        )
        .properties(width=width, height=height)
    )
    return inline_svg(vl_convert.vegalite_to_svg(chart.to_dict()))
