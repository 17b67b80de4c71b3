"""Issue 18 (executive half): what the executive page says, as pure functions.

Singular and plural, the headline that never says "normal" while a tool drifts or the chain
fails, the tool-health strip and its links, the Audit Trail newest first with its decisive
entries pinned, chain links only on request, untrusted names isolated and capped.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govlib.apps.executive.html import audit_table_html, cost_summary_html, health_html
from govlib.apps.executive.view import (
    audit_rows,
    headline,
    health_view,
    is_decisive,
    isolated,
    run_label,
)
from govlib.present.formatting import plural

ARMED = {"armed": True}
VERIFIED = {"ok": True}
CLEAN_RUN = {"subject": "CLM-1043", "status": "completed", "summary": "Claim CLM-1043 paid"}
SEVEN = ["claim_history", "claim_intake", "document_extraction", "fraud_scoring"]
SEVEN += ["issue_payout", "payout_calculator", "policy_lookup"]


def health(drift: list[str] = (), watch: list[str] = (), error: str | None = None) -> dict:
    stable = [t for t in SEVEN if t not in drift and t not in watch]
    tools = [{"name": t} for t in SEVEN]
    return {"tools": tools, "stable": stable, "watch": list(watch), "drift": list(drift)} | {
        "error": error
    }


def plain(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "")


# --- singular and plural -------------------------------------------------------------------------
def test_plural_exact_words() -> None:
    assert plural(1, "stored receipt") == "1 stored receipt"
    assert plural(0, "stored receipt") == "0 stored receipts"
    assert plural(1603, "stored receipt") == "1,603 stored receipts"
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(26, "entry", "entries") == "26 entries"


@given(st.integers(min_value=0, max_value=10**9))
def test_plural_is_singular_exactly_for_one(n: int) -> None:
    text = plural(n, "receipt")
    assert text.endswith("receipt") == (n == 1)
    assert text.replace(",", "").startswith(f"{n} ")


def test_cost_summary_says_one_stored_receipt() -> None:
    html = cost_summary_html({"run_total_usd": 0.000783, "receipts": 1})
    assert "Sum of 1 stored receipt." in html
    assert "receipts" not in html
    assert "Sum of 2 stored receipts." in cost_summary_html({"run_total_usd": 1, "receipts": 2})


# --- headline ------------------------------------------------------------------------------------
def test_headline_normal_only_when_everything_is() -> None:
    out = headline(CLEAN_RUN, ARMED, VERIFIED, health())
    assert out == {"text": "All systems normal. \u2068Claim CLM-1043 paid\u2069.", "level": "ok"}


def test_headline_never_normal_while_a_tool_drifts() -> None:
    out = headline(
        CLEAN_RUN, ARMED, VERIFIED, health(drift=["policy_lookup", "document_extraction"])
    )
    assert "normal" not in out["text"].lower()
    assert out["level"] == "warn"
    assert plain(out["text"]) == (
        "Claim CLM-1043 paid. 2 tools drifting: policy_lookup, document_extraction"
        " (see the SPC dashboard)."
    )


def test_headline_watch_only_is_not_normal_either() -> None:
    out = headline(CLEAN_RUN, ARMED, VERIFIED, health(watch=["claim_history"]))
    assert "normal" not in out["text"].lower() and out["level"] == "info"
    assert "1 tool on watch: \u2068claim_history\u2069" in out["text"]


def test_headline_never_normal_when_the_chain_fails_or_health_is_unknown() -> None:
    broken = {"ok": False, "summary": "Chain broken at seq 4: MAC mismatch"}
    out = headline(CLEAN_RUN, ARMED, broken, health())
    assert "normal" not in out["text"].lower() and out["level"] == "bad"
    out = headline(CLEAN_RUN, ARMED, VERIFIED, health(error="lake unreadable"))
    assert "normal" not in out["text"].lower() and out["level"] == "warn"
    assert "Tool health could not be read." in out["text"]


def test_headline_stays_bad_when_a_tool_also_drifts() -> None:
    ks = {"armed": False, "rule": "fraud_score_limit", "at": "2026-11-20T10:00:00Z"}
    blocked = {"subject": "CLM-1042", "status": "blocked", "stopped_at_node": "fraud_scoring"}
    out = headline(blocked, ks, VERIFIED, health(drift=["policy_lookup"]))
    assert out["level"] == "bad"
    assert "1 tool drifting: \u2068policy_lookup\u2069" in out["text"]


@given(
    st.sampled_from(["completed", "blocked", "failed", "running"]),
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from(SEVEN), max_size=3, unique=True),
)
def test_headline_normal_iff_all_clear(
    status: str, armed: bool, ok: bool, drift: list[str]
) -> None:
    run = {"subject": "CLM-1", "status": status}
    out = headline(run, {"armed": armed}, {"ok": ok, "summary": "x"}, health(drift=drift))
    all_clear = status == "completed" and armed and ok and not drift
    assert out["text"].startswith("All systems normal.") == all_clear
    assert (out["level"] == "ok") == all_clear


# --- tool-health strip ---------------------------------------------------------------------------
def test_health_strip_words_exact() -> None:
    view = health_view(health(drift=["policy_lookup", "document_extraction"]))
    assert view == {
        "text": "5 of 7 tools stable · 2 drifting: policy_lookup, document_extraction",
        "level": "warn",
    }
    view = health_view(health(drift=["policy_lookup"], watch=["claim_history"]))
    assert view["text"] == (
        "5 of 7 tools stable · 1 on watch: claim_history · 1 drifting: policy_lookup"
    )
    assert health_view(health())["level"] == "ok"
    assert health_view({"tools": [], "stable": []})["text"] == "No tool calls recorded yet."


def test_health_strip_links_each_drifting_tool_to_its_drill_down() -> None:
    data = health(drift=["policy_lookup", "document extraction"])
    html = health_html(data | health_view(data))
    links = re.findall(
        r'<a class="gl-tool-link" data-tool="([^"]+)" data-drift="drift" href="([^"]+)"', html
    )
    assert links == [
        ("policy_lookup", "spc_dashboard.ipynb?tool=policy_lookup"),
        ("document extraction", "spc_dashboard.ipynb?tool=document%20extraction"),
    ]
    assert 'data-drifting="policy_lookup,document extraction"' in html
    assert 'href="spc_dashboard.ipynb"' in html


def test_health_strip_isolates_and_caps_a_hostile_tool_name() -> None:
    name = "\u202etool" + "x" * 10_000
    data = health(drift=[name])
    html = health_html(data | health_view(data))
    shown = re.search(r'<bdi class="gl-text" title="[^"]*">([^<]*)</bdi>', html)
    assert shown is not None and len(shown.group(1)) == 40  # capped, the whole on hover
    assert "?tool=%E2%80%AEtool" in html  # the link carries the whole name, encoded


# --- audit trail ---------------------------------------------------------------------------------
FRAUD_RUN = [
    {"seq": 10, "action": "kill_switch_reset", "outcome": "reset", "before_run": True},
    {"seq": 11, "action": "run_started", "outcome": "running"},
    {"seq": 12, "action": "rule_evaluated", "node": "fraud_scoring", "outcome": "pass"},
    {"seq": 13, "action": "rule_evaluated", "node": "fraud_scoring", "outcome": "trip"},
    {"seq": 14, "action": "kill_switch_triggered", "outcome": "triggered"},
    {"seq": 15, "action": "node_finished", "node": "fraud_scoring", "outcome": "blocked"},
    {"seq": 16, "action": "call_refused", "node": "payout", "outcome": "refused"},
    {"seq": 17, "action": "node_finished", "node": "payout", "outcome": "refused"},
    {"seq": 18, "action": "run_finished", "outcome": "blocked"},
]


def entry(e: dict) -> dict:
    base = {"ts": "2026-11-20T10:00:00Z", "node": None, "rule": None, "detail": {}}
    base |= {"mac": "a" * 64, "prev_mac": "b" * 64, "mac_short": "a" * 8, "prev_short": "b" * 8}
    return base | e


def test_audit_rows_newest_first_decisive_pinned() -> None:
    rows = audit_rows(list(reversed(FRAUD_RUN))[::2] + list(reversed(FRAUD_RUN))[1::2])
    assert [e["seq"] for e in rows["timeline"]] == [18, 17, 16, 15, 14, 13, 12, 11, 10]
    assert [e["seq"] for e in rows["pinned"]] == [18, 15, 14, 13, 10]
    assert [e["seq"] for e in rows["timeline"] if e["decisive"]] == [18, 15, 14, 13, 10]


def test_decisive_entries() -> None:
    assert is_decisive({"action": "kill_switch_triggered", "outcome": "triggered"})
    assert is_decisive({"action": "kill_switch_reset"})
    assert is_decisive({"action": "rule_evaluated", "outcome": "deny"})
    assert not is_decisive({"action": "rule_evaluated", "outcome": "pass"})
    assert not is_decisive({"action": "run_finished", "outcome": "completed"})
    assert not is_decisive({"action": "audit_batch", "outcome": "blocked"})


def test_audit_html_pins_then_lists_newest_first_and_hides_macs() -> None:
    html = audit_table_html([entry(e) for e in FRAUD_RUN])
    pinned, timeline = html.split('<tbody class="gl-timeline">')
    assert re.findall(r'data-seq="(\d+)"', pinned) == ["18", "15", "14", "13", "10"]
    assert re.findall(r'data-seq="(\d+)"', timeline) == [str(s) for s in range(18, 9, -1)]
    assert "5 decisive entries, newest first" in pinned and "9 entries, newest first" in timeline
    assert "a" * 8 not in html and "Chain link" not in html  # MACs only behind the toggle
    assert "(before this run)" in html


def test_chain_links_tooltip_is_escaped_once() -> None:
    html = audit_table_html([entry(e) for e in FRAUD_RUN], links=True)
    assert "&#10;" not in html and "&amp;" not in html
    assert f'title="MAC {"a" * 64}\nprev {"b" * 64}"' in html
    assert "Chain link ← previous" in html


def test_audit_filters_keep_pinning() -> None:
    html = audit_table_html([entry(e) for e in FRAUD_RUN], node="payout")
    assert '<tbody class="gl-pinned">' not in html  # nothing decisive in that step
    assert re.findall(r'data-seq="(\d+)"', html) == ["17", "16"]


# --- untrusted names -----------------------------------------------------------------------------
def test_isolated_caps_and_isolates() -> None:
    assert isolated("\u202eevil") == "\u2068\u202eevil\u2069"
    assert isolated("x" * 100, max_chars=10) == "\u2068" + "x" * 9 + "…\u2069"


def test_run_labels_tell_two_runs_of_one_claim_apart() -> None:
    a = {"started_at": "2026-11-20T09:00:01Z", "workflow": "Auto claim", "subject": "CLM-1043"}
    b = dict(a, started_at="2026-11-20T09:00:41Z", run_id="run-b")
    a["run_id"], a["status"], b["status"] = "run-a", "completed", "completed"
    assert run_label(a) != run_label(b)
    assert (
        plain(run_label(a)) == "2026-11-20 09:00:01 UTC · Auto claim · CLM-1043 · completed · run-a"
    )


@pytest.mark.parametrize("field", ["subject", "workflow"])
def test_run_label_caps_a_long_name(field: str) -> None:
    run = {"started_at": "2026-11-20T09:00:01Z", "status": "completed", field: "y" * 10_000}
    assert len(run_label(run)) < 200


# --- on the demo store ---------------------------------------------------------------------------
def test_tool_health_is_the_spc_dashboards_drift_column(demo_dir) -> None:
    from govlib.analysis import stats
    from govlib.analysis.executive import load_spog, tool_health
    from govlib.apps.executive.view import page_view
    from govlib.settings import load_settings
    from govlib.store.database import Store

    with Store(demo_dir, create=False, readonly=True) as store:
        health = tool_health(store)
        frame = stats.tool_stats(store, settings=load_settings(demo_dir))
        data = page_view(load_spog(store))
    expected = dict(zip(frame["tool_name"], frame["drift"], strict=True))
    assert {t["name"]: t["drift"] for t in health["tools"]} == expected
    assert health["drift"] == [t for t, d in expected.items() if d == "drift"]
    assert health["error"] is None and health["drift"]  # the demo drifts
    assert data["health"]["text"].startswith(f"{len(health['stable'])} of {len(expected)} tools")
    assert "normal" not in data["headline"]["text"].lower()
    for tool in health["drift"]:
        assert f"\u2068{tool}\u2069" in data["headline"]["text"]
