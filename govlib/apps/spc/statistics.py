"""The per-tool and per-workflow statistics tables (one row per tool / workflow).

Each row is a button with the name (opens the drill-down) beside one HTML grid of cells. A tool:
calls with the success pill, the schema-valid pill (when it declares a schema), the accept pill,
an inline SVG sparkline (no JupyterChart per row), p50 / p95 / avg / max over the newest
``spc_stats_window`` calls (the whole period on hover), flagged calls with the fires per rule on
hover, the sampling pill with its reason on hover, and the drift badge with the signals that
fired. A workflow: the same on its runs (completion pill, run duration). Every header says its
window; rows sort by any column. Cells wrap rather than clip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
from markupsafe import Markup

from govlib.analysis.spc import pill as spc_pill
from govlib.analysis.spc import sampling_recommendation
from govlib.apps.spc.calls import hide, kit
from govlib.apps.spc.tables import rate_pill
from govlib.present.charts import Limits, sparkline_svg
from govlib.present.formatting import DASH, finite, milliseconds, number, percent
from govlib.present.pills import level_of, pill
from govlib.present.tables import Column, grid_header, grid_row
from govlib.settings import Settings

__all__ = [
    "SORT_KEYS",
    "apply_verdicts",
    "StatsTable",
    "drift_cell",
    "sampling_cell",
    "schema_cell",
    "sort_rows",
    "stat_cells",
    "stat_columns",
]

_SAMPLING_ORDER = {"100%": 4, "50%": 3, "20%": 2, "5%": 1, "exception": 0}
_DRIFT_ORDER = {"drift": 2, "watch": 1, "stable": 0}
NAME_WIDTH = {"tool": "170px", "workflow": "124px"}
_NUMERIC = ("p50", "p95", "avg", "max", "flagged")
_FIGURES = ("p50", "p95", "avg", "max")
_FIGURE_WORDS = {"p50": "median", "p95": "95th percentile", "avg": "mean", "max": "maximum"}

#: Sort label -> (row key or ordering function, descending by default).
SORT_KEYS: dict[str, tuple[str, bool]] = {
    "Drift (worst first)": ("drift", True),
    "Name": ("name", False),
    "Calls": ("count", True),
    "Success rate": ("success_rate", False),
    "Accept rate": ("accept_rate", False),
    "p50 latency": ("p50", True),
    "p95 latency": ("p95", True),
    "Average latency": ("avg", True),
    "Max latency": ("max", True),
    "Flagged calls": ("flagged_calls", True),
    "Review sampling": ("sampling", True),
}


def _head(text: str, window: str, tip: str) -> Markup:
    """A column header naming its window, with the whole explanation on hover."""
    return Markup('<span title="{}">{}<br><span class="gl-muted">{}</span></span>').format(
        tip, text, window
    )


def stat_columns(kind: str, settings: Settings | None = None) -> tuple[Column, ...]:
    """Grid columns (key, header, width) of the tool or workflow table (name button excluded).
    Each header names the window its figures cover (the newest ``spc_stats_window`` calls or
    runs for p50..max, the chart window for flagged calls, the period for rates).

    Example:
        >>> [c[0] for c in stat_columns("workflow")][:2]
        ['runs', 'accept']
        >>> "newest 500" in stat_columns("tool")[4][1]
        True
    """
    st = settings or Settings()
    what = "calls" if kind == "tool" else "runs"
    n, w, r = st.spc_stats_window, st.spc_window, st.spc_recent
    fig = tuple(
        (
            key,
            _head(
                key,
                f"newest {n}",
                f"{_FIGURE_WORDS[key]} {'latency' if kind == 'tool' else 'run duration'} of the "
                f"newest {n} {what} in the period (hover a figure for the whole period)",
            ),
            "minmax(50px, 0.7fr)",
        )
        for key in _FIGURES
    )
    flagged = _head(
        f"Flagged {what}",
        f"newest {w}",
        f"{what} among the newest {w} (the chart window) with at least one rule fire; hover a "
        "figure for the fires per rule",
    )
    drift = _head("Drift", f"newest {r} vs before", f"newest {r} {what} vs up to {w} before")
    sampling = _head("Sampling", "review rate", "recommended review rate; hover for the reason")
    rate_cols: tuple[Column, ...] = (
        (
            "calls",
            _head("Calls · success", "in the period", "calls and success rate in the period"),
            "minmax(118px, 1.2fr)",
        ),
        (
            "schema",
            _head(
                "Schema valid",
                "in the period",
                "share of calls whose arguments fit the "
                "tool's declared schema; blank when the tool declares none",
            ),
            "minmax(86px, 0.8fr)",
        ),
    )
    if kind != "tool":
        rate_cols = (
            (
                "runs",
                _head(
                    "Runs · completed",
                    "in the period",
                    "runs in the period and the share that completed with every call successful",
                ),
                "minmax(118px, 1.2fr)",
            ),
        )
    spark = _head(
        "Latency" if kind == "tool" else "Run duration",
        f"newest {r}",
        f"the newest {r} {what}, log scale, with the control limits of the newest {w}",
    )
    return (
        *rate_cols,
        ("accept", _head("Accepted", "in the period", "reviews accepted"), "minmax(86px, 0.8fr)"),
        ("spark", spark, "minmax(110px, 1.3fr)"),
        *fig,
        ("flagged", flagged, "minmax(60px, 0.7fr)"),
        ("sampling", sampling, "minmax(100px, 1fr)"),
        ("drift", drift, "minmax(104px, 1.5fr)"),
    )


def _sort_value(row: Mapping[str, Any], key: str) -> Any:
    if key == "drift":
        return (_DRIFT_ORDER.get(row.get("drift"), -1), int(row.get("flagged_calls") or 0))
    if key == "sampling":
        return _SAMPLING_ORDER.get(row.get("sampling"), -1)
    if key == "name":
        return str(row.get("name", "")).lower()
    return finite(row.get(key))


_DURATION_KEYS = {"p50", "p95", "avg", "max", "flagged_calls"}


def sort_rows(
    rows: list[dict[str, Any]], label: str, descending: bool, *, kind: str = "tool"
) -> list[dict[str, Any]]:
    """Rows sorted by a :data:`SORT_KEYS` label; missing values always last, ties by name.

    Example:
        >>> rows = [{"name": "b", "p95": 5.0}, {"name": "a", "p95": None}, {"name": "c", "p95": 9}]
        >>> [r["name"] for r in sort_rows(rows, "p95 latency", True)]
        ['c', 'b', 'a']
    """
    key = SORT_KEYS[label][0]
    if kind == "workflow" and key in _DURATION_KEYS:  # a workflow row's figures are its runs'
        key = f"duration_{key}"
    by_name = sorted(rows, key=lambda r: str(r.get("name", "")).lower())
    present = [r for r in by_name if _sort_value(r, key) is not None]
    missing = [r for r in by_name if _sort_value(r, key) is None]
    return sorted(present, key=lambda r: _sort_value(r, key), reverse=descending) + missing


def apply_verdicts(
    rows: list[dict[str, Any]],
    changes: list[tuple[str, str | None, str]],
    settings: Settings,
) -> list[dict[str, Any]]:
    """Stats rows after verdict changes, without re-reading the calls: accept/reject counts, the
    accept rate and pill, and the sampling recommendation (the same
    :func:`govlib.analysis.spc.sampling_recommendation` inputs :mod:`govlib.analysis.stats` uses).

    ``changes`` holds (row name, previous verdict or None, new verdict) for calls inside the
    table's tenant/period filter.

    Example:
        >>> rows = [{"name": "ocr", "count": 10, "success_rate": 1.0, "accept_count": 0,
        ...          "reject_count": 0, "recent_fires": 0, "drift": "stable"}]
        >>> new = apply_verdicts(rows, [("ocr", None, "accept")], Settings())
        >>> new[0]["accept_count"], new[0]["accept_rate"], new[0]["sampling"]
        (1, 1.0, '100%')
    """
    by_name = {r["name"]: dict(r) for r in rows}
    touched = set()
    for name, previous, new in changes:
        row = by_name.get(name)
        if row is None or previous == new:
            continue
        if previous in ("accept", "reject"):
            row[f"{previous}_count"] = int(row.get(f"{previous}_count") or 0) - 1
        row[f"{new}_count"] = int(row.get(f"{new}_count") or 0) + 1
        touched.add(name)
    for name in touched:
        row = by_name[name]
        accept, reject = int(row.get("accept_count") or 0), int(row.get("reject_count") or 0)
        row["accept_rate"] = accept / (accept + reject) if accept + reject else None
        row["accept_pill"] = spc_pill(row["accept_rate"], settings)
        row["sampling"], row["sampling_reason"] = sampling_recommendation(
            int(row.get("count") or 0),
            row.get("success_rate"),
            accept,
            reject,
            drift=row.get("drift") or "stable",
            alarms=row.get("sampling_alarms") or (),
            schema_valid_rate=row.get("schema_valid_rate"),
            completion_rate=row.get("completion_rate"),
            settings=settings,
        )
    return [by_name[r["name"]] for r in rows]


def sampling_cell(level: str | None, reason: str | None) -> Markup | str:
    """The sampling pill; its reason on hover.

    Example:
        >>> 'title="only 3 calls' in sampling_cell("100%", "only 3 calls")
        True
    """
    if not level:
        return DASH
    return pill(level, level_of(level), title=reason or None)


def drift_cell(badge: str | None, signals: Any) -> Markup | str:
    """The drift badge (stable / watch / drift) and the names of the signals that fired.

    Example:
        >>> "p95" in drift_cell("watch", ["p95: newest 60 at 900 ms = 3.00x 300 ms"])
        True
    """
    if not badge:
        return DASH
    sigs = [str(s) for s in (signals if signals is not None else [])]
    names = ", ".join(s.split(":", 1)[0] for s in sigs)
    tip = "; ".join(sigs) if sigs else "no signal fired"
    short = Markup(' <span class="gl-muted">{}</span>').format(names) if names else ""
    return Markup('<span data-drift="{}">{}{}</span>').format(badge, pill(badge, title=tip), short)


_FLAGGED = Markup(
    '<span class="spc-flagged" data-flagged="{0}" data-rule-fires="{1}" title="{2}" '
    'style="text-decoration:underline dotted">{0}</span>'
)


def _flagged(row: Mapping[str, Any], prefix: str, window: int, what: str) -> Markup:
    n = int(row.get(f"{prefix}flagged_calls") or 0)
    fires = int(row.get(f"{prefix}rule_fires") or 0)
    parts = [f"rule {i}: {int(row.get(f'{prefix}rule_{i}') or 0)}" for i in range(1, 5)]
    tip = (
        f"{n} of the newest {window} {what} fired at least one rule; {fires} rule fires in all "
        f"(a {what[:-1]} can fire several): " + " · ".join(parts)
    )
    return _FLAGGED.format(n, fires, tip)


def _spark(row: Mapping[str, Any], settings: Settings, prefix: str = "") -> Markup:
    values = np.asarray(row.get(f"{prefix}sparkline") or [], dtype=float)
    c, s = finite(row.get(f"{prefix}center")), finite(row.get(f"{prefix}sigma"))
    lim = Limits(center=math.nan if c is None else c, sigma=math.nan if s is None else s)
    floor = settings.spc_min_latency_ms
    r1 = None
    if values.size and c is not None and s is not None and s > 0:
        r1 = np.abs(np.log(np.maximum(values, floor)) - c) > 3 * s
    return sparkline_svg(values, lim, rule_1=r1, floor=floor, label=str(row.get("name", "")))


def _figure_titles(row: Mapping[str, Any], prefix: str, what: str) -> dict[str, str]:
    """Hover text of p50..max: the window's figure and the whole period's."""
    n = int(row.get(f"{prefix}window_calls") or 0)
    out = {}
    for key in _FIGURES:
        whole = "" if prefix else f"; whole period ({number(row.get('count') or 0)} calls): "
        whole += "" if prefix else milliseconds(row.get(f"{key}_all"))
        out[key] = f"{key} of the newest {n} {what}: {milliseconds(row.get(prefix + key))}{whole}"
    return out


def schema_cell(row: Mapping[str, Any], settings: Settings) -> Markup | str:
    """The "Schema valid" pill, or nothing when the tool declares no argument schema.

    Example:
        >>> "98.0%" in schema_cell({"schema_declared": True, "schema_valid_rate": 0.98}, Settings())
        True
        >>> schema_cell({"schema_declared": False, "schema_valid_rate": 1.0}, Settings())
        ''
    """
    if not row.get("schema_declared"):
        return ""
    floor = f"; sampling stays >= 50% below {percent(settings.sampling_schema_valid_min)}"
    return rate_pill(row.get("schema_valid_rate"), settings, what="schema-valid", extra=floor)


def _rate_cells(row: Mapping[str, Any], kind: str, settings: Settings) -> dict[str, Any]:
    count = int(row.get("count") or 0)
    if kind == "tool":
        calls = Markup('<span title="{0} calls in the period">{0}</span> {1}')
        return {
            "calls": calls.format(
                number(count), rate_pill(row.get("success_rate"), settings, what="success")
            ),
            "schema": schema_cell(row, settings),
        }
    runs = Markup('<span title="{0} runs, {1} calls in the period">{0}</span> {2}')
    floor = f"; sampling stays >= 50% below {percent(settings.sampling_completion_min)}"
    return {
        "runs": runs.format(
            number(row.get("run_count") or 0),
            number(count),
            rate_pill(row.get("completion_rate"), settings, what="completion", extra=floor),
        )
    }


def stat_cells(row: Mapping[str, Any], kind: str, settings: Settings) -> Markup:
    """The HTML grid of one statistics row (everything but the name button).

    Example:
        >>> html = stat_cells({"name": "ocr", "count": 3, "success_rate": 1.0,
        ...                    "accept_rate": None, "drift": "stable"}, "tool", Settings())
        >>> 'data-name="ocr"' in html and "3 calls" in html
        True
    """
    reviews = int(row.get("accept_count") or 0) + int(row.get("reject_count") or 0)
    prefix, what = ("", "calls") if kind == "tool" else ("duration_", "runs")
    cells = {
        **_rate_cells(row, kind, settings),
        "accept": rate_pill(
            row.get("accept_rate"),
            settings,
            what="accept",
            extra=f"; {int(row.get('accept_count') or 0)} accepted of {reviews} reviews",
        ),
        "spark": _spark(row, settings, prefix),
        **{key: milliseconds(row.get(prefix + key)) for key in _FIGURES},
        "flagged": _flagged(row, prefix, settings.spc_window, what),
        "sampling": sampling_cell(row.get("sampling"), row.get("sampling_reason")),
        "drift": drift_cell(row.get("drift"), row.get("drift_signals")),
    }
    accept = finite(row.get("accept_rate"))
    return grid_row(
        stat_columns(kind, settings),
        cells,
        numeric=_NUMERIC,
        prefix="spc-s-",
        titles=_figure_titles(row, prefix, what),
        css="spc-stat-cells",
        data_name=row.get("name"),
        data_accept="none" if accept is None else f"{accept:.6f}",
    )


class StatsTable:
    """Sortable statistics table; clicking a name calls ``on_open(name)``.

    Example:
        >>> t = StatsTable("tool", Settings(), on_open=print)
        >>> t.show([{"name": "ocr", "count": 1}])
        >>> t.buttons[0].description
        'ocr'
    """

    def __init__(self, kind: str, settings: Settings, on_open: Callable[[str], None]) -> None:
        self.kind, self.settings, self.on_open = kind, settings, on_open
        self.data: list[dict[str, Any]] = []
        self.name_layout = widgets.Layout(width=NAME_WIDTH[kind])
        self.buttons: list[widgets.Button] = []
        self.cells: list[widgets.HTML] = []
        self.boxes: list[widgets.HBox] = []
        self.sort_by = widgets.Dropdown(
            options=list(SORT_KEYS),
            value="Drift (worst first)",
            description="Sort by",
            layout=widgets.Layout(width="260px"),
        )
        self.descending = widgets.ToggleButton(
            value=True,
            description="descending",
            tooltip="Sort direction",
            layout=widgets.Layout(width="110px"),
        )
        self.sort_by.observe(self._on_sort_key, "value")
        self.descending.observe(lambda _c: self.render(), "value")
        label = "Tool" if kind == "tool" else "Workflow"
        name_head = widgets.HTML(
            str(grid_header(((kind, f"{label} (click to open)", NAME_WIDTH[kind]),))),
            layout=widgets.Layout(width=NAME_WIDTH[kind]),
        )
        cols_head = widgets.HTML(
            str(grid_header(stat_columns(kind, settings), _NUMERIC)),
            layout=widgets.Layout(flex="1 1 auto"),
        )
        head = widgets.HBox([name_head, cols_head])
        head.add_class("spc-stat-head")
        self.rows_box = widgets.VBox([])
        self.empty = widgets.HTML('<div class="gl-muted">No calls in this period.</div>')
        self.widget = widgets.VBox(
            [widgets.HBox([self.sort_by, self.descending]), head, self.rows_box, self.empty]
        )
        self.widget.add_class(f"spc-stats-{kind}")

    def _on_sort_key(self, change: dict[str, Any]) -> None:
        self.descending.value = SORT_KEYS[change["new"]][1]
        self.render()

    def _grow(self, n: int) -> None:
        k = kit()
        while len(self.boxes) < n:
            i = len(self.boxes)
            btn = widgets.Button(layout=self.name_layout, style=k.button)
            btn.add_class("spc-open")
            btn.on_click(lambda _b, i=i: self.on_open(self.buttons[i].description))
            cells = widgets.HTML(layout=k.cells, style=k.html)
            box = widgets.HBox([btn, cells], layout=k.row)
            box.add_class("spc-stat-row")
            self.buttons.append(btn)
            self.cells.append(cells)
            self.boxes.append(box)
        self.rows_box.children = tuple(self.boxes)

    def show(self, rows: list[dict[str, Any]]) -> None:
        """Replace the rows (dicts with ``name`` and the stats columns) and redraw."""
        self.data = rows
        self.render()

    def render(self) -> None:
        """Redraw in the chosen order."""
        rows = sort_rows(
            self.data, str(self.sort_by.value), bool(self.descending.value), kind=self.kind
        )
        self.descending.description = "descending" if self.descending.value else "ascending"
        self._grow(len(rows))
        for i, box in enumerate(self.boxes):
            if i < len(rows):
                name = str(rows[i]["name"])
                self.buttons[i].description = name
                self.buttons[i].tooltip = f"Open the control chart and calls of {name}"
                self.cells[i].value = stat_cells(rows[i], self.kind, self.settings)
            hide(box, i >= len(rows))
        self.empty.layout.display = "none" if rows else "block"
