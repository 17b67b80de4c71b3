"""HTML of the SPC dashboard's tables: pure functions from rows to HTML, no widgets.

Every cell that uses colour also says its state in words (``pill`` puts a symbol and text on the
colour). Rows are CSS grids (:func:`govlib.present.tables.grid_row`) with fixed column widths, so
the header and each row widget line up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from markupsafe import Markup

from govlib.analysis.spc import pill as spc_pill
from govlib.present.formatting import DASH, milliseconds, percent, timestamp
from govlib.present.html import display_text
from govlib.present.pills import level_of, pill
from govlib.present.tables import Column, grid_row
from govlib.present.templating import render
from govlib.settings import Settings

__all__ = [
    "CALL_COLUMNS",
    "call_cells",
    "rate_pill",
    "rules_map",
    "thresholds_html",
    "verdict_pill",
]

#: Tool-call table columns: (key, header, width).
CALL_COLUMNS: tuple[Column, ...] = (
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


def rate_pill(rate: Any, settings: Settings, *, what: str, extra: str = "") -> Markup:
    """A success or accept-rate pill: green >= pill_green_min, amber >= pill_amber_min, red below;
    "—" (neutral) when there is no rate.

    Example:
        >>> "gl-warn" in rate_pill(0.97, Settings(), what="success")
        True
        >>> "—" in rate_pill(None, Settings(), what="accept")
        True
    """
    text = percent(rate)
    colour = None if text == DASH else spc_pill(float(rate), settings)
    word = colour or "no data"
    title = f"{what} rate {text} ({word}: green >= {percent(settings.pill_green_min)}, "
    title += f"amber >= {percent(settings.pill_amber_min)}, red below){extra}"
    return pill(text, level_of(colour), title=title)


def verdict_pill(verdict: str | None, by: str | None, at: str | None) -> Markup:
    """ "unreviewed", "accepted · NAME" or "rejected · NAME" with the time on hover (the name
    isolated and capped, :func:`govlib.present.html.display_text`).

    Example:
        >>> 'accepted · <bdi class="gl-text">Ana</bdi>' in verdict_pill("accept", "Ana", "T")
        True
    """
    if verdict is None:
        return pill("unreviewed", "neutral", title="no human verdict yet")
    word = "accepted" if verdict == "accept" else "rejected"
    level = "ok" if verdict == "accept" else "bad"
    label = Markup("{} · {}").format(word, display_text(by or "?", max_chars=32))
    return pill(label, level, title=f"{word} by {by} at {timestamp(at)}")


def _outcome(row: Mapping[str, Any]) -> Markup:
    ok = row.get("success")
    if ok is None:
        return pill("no result", "neutral")
    if int(ok):
        return pill("success", "ok")
    return pill("failed", "bad", title=str(row.get("error") or "failed"))


def call_cells(row: Mapping[str, Any], rules: str | None, *, selected: bool = False) -> Markup:
    """The cells of one tool-call row (a grid aligned with :data:`CALL_COLUMNS`).

    Example:
        >>> html = call_cells({"id": 7, "tool_name": "ocr", "success": 1, "latency_ms": 120,
        ...                    "human_verdict": None, "created_at": "2026-11-23T10:00:00Z"}, None)
        >>> 'data-call-id="7"' in html and "unreviewed" in html
        True
    """
    marker = Markup('<span class="spc-sel-marker">▶ </span>') if selected else ""
    verdict = row.get("human_verdict")
    rule_cell = pill(rules, "bad" if "rule 1" in rules else "warn", title=rules) if rules else DASH
    cells = {
        "id": Markup("{}#{}").format(marker, row.get("id")),
        "time": timestamp(row.get("created_at"), zone=False),
        "tool": display_text(row.get("tool_name"), max_chars=48),
        "workflow": display_text(row.get("workflow"), max_chars=32)
        if row.get("workflow")
        else DASH,
        "tenant": display_text(row.get("tenant_id"), max_chars=24)
        if row.get("tenant_id")
        else DASH,
        "outcome": _outcome(row),
        "latency": milliseconds(row.get("latency_ms")),
        "rules": rule_cell,
        "verdict": verdict_pill(verdict, row.get("verdict_by"), row.get("verdict_at")),
    }
    return grid_row(
        CALL_COLUMNS,
        cells,
        numeric=("latency",),
        prefix="spc-c-",
        titles={"tool": row.get("tool_name"), "workflow": row.get("workflow")},
        css="spc-cells",
        data_call_id=row.get("id"),
        data_verdict=verdict or "none",
        data_by=row.get("verdict_by") or "",
    )


def thresholds_html(settings: Settings, version: str | None = None) -> Markup:
    """The thresholds in force (pills, sampling ladder, drift badge), as a foldable list.

    Example:
        >>> "99.0%" in thresholds_html(Settings())
        True
    """
    return render("spc/thresholds.html.j2", s=settings, version=version)


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
