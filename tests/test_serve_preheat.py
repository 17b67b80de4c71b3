"""A preheated kernel's page shows what was written after the kernel warmed up (real `govlib
serve --preheat`, real pooled kernels, Debian chromium).

The preheated kernels verify the store in full while they warm up; the page view then verifies
only what was appended since (the chain badge says from which seq) and reads its data when the
page is requested, so facts written between the warm-up and the visit are on the page.
"""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner
from harness import browser_page
from test_serve_safety import serving

from govlib.capture.rows import INSERT_COLUMNS, insert_audit_batch
from govlib.cli.main import cli
from govlib.cli.serve import APPS
from govlib.clock import utc_now_iso
from govlib.evidence.verify import verify_store
from govlib.governance.killswitch import KillSwitch
from govlib.store.database import Store

TIMEOUT_MS = 120_000
WHO = "Preheat Tester"
PROBE_TOOL = "written_after_warm_up"


def _probe_row() -> tuple:
    values = {
        "tenant_id": "acme",
        "tool_name": PROBE_TOOL,
        "actor": "claims-agent",
        "composition_id": None,
        "success": 1,
        "schema_valid": 1,
        "latency_ms": 42,
        "output_hash": "0000abcd",
        "error": None,
        "created_at": utc_now_iso(),
    }
    return tuple(values.get(c) for c in INSERT_COLUMNS)


def _wait_filled(log, apps: int, timeout_s: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(re.findall(r"Kernel pool of \S+ is filled with 1", log.read_text())) >= apps:
            return
        time.sleep(0.5)
    raise AssertionError(f"pools not filled within {timeout_s} s:\n{log.read_text()[-2000:]}")


@pytest.mark.browser
@pytest.mark.slow
def test_preheated_pages_show_data_written_after_the_warm_up(demo_dir):
    env = {"GOVLIB_KERNEL_POOL_SIZE": "1", "GOVLIB_KERNEL_POOL_STAGGER_S": "0.5"}
    with serving(demo_dir, "--preheat", env=env) as (_proc, port, log):
        _wait_filled(log, len(APPS), 180)
        with Store.open_for_reading(demo_dir) as store:
            warmed_seq = verify_store(store).entries
        # the kernels verified the store while warming up (verify_ahead); give a loaded
        # machine time to finish that before writing, so the write is after it
        time.sleep(10)
        with Store.open_for_reading(demo_dir) as store:
            armed = KillSwitch(store).state().armed
        verb = "trigger" if armed else "reset"
        done = CliRunner().invoke(
            cli, ["killswitch", verb, "--data-dir", str(demo_dir), "--by", WHO, "--reason", "t"]
        )
        assert done.exit_code == 0, done.output
        with Store(demo_dir, create=False) as store:
            insert_audit_batch(store, [_probe_row()])
            entries = verify_store(store).entries
        assert entries > warmed_seq
        with browser_page() as (page, net):
            base = f"http://127.0.0.1:{port}/voila/render"
            page.goto(f"{base}/{APPS[0]}", wait_until="commit", timeout=TIMEOUT_MS)
            badge = page.locator(".gl-app .gl-chain-badge").first
            badge.wait_for(state="visible", timeout=TIMEOUT_MS)
            assert badge.inner_text().strip().startswith(f"✔ Chain verified: {entries} entries")
            # verified incrementally from where the warm-up's full verification ended
            assert badge.get_attribute("data-verified-from") == str(warmed_seq)
            switch = page.locator(".gl-app .gl-killswitch").first
            assert switch.get_attribute("data-state") == ("TRIGGERED" if armed else "ARMED")
            assert WHO in switch.inner_text()
            page.goto(f"{base}/{APPS[1]}", wait_until="commit", timeout=TIMEOUT_MS)
            probe = page.locator(".gl-app .spc-stats-tool .spc-stat-row", has_text=PROBE_TOOL)
            probe.first.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert net.external == [], net.external
