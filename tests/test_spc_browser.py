"""Issue 7 acceptance: the SPC dashboard in a real Voilà server, driven by Debian chromium.

After ``govlib demo``: the Tool stats tab lists every tool; the tool with the injected latency
drift shows a non-stable drift badge and a non-zero count of flagged calls; clicking it opens the control
chart with red rule-1 points, and clicking a point selects that call in the table. On the Tool
calls tab, ✓ on an unreviewed row stamps it (row, store, WORM log); ✗ on the same row is then
refused with a visible reason and the store is unchanged; the tool's accept pill changes; bulk
stamping of three ticked rows stamps exactly those three. The sparkline SVG carries its three
band levels, the mean line and the dashed UCL. Two pages (two kernels) stamp at the same time.
No request leaves the machine (govlib's Voila template: no Font Awesome, no CDN).
In CI (``CI=true``) this fails when chromium or Voilà cannot run; elsewhere it skips.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from harness import browser_page, screenshot, voila_app

from govlib.demo.claimsflow.history import INJECTED

pytestmark = pytest.mark.browser

PAGE = "/voila/render/spc_dashboard.ipynb"
TIMEOUT_MS = 90_000
RED = "#c62828"  # govlib.present.charts: rule-1 points


#: The aria-label and centre of the last point matching a selector that is topmost at its centre.
TOPMOST_POINT = """sel => {
  const pts = [...document.querySelectorAll(sel)]
    .filter(e => e.getAttribute('aria-roledescription') === 'point');
  for (const e of pts.reverse()) {
    const r = e.getBoundingClientRect();
    const x = r.x + r.width / 2, y = r.y + r.height / 2;
    if (document.elementFromPoint(x, y) === e) {
      return {label: e.getAttribute('aria-label'), x: x, y: y};
    }
  }
  return null;
}"""


def drifting_tool() -> str:
    """The tool ClaimsFlow's history gives an injected latency drift."""
    return next(tool for tool, (kind, *_rest) in INJECTED.items() if kind == "latency_drift")


def db(data_dir: Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{data_dir / 'govlib.sqlite'}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    return con


def verdict(data_dir: Path, call_id: int) -> tuple[Any, Any, Any]:
    with db(data_dir) as con:
        row = con.execute(
            # the reviewer is stored as a pseudonym; the name is in the people table
            "SELECT a.human_verdict, COALESCE(p.name, a.verdict_by), a.verdict_at "
            "FROM audit_log a LEFT JOIN people p ON p.pseudonym = a.verdict_by WHERE a.id = ?",
            (call_id,),
        ).fetchone()
    return tuple(row)


def count(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    with db(data_dir) as con:
        return int(con.execute(sql, params).fetchone()[0])


def open_dashboard(page: Any, base: str) -> None:
    page.goto(base + PAGE)
    page.wait_for_selector(".spc-stats-tool .spc-stat-row", state="visible", timeout=TIMEOUT_MS)


def stat_cells(page: Any, name: str) -> Any:
    return page.locator(f'.spc-stats-tool .spc-stat-cells[data-name="{name}"]')


def open_calls_tab(page: Any, reviewer: str) -> None:
    page.get_by_role("tab", name="Tool calls").click()
    page.wait_for_selector(".spc-calls-main .spc-call-row >> visible=true", timeout=TIMEOUT_MS)
    field = page.locator(".spc-reviewer input")
    field.fill(reviewer)
    field.press("Tab")


def call_rows(page: Any) -> Any:
    return page.locator(".spc-calls-main .spc-call-row:not(.spc-hidden)")


def row_id(row: Any) -> int:
    return int(row.locator("[data-call-id]").get_attribute("data-call-id"))


def check_tool_stats_tab(page: Any, tools: set[str]) -> None:
    """The three tabs, and every tool of the store listed on the Tool stats tab."""
    tabs = [t.inner_text().strip() for t in page.get_by_role("tab").all()]
    assert tabs == ["Tool stats", "By workflow", "Tool calls"]
    listed = {b.inner_text().strip() for b in page.locator(".spc-stats-tool .spc-open").all()}
    assert tools <= listed, tools - listed


def check_drifting_tool_stats(page: Any, drift: str) -> None:
    """The drifting tool's row: non-stable badge, flagged calls, thresholds in force on the page, and
    its sparkline with three band levels, the mean line and the dashed UCL."""
    cells = stat_cells(page, drift)
    assert cells.locator("[data-drift]").get_attribute("data-drift") in ("watch", "drift")
    assert int(cells.locator("[data-flagged]").get_attribute("data-flagged")) > 0
    tip = cells.locator("[data-flagged]").get_attribute("title")
    assert "rule 1:" in tip and "rule 4:" in tip
    assert page.get_by_text("Thresholds in force").first.is_visible()

    spark = cells.locator("svg.govlib-sparkline")
    for css in (".spark-band-1", ".spark-band-2", ".spark-band-3", ".spark-mean"):
        assert spark.locator(css).count() == 1, css
    assert spark.locator(".spark-ucl").get_attribute("stroke-dasharray")


def open_control_chart(page: Any, drift: str) -> Any:
    """Drill down into the drifting tool inside the Tool stats tab; the drill-down, once its
    control chart shows red rule-1 points and its table shows rows."""
    page.locator(".spc-stats-tool .spc-open", has_text=re.compile(f"^{drift}$")).click()
    drill = page.locator(".spc-tab-tools .spc-drill-tool")
    points = drill.locator(f'.mark-symbol path[aria-roledescription="point"][fill="{RED}"]')
    points.first.wait_for(state="attached", timeout=TIMEOUT_MS)
    assert points.count() > 0
    page.wait_for_selector(".spc-drill-table .spc-call-row >> visible=true")
    return drill


def check_point_selects_call(page: Any, drill: Any) -> None:
    """Clicking a red point not hidden by another selects that call in the table."""
    drill.locator(".vega-embed").scroll_into_view_if_needed()
    label = page.evaluate(TOPMOST_POINT, f'.spc-drill-tool .mark-symbol path[fill="{RED}"]')
    assert label, "no red point is clickable"
    clicked = int(re.search(r"call id: ([\d,]+)", label["label"]).group(1).replace(",", ""))
    page.mouse.click(label["x"], label["y"])
    page.wait_for_selector(f'.spc-picked-msg[data-picked="{clicked}"]', timeout=TIMEOUT_MS)
    chosen = drill.locator(".spc-call-row.spc-selected [data-call-id]")
    chosen.wait_for(timeout=TIMEOUT_MS)
    assert int(chosen.get_attribute("data-call-id")) == clicked


def stamped_verdict_entries(data_dir: Path) -> list[dict[str, Any]]:
    """The details of the WORM log's ``verdict_stamped`` entries, ``by`` read back to the name
    (the chained body holds the reviewer's pseudonym; the name is in the people table)."""
    con = db(data_dir)
    names = dict(con.execute("SELECT pseudonym, name FROM people").fetchall())
    details = [
        json.loads(d)
        for (d,) in con.execute("SELECT detail FROM worm_log WHERE action = 'verdict_stamped'")
    ]
    return [d | {"by": names.get(d["by"], d["by"])} for d in details]


def check_accept_then_reject_refused(page: Any, demo_dir: Path, reviewer: str) -> None:
    """✓ stamps the first (unreviewed) row: row, store, WORM log; ✗ on it afterwards is refused
    with a visible reason and the store unchanged; the tool's accept pill has changed."""
    first = call_rows(page).first
    call_id = row_id(first)
    assert first.locator('[data-verdict="none"]').count() == 1  # unreviewed first
    tool = first.locator(".spc-c-tool").inner_text().strip()
    accept_before = stat_cells(page, tool).get_attribute("data-accept")
    first.locator(".spc-accept").click()
    page.wait_for_selector(
        f'.spc-calls-main [data-call-id="{call_id}"][data-verdict="accept"]',
        timeout=TIMEOUT_MS,
    )
    assert reviewer in first.inner_text()
    human, by, at = verdict(demo_dir, call_id)
    assert (human, by) == ("accept", reviewer) and at
    entries = stamped_verdict_entries(demo_dir)
    assert any(e["audit_id"] == call_id and e["by"] == reviewer for e in entries)
    events = count(demo_dir, "SELECT COUNT(*) FROM verdict_events")
    first.locator(".spc-reject").click()
    refusal = page.locator(".spc-calls-main .spc-msg .gl-error")
    refusal.wait_for(timeout=TIMEOUT_MS)
    assert "already stamped" in refusal.inner_text()
    assert verdict(demo_dir, call_id) == (human, by, at)
    assert count(demo_dir, "SELECT COUNT(*) FROM verdict_events") == events
    assert stat_cells(page, tool).get_attribute("data-accept") != accept_before


def check_bulk_accept(page: Any, demo_dir: Path, reviewer: str) -> None:
    """Tick three rows: "Accept selected" stamps exactly those three."""
    rows = call_rows(page)
    picked = []
    for i in range(1, 4):
        rows.nth(i).locator(".spc-select input").check()
        picked.append(row_id(rows.nth(i)))
    before = count(demo_dir, "SELECT COUNT(*) FROM audit_log WHERE human_verdict IS NOT NULL")
    page.locator(".spc-calls-main .spc-accept-selected").click()
    page.wait_for_selector(".spc-calls-main .spc-msg .gl-ok-msg", timeout=TIMEOUT_MS)
    assert "3 calls accepted" in page.locator(".spc-calls-main .spc-msg").inner_text()
    after = count(demo_dir, "SELECT COUNT(*) FROM audit_log WHERE human_verdict IS NOT NULL")
    assert after == before + 3
    assert all(verdict(demo_dir, i)[:2] == ("accept", reviewer) for i in picked)


def test_spc_dashboard_in_the_browser(demo_dir: Path) -> None:
    drift = drifting_tool()
    with db(demo_dir) as con:
        tools = {r[0] for r in con.execute("SELECT DISTINCT tool_name FROM audit_log")}
    reviewer = "Ana Reviewer"
    with voila_app(demo_dir) as base, browser_page(1280, 900) as (page, net):
        open_dashboard(page, base)
        check_tool_stats_tab(page, tools)
        screenshot(page, "spc-1-tool-stats")

        check_drifting_tool_stats(page, drift)
        drill = open_control_chart(page, drift)
        screenshot(page, "spc-2-control-chart")

        check_point_selects_call(page, drill)
        screenshot(page, "spc-3-point-selected")

        open_calls_tab(page, reviewer)
        check_accept_then_reject_refused(page, demo_dir, reviewer)
        screenshot(page, "spc-4-stamped-and-refused")

        check_bulk_accept(page, demo_dir, reviewer)
        screenshot(page, "spc-5-bulk")

        assert net.external == [], net.external


def test_two_pages_stamp_at_the_same_time(demo_dir: Path) -> None:
    with voila_app(demo_dir) as base, browser_page(1280, 900) as (page_a, net):
        page_b = page_a.context.new_page()
        for page, name in ((page_a, "Reviewer A"), (page_b, "Reviewer B")):
            open_dashboard(page, base)
            open_calls_tab(page, name)
        id_a, id_b = row_id(call_rows(page_a).nth(0)), row_id(call_rows(page_b).nth(1))
        assert id_a != id_b
        call_rows(page_a).nth(0).locator(".spc-accept").click()  # both clicks before any wait
        call_rows(page_b).nth(1).locator(".spc-reject").click()
        for page, cid, word in ((page_a, id_a, "accept"), (page_b, id_b, "reject")):
            page.wait_for_selector(
                f'.spc-calls-main [data-call-id="{cid}"][data-verdict="{word}"]',
                timeout=TIMEOUT_MS,
            )
        assert verdict(demo_dir, id_a)[:2] == ("accept", "Reviewer A")
        assert verdict(demo_dir, id_b)[:2] == ("reject", "Reviewer B")
        assert net.external == [], net.external


# --- issue 18: windows, flagged calls, schema pill, no clipping, chart width, lost race ---------

#: Visible cells (and grids) whose content is wider than their box: clipped text.
OVERFLOWING = """sel => [...document.querySelectorAll(sel)]
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.className}: ${e.textContent.trim().slice(0, 40)} (${e.scrollWidth} > ${e.clientWidth})`)"""
GRID_CELLS = ".spc-grid, .spc-grid > div, .spc-grid .gl-pill"


def check_windows_and_flagged(page: Any) -> None:
    """Each figure's header names its window; Flagged calls with fires per rule on hover."""
    head = page.locator(".spc-stats-tool .spc-head").nth(1).inner_text()
    for text in ("p50", "p95", "avg", "max"):
        assert f"{text}\nnewest 500" in head, head
    assert "Flagged calls" in head and "Schema valid" in head and "Anomalies" not in head
    flagged = stat_cells(page, drifting_tool()).locator("[data-flagged]")
    assert int(flagged.get_attribute("data-flagged")) > 0
    assert int(flagged.get_attribute("data-rule-fires")) >= int(
        flagged.get_attribute("data-flagged")
    )
    tip = flagged.get_attribute("title")
    assert "of the newest 500 calls fired at least one rule" in tip and "rule 4:" in tip
    p50 = stat_cells(page, "claim_intake").locator(".spc-s-p50")
    assert "of the newest" in p50.get_attribute("title") and "whole period" in p50.get_attribute(
        "title"
    )


def check_schema_pill(page: Any) -> None:
    """fraud_scoring's schema slips show as a non-green "Schema valid" pill."""
    pill = stat_cells(page, "fraud_scoring").locator(".spc-s-schema .gl-pill")
    assert pill.count() == 1
    assert pill.get_attribute("data-level") in ("warn", "bad"), pill.inner_text()
    assert "schema-valid rate" in pill.get_attribute("title")


def check_nothing_clipped(page: Any, where: str) -> None:
    clipped = page.evaluate(OVERFLOWING, GRID_CELLS)
    assert clipped == [], f"{where}: {clipped}"


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
def test_spc_dashboard_reads_right_at_1280_and_1600(demo_dir: Path, size: tuple[int, int]) -> None:
    drift = drifting_tool()
    with voila_app(demo_dir) as base, browser_page(*size) as (page, net):
        open_dashboard(page, base)
        check_windows_and_flagged(page)
        check_schema_pill(page)
        check_nothing_clipped(page, f"Tool stats at {size}")
        screenshot(page, f"spc-18-tool-stats-{size[0]}")

        drill = open_control_chart(page, drift)
        svg = drill.locator(".vega-embed svg").first
        panel = drill.bounding_box()
        assert svg.bounding_box()["width"] >= 0.85 * panel["width"], (svg.bounding_box(), panel)

        page.get_by_role("tab", name="By workflow").click()
        page.wait_for_selector(".spc-stats-workflow .spc-stat-row >> visible=true")
        head = page.locator(".spc-stats-workflow .spc-head").nth(1).inner_text()
        assert "Run duration" in head and "Flagged runs" in head and "Runs · completed" in head
        check_nothing_clipped(page, f"By workflow at {size}")
        page.locator(".spc-stats-workflow .spc-open").first.click()
        wf = page.locator(".spc-tab-workflows .spc-drill-workflow")
        wf.locator(".vega-embed svg").first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_selector(".spc-drill-workflow .spc-call-row >> visible=true")
        assert wf.locator(".spc-accept").count() > 0  # ✓/✗ on its recent runs' calls
        wsvg = wf.locator(".vega-embed svg").first
        assert wsvg.bounding_box()["width"] >= 0.85 * wf.bounding_box()["width"]
        screenshot(page, f"spc-18-workflows-{size[0]}")

        page.get_by_role("tab", name="Tool calls").click()
        page.wait_for_selector(".spc-calls-main .spc-call-row >> visible=true", timeout=TIMEOUT_MS)
        check_nothing_clipped(page, f"Tool calls at {size}")
        assert net.external == [], net.external


def test_a_lost_race_refreshes_the_losing_row(demo_dir: Path) -> None:
    with voila_app(demo_dir) as base, browser_page(1280, 900) as (page_a, _net):
        page_b = page_a.context.new_page()
        for page, name in ((page_a, "Reviewer A"), (page_b, "Reviewer B")):
            open_dashboard(page, base)
            open_calls_tab(page, name)
        cid = row_id(call_rows(page_a).nth(0))
        assert row_id(call_rows(page_b).nth(0)) == cid
        call_rows(page_a).nth(0).locator(".spc-accept").click()
        page_a.wait_for_selector(f'.spc-calls-main [data-call-id="{cid}"][data-verdict="accept"]')
        call_rows(page_b).nth(0).locator(".spc-reject").click()  # B loses
        page_b.wait_for_selector(
            f'.spc-calls-main [data-call-id="{cid}"][data-verdict="accept"]', timeout=TIMEOUT_MS
        )
        message = page_b.locator(".spc-calls-main .spc-msg", has_text="already stamped")
        message.wait_for(timeout=TIMEOUT_MS)
        assert "Reviewer A" in call_rows(page_b).nth(0).inner_text()
        assert verdict(demo_dir, cid)[0] == "accept"
