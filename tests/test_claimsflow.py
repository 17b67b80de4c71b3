"""ClaimsFlow: governed workflow runs, live scenarios, the seeded history and its SPC signals."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from govlib.demo.claimsflow import WORKFLOWS, ClaimsEngine, run_claim, run_scenario
from govlib.demo.claimsflow.catalog import TOOLS
from govlib.demo.claimsflow.claims import make_claim, scenario_claim
from govlib.demo.claimsflow.history import (
    ON_CALL,
    REVIEWERS,
    HistoryError,
    generate_history,
    parse_as_of,
)
from govlib.demo.claimsflow.models import (
    ProviderModelClient,
    ProviderUsage,
    estimate_tokens,
)
from govlib.demo.claimsflow.refdata import (
    HISTORY_COLUMNS,
    HISTORY_CSV,
    POLICIES_CSV,
    POLICY_COLUMNS,
    _csv_text,
    generate_reference_data,
)
from govlib.demo.claimsflow.scenarios import SETUP_BY, is_set_up, register_claimsflow
from govlib.demo.claimsflow.simulation import INJECTED, LATENCY_SIGMA
from govlib.demo.claimsflow.tools import (
    FRAUD_BIAS,
    FRAUD_FEATURES,
    document_extraction,
    fraud_scoring,
    payout_calculator,
)
from govlib.demo.claimsflow.workflows import ensure_workflows, graph_json
from govlib.errors import GovernanceRefused
from govlib.evidence import worm
from govlib.evidence.keys import KeyRing
from govlib.evidence.people import PSEUDONYM_PREFIX, person_name
from govlib.governance import Governor, KillSwitch, ToolRegistry
from govlib.store import schema
from govlib.store.database import Store

#: Live claims here skip their simulated service time (conftest): these tests check governance.
pytestmark = pytest.mark.usefixtures("no_service_wait")

TODAY = date(2026, 11, 23)
AS_OF = "2026-11-20T10:00:00Z"


def _store() -> Store:
    return Store(memory=True)


def _audit(store: Store, run_id: str) -> list[tuple[str, int]]:
    rows = store.query(
        "SELECT tool_name, success FROM audit_log WHERE composition_id = ? ORDER BY id", (run_id,)
    )
    return [(r[0], r[1]) for r in rows]


def _node_statuses(store: Store, run_id: str) -> dict[str, str]:
    rows = store.query(
        "SELECT node, status FROM node_runs WHERE run_id = ? ORDER BY position", (run_id,)
    )
    return {r[0]: r[1] for r in rows}


# --- workflows as data --------------------------------------------------------------------------
def test_three_workflows_are_linear_graphs_of_registered_tools() -> None:
    assert {"auto_claim", "property_claim", "fast_track_claim"} <= set(WORKFLOWS)
    for wf in WORKFLOWS.values():
        graph = json.loads(graph_json(wf))
        assert [n["node"] for n in graph] == wf.node_names
        assert [n["position"] for n in graph] == list(range(len(graph)))
        assert graph[-1]["next"] == [] and all(g["next"] for g in graph[:-1])
        assert all(tool in TOOLS for n in graph for tool in n["tools"])
        assert wf.node_names[0] == "intake" and wf.node_names[-1] == "payout"
    store = _store()
    register_claimsflow(store)
    stored = {r[0]: r[1] for r in store.query("SELECT id, name FROM workflows")}
    assert stored == {w.id: w.name for w in WORKFLOWS.values()}


# --- live scenarios -----------------------------------------------------------------------------
def test_clean_claim_completes_every_node_and_writes_a_receipt_per_model_call() -> None:
    store = _store()
    result = run_scenario(store, "clean")
    wf = WORKFLOWS["auto_claim"]
    assert result.status == "completed"
    assert result.summary == "Claim CLM-1043 paid USD 4,200.00"
    assert _node_statuses(store, result.composition_id) == dict.fromkeys(wf.node_names, "completed")
    run = store.query(
        "SELECT * FROM workflow_runs WHERE composition_id = ?", (result.composition_id,)
    )[0]
    assert (run["subject"], run["workflow_id"], run["status"]) == (
        "CLM-1043",
        "auto_claim",
        "completed",
    )
    assert run["summary"] == result.summary and run["ended_at"] >= run["started_at"]
    model_nodes = [n.name for n in wf.nodes if n.model_task]
    receipts = store.query(
        "SELECT node, model, usage_source, cost_usd, input_tokens FROM token_ledger WHERE run_id = ?",
        (result.composition_id,),
    )
    assert [r["node"] for r in receipts] == model_nodes
    assert all(r["usage_source"] == "estimated" and r["cost_usd"] > 0 for r in receipts)
    calls = _audit(store, result.composition_id)
    assert [t for t, _ in calls] == [t for n in wf.nodes for t in n.tools]
    assert all(ok == 1 for _, ok in calls)
    assert store.query_one("SELECT MIN(schema_valid) FROM audit_log") == 1
    actions = [e["action"] for e in worm.entries(store, run_id=result.composition_id)]
    assert actions[0] == "run_started" and actions[-1] == "run_finished"
    assert actions.count("node_started") == actions.count("node_finished") == len(wf.nodes)
    head_seq, _ = worm.head(store)
    assert store.query_one("SELECT MAX(seq) FROM worm_checkpoints") == head_seq


def test_fraud_claim_trips_the_kill_switch_and_the_payout_is_refused() -> None:
    store = _store()
    result = run_scenario(store, "fraud")
    cid = result.composition_id
    assert result.status == "blocked" and result.stopped_at_node == "fraud_scoring"
    assert result.summary.startswith(
        "Claim CLM-1042 was blocked at fraud scoring: fraud score 0.91 exceeded the 0.80 limit. "
        "Kill-switch triggered "
    )
    assert result.summary.endswith(" UTC.")
    statuses = _node_statuses(store, cid)
    assert statuses["fraud_scoring"] == "blocked"
    assert statuses["adjudication"] == statuses["payout"] == "refused"
    assert all(statuses[n] == "completed" for n in ("intake", "document_extraction"))
    assert ("issue_payout", 1) not in _audit(store, cid)
    assert (
        store.query_one(
            "SELECT COUNT(*) FROM audit_log WHERE tool_name = 'issue_payout' AND success = 1"
        )
        == 0
    )
    entries = worm.entries(store, run_id=cid)
    evaluated = next(
        e for e in entries if e["action"] == "rule_evaluated" and e["rule"] == "fraud_score_limit"
    )
    triggered = next(e for e in entries if e["action"] == "kill_switch_triggered")
    assert evaluated["outcome"] == "trip" and evaluated["seq"] < triggered["seq"]
    assert evaluated["detail"]["message"] == "fraud score 0.91 exceeded the 0.80 limit"
    refused = [e for e in entries if e["action"] == "call_refused"]
    assert [e["node"] for e in refused] == ["adjudication", "payout"]
    state = KillSwitch(store).state()
    assert not state.armed and state.rule == "fraud_score_limit" and state.run_id == cid
    run = store.query(
        "SELECT status, stopped_at_node FROM workflow_runs WHERE composition_id = ?", (cid,)
    )
    assert tuple(run[0]) == ("blocked", "fraud_scoring")


def test_a_claim_during_a_trip_is_refused_and_recorded_until_a_named_reset() -> None:
    store = _store()
    run_scenario(store, "fraud")
    refused = run_scenario(store, "clean")
    assert refused.status == "refused" and refused.stopped_at_node == "intake"
    assert "kill-switch is triggered" in refused.summary
    assert _audit(store, refused.composition_id) == []
    assert set(_node_statuses(store, refused.composition_id).values()) == {"refused", "skipped"}
    row = store.query(
        "SELECT status, subject FROM workflow_runs WHERE composition_id = ?",
        (refused.composition_id,),
    )[0]
    assert tuple(row) == ("refused", "CLM-1043")
    KillSwitch(store).reset("Dana Ortiz", "CLM-1042 referred to investigators")
    assert run_scenario(store, "clean").status == "completed"


def test_the_fraud_claim_with_features_under_the_threshold_is_paid() -> None:
    store = _store()
    result = run_scenario(store, "fraud", amount=6000.0, evidence_total=6000.0, report_delay_days=2)
    assert result.status == "completed" and result.fraud_score is not None
    assert result.fraud_score < 0.80
    assert result.summary == "Claim CLM-1042 paid USD 5,000.00"
    assert KillSwitch(store).state().armed
    assert ("issue_payout", 1) in _audit(store, result.composition_id)


def test_missing_documents_stop_the_claim_without_tripping_the_kill_switch() -> None:
    store = _store()
    claim = make_claim(
        claim_id="CLM-7", policy_id="POL-204711", workflow="auto_claim", claimant="Maya Chen",
        amount=2500.0, incident_date=date(2026, 11, 20), reported_date=TODAY,
        description="dent", missing=["repair_estimate"],
    )  # fmt: skip
    result = run_claim(store, claim)
    assert result.status == "blocked" and result.stopped_at_node == "document_extraction"
    assert "missing: repair estimate" in result.summary
    statuses = _node_statuses(store, result.composition_id)
    assert [s for n, s in statuses.items() if n != "intake"][1:] == ["skipped"] * 5
    assert KillSwitch(store).state().armed


def test_a_payout_above_the_limit_is_held_for_review_and_not_paid() -> None:
    store = _store()
    result = run_scenario(store, "clean", amount=14000.0, evidence_total=14000.0)
    assert result.status == "completed" and result.stopped_at_node == "adjudication"
    assert result.summary.startswith("Claim CLM-1043 is held for human review at adjudication")
    assert "payout USD 13,500 exceeded the 10,000 limit" in result.summary
    assert _node_statuses(store, result.composition_id)["payout"] == "skipped"
    assert "issue_payout" not in [t for t, _ in _audit(store, result.composition_id)]


def test_a_tool_outside_the_registry_or_disabled_is_refused() -> None:
    store = _store()
    register_claimsflow(store)
    gov = Governor(store)
    with pytest.raises(GovernanceRefused) as refused:
        gov.guard_tool("wire_transfer", run_id="r1")
    assert refused.value.reason == "unregistered"
    # A registry row removed behind govlib's back is not "unregistered": it is unproven state,
    # and every governed step fails closed naming the row.
    store.execute("DELETE FROM tool_registry WHERE name = 'issue_payout'")
    result = run_scenario(store, "clean")
    assert result.status == "refused" and result.stopped_at_node == "intake"
    assert "tool_registry row issue_payout: missing" in result.summary
    refusal = [
        e
        for e in worm.entries(store, run_id=result.composition_id)
        if e["action"] == "call_refused"
    ]
    assert refusal[0]["detail"]["reason"] == "unproven_state"
    store = _store()
    register_claimsflow(store)
    ToolRegistry(store).disable("policy_lookup", by="Dana Ortiz")
    result = run_scenario(store, "clean")
    assert (result.status, result.stopped_at_node) == ("refused", "policy_lookup")
    register_claimsflow(store)  # never re-enables a tool someone disabled
    assert ToolRegistry(store).get("policy_lookup").enabled is False


def test_a_set_up_cut_short_is_finished_by_the_next_run() -> None:
    """Set-up is one transaction now; a store left half set up (workflows and some tools
    committed, by an older govlib killed half-way) is finished by the next run, not refused."""
    store = _store()
    ensure_workflows(store)
    first_two = list(TOOLS.items())[:2]
    for name, spec in first_two:
        ToolRegistry(store).register(name, spec.description, dict(spec.schema), by=SETUP_BY)
    assert not is_set_up(store)
    assert run_scenario(store, "clean").status == "completed"
    assert is_set_up(store) and {t.name for t in ToolRegistry(store).all()} == set(TOOLS)


def test_set_up_is_all_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store()
    original, calls = ToolRegistry.register, []

    def flaky(self: ToolRegistry, name: str, *args: object, **kwargs: object) -> object:
        calls.append(name)
        if len(calls) == 3:
            raise OSError("killed half-way")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(ToolRegistry, "register", flaky)
    with pytest.raises(OSError, match="killed half-way"):
        register_claimsflow(store)
    assert store.count("workflows") == store.count("tool_registry") == 0
    assert store.count("worm_log") == 0 and not is_set_up(store)


def test_a_tool_that_keeps_failing_fails_the_node_after_a_retry() -> None:
    store = _store()
    register_claimsflow(store)
    engine = ClaimsEngine(
        store, faults=lambda tool: "upstream timeout" if tool == "claim_history" else None
    )
    result = run_claim(store, scenario_claim("clean", TODAY), engine=engine)
    assert result.status == "failed" and result.stopped_at_node == "claim_history"
    assert "upstream timeout (2 attempts)" in result.summary
    assert [c for c in _audit(store, result.composition_id) if c[0] == "claim_history"] == [
        ("claim_history", 0),
        ("claim_history", 0),
    ]
    statuses = _node_statuses(store, result.composition_id)
    assert statuses["claim_history"] == "failed" and statuses["payout"] == "skipped"


def test_provider_usage_is_recorded_as_provider_usage() -> None:
    store = _store()
    register_claimsflow(store)

    def provider(model: str, prompt: str, task: str) -> tuple[str, dict[str, int]]:
        return "ok", {"prompt_tokens": 1200, "completion_tokens": 80,
                      "prompt_tokens_details": {"cached_tokens": 1000}}  # fmt: skip

    models = {
        m: ProviderModelClient(m, provider) for m in ("claude-haiku-4-5", "claude-sonnet-4-6")
    }
    result = run_claim(
        store, scenario_claim("clean", TODAY), engine=ClaimsEngine(store, models=models)
    )
    rows = store.query(
        "SELECT usage_source, input_tokens, output_tokens, cache_read_tokens FROM token_ledger "
        "WHERE run_id = ?",
        (result.composition_id,),
    )
    assert [tuple(r) for r in rows] == [("provider", 200, 80, 1000)] * 2


# --- tools, models, reference data --------------------------------------------------------------
def test_fraud_score_is_the_visible_logistic_of_the_claims_own_features() -> None:
    out = fraud_scoring(
        amount=16400, coverage_limit=20000, report_delay_days=12, prior_claims=2,
        prior_fraud=1, document_mismatch=1,
    )  # fmt: skip
    z = FRAUD_BIAS + sum(FRAUD_FEATURES[k][0] * v for k, v in out["features"].items())
    assert out["score"] == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-4)
    assert out["weights"] == {k: w for k, (w, _) in FRAUD_FEATURES.items()}
    assert round(out["score"], 2) == 0.91


def test_document_extraction_and_payout_calculator() -> None:
    claim = scenario_claim("fraud", TODAY)
    out = document_extraction(
        claim_id=claim["claim_id"], claimed_amount=claim["amount"], documents=claim["documents"],
        required=["claim_form", "repair_estimate", "photos", "police_report"],
    )  # fmt: skip
    assert out["missing"] == ["police_report"] and out["extracted_amount"] == 9800.0
    assert out["document_mismatch"] == 1
    assert payout_calculator(assessed_amount=30000, coverage_limit=25000, deductible=500) == {
        "payout": 24500.0, "capped": True, "deductible": 500.0,
    }  # fmt: skip


def test_token_estimate_and_provider_usage_mappings() -> None:
    assert estimate_tokens("a" * 9) == 3 and estimate_tokens("é") == 1
    anthropic = ProviderUsage.from_mapping(
        {
            "input_tokens": 10,
            "output_tokens": 2,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 1,
        }  # fmt: skip
    )
    assert (anthropic.cache_read_tokens, anthropic.cache_write_tokens) == (5, 1)
    from govlib.demo.claimsflow.models import ModelUsageError

    with pytest.raises(ModelUsageError, match="input_tokens"):
        ProviderUsage.from_mapping({"tokens": 3})


def test_committed_reference_data_is_what_the_generator_writes() -> None:
    policies, history = generate_reference_data()
    assert POLICIES_CSV.read_text() == _csv_text(policies, POLICY_COLUMNS)
    assert HISTORY_CSV.read_text() == _csv_text(history, HISTORY_COLUMNS)


def test_bad_history_parameters_are_named() -> None:
    with pytest.raises(HistoryError, match="days: -1"):
        generate_history(_store(), days=-1, as_of=AS_OF)
    with pytest.raises(HistoryError, match="as_of: 'yesterday'"):
        parse_as_of("yesterday")
    assert parse_as_of("2026-11-20T10:30:00+02:00") == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


# --- the seeded history -------------------------------------------------------------------------
# ``history30`` (tests/conftest.py): 30 days of seeded history, built once per session.


@pytest.mark.slow
def test_every_history_call_belongs_to_a_run_and_every_run_has_its_evidence(
    history30: Path,
) -> None:
    with Store(history30) as store:
        orphans = store.query_one(
            "SELECT COUNT(*) FROM audit_log a LEFT JOIN workflow_runs r "
            "ON r.composition_id = a.composition_id WHERE r.composition_id IS NULL"
        )
        assert orphans == 0
        runs = store.query("SELECT composition_id, workflow_id, status FROM workflow_runs")
        assert len(runs) > 600
        started = {
            r[0] for r in store.query("SELECT run_id FROM worm_log WHERE action = 'run_started'")
        }
        finished = dict(
            store.query("SELECT run_id, outcome FROM worm_log WHERE action = 'run_finished'")
        )
        assert started == set(finished) == {r[0] for r in runs}
        assert all(finished[cid] == status for cid, _, status in runs)
        model_nodes = store.query(
            "SELECT n.run_id, COUNT(*) FROM node_runs n JOIN workflow_runs r "
            "ON r.composition_id = n.run_id WHERE n.status IN ('completed', 'blocked') "
            "AND n.node IN ('document_extraction', 'adjudication') "
            "AND NOT (r.workflow_id = 'fast_track_claim' AND n.node = 'adjudication') "
            "GROUP BY n.run_id"
        )
        receipts = dict(store.query("SELECT run_id, COUNT(*) FROM token_ledger GROUP BY run_id"))
        assert {cid: n for cid, n in model_nodes} == receipts
        nodes = dict(store.query("SELECT run_id, COUNT(*) FROM node_runs GROUP BY run_id"))
        assert all(nodes[cid] == len(WORKFLOWS[wf].nodes) for cid, wf, _ in runs)
        from govlib.evidence.verify import verify_store

        assert verify_store(store).ok


@pytest.mark.slow
def test_history_has_trips_resets_refusals_errors_and_verdicts(history30: Path) -> None:
    with Store(history30) as store:
        events = store.query("SELECT state, by, at FROM kill_switch_events ORDER BY id")
        assert len(events) >= 10
        assert [e[0] for e in events] == ["triggered", "reset"] * (len(events) // 2)
        # rows hold keyed pseudonyms; the names are in `people`
        assert {person_name(store, e[1]) for e in events if e[0] == "reset"} <= set(ON_CALL)
        windows = [(events[i][2], events[i + 1][2]) for i in range(0, len(events), 2)]
        refused = store.query("SELECT started_at FROM workflow_runs WHERE status = 'refused'")
        assert refused and all(any(a <= r[0] <= b for a, b in windows) for r in refused)
        statuses = dict(store.query("SELECT status, COUNT(*) FROM workflow_runs GROUP BY 1"))
        assert statuses["completed"] > 0.85 * sum(statuses.values())
        assert statuses.get("failed", 0) > 0 and statuses.get("blocked", 0) > 0
        per_tool = dict(store.query("SELECT tool_name, COUNT(*) FROM audit_log GROUP BY 1"))
        assert set(per_tool) == set(TOOLS) and min(per_tool.values()) >= 600
        verdicts = dict(store.query("SELECT kind, COUNT(*) FROM verdict_events GROUP BY 1"))
        outcome = dict(
            store.query(
                "SELECT human_verdict, COUNT(*) FROM audit_log WHERE human_verdict "
                "IS NOT NULL GROUP BY 1"
            )  # fmt: skip
        )
        assert verdicts["stamp"] > 200 and verdicts.get("correct", 0) >= 1
        assert outcome["accept"] > 5 * outcome["reject"] > 0
        by = {r[0] for r in store.query("SELECT DISTINCT verdict_by FROM verdict_events")}
        assert all(b.startswith(PSEUDONYM_PREFIX) for b in by)
        assert {person_name(store, b) for b in by} <= set(REVIEWERS)


@pytest.mark.slow
def test_stable_tools_vary_with_a_cv_of_at_least_0_2(history30: Path) -> None:
    with Store(history30) as store:
        for tool in set(TOOLS) - set(INJECTED):
            rows = [r[0] for r in store.query(
                "SELECT latency_ms FROM audit_log WHERE tool_name = ?", (tool,))]  # fmt: skip
            mean = sum(rows) / len(rows)
            sd = math.sqrt(sum((x - mean) ** 2 for x in rows) / (len(rows) - 1))
            assert sd / mean >= 0.2, tool
    assert math.sqrt(math.exp(LATENCY_SIGMA**2) - 1) >= 0.2


@pytest.mark.slow
def test_injected_changes_show_as_drift_badges_and_the_rest_is_stable(history30: Path) -> None:
    from govlib.analysis.stats import tool_stats
    from govlib.settings import Settings

    with Store(history30) as store:
        df = tool_stats(store, settings=Settings())
    badges = dict(zip(df["tool_name"], df["drift"], strict=True))
    assert set(badges) == set(TOOLS)
    for tool in TOOLS:
        if tool in INJECTED:
            assert badges[tool] != "stable", (tool, badges)
        else:
            assert badges[tool] == "stable", (tool, badges)


# --- determinism --------------------------------------------------------------------------------
#: Columns that hold MACs, signatures, key ids, or the signed bytes that embed them.
_KEYED = {"mac", "prev_mac", "signature", "key_id", "head_mac", "body"}


def _content(store: Store) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    for table in schema.TABLES:
        cols = [c for c in store.columns(table) if c not in _KEYED]
        out[table] = [
            tuple(r) for r in store.query(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid")
        ]
    return out


@pytest.mark.slow
def test_same_seed_and_as_of_give_identical_content_in_every_table() -> None:
    a, b, c = _store(), _store(), _store()
    a.keyring = b.keyring = c.keyring = KeyRing.ephemeral()  # one pseudonym key: same pseudonyms
    for store, seed in ((a, 11), (b, 11), (c, 12)):
        generate_history(store, days=3, as_of=AS_OF, seed=seed)
    first, second = _content(a), _content(b)
    differing = {
        t: [col for i, col in enumerate(c for c in a.columns(t) if c not in _KEYED)
            if [r[i] for r in first[t]] != [r[i] for r in second[t]]]
        for t in first
        if first[t] != second[t]
    }  # fmt: skip
    if "worm_log" in differing:  # name the writers whose entries carry a wall-clock time
        ts = [
            (x[1], y[1], x[4]) for x, y in zip(first["worm_log"], second["worm_log"], strict=True)
        ]
        differing["worm_log actions"] = sorted({action for u, v, action in ts if u != v})
    assert not differing, f"columns that differ between identical seeds: {differing}"
    assert sum(len(v) for v in first.values()) > 1000
    assert _content(c)["workflow_runs"] != first["workflow_runs"]
