"""Drill-down views, opened inside the tab they were clicked from.

* :class:`ToolDrill`: the tool's interactive control chart of its newest calls (one offline
  ``alt.JupyterChart``, reused across tools) and the same calls as a paged table; clicking a point
  selects that call in the table (the chart's ``pick`` selection is observed from Python).
* :class:`WorkflowDrill`: the workflow's run-duration control chart and its recent runs, each with
  its tool calls and ✓ / ✗ on every call row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import ipywidgets as widgets
import pandas as pd
from markupsafe import Markup

from govlib.analysis.review import CallFilter, CallPage, ids_page_of, query_calls, recent_runs
from govlib.apps.chart_bundle import enable_offline_charts
from govlib.apps.spc.calls import CallTable
from govlib.apps.spc.stamp import Stamper
from govlib.present.charts import PICK, control_chart, run_duration_chart
from govlib.present.formatting import milliseconds
from govlib.present.html import display_text
from govlib.present.templating import render

__all__ = ["ToolDrill", "WorkflowDrill", "jupyter_chart", "warm_charts", "picked_ids"]

_TITLE = Markup('<div class="spc-drill-title">{}</div>')
_SUMMARY = Markup('<div class="gl-muted">{}<br>{}{}</div>')
_PICK_HINT = " Click a point to select that call in the table below; double-click to clear."
_PICKED = Markup(
    '<div class="spc-picked-msg" data-picked="{0}">▶ Selected in the chart: call #{0} '
    "(highlighted in the table)</div>"
)
_RUNS_WHERE = Markup('<span class="gl-muted">&nbsp;Runs {}–{} of {}&nbsp;</span>')


def warm_charts() -> None:
    """Import Altair and make JupyterChart offline: its bundle from this machine's cache
    (:mod:`govlib.apps.chart_bundle`; built and cached by the first kernel, ~2 s).

    Example:
        >>> warm_charts()  # doctest: +SKIP
    """
    enable_offline_charts()  # holds its own lock: one build per kernel


def jupyter_chart(chart: Any) -> Any:
    """An offline ``alt.JupyterChart`` drawn as SVG (clickable marks), without the action menu.

    Example:
        >>> import altair as alt  # doctest: +SKIP
        >>> jupyter_chart(alt.Chart().mark_point())  # doctest: +SKIP
    """
    import altair as alt

    warm_charts()
    return alt.JupyterChart(chart, embed_options={"renderer": "svg", "actions": False})


def picked_ids(selection: Any) -> list[int]:
    """Call ids in a ``PointSelection`` of the control chart (empty when cleared).

    Example:
        >>> picked_ids(SimpleNamespace(value=[{"id": 7}]))
        [7]
    """
    values = getattr(selection, "value", None) or []
    return [int(v["id"]) for v in values if isinstance(v, Mapping) and v.get("id") is not None]


def _limits_line(attrs: Mapping[str, Any], what: str) -> str:
    if not attrs or pd.isna(attrs.get("sigma", float("nan"))):
        return f"Too few {what} for control limits."
    return (
        f"Centre (geometric mean) {milliseconds(attrs.get('center_ms'))} · "
        f"UCL {milliseconds(attrs.get('ucl_ms'))} · LCL {milliseconds(attrs.get('lcl_ms'))} "
        f"(limits on log latency over these {what})"
    )


def _rule_line(series: pd.DataFrame) -> str:
    counts = [int(series[f"rule_{i}"].sum()) if len(series) else 0 for i in range(1, 5)]
    parts = " · ".join(f"rule {i}: {n}" for i, n in enumerate(counts, 1))
    return (
        f"Rule fires: {parts}. Red triangles = rule 1 (beyond 3 sigma); amber diamonds = rules 2-4."
    )


class _Drill:
    """Shared frame: title, close button, summary, chart slot."""

    def __init__(self, css_class: str) -> None:
        self.title = widgets.HTML()
        close = widgets.Button(description="Close ✕", tooltip="Close this detail view")
        close.on_click(lambda _b: self.close())
        self.summary = widgets.HTML()
        self.chart_box = widgets.Box(
            layout=widgets.Layout(min_height="260px", overflow="auto", width="100%")
        )
        self.chart_box.add_class("spc-chart-box")
        self.jc: Any = None
        self.name: str | None = None
        self.widget = widgets.VBox(layout=widgets.Layout(display="none"))
        self.widget.add_class("spc-drill")
        self.widget.add_class(css_class)
        self.head = widgets.HBox(
            [self.title, close], layout=widgets.Layout(justify_content="space-between")
        )

    def _show_chart(self, chart: Any, on_pick: Callable[[Any], None] | None) -> None:
        if self.jc is None:
            self.jc = jupyter_chart(chart)
            self.chart_box.children = (self.jc,)
        else:
            self.jc.chart = chart
        if on_pick is not None:  # a new chart brings a new Selections object
            self.jc.selections.observe(lambda ch: on_pick(ch["new"]), [PICK])

    def close(self) -> None:
        """Hide the detail view."""
        self.name = None
        self.widget.layout.display = "none"


class ToolDrill(_Drill):
    """Control chart + paged table of one tool's newest calls.

    ``series_of(tool)`` returns :func:`govlib.analysis.stats.tool_series`'s frame (oldest first, attrs with
    the limits); ``rules_of()`` maps call ids to the rules that flagged them.

    Example:
        >>> drill = ToolDrill(stamper, lambda t: tool_series(con, t), dict)  # doctest: +SKIP
        >>> drill.open("policy_lookup")  # doctest: +SKIP
    """

    def __init__(
        self,
        stamper: Stamper,
        series_of: Callable[[str], pd.DataFrame],
        rules_of: Callable[[], Mapping[int, str]],
        *,
        page_size: int = 20,
    ) -> None:
        super().__init__("spc-drill-tool")
        self.series_of = series_of
        self.ids: list[int] = []  # newest first, as the table lists them
        self.picked = widgets.HTML()
        self.picked.add_class("spc-picked")
        self.table = CallTable(
            stamper, self._fetch, rules_of, page_size=page_size, css_class="spc-drill-table"
        )
        self.widget.children = (
            self.head,
            self.summary,
            self.chart_box,
            self.picked,
            self.table.widget,
        )

    def _fetch(self, offset: int, limit: int) -> CallPage:
        ids = tuple(self.ids)
        flt = CallFilter(ids=ids, unreviewed_first=False, tenants=self.table.stamper.tenants)
        return query_calls(self.table.stamper.store, flt, offset=offset, limit=limit)

    def open(self, tool: str) -> None:
        """Show ``tool``'s chart and calls."""
        series = self.series_of(tool)
        self.name = tool
        self.ids = [int(i) for i in series["id"].tolist()[::-1]]
        n = len(series)
        self.title.value = _TITLE.format(
            Markup("Control chart: {} — newest {} calls").format(display_text(tool), n)
        )
        limits = _limits_line(series.attrs, "calls")
        self.summary.value = _SUMMARY.format(limits, _rule_line(series), _PICK_HINT)
        chart = control_chart(
            series, SimpleNamespace(**series.attrs), title=f"{tool}: latency", width="container"
        )
        self._show_chart(chart, self.on_pick)
        self.picked.value = ""
        self.table.highlight = None
        self.table.selected.clear()
        self.widget.layout.display = "flex"
        self.table.goto(0)

    def on_pick(self, selection: Any) -> None:
        """A point was clicked: select (highlight and page to) that call in the table."""
        ids = picked_ids(selection)
        if not ids:
            self.picked.value = ""
            self.table.select_call(None)
            return
        call_id = ids[0]
        page = ids_page_of(self.ids, call_id, self.table.page_size)
        index = None if page is None else page * self.table.page_size
        self.table.select_call(call_id, index)
        self.picked.value = _PICKED.format(call_id)


class _RunBlock:
    """One recent run: a header line and its tool calls."""

    def __init__(self, stamper: Stamper, rules_of: Callable[[], Mapping[int, str]]) -> None:
        self.run_id: str | None = None
        self.head = widgets.HTML()
        self.table = CallTable(stamper, self._fetch, rules_of, page_size=10, bulk=False)
        self.widget = widgets.VBox([self.head, self.table.widget])
        self.widget.add_class("spc-run")

    def _fetch(self, offset: int, limit: int) -> CallPage:
        flt = CallFilter(
            run_ids=(self.run_id or "",),
            unreviewed_first=False,
            oldest_first=True,
            tenants=self.table.stamper.tenants,
        )
        return query_calls(self.table.stamper.store, flt, offset=offset, limit=limit)

    def show(self, run: Mapping[str, Any] | None) -> None:
        """Show one run and its calls (or hide the block when ``run`` is None)."""
        if run is None:
            self.run_id = None
            self.widget.layout.display = "none"
            return
        self.run_id = str(run["composition_id"])
        status = str(run.get("status") or "?")
        level = {"completed": "ok", "running": "info"}.get(status, "bad")
        self.head.value = render("spc/run_head.html.j2", run=run, status=status, level=level)
        self.widget.layout.display = "flex"
        self.table.goto(0)


class WorkflowDrill(_Drill):
    """Run-duration control chart + recent runs with their calls (✓ / ✗ on each).

    Example:
        >>> drill = WorkflowDrill(stamper, lambda w: workflow_series(con, w), dict)  # doctest: +SKIP
        >>> drill.open("Auto claim")  # doctest: +SKIP
    """

    def __init__(
        self,
        stamper: Stamper,
        series_of: Callable[[str], pd.DataFrame],
        rules_of: Callable[[], Mapping[int, str]],
        *,
        runs_per_page: int = 3,
    ) -> None:
        super().__init__("spc-drill-workflow")
        self.stamper, self.series_of = stamper, series_of
        self.per_page, self.offset, self.total = runs_per_page, 0, 0
        self.blocks = [_RunBlock(stamper, rules_of) for _ in range(runs_per_page)]
        self.newer = widgets.Button(description="‹ Newer runs")
        self.older = widgets.Button(description="Older runs ›")
        self.newer.on_click(lambda _b: self.show_runs(self.offset - self.per_page))
        self.older.on_click(lambda _b: self.show_runs(self.offset + self.per_page))
        self.where = widgets.HTML()
        runs_head = widgets.HTML('<div class="gl-section">Recent runs and their tool calls</div>')
        self.widget.children = (
            self.head,
            self.summary,
            self.chart_box,
            runs_head,
            *[b.widget for b in self.blocks],
            widgets.HBox([self.newer, self.where, self.older]),
        )

    def open(self, workflow: str) -> None:
        """Show ``workflow``'s run-duration chart and its newest runs."""
        series = self.series_of(workflow)
        self.name = workflow
        self.title.value = _TITLE.format(
            Markup("Run durations: {} — newest {} finished runs").format(
                display_text(workflow), len(series)
            )
        )
        line = _limits_line(series.attrs, "runs").replace("latency", "duration")
        self.summary.value = _SUMMARY.format(line, _rule_line(series), "")
        self._show_chart(
            run_duration_chart(
                series,
                SimpleNamespace(**series.attrs),
                title=f"{workflow}: run duration",
                width="container",
            ),
            None,
        )
        self.widget.layout.display = "flex"
        self.show_runs(0)

    def show_runs(self, offset: int) -> None:
        """Show the page of runs starting at ``offset`` (newest first)."""
        if self.name is None:
            return
        runs, self.total = recent_runs(
            self.stamper.store,
            self.name,
            offset=max(0, offset),
            limit=self.per_page,
            tenants=self.stamper.tenants,
        )
        self.offset = max(0, offset)
        for i, block in enumerate(self.blocks):
            block.show(runs[i] if i < len(runs) else None)
        last = self.offset + len(runs)
        self.where.value = _RUNS_WHERE.format(self.offset + 1 if runs else 0, last, self.total)
        self.newer.disabled = self.offset <= 0
        self.older.disabled = last >= self.total

    def refresh(self) -> None:
        """Re-read the visible runs' calls (after a stamp)."""
        for block in self.blocks:
            if block.run_id is not None:
                block.table.refresh()
