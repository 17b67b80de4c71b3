"""The SPC dashboard Voilà app: "Tool stats", "By workflow" and "Tool calls" tabs.

Where trust is earned: per tool and per workflow, whether the AI's tool calls are stable, how
stable, how much human review they still need, and ✓ / ✗ verdict capture. The notebook
``notebooks/spc_dashboard.ipynb`` only calls :func:`app`.

The page is built from widget children at load (no ``Output`` writes during the first execution,
voila#1428). Statistics come from :mod:`govlib.analysis.stats` over :func:`govlib.analysis.read_path.connect`
(re-read after every stamp); tool-call rows are read live from the store.
"""

from __future__ import annotations

import os
import threading
import traceback
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
from markupsafe import Markup

from govlib.analysis import stats
from govlib.analysis.evaluations import evaluator_verdict_counts
from govlib.analysis.lake import read_stats_table
from govlib.analysis.read_path import connect, lake_note
from govlib.analysis.review import (
    PERIODS,
    STATUSES,
    CallFilter,
    CallPage,
    call_context,
    choices,
    newest_call_at,
    period_since,
    query_calls,
)
from govlib.analysis.trust import verified_state
from govlib.apps.first_paint import show_first_paint, verify_ahead
from govlib.apps.identity import page_user
from govlib.apps.spc.calls import CallTable
from govlib.apps.spc.drill import ToolDrill, WorkflowDrill, warm_charts
from govlib.apps.spc.stamp import Change, Stamper
from govlib.apps.spc.statistics import StatsTable, apply_verdicts
from govlib.apps.spc.tables import rules_map, thresholds_html
from govlib.apps.widgets import build_or_error, error_box, style_widget, stylesheet
from govlib.clock import utc_now_iso
from govlib.evidence.settings_log import recorded_settings
from govlib.governance.users import User
from govlib.present.formatting import timestamp
from govlib.present.templating import compile_templates, render
from govlib.settings import Settings, load_settings
from govlib.store.database import Store
from govlib.store.datadir import checked_data_dir

__all__ = ["SpcApp", "TAB_TITLES", "app", "rules_map"]

TAB_TITLES = ("Tool stats", "By workflow", "Tool calls")
ALL = ""
#: Seconds after the page is built before the chart engine warms up.
WARM_DELAY_S = 5.0
#: The yellow note over a damaged Parquet lake (the figures then come from SQLite).
_LAKE_NOTE = Markup(
    '<div class="gl-lake-note" role="status" style="border:1px solid #e0b000;'
    'background:#fff8db;color:#5c4500;border-radius:6px;padding:6px 10px">⚠ {}</div>'
)
_STATUS = Markup('<span class="gl-muted">&nbsp;{} calls in view · newest call {} · read {}</span>')


def _guard(fn: Callable[..., Any], where: widgets.HTML, what: str) -> Callable[..., Any]:
    """Run a callback; on any error show a readable box in ``where`` instead of failing silently."""

    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - Voilà swallows callback errors otherwise
            where.value = error_box(
                f"Could not {what}: {type(exc).__name__}: {exc}",
                detail=traceback.format_exc(limit=6),
            ).value

    return run


class CallsTab:
    """The "Tool calls" tab: filters over a paged :class:`CallTable`, unreviewed first.

    Example:
        >>> tab = SpcApp(demo_dir).calls  # doctest: +SKIP
        >>> tab.status.value = "unreviewed"  # doctest: +SKIP
    """

    def __init__(self, stamper: Stamper, opts: dict[str, list[str]], rules_of: Any) -> None:
        self.store, self.rules_of = stamper.store, rules_of
        self.tenants = stamper.tenants
        lay = widgets.Layout(width="230px")
        self.tool = widgets.Dropdown(
            options=[("All tools", ALL)] + [(t, t) for t in opts["tools"]],
            description="Tool",
            layout=lay,
        )
        self.workflow = widgets.Dropdown(
            options=[("All workflows", ALL)] + [(w, w) for w in opts["workflows"]],
            description="Workflow",
            layout=lay,
        )
        self.status = widgets.Dropdown(options=list(STATUSES), value="any", description="Verdict")
        self.flagged = widgets.Checkbox(value=False, description="Flagged by a rule", indent=False)
        self.unreviewed_first = widgets.Checkbox(
            value=True, description="Unreviewed first", indent=False
        )
        self.table = CallTable(stamper, self._fetch, rules_of, css_class="spc-calls-main")
        for w in (self.tool, self.workflow, self.status, self.flagged, self.unreviewed_first):
            w.observe(_guard(lambda _c: self.table.goto(0), self.table.message, "filter"), "value")
        filters = widgets.HBox(
            [self.tool, self.workflow, self.status, self.flagged, self.unreviewed_first],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        self.widget = widgets.VBox([filters, self.table.widget])
        self.widget.add_class("spc-tab-calls")

    def filter(self) -> CallFilter:
        """The filter the widgets describe."""
        return CallFilter(
            tool=self.tool.value or None,
            workflow=self.workflow.value or None,
            status=str(self.status.value),
            flagged_only=bool(self.flagged.value),
            unreviewed_first=bool(self.unreviewed_first.value),
            tenants=self.tenants,
        )

    def _fetch(self, offset: int, limit: int) -> CallPage:
        flagged = self.rules_of() if self.flagged.value else ()
        return query_calls(self.store, self.filter(), offset=offset, limit=limit, flagged=flagged)


class SpcApp:
    """The whole dashboard; ``.widget`` is the page.

    Parameters
    ----------
    data_dir : path, optional
        The data dir (default: ``GOVLIB_DATA_DIR`` / the checkout's ``data/``).
    settings : Settings, optional
        Thresholds (default: :func:`govlib.settings.load_settings` of the data dir).

    Example:
        >>> dash = SpcApp("data")  # doctest: +SKIP
        >>> dash.tool_table.buttons[0].click()  # doctest: +SKIP
    """

    def __init__(
        self, data_dir: str | os.PathLike[str] | None = None, *, settings: Settings | None = None
    ) -> None:
        self.data_dir = Path(checked_data_dir(data_dir, create=False))
        self.store = Store(self.data_dir, create=False)
        self.settings = settings or load_settings(self.data_dir)
        self._con: Any = None
        #: Yellow when the Parquet lake is damaged and the figures were read from SQLite instead.
        self.lake_note = widgets.HTML("")
        #: Evaluators' verdicts, apart from the human accept rates (they count toward none).
        self.evaluators = widgets.HTML("")
        self.evaluators.add_class("spc-evaluator-verdicts")
        self._verdicts_stale = False
        self._wf_loaded = False  # workflow stats are read when "By workflow" is first shown
        self._scope: dict[str, Any] = {}
        self._flags: dict[int, str] | None = None
        self.reviewer = widgets.Text(
            description="Reviewing as",
            placeholder="your name (needed to stamp)",
            style={"description_width": "initial"},
            layout=widgets.Layout(width="340px"),
        )
        self.reviewer.add_class("spc-reviewer")
        # The field lives on the Tool calls tab; the header echoes it so every tab shows who
        # is stamping (the one value is shared by every tab's ✓/✗).
        self.reviewer_note = widgets.HTML(_reviewer_note(""))
        self.reviewer.observe(
            lambda c: setattr(self.reviewer_note, "value", _reviewer_note(c["new"])), "value"
        )
        # Signed in (govlib serve --auth tokens/header): the person replaces "Reviewing as".
        mode, self.user = page_user(self.store)
        signed_in = mode in ("tokens", "header")
        self.stamper = Stamper(self.store, self.reviewer, user=self.user, signed_in=signed_in)
        self.reviewer_box: widgets.Widget = self.reviewer
        if signed_in:
            self.reviewer_note.value = _signed_in_note(self.user)
            self.reviewer_box = widgets.HTML("")
        self.status = widgets.HTML()
        self.stamper.listeners.append(_guard(self.on_stamped, self.status, "refresh the page"))
        #: The tenants the signed-in person may see (None: every tenant): every read passes them.
        self.tenants = self.stamper.tenants
        opts = choices(self.con, tenants=self.tenants)
        mine = "All tenants" if self.tenants is None else "All my tenants"
        self.tenant = widgets.Dropdown(
            options=[(mine, ALL)] + [(t, t) for t in opts["tenants"]],
            description="Tenant",
        )
        self.period = widgets.Dropdown(options=list(PERIODS), description="Period")
        self.opts = opts
        self.tool_table = StatsTable("tool", self.settings, self._opener("tool"))
        self.wf_table = StatsTable("workflow", self.settings, self._opener("workflow"))
        # Built on first use: every row widget is a model the page must load.
        self._tool_drill: ToolDrill | None = None
        self._wf_drill: WorkflowDrill | None = None
        self._calls: CallsTab | None = None
        self.slots = [widgets.VBox() for _ in range(3)]
        for w in (self.tenant, self.period):
            w.observe(_guard(lambda _c: self.reload_stats(), self.status, "filter"), "value")
        refresh = widgets.Button(description="Refresh", icon="refresh", tooltip="Re-read the data")
        refresh.on_click(_guard(lambda _b: self.refresh(), self.status, "refresh"))
        self.tabs = widgets.Tab(children=self._tabs(), titles=TAB_TITLES)
        self.tabs.add_class("spc-tabs")
        self.tabs.observe(_guard(self._on_tab, self.status, "open the tab"), "selected_index")
        title = widgets.HTML(str(render("spc/title.html.j2")))
        self.widget = widgets.VBox(
            [
                style_widget(),
                widgets.HTML(str(stylesheet("spc")), layout=widgets.Layout(height="0px")),
                title,
                self._trust_banner(),
                self.lake_note,
                widgets.HBox([self.reviewer_note, refresh, self.status]),
                widgets.HTML(str(thresholds_html(self.settings, self._settings_version()))),
                self.tabs,
            ]
        )
        self.widget.add_class("gl-app")
        self.widget.add_class("spc-app")
        self.reload_stats()

    def _trust_banner(self) -> widgets.Widget:
        """Red when the store does not verify: the figures below are then not evidence."""
        state = verified_state(self.store)
        if state["ok"]:
            banner = widgets.HTML("")
            banner.add_class("spc-trusted")
            return banner
        why = state.get("summary") or state.get("error") or "verification failed"
        box = error_box(
            "This evidence cannot be trusted: the store does not verify. The figures below are "
            "shown as stored; run `govlib verify` for every problem.",
            detail=str(why),
        )
        box.add_class("spc-untrusted")
        return box

    def _settings_version(self) -> str:
        """Which settings version the page uses, and the WORM entry that recorded it."""
        return recorded_settings(self.store, self.settings).describe()

    def _tabs(self) -> list[widgets.Widget]:
        filters = widgets.HBox([self.tenant, self.period])
        tool_tab = widgets.VBox([filters, self.tool_table.widget, self.slots[0], self.evaluators])
        wf_tab = widgets.VBox([filters, self.wf_table.widget, self.slots[1]])
        loading = widgets.HTML('<div class="gl-muted">Loading the tool calls…</div>')
        self.slots[2].children = (self.reviewer_box, loading)
        for box, name in zip(
            (tool_tab, wf_tab, self.slots[2]), ("tools", "workflows", "calls"), strict=True
        ):
            box.add_class(f"spc-tab-{name}")
        return [tool_tab, wf_tab, self.slots[2]]

    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] == 1 and not self._wf_loaded:
            self._wf_loaded = True
            self.reload_stats(tools=False)
        if change["new"] == 2:
            _ = self.calls

    @property
    def calls(self) -> CallsTab:
        """The "Tool calls" tab (built when first shown)."""
        if self._calls is None:
            self._calls = CallsTab(self.stamper, self.opts, self.rules_of)
            self._calls.table.refresh()
            self.slots[2].children = (self.reviewer_box, self._calls.widget)
        return self._calls

    @property
    def tool_drill(self) -> ToolDrill:
        """The tool drill-down (built when first opened)."""
        if self._tool_drill is None:
            self._tool_drill = ToolDrill(self.stamper, self.tool_series, self.rules_of)
            self.slots[0].children = (self._tool_drill.widget,)
        return self._tool_drill

    @property
    def wf_drill(self) -> WorkflowDrill:
        """The workflow drill-down (built when first opened)."""
        if self._wf_drill is None:
            self._wf_drill = WorkflowDrill(self.stamper, self.workflow_series, self.rules_of)
            self.slots[1].children = (self._wf_drill.widget,)
        return self._wf_drill

    def _opener(self, kind: str) -> Callable[[str], None]:
        drill = (lambda: self.tool_drill) if kind == "tool" else (lambda: self.wf_drill)
        return _guard(lambda name: drill().open(name), self.status, f"open the {kind}")

    # --- data -----------------------------------------------------------------------------------
    @property
    def con(self) -> Any:
        """A DuckDB snapshot of the store (re-read after stamps and on Refresh)."""
        if self._con is None:
            self._con = connect(self.data_dir)
            self.lake_note.value = _lake_note_html(lake_note(self._con))
        return self._con

    def _filters(self, newest: str | None) -> dict[str, Any]:
        since = period_since(str(self.period.value), newest)
        return {"tenant": self.tenant.value or None, "since": since, "tenants": self.tenants}

    def tool_series(self, tool: str) -> pd.DataFrame:
        """The chart window of one tool (tenant filter and the person's tenants applied)."""
        return stats.tool_series(
            self.con,
            tool,
            tenant=self.tenant.value or None,
            tenants=self.tenants,
            settings=self.settings,
        )

    def workflow_series(self, workflow: str) -> pd.DataFrame:
        """The run-duration window of one workflow (tenant filter and the person's tenants)."""
        tenant = self.tenant.value or None
        return stats.workflow_series(
            self.con, workflow, tenant=tenant, tenants=self.tenants, settings=self.settings
        )

    def rules_of(self) -> dict[int, str]:
        """Call id -> rules fired, over every tool's chart window (cached until Refresh)."""
        if self._flags is None:
            flags: dict[int, str] = {}
            for tool in self.opts["tools"]:
                series = stats.tool_series(
                    self.con, tool, tenants=self.tenants, settings=self.settings
                )
                flags.update(rules_map(series))
            self._flags = flags
        return self._flags

    def _stats_table(self, kind: str) -> pd.DataFrame | None:
        """The table computed elsewhere (``stats_table``: govlib stats on a cluster), or None
        when the figures must be computed here: none is set, or the person looking is limited
        to some tenants (a table computed elsewhere covers every tenant)."""
        if not self.settings.stats_table or self.tenants is not None:
            return None
        return read_stats_table(self.settings.stats_table, kind)

    def reload_stats(self, *, tools: bool = True) -> None:
        """Recompute the statistics tables (pills, accept rates, sampling, drift); the workflow
        table only once it has been shown."""
        if self._verdicts_stale:  # the snapshot predates a stamp: read the verdicts again
            self._con, self._verdicts_stale = None, False
            tools = True  # both tables must come from the same snapshot
        # one read per reload: the period and the status (of the person's tenants only)
        newest_at = newest_call_at(self.con, tenants=self.tenants)
        f = self._scope = self._filters(newest_at)
        if self._wf_loaded:
            flows = self._stats_table("workflows")
            if flows is None:
                flows = stats.workflow_stats(self.con, settings=self.settings, **f)
            self.wf_table.show(flows.rename(columns={"workflow_name": "name"}).to_dict("records"))
        if not tools:
            return
        per_tool = self._stats_table("tools")
        if per_tool is None:
            per_tool = stats.tool_stats(self.con, settings=self.settings, **f)
        self.tool_table.show(per_tool.rename(columns={"tool_name": "name"}).to_dict("records"))
        allowed = stats.allowed_tenants(f["tenant"], self.tenants)
        self.evaluators.value = _evaluators_html(
            evaluator_verdict_counts(self.store, since=f["since"], tenants=allowed)
        )
        n = int(per_tool["count"].sum()) if len(per_tool) else 0
        newest = timestamp(newest_at)
        self.status.value = _STATUS.format(f"{n:,}", newest, timestamp(utc_now_iso()))

    def refresh(self) -> None:
        """Re-read everything: statistics, rule flags, every table on show."""
        self._con, self._flags = None, None
        self.opts.update(choices(self.con, tenants=self.tenants))
        self.reload_stats()
        if self._calls is not None:
            self._calls.table.refresh()
        for drill in (self._tool_drill, self._wf_drill):
            if drill is not None and drill.name:
                drill.open(drill.name)

    def on_stamped(self, changes: list[Change]) -> None:
        """After verdicts: rows update in place; accept counts, rates, pills and the sampling
        recommendation follow at once (no re-read of the calls; the next reload re-reads)."""
        self._verdicts_stale = True
        context = call_context(self.store, [cid for cid, _, _ in changes])
        since = self._scope.get("since")
        allowed = stats.allowed_tenants(self._scope.get("tenant"), self.tenants)
        scoped = [
            (context[cid], previous, new)
            for cid, previous, new in changes
            if cid in context
            and (allowed is None or context[cid]["tenant_id"] in allowed)
            and (since is None or str(context[cid]["created_at"]) >= since)
        ]
        for table, key in ((self.tool_table, "tool_name"), (self.wf_table, "workflow")):
            moves = [(c[key], p, n) for c, p, n in scoped if c[key] is not None]
            table.show(apply_verdicts(table.data, moves, self.settings))
        for part in (self._calls, self._tool_drill):
            if part is not None:
                part.table.update_rows()
        if self._wf_drill is not None:
            self._wf_drill.refresh()


def app(data_dir: str | os.PathLike[str] | None = None) -> widgets.Widget:
    """Build the SPC dashboard (the notebook's one call); a readable error box if that fails.

    Under a preheated Voilà kernel the data is read only when the page is requested. The chart
    engine (Altair and its cached offline bundle, ~1.5 s of CPU) warms up a few seconds after the
    page is drawn, never before: a pooled kernel still warming held the first page after
    `govlib serve` started for 13 s, and an open drill-down (``?tool=``) warms it on demand.

    Example:
        >>> import govlib.apps.spc.dashboard
        >>> govlib.apps.spc.dashboard.app()  # doctest: +SKIP
    """
    preheated = os.environ.get("VOILA_PREHEAT") == "True"
    if preheated:
        verify_ahead(data_dir)  # the page view then verifies only what is appended meanwhile
        compile_templates(("spc", "apps", "charts"))  # ~0.15 s the visitor would otherwise wait for
        from voila.utils import wait_for_request

        wait_for_request()
    refused = build_or_error(lambda: _not_for_role(data_dir), what="the SPC dashboard")
    if refused is not None:
        return refused
    page = build_or_error(lambda: _dashboard(data_dir), what="the SPC dashboard")
    show_first_paint(page)  # the page's HTML shows it before Voila's JavaScript loads
    failed = "gl-error-box" in getattr(page, "_dom_classes", ())
    if not failed:  # after the page renders: importing Altair competes for the GIL
        timer = threading.Timer(WARM_DELAY_S, _warm_quietly)
        timer.daemon = True
        timer.start()
    return page


def _dashboard(data_dir: str | os.PathLike[str] | None) -> widgets.Widget:
    """The dashboard, on the Tool calls tab when the page asks for it (``?tab=calls``: where a
    reviewer lands after signing in), with the drill-down of ``?tool=NAME`` open (the executive
    page's tool links)."""
    dash = SpcApp(data_dir)
    query = urllib.parse.parse_qs(os.environ.get("QUERY_STRING", ""))
    if query.get("tab", [""])[-1] == "calls":
        dash.tabs.selected_index = 2
    tool = query.get("tool", [""])[-1]
    if tool in dash.opts["tools"]:
        _guard(dash.tool_drill.open, dash.status, "open the tool")(tool)
    return dash.widget


def _warm_quietly() -> None:
    try:
        warm_charts()
    except Exception:  # noqa: BLE001, S110 - the drill-down shows the error when it needs charts
        pass


def _signed_in_note(user: User | None) -> str:
    """The header line naming the signed-in person and their roles."""
    if user is None:
        return str(render("spc/signed_in_note.html.j2", who=None, roles=""))
    return str(render("spc/signed_in_note.html.j2", who=user.name, roles=", ".join(user.roles)))


def _not_for_role(data_dir: str | os.PathLike[str] | None) -> widgets.Widget | None:
    """A short note instead of the dashboard for a signed-in person without a role that reads
    it (None when the person may read it, or nobody signs in)."""
    with Store(checked_data_dir(data_dir, create=False), create=False, readonly=True) as store:
        mode, user = page_user(store)
    if mode not in ("tokens", "header") or (user is not None and user.may("view_spc")):
        return None
    who = user.name if user else None
    roles = ", ".join(user.roles) if user else ""
    return widgets.HTML(str(render("spc/not_for_role.html.j2", who=who, roles=roles)))


def _evaluators_html(rows: list[dict[str, Any]]) -> str:
    """The evaluators' verdicts table (empty when there are none: nothing to show apart)."""
    if not rows:
        return ""
    cells = [
        [Markup("<code>{}</code>").format(r["source"]), r["evaluated"], r["name"]]
        + [r["accept_count"], r["reject_count"], timestamp(r["latest_at"])]
        for r in rows
    ]
    return str(render("spc/evaluators.html.j2", rows=cells))


def _reviewer_note(name: str) -> str:
    who = name.strip() if name and name.strip() else "nobody yet"
    return str(render("spc/reviewer_note.html.j2", who=who))


def _lake_note_html(note: str | None) -> str:
    """The yellow lake note (empty when the lake is sound)."""
    return str(_LAKE_NOTE.format(note)) if note else ""
