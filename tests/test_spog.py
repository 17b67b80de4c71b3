"""Executive SPOG: data assembly (govlib.analysis.executive), HTML fragments and the widget tree.

In-process, on real stores: a small hand-built store with exact expectations, and the
``govlib demo`` store when the ``demo_dir`` fixture is available.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import ipywidgets as widgets
import nbformat
import pytest

from govlib.analysis.executive import load_spog
from govlib.apps import widgets as common
from govlib.apps.executive.html import audit_table_html
from govlib.apps.executive.page import PANEL_TITLES, SpogApp, app
from govlib.apps.executive.view import headline, page_view
from govlib.capture.runs import finish_run, record_node, start_run
from govlib.costs.ledger import Ledger
from govlib.costs.pricing import load_price_table
from govlib.errors import GovernanceRefused
from govlib.evidence import worm
from govlib.evidence.digests import append_batch_digest
from govlib.evidence.keys import keyring_for
from govlib.governance.governor import Governor, KillSwitch, ToolRegistry
from govlib.present import pills
from govlib.present.charts import step_cost_svg
from govlib.store.database import Store

NODES = ["intake", "document_extraction", "fraud_scoring", "adjudication", "payout"]
RULES = [
    {
        "id": "fraud-trip",
        "description": "Fraud score above 0.80 stops all payouts",
        "scope": {"node": "fraud_scoring"},
        "condition": {"field": "fraud_score", "op": ">", "value": 0.8, "label": "fraud score"},
        "action": "trip_kill_switch",
    },
    {
        "id": "amount-review",
        "description": "Claims above $10,000 need review",
        "scope": {"node": "adjudication"},
        "condition": {"field": "amount", "op": ">", "value": 10000},
        "action": "require_review",
    },
]


def run_claim(store: Store, run_id: str, subject: str, fraud_score: float, at: str) -> None:
    """A small ClaimsFlow-like run through the real governance, WORM and ledger primitives."""
    gov, led = Governor(store, rules=RULES), Ledger(store)
    start_run(store, run_id, workflow_id="claims_auto", subject=subject, at=at)
    status, stop = "completed", None
    for i, node in enumerate(NODES):
        worm.append(store, "node_started", run_id=run_id, node=node, ts=at)
        with store.transaction():
            row = {"tenant_id": "acme", "tool_name": node, "composition_id": run_id}
            aid = store.insert(
                "audit_log", row | {"success": 1, "latency_ms": 90, "created_at": at}
            )
            append_batch_digest(store, "audit_log", aid, aid, run_id=run_id)
        led.record(
            run_id=run_id,
            node=node,
            model="claude-haiku-4-5",
            input_tokens=1000 + 37 * i,
            output_tokens=211 + i,
            created_at=at,
        )
        try:
            facts = {"fraud_score": fraud_score, "amount": 2500}
            gov.evaluate(node, facts, run_id=run_id)
        except GovernanceRefused:
            status, stop = "blocked", node
        record_node(store, run_id, node, i, status, at=at, started_at=at)
        if stop:
            break
    finish_run(store, run_id, status, summary=None, at=at, stopped_at_node=stop)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("spog-template")
    with Store(d) as store:
        graph = [{"node": n, "label": n.replace("_", " ").capitalize()} for n in NODES]
        store.insert(
            "workflows", {"id": "claims_auto", "name": "Auto claims", "graph": json.dumps(graph)}
        )
        reg = ToolRegistry(store)
        for n in NODES:
            reg.register(n, f"{n} tool", risk_tier="high" if n == "fraud_scoring" else "low")
        run_claim(store, "run-clean-1", "CLM-1041", 0.12, "2026-11-20T09:00:00.000000Z")
        run_claim(store, "run-fraud-1", "CLM-1042", 0.91, "2026-11-20T10:00:00.000000Z")
    return d


@pytest.fixture
def data_dir(template: Path, tmp_path: Path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(template, d)
    return d


def _sum_cost(store: Store, run_id: str) -> float:
    return store.query_one("SELECT SUM(cost_usd) FROM token_ledger WHERE run_id = ?", (run_id,))


def tamper(data_dir: Path, seq: int) -> None:
    """Edit one WORM entry's body behind govlib's back (guard triggers dropped first)."""
    conn = sqlite3.connect(data_dir / "govlib.sqlite")
    conn.execute("DROP TRIGGER worm_log_no_update")
    sql = "UPDATE worm_log SET body = json_set(body, '$.outcome', 'edited') WHERE seq = ?"
    assert conn.execute(sql, (seq,)).rowcount == 1
    conn.commit()
    conn.close()


# --- data assembly -------------------------------------------------------------------------------
def test_default_run_is_the_most_recent_with_everything_the_page_needs(data_dir: Path) -> None:
    with Store(data_dir, create=False, readonly=True) as store:
        data = page_view(load_spog(store))
        assert [r["run_id"] for r in data["runs"]] == ["run-fraud-1", "run-clean-1"]
        assert data["run"]["run_id"] == "run-fraud-1"
        ks = data["kill_switch"]
        assert (ks["state"], ks["rule"], ks["armed"]) == ("TRIGGERED", "fraud-trip", False)
        assert "0.91" in ks["reason"]
        # audit trail: exactly the run's WORM entries, in seq order, ending in the block
        expected = [e["seq"] for e in worm.entries(store, run_id="run-fraud-1")]
        assert [e["seq"] for e in data["worm"]] == expected == sorted(expected)
        assert (data["worm"][-1]["action"], data["worm"][-1]["outcome"]) == (
            "run_finished",
            "blocked",
        )
        assert all(len(e["mac_short"]) == 8 for e in data["worm"])
        # chain badge from a real verification
        chain = data["chain"]
        assert chain["ok"] and chain["entries"] == store.count("worm_log")
        assert chain["text"].startswith(f"Chain verified: {store.count('worm_log')} entries")
        # nodes: graph order, blocked step red, the rest not run
        statuses = [(n["node"], n["status"], pills.level_of(n["status"])) for n in data["nodes"]]
        assert statuses[2] == ("fraud_scoring", "blocked", "bad")
        assert [s for _, s, _ in statuses[3:]] == ["not run", "not run"]
        # rules: latest outcome anywhere + this run's outcome
        rules = {r["rule"]: r for r in data["rules"]}
        assert rules["fraud-trip"]["latest_outcome"] == "trip"
        assert rules["fraud-trip"]["run_outcome"] == "trip"
        assert rules["amount-review"]["run_outcome"] is None  # never reached in this run
        tools = {t["name"]: t for t in data["registry"]}
        assert (tools["fraud_scoring"]["calls"], tools["payout"]["calls"]) == (1, 0)
        # cost: stored receipts, never re-priced
        cost = data["cost"]
        assert cost["run_total_usd"] == pytest.approx(_sum_cost(store, "run-fraud-1"), abs=1e-12)
        assert sum(s["cost_usd"] for s in cost["steps"]) == pytest.approx(cost["run_total_usd"])
        assert [s["node"] for s in cost["steps"]] == NODES[:3]
        assert cost["price_table_version"] == load_price_table().version
        assert [p["name"] for p in cost["periods"]] == ["today", "7d", "30d"]
        assert cost["by_workflow"][0]["workflow"] == "Auto claims"
        assert data["headline"]["level"] == "bad"
        assert "CLM-1042" in data["headline"]["text"]


def test_selected_run_and_reset_make_the_page_normal(data_dir: Path) -> None:
    with Store(data_dir) as store:
        KillSwitch(store).reset("Dana Ortiz", "fraud ring blocked")
        data = page_view(load_spog(store, "run-clean-1"))
        assert data["run"]["run_id"] == "run-clean-1"
        assert data["kill_switch"]["state"] == "ARMED"
        assert data["kill_switch"]["by"] == "Dana Ortiz"
        assert {n["status"] for n in data["nodes"]} == {"completed"}
        assert data["headline"]["text"].startswith("All systems normal.")
        assert data["headline"]["level"] == "ok"


def test_tampered_entry_turns_the_chain_badge_red_naming_the_seq(data_dir: Path) -> None:
    with Store(data_dir, create=False) as store:
        seq = store.query_one(
            "SELECT seq FROM worm_log WHERE action = 'rule_evaluated' AND outcome = 'trip'"
        )
    tamper(data_dir, seq)
    with Store(data_dir, create=False, readonly=True) as store:
        chain = page_view(load_spog(store))["chain"]
    assert not chain["ok"]
    assert chain["bad_seq"] == seq
    assert chain["text"].startswith(f"Chain broken at seq {seq}:")


def test_empty_store_reads_as_no_run_yet(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert keyring_for(store).current_id  # key material, as `govlib demo` leaves it
        data = page_view(load_spog(store))
    assert data["run"] is None and data["worm"] == [] and data["cost"]["steps"] == []
    assert data["headline"] == {
        "text": "All systems normal. No workflow run recorded yet.",
        "level": "ok",
    }


def test_store_without_keys_is_not_called_verified(tmp_path: Path) -> None:
    from govlib.evidence import worm

    with Store(tmp_path) as store:
        worm.append(store, "note")  # a log with entries whose key is gone cannot be verified
    (tmp_path / "keys" / "hmac_keys.json").unlink()
    with Store(tmp_path) as store:
        chain = page_view(load_spog(store))["chain"]
    assert not chain["ok"]
    assert chain["text"].startswith("Chain not verified:") and "HMAC key" in chain["text"]


def test_headline_names_trigger_and_broken_chain() -> None:
    run = {"subject": "CLM-9", "status": "blocked", "stopped_at_node": "fraud_scoring"}
    ks = {"armed": False, "rule": "fraud-trip", "at": "2026-11-20T10:00:00.000000Z"}
    out = headline(run, ks, {"ok": False, "summary": "Chain broken at seq 4: MAC mismatch"})
    assert out["level"] == "bad"
    text = out["text"].replace("\u2068", "").replace("\u2069", "")  # isolates around names
    assert "Claim CLM-9 was blocked at fraud scoring" in text
    assert "Kill-switch triggered by rule fraud-trip at 10:00:00 UTC" in text
    assert "Chain broken at seq 4" in out["text"]


# --- HTML fragments ------------------------------------------------------------------------------
def test_audit_filter_by_node_and_outcome(data_dir: Path) -> None:
    with Store(data_dir, create=False, readonly=True) as store:
        entries = load_spog(store)["worm"]
    html = audit_table_html(entries, node="fraud_scoring")
    seqs = [e["seq"] for e in entries if e["node"] == "fraud_scoring"]
    pinned = html.count('data-pinned="true"')  # decisive entries shown twice: pinned, in place
    assert html.count("data-seq=") - pinned == len(seqs)
    blocked = audit_table_html(entries, outcome="blocked")
    assert blocked.count("data-seq=") == 2 * 2  # node_finished and run_finished, both pinned
    assert "No WORM entries match" in audit_table_html(entries, node="nope")
    marked = audit_table_html(entries, bad_seq=entries[1]["seq"])
    assert marked.count("chain broken here") == 1 and marked.count("gl-broken") == 1


def test_cost_chart_is_static_svg_without_network_references() -> None:
    svg = step_cost_svg([{"node": "fraud_scoring", "cost_usd": 0.0021}])
    assert svg.startswith("<svg") and "fraud scoring" in svg
    urls = {u for u in svg.split('"') if u.startswith("http")}
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_pills_always_carry_words_beside_colour() -> None:
    for level in (*pills.LEVELS, "nonsense"):
        html = pills.pill("blocked", level)
        assert "blocked" in html and "data-level" in html
    assert "✖ TRIGGERED" in pills.badge("TRIGGERED", "bad", big=True)


def test_build_or_error_shows_a_readable_box() -> None:
    def broken() -> widgets.Widget:
        raise ValueError("price table missing")

    box = common.build_or_error(broken, what="the cost ledger")
    assert isinstance(box, widgets.HTML)
    assert "Could not show the cost ledger" in box.value and "price table missing" in box.value
    assert common.build_or_error(lambda: widgets.Label("ok")).value == "ok"


# --- the widget tree -----------------------------------------------------------------------------
def _walk(w: widgets.Widget):
    yield w
    for child in getattr(w, "children", ()):
        yield from _walk(child)


def _html(w: widgets.Widget) -> str:
    return "\n".join(x.value for x in _walk(w) if isinstance(x, widgets.HTML))


def test_page_has_three_titled_panels_and_no_output_widgets(data_dir: Path) -> None:
    spog = SpogApp(data_dir)
    tree = list(_walk(spog.widget))
    assert not any(isinstance(w, widgets.Output) for w in tree)  # voila#1428
    titles = [
        w.value
        for w in tree
        if isinstance(w, widgets.HTML) and w.value.startswith('<div class="gl-panel-title">')
    ]
    assert [t.split(">")[1].split("<")[0] for t in titles] == list(PANEL_TITLES)
    grid = next(w for w in tree if isinstance(w, widgets.GridBox))
    assert len(grid.children) == 3  # side by side, no tabs
    assert not any(isinstance(w, widgets.Tab) for w in tree)
    html = _html(spog.widget)
    assert 'data-state="TRIGGERED"' in html and "fraud-trip" in html
    assert 'data-ok="true"' in html
    assert spog.run_select.value == "run-fraud-1"
    assert spog.auto.value is False  # auto-refresh off by default
    assert "https://" not in html.replace("http://www.w3.org", "")
    spog.close()


def test_refresh_follows_the_newest_run_and_keeps_a_chosen_one(data_dir: Path) -> None:
    spog = SpogApp(data_dir)
    with Store(data_dir) as store:
        KillSwitch(store).reset("Dana Ortiz", "fraud ring blocked")
        run_claim(store, "run-clean-2", "CLM-1043", 0.05, "2026-11-20T11:00:00.000000Z")
    spog.refresh_button.click()
    assert spog.run_select.value == "run-clean-2"
    assert 'data-state="ARMED"' in _html(spog.widget)
    assert spog.loads == 2
    spog.run_select.value = "run-fraud-1"  # a reader picks an older run: Refresh keeps it
    spog.refresh_button.click()
    assert spog.run_select.value == "run-fraud-1"
    spog.outcome_filter.value = "blocked"
    assert spog.audit_table.value.count("data-seq=") == 2 * 2  # each pinned and in place
    tamper(data_dir, 3)
    spog.refresh_button.click()
    assert 'data-bad-seq="3"' in spog.chain_badge.value
    assert "Chain broken at seq 3" in spog.chain_badge.value
    spog.close()


@pytest.mark.slow
def test_auto_refresh_is_off_by_default_and_reloads_when_on(data_dir: Path) -> None:
    spog = SpogApp(data_dir)
    assert spog.auto.value is False and spog._ticker is None
    spog.interval.value = 2
    spog.auto.value = True
    deadline = time.monotonic() + 120  # generous: only the behaviour is asserted
    while spog.loads < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spog.loads >= 3
    spog.auto.value = False
    spog._ticker.join(timeout=30)
    assert not spog._ticker.is_alive()
    spog.close()


def test_failed_refresh_keeps_the_last_view_and_says_why(data_dir: Path) -> None:
    spog = SpogApp(data_dir)
    before = spog.gov_body.children[0].value
    (data_dir / "govlib.sqlite").rename(data_dir / "moved.sqlite")
    spog.refresh_button.click()
    assert "Could not read the govlib store" in _html(spog.messages)
    assert "govlib demo" in _html(spog.messages)
    assert spog.gov_body.children[0].value == before  # the last good view stays
    (data_dir / "moved.sqlite").rename(data_dir / "govlib.sqlite")
    spog.refresh_button.click()
    assert spog.messages.children == () and spog.loads == 2
    spog.close()


def test_app_without_a_store_shows_an_error_box_not_a_blank_page(tmp_path: Path) -> None:
    page = app(tmp_path / "missing")
    assert "Could not show the executive view" in _html(page)
    assert "govlib demo" in _html(page)


def test_query_string_selects_a_run(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOILA_PREHEAT", raising=False)
    monkeypatch.setenv("QUERY_STRING", "run=run-clean-1")  # as Voila sets it for the kernel
    page = app(data_dir)
    assert 'data-run="run-clean-1"' in _html(page)


def test_notebook_is_one_import_and_one_call() -> None:
    nb = nbformat.read(
        Path(__file__).parent.parent / "govlib/apps/notebooks/executive_spog.ipynb", 4
    )
    code = [c.source.strip() for c in nb.cells if c.cell_type == "code"]
    assert code == ["import govlib.apps.executive", "govlib.apps.executive.app()"]


# --- the demo store ------------------------------------------------------------------------------
def test_demo_store_default_view_is_the_fraud_run(demo_dir: Path) -> None:
    with Store(demo_dir, create=False, readonly=True) as store:
        data = load_spog(store)
        run_id = data["run"]["run_id"]
        assert data["run"]["status"] == "blocked"
        assert data["kill_switch"]["state"] == "TRIGGERED" and data["kill_switch"]["rule"]
        assert data["chain"]["ok"], data["chain"]["text"]
        assert data["cost"]["run_total_usd"] == pytest.approx(_sum_cost(store, run_id), abs=1e-9)
        assert [e["seq"] for e in data["worm"]] == [
            e["seq"] for e in worm.entries(store, run_id=run_id)
        ]
