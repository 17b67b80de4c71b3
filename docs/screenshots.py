"""Remake the README's two screenshots from a freshly built demo store.

Usage::

    .venv/bin/python docs/screenshots.py            # writes docs/executive_spog.png, docs/spc_dashboard.png

Builds `govlib demo` in a temporary directory, serves it as `govlib serve` would (the tests'
harness: real Voila, Debian chromium) and captures the executive page whole and the SPC
dashboard with the drill-down of ``policy_lookup`` open, at 1280 px wide. Run it after any change
the pictures show, so that the README shows the page as it is.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tests"))

from harness import browser_page, voila_app  # noqa: E402

TIMEOUT_MS = 120_000
DRILL_TOOL = "policy_lookup"


def capture_executive(base: str, path: Path) -> None:
    with browser_page(1280, 900) as (page, net):
        page.goto(f"{base}/voila/render/executive_spog.ipynb", timeout=TIMEOUT_MS)
        page.wait_for_selector(".gl-live .gl-killswitch", state="visible", timeout=TIMEOUT_MS)
        page.wait_for_timeout(1500)  # charts settle
        page.screenshot(path=str(path), full_page=True)
        assert not net.external, net.external


def capture_spc(base: str, path: Path) -> None:
    with browser_page(1280, 900) as (page, net):
        page.goto(f"{base}/voila/render/spc_dashboard.ipynb", timeout=TIMEOUT_MS)
        page.wait_for_selector(".spc-stats-tool .spc-stat-row", state="visible", timeout=TIMEOUT_MS)
        tool = re.compile(f"^{DRILL_TOOL}$")
        page.locator(".spc-stats-tool .spc-open", has_text=tool).click()
        drill = page.locator(".spc-tab-tools .spc-drill-tool")
        drill.locator(".vega-embed svg").first.wait_for(state="visible", timeout=TIMEOUT_MS)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(path), full_page=True)
        assert not net.external, net.external


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="govlib-shots-") as tmp:
        data = Path(tmp) / "data"
        subprocess.run(
            [sys.executable, "-m", "govlib", "demo", "--data-dir", str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with voila_app(data) as base:
            capture_executive(base, DOCS / "executive_spog.png")
            capture_spc(base, DOCS / "spc_dashboard.png")
    print(f"wrote {DOCS / 'executive_spog.png'} and {DOCS / 'spc_dashboard.png'}")


if __name__ == "__main__":
    main()
