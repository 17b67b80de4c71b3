"""Tool-call tables with verdict capture: ✓ / ✗ per row, bulk stamping, "Correct…".

:class:`CallTable` is a paged pool of row widgets (checkbox, cells, ✓, ✗, Correct…) fed by a
``fetch(offset, limit)`` callable; it stamps through a :class:`govlib.apps.spc.stamp.Stamper`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_bool import CheckboxStyle
from ipywidgets.widgets.widget_string import HTMLStyle
from markupsafe import Markup

from govlib.analysis.review import CallFilter, CallPage, query_calls
from govlib.apps.spc.stamp import Stamper, StampOutcome, message_html
from govlib.apps.spc.tables import CALL_COLUMNS, call_cells
from govlib.present.html import display_text
from govlib.present.tables import grid_header

__all__ = ["CallTable", "hide", "kit"]

_ROWS = Markup('<span class="gl-muted">&nbsp;Rows {0}–{1} of {2} (page {3} of {4})&nbsp;</span>')
_SELECTED = Markup('<span class="gl-muted">&nbsp;{} selected</span>')
_CORRECT = Markup(
    "<b>Correct call #{0}</b> (now {1} by {2}): choose the new verdict and say why; "
    "the correction is recorded in the WORM log."
)


@functools.cache
def kit() -> SimpleNamespace:
    """Layouts and styles shared by every row widget of the kernel (one model each, not one per
    row: a page of rows would otherwise cost hundreds of models and seconds of page load).

    Example:
        >>> kit() is kit()
        True
    """
    return SimpleNamespace(
        check=widgets.Layout(width="26px"),
        cells=widgets.Layout(flex="1 1 auto", min_width="0"),
        small=widgets.Layout(width="36px"),
        fix=widgets.Layout(width="80px"),
        row=widgets.Layout(width="100%"),
        button=widgets.ButtonStyle(),
        checkbox=CheckboxStyle(),
        html=HTMLStyle(),
    )


def hide(widget: widgets.DOMWidget, hidden: bool) -> None:
    """Hide or show a widget with a CSS class (its layout may be shared).

    Example:
        >>> w = widgets.HTML()
        >>> hide(w, True); "spc-hidden" in w._dom_classes
        True
    """
    (widget.add_class if hidden else widget.remove_class)("spc-hidden")


class _Row:
    """One reusable row widget: checkbox, cells, ✓, ✗, Correct…."""

    def __init__(self, table: CallTable, *, bulk: bool, can_stamp: bool = True) -> None:
        k = kit()
        self.call_id: int | None = None
        self.check = widgets.Checkbox(
            value=False, indent=False, description="", layout=k.check, style=k.checkbox
        )
        self.check.add_class("spc-select" if bulk else "spc-invisible")
        self.cells = widgets.HTML(layout=k.cells, style=k.html)
        self.ok = widgets.Button(description="✓", tooltip="Accept", layout=k.small, style=k.button)
        self.ok.add_class("spc-accept")
        self.no = widgets.Button(description="✗", tooltip="Reject", layout=k.small, style=k.button)
        self.no.add_class("spc-reject")
        self.fix = widgets.Button(
            description="Correct…",
            tooltip="Change an existing verdict (asks for a reason)",
            layout=k.fix,
            style=k.button,
        )
        self.fix.add_class("spc-correct")
        # Without the reviewer role the buttons are never shown (the kernel refuses them anyway).
        buttons = [self.ok, self.no, self.fix] if can_stamp else []
        self.box = widgets.HBox([self.check, self.cells, *buttons], layout=k.row)
        self.box.add_class("spc-call-row")
        hide(self.box, True)
        self.ok.on_click(lambda _b: table.stamp_one(self.call_id, "accept"))
        self.no.on_click(lambda _b: table.stamp_one(self.call_id, "reject"))
        self.fix.on_click(lambda _b: table.open_correction(self.call_id))
        self.check.observe(lambda ch: table.toggle(self.call_id, bool(ch["new"])), "value")

    def show(
        self, row: Mapping[str, Any] | None, rules: str | None, *, checked: bool, selected: bool
    ) -> None:
        """Fill the row with one call (or hide it when ``row`` is None)."""
        self.call_id = None  # silence the checkbox observer while refilling
        if row is None:
            self.check.value = False
            hide(self.box, True)
            return
        self.check.value = checked
        self.call_id = int(row["id"])
        self.cells.value = call_cells(row, rules, selected=selected)
        self.fix.disabled = row.get("human_verdict") is None
        hide(self.box, False)
        (self.box.add_class if selected else self.box.remove_class)("spc-selected")


class CallTable:
    """A paged table of tool calls with per-row and bulk verdict stamping.

    Parameters
    ----------
    stamper : Stamper
    fetch : callable
        ``fetch(offset, limit) -> CallPage``.
    rules_of : callable
        ``rules_of() -> {call id: "rule 1, rule 4"}`` (the rules that flagged each call).
    page_size : int
    bulk : bool
        Show the row checkboxes' "Accept selected" / "Reject selected" bar.

    Example:
        >>> from govlib.store.database import Store
        >>> from govlib.analysis.review import CallFilter, query_calls
        >>> store = Store(memory=True)
        >>> t = CallTable(Stamper(store, widgets.Text()),
        ...               lambda o, n: query_calls(store, CallFilter(), offset=o, limit=n), dict)
        >>> t.refresh(); t.total
        0
    """

    def __init__(
        self,
        stamper: Stamper,
        fetch: Callable[[int, int], CallPage],
        rules_of: Callable[[], Mapping[int, str]],
        *,
        page_size: int = 20,
        bulk: bool = True,
        css_class: str = "",
    ) -> None:
        self.stamper, self.fetch, self.rules_of = stamper, fetch, rules_of
        self.page_size, self.offset, self.total = page_size, 0, 0
        self.selected: set[int] = set()
        self.highlight: int | None = None
        self.rows_data: list[dict[str, Any]] = []
        self.message = widgets.HTML()
        self.message.add_class("spc-msg")
        head = widgets.HTML(
            str(grid_header(CALL_COLUMNS, ("latency",))), layout=widgets.Layout(flex="1 1 auto")
        )
        self.all_box = widgets.Checkbox(
            value=False,
            indent=False,
            description="",
            tooltip="Select every row on this page",
            layout=widgets.Layout(width="26px"),
        )
        self.all_box.observe(self._select_page, "value")
        actions = widgets.HTML(
            '<div class="spc-grid spc-head">Review</div>', layout=widgets.Layout(width="160px")
        )
        bulk = bulk and stamper.can_stamp
        self.rows = [_Row(self, bulk=bulk, can_stamp=stamper.can_stamp) for _ in range(page_size)]
        self.empty = widgets.HTML('<div class="gl-muted">No tool calls match.</div>')
        self.prev = widgets.Button(description="‹ Newer", layout=widgets.Layout(width="90px"))
        self.next = widgets.Button(description="Older ›", layout=widgets.Layout(width="90px"))
        self.prev.on_click(lambda _b: self.goto(self.offset - self.page_size))
        self.next.on_click(lambda _b: self.goto(self.offset + self.page_size))
        self.where = widgets.HTML()
        self.count = widgets.HTML()
        accept_sel = widgets.Button(
            description="Accept selected",
            button_style="success",
            icon="",
            layout=widgets.Layout(width="140px"),
        )
        reject_sel = widgets.Button(
            description="Reject selected",
            button_style="danger",
            layout=widgets.Layout(width="140px"),
        )
        accept_sel.add_class("spc-accept-selected")
        reject_sel.add_class("spc-reject-selected")
        accept_sel.on_click(lambda _b: self.stamp_selected("accept"))
        reject_sel.on_click(lambda _b: self.stamp_selected("reject"))
        self.fix_id: int | None = None
        self.fix_label = widgets.HTML()
        self.fix_choice = widgets.ToggleButtons(
            options=[("accept", "accept"), ("reject", "reject")]
        )
        self.fix_reason = widgets.Text(
            placeholder="reason for the change (required)", layout=widgets.Layout(width="320px")
        )
        fix_save = widgets.Button(description="Save correction", button_style="warning")
        fix_cancel = widgets.Button(description="Cancel")
        fix_save.add_class("spc-correct-save")
        fix_save.on_click(lambda _b: self.save_correction())
        fix_cancel.on_click(lambda _b: self.close_correction())
        self.fix_box = widgets.VBox(
            [
                self.fix_label,
                widgets.HBox([self.fix_choice, self.fix_reason, fix_save, fix_cancel]),
            ],
            layout=widgets.Layout(display="none"),
        )
        self.fix_box.add_class("spc-correct-form")
        self.pager = widgets.HBox([self.prev, self.where, self.next])
        bulk_bar = widgets.HBox(
            [accept_sel, reject_sel, self.count],
            layout=widgets.Layout(display="flex" if bulk else "none"),
        )
        self.all_box.layout.visibility = "visible" if bulk else "hidden"
        self.widget = widgets.VBox(
            [
                bulk_bar,
                self.message,
                self.fix_box,
                widgets.HBox([self.all_box, head, actions]),
                *[r.box for r in self.rows],
                self.empty,
                self.pager,
            ]
        )
        self.widget.add_class("spc-call-table")
        if css_class:
            self.widget.add_class(css_class)

    # --- data ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the current page from the store (order and filter re-applied) and redraw."""
        self._draw(self.fetch(self.offset, self.page_size))

    def update_rows(self) -> None:
        """Re-read the rows on show, in place and in the same order (after a stamp)."""
        ids = [int(r["id"]) for r in self.rows_data]
        if not ids:
            return self.refresh()
        flt = CallFilter(ids=tuple(ids), unreviewed_first=False, tenants=self.stamper.tenants)
        fresh = {int(r["id"]): r for r in query_calls(self.stamper.store, flt, limit=len(ids)).rows}
        rows = [fresh.get(i, old) for i, old in zip(ids, self.rows_data, strict=True)]
        self._draw(CallPage(rows, self.total, self.offset))

    def _draw(self, page: CallPage) -> None:
        self.offset, self.total, self.rows_data = page.offset, page.total, page.rows
        rules = self.rules_of()
        for i, row in enumerate(self.rows):
            data = page.rows[i] if i < len(page.rows) else None
            cid = int(data["id"]) if data else None
            row.show(
                data,
                rules.get(cid) if cid is not None else None,
                checked=cid in self.selected,
                selected=cid == self.highlight,
            )
        self.empty.layout.display = "none" if page.rows else "block"
        first = self.offset + 1 if self.total else 0
        last = self.offset + len(page.rows)
        pages = max(1, -(-self.total // self.page_size))
        page_no = self.offset // self.page_size + 1
        self.where.value = _ROWS.format(first, last, self.total, page_no, pages)
        self.prev.disabled = self.offset <= 0
        self.next.disabled = last >= self.total
        self.pager.layout.display = "flex" if self.total > self.page_size else "none"
        self._show_count()

    def goto(self, offset: int) -> None:
        """Show the page starting at ``offset`` (clamped)."""
        self.offset = max(0, int(offset))
        self.refresh()

    def select_call(self, call_id: int | None, index: int | None = None) -> None:
        """Highlight one call (e.g. picked in a chart), paging to it when its index is known."""
        self.highlight = call_id
        if index is not None:
            self.offset = (index // self.page_size) * self.page_size
        self.refresh()

    # --- selection ------------------------------------------------------------------------------
    def toggle(self, call_id: int | None, on: bool) -> None:
        """A row's checkbox changed: add the call to, or drop it from, the selection."""
        if call_id is None:
            return
        (self.selected.add if on else self.selected.discard)(call_id)
        self._show_count()

    def _select_page(self, change: dict[str, Any]) -> None:
        for row in self.rows:
            if row.call_id is not None:
                row.check.value = bool(change["new"])

    def _show_count(self) -> None:
        n = len(self.selected)
        self.count.value = _SELECTED.format(n)

    # --- stamping -------------------------------------------------------------------------------
    def _report(self, outcome: StampOutcome, verdict: str) -> None:
        self.message.value = message_html(outcome.text(verdict), ok=not outcome.refused)

    def stamp_one(self, call_id: int | None, verdict: str) -> StampOutcome:
        """The ✓ / ✗ of one row."""
        out = self.stamper.stamp([] if call_id is None else [call_id], verdict)
        if out.lost or out.unchanged:  # someone else was first: show what the store holds
            self.update_rows()
        self._report(out, verdict)
        return out

    def stamp_selected(self, verdict: str) -> StampOutcome:
        """ "Accept selected" / "Reject selected": exactly the ticked rows."""
        ids = sorted(self.selected)
        out = self.stamper.stamp(ids, verdict)
        if out.stamped or out.lost or out.unchanged:
            self.selected -= set(out.stamped)
            self.all_box.value = False
            self.update_rows()
        self._report(out, verdict)
        return out

    def open_correction(self, call_id: int | None) -> None:
        """Show the "Correct…" form for one reviewed call."""
        row = next((r for r in self.rows_data if int(r["id"]) == call_id), None)
        if row is None:
            return
        self.fix_id = call_id
        now = {"accept": "accepted", "reject": "rejected"}.get(row.get("human_verdict"), "none")
        self.fix_label.value = _CORRECT.format(
            call_id, now, display_text(row.get("verdict_by") or "")
        )
        self.fix_choice.value = "reject" if row.get("human_verdict") == "accept" else "accept"
        self.fix_reason.value = ""
        self.fix_box.layout.display = "flex"

    def close_correction(self) -> None:
        """Hide the "Correct…" form."""
        self.fix_id = None
        self.fix_box.layout.display = "none"

    def save_correction(self) -> StampOutcome:
        """Call ``correct_verdict`` with the chosen verdict and reason."""
        if self.fix_id is None:
            return StampOutcome()
        verdict = str(self.fix_choice.value)
        out = self.stamper.correct(self.fix_id, verdict, str(self.fix_reason.value))
        if out.stamped:
            self.close_correction()
        self.message.value = message_html(
            f"Call #{out.stamped[0]} corrected to {verdict}." if out.stamped else out.text(verdict),
            ok=bool(out.stamped),
        )
        return out
