"""Two people signed in at once (issue 19): a reviewer and a finance user, each in their own
browser context against a real `govlib serve --auth tokens`, Debian chromium.

The reviewer lands on the SPC dashboard, sees no "Reviewing as" field but their own name, and
stamps with it. The finance user lands on the Cost Ledger, has no ✓/✗ anywhere, and a message
forged on their page's own kernel connection (code to run, clicks on every widget) stamps
nothing; the refusal is recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import CHROMIUM, CHROMIUM_ARGS, require_browser
from test_serve_safety import serving

from govlib.analysis.review import audit_row
from govlib.store.database import Store

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TIMEOUT_MS = 120_000

FORGE = """async ([code]) => {
  const config = JSON.parse(document.getElementById('jupyter-config-data').textContent);
  const ws = new WebSocket(`ws://${location.host}/api/kernels/${config.kernelId}/channels`);
  const header = (type) => ({msg_id: crypto.randomUUID(), msg_type: type, username: 'forger',
                              session: 'forged', date: new Date().toISOString(), version: '5.3'});
  const send = (type, content, channel = 'shell') => ws.send(JSON.stringify({
      header: header(type), parent_header: {}, metadata: {}, content, channel, buffers: []}));
  const comms = await new Promise((resolve, reject) => {
    ws.onerror = () => reject('websocket refused');
    ws.onopen = () => {
      send('execute_request', {code, silent: false, store_history: false, user_expressions: {},
                               allow_stdin: false, stop_on_error: true});
      send('comm_info_request', {target_name: 'jupyter.widget'});
    };
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.header.msg_type === 'comm_info_reply') resolve(Object.keys(msg.content.comms));
    };
  });
  for (const comm_id of comms) {
    send('comm_msg', {comm_id, data: {method: 'custom', content: {event: 'click'}}});
  }
  await new Promise((r) => setTimeout(r, 3000));
  ws.close();
  return comms.length;
}"""


def _add(data: Path, name: str, role: str) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "govlib",
            "users",
            "add",
            name,
            "--role",
            role,
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.rstrip("\n").splitlines()[-1]


def _sign_in(browser: Any, base: str, token: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(base + "/voila/render/executive_spog.ipynb")
    page.wait_for_selector("input#token", timeout=TIMEOUT_MS)  # sent to the sign-in page
    page.goto(base + "/login")  # without ?next=: each person lands on their own view
    page.fill("input#token", token)
    page.click("button[type=submit]")
    return page


def _row(data: Path, audit_id: int) -> dict[str, Any]:
    with Store(data, create=False, readonly=True) as store:
        row = audit_row(store, audit_id)
    assert row is not None
    return row


def _refused(data: Path) -> list[dict[str, Any]]:
    with Store(data, create=False, readonly=True) as store:
        rows = store.query("SELECT detail FROM worm_log WHERE action = 'access_refused'")
    return [json.loads(r["detail"]) for r in rows]


def test_a_reviewer_and_finance_signed_in_at_once(demo_dir: Path) -> None:
    require_browser()
    from playwright.sync_api import sync_playwright

    rita = _add(demo_dir, "Rita Reviewer", "reviewer")
    finn = _add(demo_dir, "Finn Finance", "finance")
    with serving(demo_dir, "--auth", "tokens") as (_proc, port, log), sync_playwright() as p:
        base = f"http://127.0.0.1:{port}"
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            reviewer = _sign_in(browser, base, rita)
            finance = _sign_in(browser, base, finn)
            # finance: the Cost Ledger only, named, no ✓/✗
            finance.wait_for_selector(".gl-panel-cost", timeout=TIMEOUT_MS)
            assert "view=costs" in finance.url
            assert finance.locator(".gl-panel-governance").count() == 0
            assert "Signed in as Finn Finance" in finance.inner_text(".gl-signed-in")
            assert finance.locator(".spc-accept, .spc-reject").count() == 0
            # reviewer: the SPC dashboard, their own name instead of "Reviewing as"
            reviewer.wait_for_selector(".spc-signed-in", timeout=TIMEOUT_MS)
            assert "Rita Reviewer" in reviewer.inner_text(".spc-signed-in")
            assert "tab=calls" in reviewer.url  # lands on Tool calls, no click needed
            rows = reviewer.locator(".spc-calls-main .spc-call-row:not(.spc-hidden)")
            rows.first.wait_for(timeout=TIMEOUT_MS)
            assert reviewer.locator(".spc-reviewer input").count() == 0
            first = rows.first
            call_id = int(first.locator("[data-call-id]").get_attribute("data-call-id"))
            first.locator(".spc-accept").click()
            reviewer.wait_for_selector(
                f'.spc-calls-main [data-call-id="{call_id}"][data-verdict="accept"]',
                timeout=TIMEOUT_MS,
            )
            assert _row(demo_dir, call_id)["verdict_by"] == "Rita Reviewer"
            # a message forged on the finance page's own kernel connection stamps nothing
            with Store(demo_dir, create=False, readonly=True) as store:
                target = store.query_one(
                    "SELECT MIN(id) FROM audit_log WHERE human_verdict IS NULL"
                )
            before = _row(demo_dir, target)["human_verdict"]
            code = (
                "from govlib.capture.verdicts import stamp_verdict\n"
                f"stamp_verdict({target}, 'reject', 'Finn Finance')"
            )
            clicked = finance.evaluate(FORGE, [code])
            assert clicked > 0  # every widget of the page was "clicked"
            assert _row(demo_dir, target)["human_verdict"] == before
            refused = [r for r in _refused(demo_dir) if r["via"] == "kernel-websocket"]
            assert refused and refused[-1]["roles"] == ["finance"]
            # finance cannot open the SPC dashboard either
            spc = finance.context.new_page()
            spc.goto(base + "/voila/render/spc_dashboard.ipynb")
            spc.wait_for_selector(".spc-not-for-role", timeout=TIMEOUT_MS)
            assert spc.locator(".spc-accept").count() == 0
            # no token or session cookie in the pages' HTML, nor readable by their scripts
            session = next(
                c["value"] for c in finance.context.cookies() if c["name"] == "govlib_session"
            )
            for page in (reviewer, finance):
                html = page.content()
                assert rita not in html and finn not in html and session not in html
                assert "govlib_session" not in page.evaluate("document.cookie")
        finally:
            browser.close()
        text = log.read_text(errors="replace")
        assert rita not in text and finn not in text and session not in text
