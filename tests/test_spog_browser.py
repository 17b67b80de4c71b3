"""Issue 6 acceptance: the executive SPOG in a real Voilà server, driven by Debian chromium.

After ``govlib demo``: three panels side by side; kill-switch TRIGGERED in red naming the fraud
rule; the audit trail lists the fraud run's WORM entries ending in the block; the chain badge
says verified; the cost total equals the sum of the run's receipts in the store. After
``govlib killswitch reset`` and ``govlib run clean``, Refresh shows ARMED and the clean run. After
a WORM entry is edited in the store (triggers dropped), Refresh turns the badge red naming the seq.
No request leaves the machine (govlib's Voila template: no Font Awesome, no CDN).
In CI (``CI=true``) this fails when chromium or Voilà cannot run; elsewhere it skips.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import browser_page, require_browser, screenshot, voila_app

from govlib.apps.executive.page import PANEL_TITLES
from govlib.present.formatting import money
from govlib.store.database import Store

pytestmark = pytest.mark.browser

PAGE = "/voila/render/executive_spog.ipynb"
TIMEOUT_MS = 90_000


def govlib_cli(data_dir: Path, *args: str) -> str:
    """Run the real CLI in a subprocess against ``data_dir``."""
    argv = [sys.executable, "-m", "govlib", *args, "--data-dir", str(data_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done.stdout


def store_facts(data_dir: Path) -> dict[str, Any]:
    """What the page must show, read straight from the store."""
    with Store(data_dir, create=False, readonly=True) as store:
        run = store.query(
            "SELECT composition_id, status FROM workflow_runs "
            "ORDER BY started_at DESC, rowid DESC LIMIT 1"
        )[0]
        run_id = run["composition_id"]
        ks = store.query("SELECT state, rule FROM kill_switch_events ORDER BY id DESC LIMIT 1")
        entries = store.query(
            "SELECT seq, action, outcome FROM worm_log WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        total = store.query_one(
            "SELECT COALESCE(SUM(cost_usd), 0.0) FROM token_ledger WHERE run_id = ?", (run_id,)
        )
    return {
        "run_id": run_id,
        "status": run["status"],
        "ks_rule": ks[0]["rule"] if ks else None,
        "seqs": [e["seq"] for e in entries],
        "last": dict(entries[-1]) if entries else None,
        "total": float(total),
    }


def open_spog(page: Any, base: str) -> None:
    page.goto(base + PAGE, wait_until="commit", timeout=TIMEOUT_MS)
    page.wait_for_selector(".gl-panel-cost .gl-run-total", state="visible", timeout=TIMEOUT_MS)


def refresh(page: Any) -> None:
    loads = int(page.get_attribute(".gl-loaded", "data-loads"))
    page.click(".gl-refresh")
    page.wait_for_selector(f'.gl-loaded[data-loads="{loads + 1}"]', timeout=TIMEOUT_MS)


def assert_three_panels_side_by_side(page: Any, width: int, height: int) -> None:
    boxes = []
    for css, title in zip(
        (".gl-panel-governance", ".gl-panel-audit", ".gl-panel-cost"), PANEL_TITLES, strict=True
    ):
        panel = page.locator(css)
        assert panel.locator(".gl-panel-title").inner_text().strip() == title
        box = panel.bounding_box()
        assert box is not None and box["width"] > 250, (title, box)
        boxes.append(box)
    tops = [b["y"] for b in boxes]
    assert max(tops) - min(tops) < 2, tops  # one row
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left["x"] + left["width"] <= right["x"] + 1  # side by side, no overlap
    assert boxes[-1]["x"] + boxes[-1]["width"] <= width + 1  # nothing pushed off-screen
    assert all(b["y"] + 120 < height for b in boxes)  # each panel's top part in the first view
    for key in (".gl-killswitch", ".gl-chain-badge", ".gl-run-total"):
        box = page.locator(key).bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, (key, box)


def is_red(page: Any, css: str) -> bool:
    colour = page.eval_on_selector(css, "e => getComputedStyle(e).backgroundColor")
    r, g, b = (int(x) for x in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3])
    return r > 200 and g < 225 and b < 225 and r - g > 25


def check_fraud_run_shown(page: Any, facts: dict[str, Any]) -> None:
    """Kill-switch TRIGGERED in red naming the rule, the run's WORM entries ending in the block,
    the chain verified, the run's cost total as in the store."""
    ks = page.locator(".gl-killswitch")
    assert ks.get_attribute("data-state") == "TRIGGERED"
    assert "TRIGGERED" in ks.locator(".gl-badge").inner_text()
    assert is_red(page, ".gl-killswitch .gl-badge")
    assert facts["ks_rule"] and ks.locator(".gl-ks-rule").inner_text() == facts["ks_rule"]

    rows = page.locator(".gl-audit-table tbody.gl-timeline tr[data-seq]:not(.gl-before-run)")
    seqs = [int(s) for s in rows.evaluate_all("rs => rs.map(r => r.dataset.seq)")]
    assert seqs == facts["seqs"][::-1]  # newest first
    newest = rows.first
    assert int(newest.get_attribute("data-seq")) == facts["last"]["seq"]
    assert newest.get_attribute("data-outcome") == facts["last"]["outcome"] == "blocked"

    badge = page.locator(".gl-chain-badge")
    assert badge.get_attribute("data-ok") == "true"
    assert badge.inner_text().strip().lstrip("✔ ").startswith("Chain verified:")

    total = page.locator(".gl-run-total")
    assert float(total.get_attribute("data-usd")) == pytest.approx(facts["total"], abs=1e-9)
    assert total.inner_text().strip() == money(facts["total"], 6)


def run_clean_after_reset(demo_dir: Path, facts: dict[str, Any]) -> dict[str, Any]:
    """Reset the kill-switch and run a clean claim from the command line; the store's facts then."""
    govlib_cli(demo_dir, "killswitch", "reset", "--by", "Dana Ortiz", "--reason", "reviewed")
    govlib_cli(demo_dir, "run", "clean")
    clean = store_facts(demo_dir)
    assert clean["status"] == "completed" and clean["run_id"] != facts["run_id"]
    return clean


def check_clean_run_shown(page: Any, clean: dict[str, Any]) -> None:
    """After Refresh: the kill-switch ARMED (not red), the clean run selected with its entries
    and cost total."""
    refresh(page)
    page.wait_for_selector('.gl-killswitch[data-state="ARMED"]', timeout=TIMEOUT_MS)
    assert not is_red(page, ".gl-killswitch .gl-badge")
    assert "ARMED" in page.locator(".gl-killswitch .gl-badge").inner_text()
    assert page.get_attribute(".gl-loaded", "data-run") == clean["run_id"]
    assert "CLM" in page.locator(".gl-run-select select").input_value()  # readable label
    assert "completed" in page.locator(".gl-run-select select").input_value()
    seqs = page.locator(
        ".gl-audit-table tbody.gl-timeline tr[data-seq]:not(.gl-before-run)"
    ).evaluate_all("rs => rs.map(r => Number(r.dataset.seq))")
    assert seqs == clean["seqs"][::-1]
    got = float(page.get_attribute(".gl-run-total", "data-usd"))
    assert got == pytest.approx(clean["total"], abs=1e-9)


def tamper_with_entry(demo_dir: Path, seq: int) -> None:
    """Edit WORM entry ``seq`` behind govlib's back (its no-update trigger dropped)."""
    conn = sqlite3.connect(demo_dir / "govlib.sqlite")
    conn.execute("DROP TRIGGER IF EXISTS worm_log_no_update")
    sql = "UPDATE worm_log SET body = json_set(body, '$.outcome', 'edited') WHERE seq = ?"
    assert conn.execute(sql, (seq,)).rowcount == 1
    conn.commit()
    conn.close()


def check_broken_chain_shown(page: Any, seq: int) -> None:
    """After Refresh: the chain badge red, naming the edited seq."""
    refresh(page)
    badge = page.locator(".gl-chain-badge")
    assert badge.get_attribute("data-ok") == "false"
    assert f"Chain broken at seq {seq}" in badge.inner_text()
    assert is_red(page, ".gl-chain-badge .gl-badge")


def test_spog_story_in_the_browser(demo_dir: Path) -> None:
    require_browser()
    facts = store_facts(demo_dir)
    assert facts["status"] == "blocked", "govlib demo should end with the blocked fraud run"
    with voila_app(demo_dir) as base, browser_page(1280, 800) as (page, net):
        open_spog(page, base)
        screenshot(page, "spog-1-fraud")
        assert_three_panels_side_by_side(page, 1280, 800)
        check_fraud_run_shown(page, facts)

        # reset the kill-switch and run a clean claim from the command line, then Refresh
        clean = run_clean_after_reset(demo_dir, facts)
        check_clean_run_shown(page, clean)
        screenshot(page, "spog-2-clean")

        # tamper with one entry of the fraud run behind govlib's back, then Refresh
        seq = facts["seqs"][len(facts["seqs"]) // 2]
        tamper_with_entry(demo_dir, seq)
        check_broken_chain_shown(page, seq)
        screenshot(page, "spog-3-tampered")

        assert net.external == [], net.external


def test_spog_layout_at_1920x1080(demo_dir: Path) -> None:
    require_browser()
    with voila_app(demo_dir) as base, browser_page(1920, 1080) as (page, net):
        open_spog(page, base)
        assert_three_panels_side_by_side(page, 1920, 1080)
        screenshot(page, "spog-1920x1080")
        assert net.external == [], net.external
