"""The first paint: a static HTML copy of an app's widget tree (pure; no server)."""

from __future__ import annotations

import ipywidgets as widgets

from govlib.apps.first_paint import LIVE_CLASS, snapshot_html


def test_snapshot_keeps_html_classes_layout_and_draws_controls_disabled():
    html = widgets.HTML("<b>Kill-switch</b>")
    html.add_class("gl-killswitch")
    grid = widgets.GridBox(
        [html, widgets.Dropdown(options=[("Run one", "r1")], value="r1", description="Run")],
        layout=widgets.Layout(grid_template_columns="1fr 2fr"),
    )
    button = widgets.Button(description="Refresh <now>")
    hidden = widgets.HTML("secret", layout=widgets.Layout(display="none"))
    out = snapshot_html(widgets.VBox([grid, widgets.HBox([button, hidden])]))
    assert '<div class="gl-killswitch"><b>Kill-switch</b></div>' in out
    assert "display:grid;grid-template-columns:1fr 2fr" in out
    assert "<select disabled><option>Run one</option></select>" in out
    assert "<button disabled>Refresh &lt;now&gt;</button>" in out  # escaped, never clickable
    assert 'style="display:none">secret</div>' in out
    assert "flex-direction:row" in out and "flex-direction:column" in out


def test_snapshot_shows_the_selected_tab_only_and_leaves_charts_out():
    tab = widgets.Tab([widgets.HTML("first"), widgets.HTML("second")])
    tab.titles = ("Tool stats", "Tool calls")
    tab.selected_index = 1
    out = snapshot_html(widgets.VBox([tab, widgets.Output(), widgets.IntSlider()]))
    assert "second" in out and "first" not in out
    assert "Tool stats" in out and "glfp-tab-on" in out
    assert out.count("<div") == 4  # the box, the tab, its bar, the shown child: nothing else


def test_live_class_marks_the_page_that_replaces_the_first_paint():
    assert LIVE_CLASS == "gl-live"
