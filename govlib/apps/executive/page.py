"""The executive single pane of glass: one Voilà page for the CRO, the CFO and compliance.

A headline strip in plain language, then three columns side by side — "Governance State",
"Audit Trail", "Cost Ledger" — for one workflow run (default: the most recent). A run selector, a
Refresh button and an optional auto-refresh (off by default) re-read the store and re-verify the
chain. The page is built from widget children at load (no ``Output`` writes during the first
execution, voila#1428); every failure shows a readable box instead of a blank panel.

The notebook ``notebooks/executive_spog.ipynb`` is one import and one call: ``app()``.
"""

from __future__ import annotations

import os
import threading
import traceback
import urllib.parse
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from markupsafe import Markup

from govlib.analysis.executive import load_spog
from govlib.apps.executive.html import (
    audit_table_html,
    chain_html,
    cost_html,
    governance_html,
    headline_html,
    health_html,
    sealed_ranges_html,
)
from govlib.apps.executive.view import page_view
from govlib.apps.first_paint import show_first_paint, verify_ahead
from govlib.apps.identity import page_user
from govlib.apps.widgets import build_or_error, error_box, html_widget, panel, style_widget
from govlib.clock import utc_now_iso
from govlib.errors import GovlibError
from govlib.governance.users import User
from govlib.present.charts import step_cost_svg
from govlib.present.formatting import timestamp
from govlib.present.templating import compile_templates
from govlib.store.database import Store
from govlib.store.datadir import checked_data_dir

__all__ = ["PANEL_TITLES", "SpogApp", "app"]

PANEL_TITLES = ("Governance State", "Audit Trail", "Cost Ledger")
_ALL = "(all)"
_TITLE = '<span class="gl-title">govlib · Executive view</span>'
_FAILED = Markup('<span class="gl-muted">Load failed at {}</span>')
_LOADED = Markup(
    '<span class="gl-muted gl-loaded" data-loads="{0}" data-run="{1}">Read at {2}{3}</span>'
)


_html = html_widget


class SpogApp:
    """The SPOG page for the store in ``data_dir``; ``.widget`` is what the notebook displays.

    Parameters
    ----------
    data_dir : str or Path, optional
        Data dir (default: ``GOVLIB_DATA_DIR`` / the checkout's ``data/``, as the CLI resolves it).
    run_id : str, optional
        Run to show first (default: the most recent run, followed on Refresh).
    auto_refresh_s : int
        Interval offered for auto-refresh (auto-refresh itself starts off).

    Example:
        >>> spog = SpogApp("/path/to/data")  # doctest: +SKIP
        >>> spog.refresh()  # doctest: +SKIP
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        run_id: str | None = None,
        auto_refresh_s: int = 15,
        viewer: User | None = None,
        signed_in: bool = False,
        view: str | None = None,
    ) -> None:
        self.data_dir: Path = checked_data_dir(data_dir, create=False)
        self.viewer, self.signed_in = viewer, signed_in or viewer is not None
        self.data: dict[str, Any] | None = None
        self.loads = 0
        self._want_run = run_id
        self._follow_latest = run_id is None
        self._lock = threading.RLock()
        self._quiet = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

        w = widgets
        self.run_select = w.Dropdown(description="Run", layout=w.Layout(width="600px"))
        self.run_select.add_class("gl-run-select")
        self.refresh_button = w.Button(
            description="Refresh", icon="refresh", tooltip="Re-read the store and re-verify"
        )
        self.refresh_button.add_class("gl-refresh")
        # A page view verifies only what was appended since the last verification in this
        # kernel; this one click verifies everything again, as `govlib verify` does.
        self.verify_button = w.Button(
            description="Verify all",
            icon="check",
            tooltip="Re-verify every entry, digest and checkpoint from the first (govlib verify)",
        )
        self.verify_button.add_class("gl-verify-all")
        self.auto = w.Checkbox(value=False, description="Auto-refresh", indent=False)
        self.auto.layout.width = "110px"
        self.interval = w.BoundedIntText(
            value=auto_refresh_s,
            min=2,
            max=3600,
            description="every (s)",
            layout=w.Layout(width="150px"),
        )
        self.status = _html("", "gl-status")
        self.headline = _html("", "gl-headline-box")
        self.health = _html("", "gl-health-box")  # tool health, links to the SPC dashboard
        self.messages = w.VBox([])
        self.node_filter = w.Dropdown(description="Node", layout=w.Layout(width="48%"))
        self.outcome_filter = w.Dropdown(description="Outcome", layout=w.Layout(width="48%"))
        self.gov_body = w.VBox([], layout=w.Layout(width="100%"))
        self.chain_badge = _html("", "gl-chain-box")
        self.sealed_line = _html("", "gl-sealed-box")  # sealed / purged ranges (lifecycle)
        self.chain_links = w.Checkbox(value=False, description="Show chain links", indent=False)
        self.chain_links.add_class("gl-chain-links")
        self.chain_links.layout.width = "auto"
        self.audit_table = _html("", "gl-audit-box")
        self.audit_table.add_class("gl-scroll")
        self.cost_body = w.VBox([], layout=w.Layout(width="100%"))

        columns = self._columns(view)
        title = w.HTML(_TITLE)
        toolbar = w.HBox(
            [
                title,
                self.run_select,
                self.refresh_button,
                self.verify_button,
                self.auto,
                self.interval,
                self.status,
            ],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
        style = style_widget("spog")
        self.who = _html(who_html(self.viewer, self.signed_in), "gl-who")
        self.reset_box = self._reset_controls()
        self.widget = w.VBox(
            [
                style,
                toolbar,
                self.who,
                self.headline,
                self.health,
                self.messages,
                self.reset_box,
                columns,
            ],
            layout=w.Layout(width="100%"),
        )
        self.widget.add_class("gl-app")
        self.widget.add_class("gl-spog")

        self._connect()
        self.refresh()

    def _connect(self) -> None:
        self.run_select.observe(self._on_run, names="value")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.verify_button.on_click(lambda _b: self.refresh(full_verify=True))
        self.auto.observe(self._on_auto, names="value")
        self.node_filter.observe(self._on_filter, names="value")
        self.outcome_filter.observe(self._on_filter, names="value")
        self.chain_links.observe(self._on_filter, names="value")

    def _columns(self, view: str | None) -> widgets.Widget:
        """The three panels side by side (finance: the Cost Ledger alone)."""
        w = widgets
        audit_filters = w.VBox(
            [w.HBox([self.node_filter, self.outcome_filter]), self.chain_links],
            layout=w.Layout(width="100%"),
        )
        panels = [
            panel(PANEL_TITLES[0], [self.gov_body], css_class="gl-panel-governance"),
            panel(
                PANEL_TITLES[1],
                [self.chain_badge, self.sealed_line, audit_filters, self.audit_table],
                css_class="gl-panel-audit",
            ),
            panel(PANEL_TITLES[2], [self.cost_body], css_class="gl-panel-cost"),
        ]
        grid = "minmax(0,1fr) minmax(0,1.3fr) minmax(0,1fr)"
        self.costs_only = self._costs_only(view)
        if self.costs_only:  # finance lands on the Cost Ledger
            panels, grid = [panels[2]], "minmax(0,1fr)"
        columns = w.GridBox(
            panels, layout=w.Layout(grid_template_columns=grid, grid_gap="8px", width="100%")
        )
        columns.add_class("gl-columns")
        return columns

    # --- who is looking -------------------------------------------------------------------------
    def _costs_only(self, view: str | None) -> bool:
        """Finance (without a role that reads the whole page) sees the Cost Ledger only."""
        if not self.signed_in:
            return view == "costs"
        viewer = self.viewer
        if viewer is None or not (viewer.may("view_executive") or viewer.may("view_costs")):
            raise GovlibError("nobody with a role that reads this page is signed in")
        return view == "costs" or not viewer.may("view_executive")

    def _reset_controls(self) -> widgets.Widget:
        """The admin's kill-switch reset (a reason required); absent for everyone else."""
        box = widgets.VBox([])
        if self.viewer is None or not self.viewer.may("killswitch_reset"):
            return box
        self.reset_reason = widgets.Text(
            description="Reason",
            placeholder="why it is safe to resume (required)",
            layout=widgets.Layout(width="480px"),
        )
        self.reset_button = widgets.Button(description="Reset kill-switch", button_style="danger")
        self.reset_button.add_class("gl-reset-killswitch")
        self.reset_message = _html("", "gl-reset-message")
        self.reset_button.on_click(lambda _b: self.reset_kill_switch())
        box.children = [
            widgets.HBox([self.reset_reason, self.reset_button]),
            self.reset_message,
        ]
        box.add_class("gl-reset-box")
        return box

    def reset_kill_switch(self) -> str:
        """Reset the kill-switch as the signed-in admin, recorded exactly as
        ``govlib killswitch reset`` (the role is checked first; a refusal is recorded)."""
        reason = str(self.reset_reason.value or "").strip()
        if not reason:
            text = "A reason is required to reset the kill-switch. Nothing was recorded."
        else:
            text = reset_as(self.data_dir, self.viewer, reason)
            self.refresh()
        self.reset_message.value = str(Markup("<p>{}</p>").format(text))
        return text

    # --- loading ------------------------------------------------------------------------------
    def refresh(self, *, full_verify: bool = False) -> None:
        """Re-read the store (and re-verify the chain: what was appended since the last
        verification, or everything with ``full_verify``), then redraw every panel."""
        with self._lock:
            run_id = None if self._follow_latest else self._want_run
            try:
                with Store(self.data_dir, create=False, readonly=True) as store:
                    tenants = self.viewer.tenants if self.viewer is not None else None
                    data = load_spog(store, run_id, full_verify=full_verify, tenants=tenants)
                    self.data = page_view(data)
                self.loads += 1
                self.messages.children = []
                self._render()
            except Exception as exc:  # noqa: BLE001 - shown to the reader, never a blank page
                self._show_failure(exc)

    def _show_failure(self, exc: Exception) -> None:
        msg = f"Could not read the govlib store in {self.data_dir}: {exc}"
        self.messages.children = [error_box(msg, detail=traceback.format_exc(limit=6))]
        if self.data is None:
            for box in (self.gov_body, self.cost_body):
                box.children = [error_box("Nothing to show until the store can be read.")]
            self.audit_table.value = ""
        self.status.value = _FAILED.format(_now())

    # --- rendering ----------------------------------------------------------------------------
    def _render(self) -> None:
        data = self.data or {}
        run = data.get("run")
        self._quiet = True
        try:
            options = [(r["label"], r["run_id"]) for r in data.get("runs", [])]
            if run and run["run_id"] not in {v for _, v in options}:
                options.insert(0, (run["label"], run["run_id"]))
            self.run_select.options = options
            self.run_select.value = run["run_id"] if run else None
            self._want_run = run["run_id"] if run else None
            entries = data.get("worm", [])
            nodes = sorted({e["node"] for e in entries if e.get("node")})
            outcomes = sorted({e["outcome"] for e in entries if e.get("outcome")})
            self._reset_filter(self.node_filter, nodes)
            self._reset_filter(self.outcome_filter, outcomes)
        finally:
            self._quiet = False
        self.headline.value = headline_html(data.get("headline", {}))
        self.health.value = health_html(data.get("health", {}))
        self.gov_body.children = [
            build_or_error(self._governance_html, data, what="the governance state")
        ]
        self.chain_badge.value = chain_html(data.get("chain", {}))
        self.sealed_line.value = sealed_ranges_html(data.get("sealed", []))
        self._render_audit()
        self.cost_body.children = [build_or_error(self._cost_html, data, what="the cost ledger")]
        rid = run["run_id"] if run else ""
        self.status.value = _LOADED.format(self.loads, rid, _now(), f" · run {rid}" if rid else "")

    @staticmethod
    def _reset_filter(dropdown: widgets.Dropdown, values: list[str]) -> None:
        keep = dropdown.value if dropdown.value in values else _ALL
        dropdown.options = [_ALL, *values]
        dropdown.value = keep

    @staticmethod
    def _governance_html(data: dict[str, Any]) -> widgets.HTML:
        return _html(governance_html(data))

    @staticmethod
    def _cost_html(data: dict[str, Any]) -> widgets.HTML:
        steps = data.get("cost", {}).get("steps", [])
        chart = build_or_error(lambda: _html(step_cost_svg(steps)), what="the cost chart")
        return _html(cost_html(data, chart=Markup(chart.value)))

    def _render_audit(self) -> None:
        node = self.node_filter.value if self.node_filter.value != _ALL else None
        outcome = self.outcome_filter.value if self.outcome_filter.value != _ALL else None
        data = self.data or {}
        bad = data.get("chain", {}).get("bad_seq")
        entries = data.get("worm", [])
        self.audit_table.value = audit_table_html(
            entries, node=node, outcome=outcome, bad_seq=bad, links=bool(self.chain_links.value)
        )

    # --- callbacks ----------------------------------------------------------------------------
    def _on_run(self, change: dict[str, Any]) -> None:
        if self._quiet or change["new"] is None:
            return
        runs = (self.data or {}).get("runs", [])
        self._follow_latest = bool(runs) and change["new"] == runs[0]["run_id"]
        self._want_run = change["new"]
        self.refresh()

    def _on_filter(self, _change: dict[str, Any]) -> None:
        if not self._quiet:
            self._render_audit()

    def _on_auto(self, change: dict[str, Any]) -> None:
        if change["new"] and (self._ticker is None or not self._ticker.is_alive()):
            self._stop.clear()
            self._ticker = threading.Thread(
                target=self._tick, name="spog-auto-refresh", daemon=True
            )
            self._ticker.start()
        elif not change["new"]:
            self._stop.set()

    def _tick(self) -> None:
        while not self._stop.wait(max(2, int(self.interval.value or 15))):
            if self.auto.value:
                self.refresh()

    def close(self) -> None:
        """Stop auto-refresh and close the page's widgets."""
        self._stop.set()
        self.widget.close()


def who_html(viewer: User | None, signed_in: bool) -> str:
    """The line naming the signed-in person (empty when nobody signs in).

    Example:
        >>> who_html(User("person:a", "Fi", ("finance",), None, "active", "x"), True)
        '<div class="gl-muted gl-signed-in">Signed in as <b>Fi</b> (finance)</div>'
    """
    if not signed_in:
        return ""
    if viewer is None:
        return '<div class="gl-muted gl-signed-in">Nobody is signed in.</div>'
    return str(
        Markup('<div class="gl-muted gl-signed-in">Signed in as <b>{}</b> ({})</div>').format(
            viewer.name, ", ".join(viewer.roles)
        )
    )


def reset_as(data_dir: Path, viewer: User | None, reason: str) -> str:
    """Reset the kill-switch as ``viewer`` (an admin), as ``govlib killswitch reset`` does:
    the reset and a signed checkpoint; a refusal is recorded. Returns one sentence."""
    from govlib.evidence.checkpoints import sign_checkpoint
    from govlib.governance.killswitch import KillSwitch
    from govlib.governance.users import AccessDenied, require

    if viewer is None:
        return "Nobody is signed in: nothing was recorded."
    with Store(data_dir, create=False) as store:
        try:
            require(store, viewer, "killswitch_reset", "kill-switch", via="page")
            state = KillSwitch(store).reset(by=viewer.name, reason=reason)
            sign_checkpoint(store)
        except (AccessDenied, GovlibError) as exc:
            return f"Refused: {exc}"
    return state.describe()


def _signed_in_app(data_dir: Any, run_id: str | None, view: str | None) -> SpogApp:
    with Store(checked_data_dir(data_dir, create=False), create=False, readonly=True) as store:
        mode, viewer = page_user(store)
    signed_in = mode in ("tokens", "header")
    return SpogApp(data_dir, run_id=run_id, viewer=viewer, signed_in=signed_in, view=view)


def _now() -> str:
    return timestamp(utc_now_iso(), date=False)


def _await_page_request(data_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Under a preheated Voilà kernel, block until a page is requested (imports are done by then).

    Returns the page's query parameters (``?run=<id>`` selects a run). Outside Voilà: no wait.
    So the data is read when the page is requested, never when the kernel warmed up.
    """
    if os.environ.get("VOILA_PREHEAT") == "True":
        verify_ahead(data_dir)  # the page view then verifies only what is appended meanwhile
        compile_templates(
            ("executive", "apps", "charts")
        )  # ~0.15 s the visitor would otherwise wait for
        from voila.utils import get_query_string

        query = get_query_string() or ""
    else:
        query = os.environ.get("QUERY_STRING", "")
    return {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}


def app(data_dir: str | os.PathLike[str] | None = None) -> widgets.Widget:
    """Build the SPOG page (the notebook's one call); a readable error box if that fails.

    Example:
        >>> import govlib.apps.executive.page
        >>> govlib.apps.executive.page.app()  # doctest: +SKIP
    """
    params = _await_page_request(data_dir)
    run_id = params.get("run") or None
    page = build_or_error(
        lambda: _signed_in_app(data_dir, run_id, params.get("view")).widget,
        what="the executive view",
    )
    return show_first_paint(page)  # the page's HTML shows it before Voila's JavaScript loads
