"""A person limited to some tenants (issue 19): every figure they get counts only those tenants.

Two real stores are written by the same functions (runs, tool calls, verdicts, receipts): one
holds the calls of two tenants, ``acme`` and ``zeta``; the other only ``acme``'s, in the same
order. The read models asked for ``tenants=["acme"]`` over the first must give exactly what they
give over the second. Everything that exists only in ``zeta`` (its tool, workflow, model and run
ids) has ``zeta`` in its name, so "nothing of zeta shows" is a search for that word.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from govlib.analysis import stats
from govlib.analysis.evaluations import evaluator_verdict_counts
from govlib.analysis.executive import cost_data, load_spog, tool_health
from govlib.analysis.review import choices, newest_call_at, recent_runs
from govlib.capture.rows import insert_audit_batch
from govlib.capture.runs import record_run
from govlib.capture.verdicts import record_evaluator_verdict, stamp_verdict
from govlib.costs.ledger import (
    Ledger,
    cost_by_day,
    cost_by_model_rows,
    cost_by_workflow_rows,
    period_totals,
)
from govlib.evidence import worm
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.governance.killswitch import KillSwitch
from govlib.settings import Settings
from govlib.store.database import Store
from govlib.store.datadir import mark_new_store, new_store_dir

ST = Settings()
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
#: acme: 6 claims runs of 3 ocr + 2 lookup calls; zeta: 4 claims runs and 3 of its own
#: workflow, with its own tool and model. Runs alternate between the tenants in time.
ACME_RUNS = [
    (f"acme-run-{i}", "claims", ("ocr", "ocr", "ocr", "lookup", "lookup")) for i in range(6)
]
ZETA_RUNS = [(f"zeta-run-{i}", "claims", ("ocr", "ocr", "zeta-secret-tool")) for i in range(4)] + [
    (f"zeta-payroll-run-{i}", "zeta-payroll", ("zeta-secret-tool",) * 4) for i in range(3)
]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _schedule() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(tenant, run id, workflow name, tools) in time order: acme and zeta runs alternate."""
    out = []
    for i in range(max(len(ACME_RUNS), len(ZETA_RUNS))):
        if i < len(ACME_RUNS):
            out.append(("acme", *ACME_RUNS[i]))
        if i < len(ZETA_RUNS):
            out.append(("zeta", *ZETA_RUNS[i]))
    return out


def build(data: Path, tenants: tuple[str, ...]) -> Path:
    """A store (as `govlib init` makes one) with the runs of ``tenants`` from the schedule."""
    path = new_store_dir(data)
    mark_new_store(path)
    with Store(path) as store:
        worm.append(store, "store_initialised", outcome="initialised", detail={"store_id": "t"})
        flows = [("wf-claims", "claims")] + [("wf-zeta-payroll", "zeta-payroll")] * (
            "zeta" in tenants
        )
        for flow_id, name in flows:
            store.execute(
                "INSERT INTO workflows(id, name, description) VALUES (?, ?, '')", (flow_id, name)
            )
        ledger = Ledger(store)
        for n, (tenant, run_id, flow, tools) in enumerate(_schedule()):
            begun = START + timedelta(minutes=10 * n)
            if tenant not in tenants:
                continue
            status = "failed" if n % 5 == 3 else "completed"
            record_run(
                store,
                {
                    "composition_id": run_id,
                    "workflow_id": f"wf-{flow}",
                    "tenant_id": tenant,
                    "started_at": _iso(begun),
                    "ended_at": _iso(begun + timedelta(seconds=20 + 7 * n)),
                    "status": status,
                    "summary": None,
                },
            )
            rows = [
                (tenant, tool, None, run_id, int((n + k) % 7 != 0), 1, 40 + 13 * ((n * 5 + k) % 9))
                + ("0000abcd", None, _iso(begun + timedelta(seconds=k + 1)))
                for k, tool in enumerate(tools)
            ]
            first, last = insert_audit_batch(store, rows)
            for audit_id in range(first, last + 1, 2):
                verdict = "accept" if (audit_id + n) % 3 else "reject"
                stamp_verdict(audit_id, verdict, f"Reviewer of {tenant}", store=store)
            judged = _iso(begun + timedelta(seconds=30))
            record_evaluator_verdict(
                store, "audit_log", first, "accept", f"judge-{tenant}", at=judged
            )
            model = "claude-sonnet-4-6" if tenant == "acme" else "zeta-model-x"
            for k in range(2):
                ledger.record_external(
                    run_id=run_id,
                    node="adjudicate",
                    model=model,
                    input_tokens=1000 + 100 * n,
                    output_tokens=200 + k,
                    cost_usd=0.01 * (n + 1) + 0.001 * k,
                    tenant_id=tenant,
                    created_at=_iso(begun + timedelta(seconds=10 + k)),
                )
        if "zeta" in tenants:  # a zeta run stopped everything: the switch is governance-wide
            KillSwitch(store).trigger("Zed Operator", "runaway payroll", run_id="zeta-run-3")
        sign_checkpoint(store)
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(both tenants, acme only)."""
    root = tmp_path_factory.mktemp("tenants")
    return build(root / "both", ("acme", "zeta")), build(root / "acme", ("acme",))


def test_tool_and_workflow_statistics_of_one_tenant_equal_a_store_of_only_its_rows(stores):
    both, acme = stores
    with Store(both, create=False) as store:
        limited = stats.tool_stats(store, settings=ST, tenants=["acme"])
        by_tenant = stats.tool_stats(store, settings=ST, tenant="acme")  # the older contract
        flows = stats.workflow_stats(store, settings=ST, tenants=["acme"])
        series = stats.tool_series(store, "ocr", settings=ST, tenants=["acme"])
        runs = stats.workflow_series(store, "claims", settings=ST, tenants=["acme"])
        nothing = stats.tool_stats(store, settings=ST, tenants=[])
        outside = stats.tool_stats(store, settings=ST, tenant="zeta", tenants=["acme"])
        everyone = stats.tool_stats(store, settings=ST)
    with Store(acme, create=False) as store:
        alone = stats.tool_stats(store, settings=ST)
        alone_flows = stats.workflow_stats(store, settings=ST)
        alone_series = stats.tool_series(store, "ocr", settings=ST)
        alone_runs = stats.workflow_series(store, "claims", settings=ST)
    pd.testing.assert_frame_equal(limited, alone)
    pd.testing.assert_frame_equal(by_tenant, alone)
    pd.testing.assert_frame_equal(flows, alone_flows)
    assert series["latency_ms"].tolist() == alone_series["latency_ms"].tolist()
    assert series.attrs["center_ms"] == alone_series.attrs["center_ms"]
    assert runs["composition_id"].tolist() == alone_runs["composition_id"].tolist()
    assert runs["composition_id"].tolist() == [f"acme-run-{i}" for i in range(6)]
    # exact counts: 6 runs of 3 ocr and 2 lookup calls; every other call reviewed
    assert dict(zip(limited["tool_name"], limited["count"], strict=True)) == {
        "lookup": 12,
        "ocr": 18,
    }
    assert int((limited["accept_count"] + limited["reject_count"]).sum()) == 18
    assert flows["workflow_name"].tolist() == ["claims"] and flows["run_count"].tolist() == [6]
    assert nothing.empty and outside.empty
    assert set(everyone["tool_name"]) == {"lookup", "ocr", "zeta-secret-tool"}
    assert dict(zip(everyone["tool_name"], everyone["count"], strict=True))["ocr"] == 26


def test_dashboard_reads_of_one_tenant(stores):
    both, acme = stores
    with Store(both, create=False) as store:
        opts = choices(store, tenants=["acme"])
        newest = newest_call_at(store, tenants=["acme"])
        runs, total = recent_runs(store, "claims", tenants=["acme"], limit=100)
        judges = evaluator_verdict_counts(store, tenants=["acme"])
        assert choices(store)["tenants"] == ["acme", "zeta"]
        assert recent_runs(store, "zeta-payroll", tenants=["acme"]) == ([], 0)
    with Store(acme, create=False) as store:
        assert opts == choices(store)
        assert newest == newest_call_at(store)
        assert judges == evaluator_verdict_counts(store)
    assert opts == {"tools": ["lookup", "ocr"], "workflows": ["claims"], "tenants": ["acme"]}
    assert total == 6 and {r["tenant_id"] for r in runs} == {"acme"}
    assert [(j["source"], j["accept_count"]) for j in judges] == [("evaluator:judge-acme", 6)]


def test_costs_and_tool_health_of_one_tenant_equal_a_store_of_only_its_rows(stores):
    both, acme = stores
    with Store(both, create=False) as store:
        limited = cost_data(store, "acme-run-2", tenants=["acme"])
        health = tool_health(store, tenants=["acme"])
        days = cost_by_day(store, tenants=["acme"])
        whole = period_totals(store)
        assert period_totals(store, tenants=[])["30d"]["calls"] == 0
        assert cost_by_workflow_rows(store, tenants=["nobody"]) == []
    with Store(acme, create=False) as store:
        alone = cost_data(store, "acme-run-2")
        alone_health = tool_health(store)
        pd.testing.assert_frame_equal(days, cost_by_day(store))
        assert cost_by_model_rows(store) == limited["by_model"]
    assert limited == alone
    assert health == alone_health and {t["name"] for t in health["tools"]} == {"lookup", "ocr"}
    # exact: 12 acme receipts; run n (schedule position 0, 2, 4 ... 10) costs 0.01 (n + 1) twice
    # plus 0.001
    thirty = {p["name"]: p for p in limited["periods"]}["30d"]
    expected = sum(2 * 0.01 * (n + 1) + 0.001 for n in range(0, 12, 2))
    assert thirty["calls"] == 12 and thirty["cost_usd"] == pytest.approx(expected, abs=1e-9)
    assert whole["30d"]["calls"] == 26
    assert [m["model"] for m in limited["by_model"]] == ["claude-sonnet-4-6"]
    assert [w["workflow"] for w in limited["by_workflow"]] == ["claims"]


def test_the_executive_data_of_one_tenant_names_nothing_of_another(stores):
    both, _acme = stores
    with Store(both, create=False) as store:
        limited = load_spog(store, tenants=["acme"])
        other_run = load_spog(store, "zeta-run-1", tenants=["acme"])
        everyone = load_spog(store)
    text = json.dumps(limited, default=str)
    assert "zeta" not in text, text[text.find("zeta") - 200 : text.find("zeta") + 100]
    assert limited["run"]["run_id"] == "acme-run-5"
    assert other_run["run"] is None and "zeta" not in json.dumps(other_run, default=str)
    # governance-wide facts stay: the kill-switch is triggered, without the zeta run it names
    assert limited["kill_switch"]["state"] == "TRIGGERED"
    assert limited["kill_switch"]["run_id"] is None
    assert everyone["kill_switch"]["run_id"] == "zeta-run-3"
    assert limited["chain"]["ok"] and limited["chain"]["entries"] == everyone["chain"]["entries"]
    assert "zeta" in json.dumps(everyone, default=str)  # the words searched for are there


@pytest.mark.slow
def test_a_report_of_one_tenant_counts_only_its_rows(stores, tmp_path):
    from click.testing import CliRunner

    from govlib.cli.main import cli
    from govlib.report.contents import read_report_data, report_data

    both, acme = stores
    with Store(both, create=False, readonly=True) as store:
        limited = report_data(store, tenants=["acme"])
        whole = report_data(store)
    with Store(acme, create=False, readonly=True) as store:
        alone = report_data(store)
    assert limited["report"]["tenants"] == ["acme"] and whole["report"]["tenants"] is None
    for key in ("spc", "evaluators"):
        assert limited[key] == alone[key], key
    for key in ("period", "by_workflow", "by_model", "by_day", "rolling"):
        assert limited["costs"][key] == alone["costs"][key], key
    assert limited["costs"]["period"]["calls"] == 12 and whole["costs"]["period"]["calls"] == 26
    assert limited["governance"]["kill_switch"]["run_id"] is None
    assert whole["governance"]["kill_switch"]["run_id"] == "zeta-run-3"
    shown = {k: limited[k] for k in ("report", "governance", "spc", "evaluators", "costs")}
    assert "zeta" not in json.dumps(shown)
    out = tmp_path / "acme.html"
    done = CliRunner().invoke(
        cli, ["report", "--data-dir", str(both), "--tenant", "acme", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    data, stated, recomputed = read_report_data(out.read_text())
    assert stated == recomputed and data["costs"]["period"]["calls"] == 12
    assert "acme only" in out.read_text() and "zeta" not in out.read_text()


@pytest.mark.browser
@pytest.mark.slow
def test_a_tenant_limited_reviewer_sees_nothing_of_another_tenant_in_a_browser(stores):
    """`govlib serve --auth tokens`, Debian chromium: Tess (reviewer and executive, acme only)
    sees acme's figures on every tab of the SPC dashboard and on the executive page, and no
    tool, workflow, model or run that exists only in zeta."""
    from harness import CHROMIUM, CHROMIUM_ARGS, require_browser
    from test_auth_browser import TIMEOUT_MS, _sign_in
    from test_serve_safety import serving

    from govlib.governance.users import add_user

    require_browser()
    from playwright.sync_api import sync_playwright

    both, acme = stores
    with Store(both, create=False) as store:
        _user, tess = add_user(store, "Tess Tenant", ["reviewer", "executive"], ["acme"])
    with Store(acme, create=False) as store:
        thirty = {p["name"]: p for p in cost_data(store, None)["periods"]}["30d"]

    def nothing_of_zeta(page: object, where: str) -> None:
        html = page.content()  # type: ignore[attr-defined]
        at = html.find("zeta")
        assert at < 0, f"{where}: {html[max(0, at - 300) : at + 100]}"

    with serving(both, "--auth", "tokens") as (_proc, port, _log), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = _sign_in(browser, f"http://127.0.0.1:{port}", tess)
            page.wait_for_selector(".spc-signed-in", timeout=TIMEOUT_MS)
            rows = page.locator(".spc-calls-main .spc-call-row:not(.spc-hidden)")
            rows.first.wait_for(timeout=TIMEOUT_MS)
            nothing_of_zeta(page, "Tool calls")
            page.get_by_role("tab", name="Tool stats").click()
            page.wait_for_selector(".spc-stats-tool .spc-open >> visible=true")
            listed = {
                b.inner_text().strip() for b in page.locator(".spc-stats-tool .spc-open").all()
            }
            assert listed == {"lookup", "ocr"}
            assert "30 calls in view" in page.inner_text("body")  # acme's 6 runs of 5 calls
            tenants = page.locator(".spc-tab-tools select").first
            assert [
                o.replace("\xa0", " ").strip() for o in tenants.locator("option").all_inner_texts()
            ] == [
                "All my tenants",
                "acme",
            ]
            nothing_of_zeta(page, "Tool stats")
            page.get_by_role("tab", name="By workflow").click()
            page.wait_for_selector(".spc-stats-workflow .spc-open >> visible=true")
            flows = {
                b.inner_text().strip() for b in page.locator(".spc-stats-workflow .spc-open").all()
            }
            assert flows == {"claims"}
            nothing_of_zeta(page, "By workflow")
            page.goto(f"http://127.0.0.1:{port}/voila/render/executive_spog.ipynb")
            page.wait_for_selector(".gl-panel-cost .gl-period", timeout=TIMEOUT_MS)
            period = page.locator('.gl-period[data-period="30d"]')
            assert period.get_attribute("data-usd") == repr(float(thirty["cost_usd"]))
            assert "12 receipts" in period.inner_text()
            assert "acme-run-5" in page.content()
            nothing_of_zeta(page, "executive page")
        finally:
            browser.close()
