"""Issue 18 acceptance (executive half) in a real Voilà server driven by Debian chromium.

After ``govlib demo``: the tool-health strip names the tools the SPC statistics call drifting and
each link opens that tool's drill-down in the SPC dashboard; the headline does not say "normal";
the Audit Trail's newest row is the run's last entry, its decisive entries pinned above, chain
links only behind "Show chain links" (whole MACs on hover, one newline, no ``&#10;``); printed,
all three panels come out whole (no scroll box clips anything; ``page.pdf`` holds every panel's
last rows). After ``govlib killswitch reset`` and ``govlib run clean`` the reset is pinned.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import browser_page, require_browser, screenshot, voila_app
from test_spog_browser import TIMEOUT_MS, govlib_cli, open_spog, refresh, store_facts

from govlib.analysis.executive import tool_health
from govlib.apps.executive.page import PANEL_TITLES
from govlib.store.database import Store

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = [(1280, 800), (1600, 1000)]

#: Elements whose box clips what is inside it: overflow not visible and content larger.
CLIPPED = """() => {
  const out = [];
  for (const e of document.querySelectorAll('body, body *')) {
    if (!e.getClientRects().length) continue;
    const s = getComputedStyle(e);
    const clipsY = s.overflowY !== 'visible' && e.scrollHeight > e.clientHeight + 1;
    const clipsX = s.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1;
    if (clipsY || clipsX) out.push(`${e.tagName}.${String(e.className).slice(0, 60)} `
      + `${e.scrollWidth}x${e.scrollHeight} in ${e.clientWidth}x${e.clientHeight}`);
  }
  return out;
}"""


#: Table cells whose text or pills overflow their box.
OVERFLOWING_CELLS = """() => {
  const out = [];
  for (const cell of document.querySelectorAll('.gl-spog td, .gl-spog th')) {
    const r = cell.getBoundingClientRect();
    if (!r.width) continue;
    if (cell.scrollWidth > cell.clientWidth + 1) out.push(cell.innerText.slice(0, 40));
    for (const child of cell.querySelectorAll('*')) {
      const c = child.getBoundingClientRect();
      if (c.width && (c.right > r.right + 1 || c.left < r.left - 1)) {
        out.push(child.innerText.slice(0, 40));
        break;
      }
    }
  }
  return out;
}"""


@pytest.fixture(scope="module")
def served(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Voila server over a copy of the demo store, for the tests that only read it."""
    require_browser()
    data = tmp_path_factory.mktemp("served") / "data"
    shutil.copytree(demo_template, data)
    with voila_app(data) as base:
        yield data, base


def health_of(data_dir: Path) -> dict[str, Any]:
    with Store(data_dir, create=False, readonly=True) as store:
        return tool_health(store)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_health_strip_names_drifting_tools_and_links_open_their_drill_down(
    served: Any, width: int, height: int
) -> None:
    data_dir, base = served
    health = health_of(data_dir)
    assert health["error"] is None and health["drift"], "the demo should have drifting tools"
    with browser_page(width, height) as (page, net):
        open_spog(page, base)
        strip = page.locator(".gl-health")
        text = strip.inner_text()
        n, stable = len(health["tools"]), len(health["stable"])
        assert f"{stable} of {n} tools stable" in text
        assert f"{len(health['drift'])} drifting: {', '.join(health['drift'])}" in text
        box = strip.bounding_box()
        assert box is not None and box["y"] + box["height"] <= height  # in the first view
        links = strip.locator('a.gl-tool-link[data-drift="drift"]')
        assert [links.nth(i).inner_text().strip() for i in range(links.count())] == health["drift"]
        headline = page.locator(".gl-headline").inner_text()
        assert "normal" not in headline.lower()
        assert all(tool in headline for tool in health["drift"])
        screenshot(page, f"spog-health-{width}")
        assert page.evaluate(OVERFLOWING_CELLS) == []
        page.locator(".gl-chain-links input").check()
        page.wait_for_selector(".gl-audit-table td.gl-chain-link", timeout=TIMEOUT_MS)
        assert page.evaluate(OVERFLOWING_CELLS) == []  # the chain-link column fits too

        tool = health["drift"][0]
        links.first.click()
        page.wait_for_url(re.compile(r"spc_dashboard\.ipynb\?tool="), timeout=TIMEOUT_MS)
        drill = page.locator(".spc-tab-tools .spc-drill-tool")
        drill.locator(".spc-drill-title, *", has_text=f"Control chart: {tool}").first.wait_for(
            state="visible", timeout=TIMEOUT_MS
        )
        assert f"Control chart: {tool} — newest" in drill.inner_text()
        page.wait_for_selector(".spc-drill-table .spc-call-row >> visible=true", timeout=TIMEOUT_MS)
        screenshot(page, f"spc-from-health-{width}")
        assert net.external == [], net.external


def audit_rows(page: Any, css: str) -> list[tuple[int, str]]:
    rows = page.locator(css).evaluate_all(
        "rs => rs.map(r => [Number(r.dataset.seq), r.dataset.action])"
    )
    return [(int(seq), str(action)) for seq, action in rows]


def test_audit_trail_newest_first_decisive_pinned_chain_links_on_request(demo_dir: Path) -> None:
    require_browser()
    facts = store_facts(demo_dir)
    with voila_app(demo_dir) as base, browser_page(1280, 800) as (page, net):
        open_spog(page, base)
        timeline = audit_rows(page, ".gl-audit-table tbody.gl-timeline tr[data-seq]")
        assert timeline[0] == (facts["last"]["seq"], "run_finished")  # newest = the run's last
        assert [s for s, _ in timeline] == sorted(facts["seqs"], reverse=True)
        pinned = audit_rows(page, ".gl-audit-table tbody.gl-pinned tr[data-seq]")
        actions = [a for _, a in pinned]
        assert {"kill_switch_triggered", "run_finished", "node_finished"} <= set(actions)
        assert [s for s, _ in pinned] == sorted((s for s, _ in pinned), reverse=True)
        first_pinned = page.locator(".gl-audit-table tbody.gl-pinned tr[data-seq]").first
        assert (
            first_pinned.bounding_box()["y"]
            < page.locator(".gl-audit-table tbody.gl-timeline").bounding_box()["y"]
        )
        trigger = page.locator('.gl-pinned tr[data-action="kill_switch_triggered"]')
        bg = trigger.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert bg not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")  # highlighted
        assert page.locator(".gl-audit-table .gl-chain-link").count() == 0  # no MACs yet

        page.locator(".gl-chain-links input").check()
        page.wait_for_selector(".gl-audit-table td.gl-chain-link", timeout=TIMEOUT_MS)
        title = page.locator(".gl-audit-table td.gl-chain-link .gl-mono").first.get_attribute(
            "title"
        )
        assert re.fullmatch(r"MAC [0-9a-f]{64}\nprev [0-9a-f]{64}", title), title
        first_paint = page.content()
        assert "&amp;#10;" not in first_paint

        # reset and run a clean claim from the command line: the reset is pinned in that run
        govlib_cli(demo_dir, "killswitch", "reset", "--by", "Dana Ortiz", "--reason", "reviewed")
        govlib_cli(demo_dir, "run", "clean")
        clean = store_facts(demo_dir)
        refresh(page)
        page.wait_for_selector('.gl-killswitch[data-state="ARMED"]', timeout=TIMEOUT_MS)
        pinned = audit_rows(page, ".gl-audit-table tbody.gl-pinned tr[data-seq]")
        assert [a for _, a in pinned] == ["kill_switch_reset"]
        assert "kill switch reset (before this run)" in page.locator(".gl-pinned").inner_text()
        timeline = audit_rows(page, ".gl-audit-table tbody.gl-timeline tr[data-seq]")
        assert timeline[0] == (clean["last"]["seq"], "run_finished")
        # a new claim, and a run list whose labels tell every run apart
        chosen = page.locator(".gl-run-select select").input_value()
        assert "CLM-1044" in chosen and clean["run_id"] in chosen, chosen
        labels = page.locator(".gl-run-select select option").all_inner_texts()
        assert len(labels) == len(set(labels)) > 2
        assert "normal" not in page.locator(".gl-headline").inner_text().lower()  # tools drift
        screenshot(page, "spog-audit-clean")
        assert net.external == [], net.external


def pdf_text(pdf: bytes) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(p.extract_text() for p in reader.pages)


def test_print_shows_all_three_panels_whole(served: Any) -> None:
    data_dir, base = served
    with Store(data_dir, create=False, readonly=True) as store:
        oldest = store.query_one(
            "SELECT MIN(seq) FROM worm_log WHERE run_id = (SELECT composition_id FROM"
            " workflow_runs ORDER BY started_at DESC, rowid DESC LIMIT 1)"
        )
        last_tool = store.query_one("SELECT name FROM tool_registry ORDER BY name DESC LIMIT 1")
    with browser_page(1280, 800) as (page, net):
        open_spog(page, base)
        assert page.evaluate(CLIPPED), "on screen the page scrolls inside a box"
        last_model = page.locator(".gl-by-model tbody tr td").nth(-3).inner_text().strip()
        page.emulate_media(media="print")
        assert page.evaluate(CLIPPED) == []  # nothing is cut inside a scroll box
        for css in (".gl-panel-governance", ".gl-panel-audit", ".gl-panel-cost"):
            box = page.locator(css).bounding_box()
            assert box is not None and box["width"] > 500, (css, box)  # one under another
        pages, text = pdf_text(page.pdf(print_background=True))
        assert pages > 1
        for title in PANEL_TITLES:
            assert title in text
        flat = re.sub(r"\s+", " ", text)
        assert re.search(rf"\b{oldest} \S+ run started", flat), "the audit trail's oldest entry"
        assert last_tool in flat  # the registry's last row
        assert last_model in flat and "COST PER MODEL (30 DAYS)" in flat.upper()
        assert "counts every receipt in the whole store" in flat
        assert net.external == [], net.external


HOSTILE = "\u202e" + "claim_intake" + "x" * 10_000  # a right-to-left override and 10,000 chars


def hostile_report(demo_dir: Path) -> str:
    """The demo's 30-day report re-rendered with one tool, workflow, model, person and reason
    renamed to :data:`HOSTILE`."""
    from govlib.report.contents import read_report_data, report_hash, write_report
    from govlib.report.page import render_report

    with Store(demo_dir, create=False) as store:
        path = write_report(store, period="30d")
    data, _, _ = read_report_data(path.read_text(encoding="utf-8"))
    data["spc"][0]["tool_name"] = HOSTILE
    data["governance"]["tools"][0]["name"] = HOSTILE
    data["costs"]["by_workflow"][0]["workflow"] = HOSTILE
    data["costs"]["by_model"][0]["model"] = HOSTILE
    events = data["governance"]["kill_switch_events"]
    assert events, "the demo has kill-switch events"
    events[0]["by"], events[0]["reason"] = HOSTILE, HOSTILE
    meta = {"generated_at": "2026-12-01T00:00:00Z", "store": "demo", "govlib_version": "0"}
    meta |= {"sha256": report_hash(data), "data_rows": {}}
    return render_report(data, meta)


def test_report_tables_are_not_stretched_by_a_long_name(demo_dir: Path) -> None:
    require_browser()
    html = hostile_report(demo_dir)
    assert html.count(f'title="{HOSTILE}"') >= 6  # the whole value on hover, escaped once
    with browser_page(1100, 900) as (page, net):
        page.set_content(html, wait_until="load")
        widths = page.evaluate(
            "() => [...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().width)"
        )
        assert widths and max(widths) <= 1100, widths  # was 22,429 px
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1100
        # the override stays inside its isolate: govlib's own words after it read left to right
        isolated = page.locator(f'bdi[title="{HOSTILE}"]')
        assert isolated.count() >= 6
        assert all(len(t) <= 200 for t in isolated.all_inner_texts())
        assert net.external == [], net.external
