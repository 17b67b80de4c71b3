"""What `govlib serve` shows: govlib's Voila template (nothing leaves the machine) and the landing
page at ``/`` (the two apps, what each is for, the data dir's name, the chain status)."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
from harness import browser_page
from test_serve_safety import _get, serving

from govlib.cli.serve import (
    APPS,
    TEMPLATE,
    _jinja_raw,
    landing_html,
    stage_template,
    template_root,
    voila_command,
)

TEMPLATE_DIR = template_root() / "voila" / "templates" / TEMPLATE
TIMEOUT_MS = 120_000
#: A widget drawn inside an output: the app's page is on screen.
CONTENT = "#rendered_cells .jp-OutputArea-output .jupyter-widgets >> visible=true"


def test_template_extends_lab_and_links_nothing_off_the_machine():
    assert '"base_template": "lab"' in (TEMPLATE_DIR / "conf.json").read_text()
    for path in TEMPLATE_DIR.iterdir():
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path.name
    assert "{{ super.super() }}" in (TEMPLATE_DIR / "index.html.j2").read_text()


def test_voila_uses_the_govlib_template():
    argv = voila_command(host="127.0.0.1", port=8866, token=None, preheat=False)
    assert f"--VoilaConfiguration.template={TEMPLATE}" in argv


def test_packaged_landing_page_is_the_rendered_default():
    assert (TEMPLATE_DIR / "landing.html").read_text() == _jinja_raw(landing_html())


def _render_staged(tmp_path: Path, landing: str) -> str:
    staged = stage_template(tmp_path / "jupyter", landing) / "voila" / "templates" / TEMPLATE
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(staged), autoescape=True)
    return env.get_template("tree-lab.html").render()


def test_landing_page_names_the_apps_the_data_dir_and_the_chain(tmp_path):
    chain = {"ok": False, "text": "Chain not verified: entry 7 MAC mismatch"}
    page = _render_staged(tmp_path, landing_html("demo-data", chain, "09:30"))
    for app in APPS:
        assert f'href="voila/render/{app}"' in page
    assert "Executive page" in page and "SPC dashboard" in page
    assert '<b class="gl-data-dir">demo-data</b>' in page
    assert "gl-chain-bad" in page and "entry 7 MAC mismatch" in page
    assert "<script" not in page


def test_landing_page_shows_a_hostile_data_dir_name_as_text(tmp_path):
    name = "{% endraw %}{{ 7*7 }}<script>alert(1)</script>"
    page = _render_staged(tmp_path, landing_html(name, {"ok": True, "text": "ok"}, "09:30"))
    assert "<script>" not in page and "49" not in page
    assert "&lt;script&gt;" in page


@pytest.mark.browser
@pytest.mark.slow
def test_landing_and_both_apps_send_no_request_off_the_machine(demo_dir):
    with serving(demo_dir) as (_proc, port, _log), browser_page() as (page, net):
        base = f"http://127.0.0.1:{port}"
        # The first paint is in the server's HTML: readable before any JavaScript runs.
        status, _, raw = _get(port, f"/voila/render/{APPS[0]}", host=f"127.0.0.1:{port}")
        html = raw.decode()
        assert status == 200 and 'class="gl-first-paint-host"' in html
        first = html.split('shadowrootmode="closed">', 1)[1].split("</template>", 1)[0]
        assert "Cost Ledger" in first and "TRIGGERED" in first and "<script" not in first
        page.goto(base + "/", timeout=TIMEOUT_MS)
        assert page.inner_text(".gl-data-dir") == demo_dir.name
        assert page.inner_text(".gl-chain").startswith("Chain verified")
        page.click(f'a[data-app="{APPS[0]}"]')
        page.wait_for_selector(".gl-first-paint-host", state="attached", timeout=TIMEOUT_MS)
        page.wait_for_selector(CONTENT, timeout=TIMEOUT_MS)
        page.wait_for_selector(".gl-first-paint-host", state="detached", timeout=TIMEOUT_MS)
        page.goto(f"{base}/voila/render/{APPS[1]}", wait_until="commit", timeout=TIMEOUT_MS)
        page.wait_for_selector(CONTENT, timeout=TIMEOUT_MS)
        page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
        linked = page.eval_on_selector_all(
            "link[href], script[src], img[src], iframe[src]", "els => els.map(e => e.href || e.src)"
        )
    assert net.external == [], net.external  # every non-loopback request, no exception
    assert len(net.loopback) > 20  # the route saw the page's own requests
    off = [u for u in linked if u.startswith("http") and not u.startswith("http://127.0.0.1")]
    assert off == [], off  # not even a link that a slower network would wait for


def test_make_serve_serves_the_existing_store_without_rebuilding_it():
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    recipe = re.search(r"^serve:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M)
    assert recipe, "Makefile has no serve target"
    assert "govlib serve" in recipe.group(1) and "govlib demo" not in recipe.group(1)
