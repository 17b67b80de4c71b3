"""The SPC dashboard's widgets in-process, on a real ``govlib demo`` store.

Clicks go through the real widgets (``Button.click()``, checkbox values, the chart's selection
trait as the browser would set it); effects are read back from the store and the rendered HTML.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

from govlib.apps.spc.calls import CallTable
from govlib.apps.spc.dashboard import TAB_TITLES, SpcApp, app
from govlib.apps.spc.stamp import NO_NAME
from govlib.demo.claimsflow.history import INJECTED
from govlib.evidence.people import person_name
from govlib.store.database import Store

REVIEWER = "Ana Reviewer"


@pytest.fixture()
def dash(demo_dir: Path) -> SpcApp:
    return SpcApp(demo_dir)


def verdict(data_dir: Path, call_id: int) -> tuple[Any, ...]:
    with Store(data_dir, create=False, readonly=True) as store:
        row = store.query(
            "SELECT human_verdict, verdict_by, verdict_at FROM audit_log WHERE id = ?", (call_id,)
        )[0]
        # the reviewer is stored as a pseudonym; the name is in the people table
        return (row[0], person_name(store, row[1]), row[2])


def n_verdicts(data_dir: Path) -> int:
    with Store(data_dir, create=False, readonly=True) as store:
        return int(store.query_one("SELECT COUNT(*) FROM verdict_events"))


def shown(table: CallTable) -> list[Any]:
    return [r for r in table.rows if r.call_id is not None]


def stats_row(dash: SpcApp, name: str) -> dict[str, Any]:
    return next(r for r in dash.tool_table.data if r["name"] == name)


def test_three_tabs_and_every_tool_listed(dash: SpcApp, demo_dir: Path) -> None:
    assert tuple(dash.tabs.titles) == TAB_TITLES == ("Tool stats", "By workflow", "Tool calls")
    with Store(demo_dir, create=False, readonly=True) as store:
        tools = {r[0] for r in store.query("SELECT DISTINCT tool_name FROM audit_log")}
    assert {b.description for b in dash.tool_table.buttons} == tools
    for cells in dash.tool_table.cells:
        assert "govlib-sparkline" in cells.value and "data-drift=" in cells.value
    [thresholds] = [
        w.value for w in dash.widget.children if "Thresholds in force" in getattr(w, "value", "")
    ]
    assert "99.0%" in thresholds  # the pill threshold in force
    assert "Settings version" in thresholds and "recorded in WORM entry" in thresholds
    assert "spc-trusted" in dash.widget.children[3]._dom_classes  # the store verifies: no banner


def test_drifting_tool_reads_non_stable_with_anomalies(dash: SpcApp) -> None:
    drift = next(t for t, (kind, *_r) in INJECTED.items() if kind == "latency_drift")
    row = stats_row(dash, drift)
    assert row["drift"] != "stable" and row["flagged_calls"] > 0
    assert row["rule_fires"] == row["anomaly_count"] >= row["flagged_calls"]
    i = [b.description for b in dash.tool_table.buttons].index(drift)
    html = dash.tool_table.cells[i].value
    assert f'data-flagged="{row["flagged_calls"]}"' in html
    assert f'data-rule-fires="{row["rule_fires"]}"' in html
    fires = " · ".join(f"rule {k}: {row[f'rule_{k}']}" for k in range(1, 5))
    assert (
        f"{row['flagged_calls']} of the newest 500 calls fired at least one rule; "
        f"{row['rule_fires']} rule fires in all (a call can fire several): {fires}"
    ) in html


def test_every_figure_says_its_window(dash: SpcApp) -> None:
    heads = dash.tool_table.widget.children[1].children[1].value
    for text in ("p50", "p95", "avg", "max"):
        assert re.search(rf"{text}<br><span class=\"gl-muted\">newest 500</span>", heads)
    assert "Flagged calls<br>" in heads and "Schema valid" in heads
    row = stats_row(dash, "claim_intake")
    i = [b.description for b in dash.tool_table.buttons].index("claim_intake")
    html = dash.tool_table.cells[i].value
    n = row["window_calls"]
    assert f'title="p50 of the newest {n} calls: {row["p50"]:,.0f} ms; whole period' in html


def test_schema_valid_pill_shows_the_demo_tool_with_schema_slips(dash: SpcApp) -> None:
    row = stats_row(dash, "fraud_scoring")
    assert row["schema_declared"] and 0.9 < row["schema_valid_rate"] < 1.0
    i = [b.description for b in dash.tool_table.buttons].index("fraud_scoring")
    assert "schema-valid rate" in dash.tool_table.cells[i].value
    clean = stats_row(dash, "policy_lookup")
    assert clean["schema_declared"] and clean["schema_valid_rate"] == 1.0


@pytest.mark.slow
def test_a_lost_race_shows_the_winners_verdict(demo_dir: Path) -> None:
    a, b = SpcApp(demo_dir), SpcApp(demo_dir)
    a.reviewer.value, b.reviewer.value = "Reviewer A", "Reviewer B"
    row_a, row_b = shown(a.calls.table)[0], shown(b.calls.table)[0]
    assert row_a.call_id == row_b.call_id  # both pages show the same unreviewed call first
    tool = a.calls.table.rows_data[0]["tool_name"]
    before = stats_row(b, tool)["accept_count"]
    row_a.ok.click()
    assert 'data-verdict="none"' in row_b.cells.value  # B has not re-read yet
    row_b.no.click()  # B loses the race
    assert "already stamped" in b.calls.table.message.value
    assert 'data-verdict="accept"' in row_b.cells.value and "Reviewer A" in row_b.cells.value
    assert stats_row(b, tool)["accept_count"] == before + 1
    assert verdict(demo_dir, row_a.call_id)[0] == "accept"


def test_check_mark_stamps_row_store_worm_and_accept_pill(dash: SpcApp, demo_dir: Path) -> None:
    table = dash.calls.table
    first = shown(table)[0]
    call_id = first.call_id
    assert verdict(demo_dir, call_id)[0] is None  # unreviewed rows come first
    tool = table.rows_data[0]["tool_name"]
    before = stats_row(dash, tool)
    dash.reviewer.value = REVIEWER
    first.ok.click()
    human, by, at = verdict(demo_dir, call_id)
    assert (human, by) == ("accept", REVIEWER) and at
    assert 'data-verdict="accept"' in first.cells.value and REVIEWER in first.cells.value
    assert first.call_id == call_id  # updated in place, not re-sorted away
    with Store(demo_dir, create=False, readonly=True) as store:
        details = [
            json.loads(r[0])
            for r in store.query("SELECT detail FROM worm_log WHERE action = 'verdict_stamped'")
        ]
        assert any(
            d["audit_id"] == call_id and person_name(store, d["by"]) == REVIEWER for d in details
        )  # the chained body holds the pseudonym
    after = stats_row(dash, tool)
    assert after["accept_count"] == before["accept_count"] + 1
    assert after["accept_rate"] != before["accept_rate"] or before["accept_rate"] == 1.0
    assert f"accepted (#{call_id})" in table.message.value


def test_cross_after_check_is_refused_and_store_unchanged(dash: SpcApp, demo_dir: Path) -> None:
    dash.reviewer.value = REVIEWER
    row = shown(dash.calls.table)[0]
    row.ok.click()
    stamped, events = verdict(demo_dir, row.call_id), n_verdicts(demo_dir)
    row.no.click()
    message = dash.calls.table.message.value
    assert "gl-error" in message and "already stamped" in message and "Correct…" in message
    assert verdict(demo_dir, row.call_id) == stamped
    assert n_verdicts(demo_dir) == events


def test_stamping_without_a_name_is_refused(dash: SpcApp, demo_dir: Path) -> None:
    row = shown(dash.calls.table)[0]
    events = n_verdicts(demo_dir)
    dash.reviewer.value = "   "
    row.ok.click()
    assert NO_NAME.split(":")[0] in dash.calls.table.message.value
    assert "gl-error" in dash.calls.table.message.value
    assert verdict(demo_dir, row.call_id)[0] is None and n_verdicts(demo_dir) == events


def test_bulk_stamps_exactly_the_ticked_rows(dash: SpcApp, demo_dir: Path) -> None:
    dash.reviewer.value = REVIEWER
    table = dash.calls.table
    rows = shown(table)
    ticked = [r.call_id for r in rows[2:5]]
    for r in rows[2:5]:
        r.check.value = True
    events = n_verdicts(demo_dir)
    out = table.stamp_selected("reject")
    assert sorted(out.stamped) == sorted(ticked)
    assert n_verdicts(demo_dir) == events + 3
    assert all(verdict(demo_dir, i)[:2] == ("reject", REVIEWER) for i in ticked)
    assert all(verdict(demo_dir, r.call_id)[0] is None for r in rows[:2] + rows[5:8])
    assert not table.selected and "3 calls rejected" in table.message.value


def test_correct_asks_for_a_reason_then_records_a_correction(dash: SpcApp, demo_dir: Path) -> None:
    dash.reviewer.value = REVIEWER
    table = dash.calls.table
    row = shown(table)[0]
    row.ok.click()
    assert not row.fix.disabled
    row.fix.click()
    assert table.fix_box.layout.display == "flex" and table.fix_choice.value == "reject"
    table.save_correction()  # no reason yet
    assert "needs a reason" in table.message.value and verdict(demo_dir, row.call_id)[0] == "accept"
    table.fix_reason.value = "output was a template placeholder"
    table.save_correction()
    assert verdict(demo_dir, row.call_id)[:2] == ("reject", REVIEWER)
    with Store(demo_dir, create=False, readonly=True) as store:
        kinds = [
            r[0]
            for r in store.query(
                "SELECT kind FROM verdict_events WHERE audit_id = ? ORDER BY id", (row.call_id,)
            )
        ]
    assert kinds == ["stamp", "correct"]
    assert 'data-verdict="reject"' in row.cells.value


def test_clicking_a_chart_point_selects_that_call_in_the_table(dash: SpcApp) -> None:
    tool = dash.tool_table.buttons[0].description
    dash.tool_table.buttons[0].click()
    drill = dash.tool_drill
    assert drill.name == tool and drill.widget.layout.display == "flex"
    assert drill.widget in dash.tabs.children[0].children[2].children  # inside its own tab
    target = drill.ids[len(drill.ids) // 2 + 3]  # not on the first page
    drill.jc._vl_selections = {
        "pick": {"value": {"vlPoint": {"or": [{"id": target}]}}, "store": []}
    }
    assert drill.table.highlight == target
    marked = [r for r in drill.table.rows if "spc-selected" in r.box._dom_classes]
    assert [r.call_id for r in marked] == [target]
    assert f'data-picked="{target}"' in drill.picked.value
    drill.jc._vl_selections = {"pick": {"value": None, "store": []}}  # double-click clears
    assert drill.table.highlight is None and drill.picked.value == ""


def test_workflow_drill_shows_runs_with_stampable_calls(dash: SpcApp, demo_dir: Path) -> None:
    dash.reviewer.value = REVIEWER
    assert dash.wf_table.data == []  # read when the tab is first shown
    dash.tabs.selected_index = 1
    flows = {r["name"]: r for r in dash.wf_table.data}
    assert all(r["run_count"] > 0 and 0 <= r["completion_rate"] <= 1 for r in flows.values())
    dash.wf_table.buttons[0].click()
    drill = dash.wf_drill
    assert drill.jc is not None and drill.blocks[0].run_id is not None
    first = shown(drill.blocks[0].table)[0]
    assert first.ok.description == "✓" and first.ok.tooltip == "Accept"
    assert first.no.description == "✗" and first.no.tooltip == "Reject"
    rows = [r for b in drill.blocks if b.run_id for r in shown(b.table)]
    row = next(r for r in rows if verdict(demo_dir, r.call_id)[0] is None)
    row.no.click()
    assert verdict(demo_dir, row.call_id)[:2] == ("reject", REVIEWER)
    assert 'data-verdict="reject"' in row.cells.value


def test_filters_narrow_the_calls(dash: SpcApp) -> None:
    tab = dash.calls
    tab.status.value = "accepted"
    assert shown(tab.table) and all(
        'data-verdict="accept"' in r.cells.value for r in shown(tab.table)
    )
    tab.status.value = "any"
    tab.flagged.value = True
    assert shown(tab.table) and all("rule " in r.cells.value for r in shown(tab.table))
    tool = dash.tool_table.buttons[0].description
    tab.flagged.value = False
    tab.tool.value = tool
    assert all(r["tool_name"] == tool for r in tab.table.rows_data)


def test_tenant_and_period_filter_the_stats(dash: SpcApp) -> None:
    total = sum(r["count"] for r in dash.tool_table.data)
    dash.period.value = "Last 24 hours"
    assert 0 < sum(r["count"] for r in dash.tool_table.data) < total
    dash.period.value = "All time"
    dash.tool_table.sort_by.value = "p95 latency"
    p95 = [r["p95"] for r in dash.tool_table.data]
    shown_order = [b.description for b in dash.tool_table.buttons]
    expect = [r["name"] for r in sorted(dash.tool_table.data, key=lambda r: -r["p95"])]
    assert shown_order == expect and not any(math.isnan(x) for x in p95)


def test_a_missing_store_shows_a_readable_error_box(tmp_path: Path) -> None:
    page = app(tmp_path / "nowhere")
    assert isinstance(page, widgets.HTML)
    assert "Could not show the SPC dashboard" in page.value and "gl-error" in page.value


def test_in_place_update_matches_a_full_reread(dash: SpcApp, demo_dir: Path) -> None:
    dash.tabs.selected_index = 1  # the workflow table too
    dash.period.value = "Last 24 hours"  # one stamp below falls outside the period
    dash.reviewer.value = REVIEWER
    table = dash.calls.table
    rows = shown(table)
    rows[0].ok.click()
    rows[1].no.click()
    rows[2].ok.click()
    rows[2].fix.click()
    table.fix_reason.value = "second look"
    table.save_correction()
    with Store(demo_dir, create=False, readonly=True) as store:
        oldest = int(store.query_one("SELECT MIN(id) FROM audit_log WHERE human_verdict IS NULL"))
    assert dash.stamper.stamp([oldest], "accept").stamped == [oldest]
    cols = (
        "accept_count",
        "reject_count",
        "accept_rate",
        "accept_pill",
        "sampling",
        "sampling_reason",
    )

    def snapshot() -> dict[tuple[str, str, str], Any]:
        return {
            (kind, r["name"], c): r[c]
            for kind, t in (("tool", dash.tool_table), ("workflow", dash.wf_table))
            for r in t.data
            for c in cols
        }

    in_place = snapshot()
    dash.reload_stats()  # re-reads the verdicts from the store
    assert in_place == snapshot()


def test_evaluator_verdicts_are_shown_apart_and_change_no_accept_rate(demo_dir: Path) -> None:
    from govlib.capture.verdicts import record_evaluator_verdict

    dash = SpcApp(demo_dir)
    assert dash.evaluators.value == ""  # the demo has no evaluator verdicts: nothing shown
    with Store(demo_dir, create=False, readonly=True) as store:
        calls = [tuple(r) for r in store.query(
            "SELECT id, tool_name, created_at FROM audit_log ORDER BY id DESC LIMIT 3"
        )]  # fmt: skip
    tool = calls[0][1]
    before = {k: stats_row(dash, tool)[k] for k in ("accept_count", "reject_count", "sampling")}
    triples = [verdict(demo_dir, call_id) for call_id, *_ in calls]
    reviews = n_verdicts(demo_dir)
    with Store(demo_dir, create=False) as store:
        for call_id, _name, at in calls:
            record_evaluator_verdict(store, "audit_log", call_id, "reject", "judge", at=at)
    dash.refresh()
    after = {k: stats_row(dash, tool)[k] for k in ("accept_count", "reject_count", "sampling")}
    assert after == before  # a machine's opinion moves no human figure
    html = dash.evaluators.value
    assert "Evaluator verdicts (machine, not counted)" in html
    assert "<code>evaluator:judge</code>" in html and f"<td>{tool}</td>" in html
    assert [verdict(demo_dir, call_id) for call_id, *_ in calls] == triples
    assert n_verdicts(demo_dir) == reviews


def test_untrusted_names_are_isolated_and_capped_in_call_rows() -> None:
    from govlib.apps.spc.tables import call_cells

    evil = "ocr\u202e" + "x" * 500
    html = str(
        call_cells(
            {"id": 1, "tool_name": evil, "workflow": "w\u202ef", "tenant_id": "t" * 90,
             "success": 1, "latency_ms": 5, "human_verdict": "accept", "verdict_by": "B\u202eob",
             "created_at": "2026-11-23T10:00:00Z"},
            None,
        )
    )  # fmt: skip
    shown = re.findall(r'<bdi class="gl-text"(?: title="[^"]*")?>([^<]*)</bdi>', html)
    assert "ocr\u202e" + "x" * 43 + "\u2026" in shown  # 48 characters at most
    assert "w\u202ef" in shown and "B\u202eob" in shown and "t" * 23 + "\u2026" in shown
    assert f'title="{evil}"' in html  # the whole value on hover
    text_outside = re.sub(r"<[^>]*>", "", re.sub(r"<bdi[^>]*>.*?</bdi>", "", html))
    assert "\u202e" not in text_outside  # every override sits inside its own isolate
