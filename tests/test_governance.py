"""govlib.governance.governor: kill-switch, tool registry, stored rules, Governor (fail-closed)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from govlib.context import node, workflow
from govlib.errors import GovernanceRefused
from govlib.evidence import worm
from govlib.evidence.chain import first_chain_problem
from govlib.evidence.keys import keyring_for
from govlib.evidence.people import pseudonym_of
from govlib.governance.governor import (
    GovernanceError,
    Governor,
    KillSwitch,
    ToolRegistry,
    latest_rule_outcomes,
    save_rules,
    stored_rules,
)
from govlib.governance.rules import RuleDefinitionError
from govlib.store.database import Store

RULES: list[dict[str, Any]] = [
    {
        "id": "fraud-trip",
        "description": "A fraud score above 0.80 stops every claim until reviewed",
        "scope": {"node": "fraud_scoring"},
        "condition": {"field": "fraud_score", "op": ">", "value": 0.8},
        "action": "trip_kill_switch",
    },
    {
        "id": "fraud-log",
        "description": "Fraud scores are always recorded",
        "scope": {"node": "fraud_scoring"},
        "condition": {"field": "fraud_score", "op": ">=", "value": 0},
        "action": "allow",
    },
    {
        "id": "payout-review",
        "description": "Payouts above 10,000 need a human",
        "scope": {"node": "adjudication"},
        "condition": {"field": "payout", "op": ">", "value": 10000},
        "action": "require_review",
    },
    {
        "id": "missing-docs",
        "description": "A claim without documents stops",
        "scope": {"node": "intake"},
        "condition": {"field": "documents", "op": "missing"},
        "action": "deny",
    },
    {
        "id": "no-wire",
        "description": "Wire transfers are never made by the agent",
        "scope": {"tool": "wire_transfer"},
        "condition": {"always": True},
        "action": "deny",
    },
    {
        "id": "off",
        "description": "Disabled rules are not evaluated",
        "condition": {"always": True},
        "action": "deny",
        "enabled": False,
    },
]


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def gov(store: Store) -> Governor:
    g = Governor(store, rules=RULES)
    g.registry.register("policy_lookup", "Find a policy", {"type": "object"})
    g.registry.register("payout", "Pay a claim", {"type": "object"}, risk_tier="high")
    g.registry.register("wire_transfer", "Wire money", risk_tier="high")
    return g


def actions(store: Store, since: int = 0) -> list[tuple[Any, ...]]:
    return [(e["action"], e["rule"], e["outcome"]) for e in worm.entries(store) if e["seq"] > since]


def chain_ok(store: Store) -> bool:
    rows = store.query(
        "SELECT seq, body, prev_mac, mac, json_extract(body, '$.seq'), "
        "json_extract(body, '$.prev_mac'), key_id FROM worm_log ORDER BY seq"
    )
    problem, n, _ = first_chain_problem([tuple(r) for r in rows], store.keyring.hmac_keys)
    return problem is None and n == len(rows)


# --- kill-switch --------------------------------------------------------------------------------
def test_kill_switch_trigger_and_reset_are_rows_and_worm_entries(store: Store) -> None:
    ks = KillSwitch(store, clock=FixedClock(datetime(2026, 11, 23, 8, tzinfo=UTC)))
    assert ks.state().armed and ks.state().state == "armed"
    state = ks.trigger("Dana Ortiz", "incident 42", run_id="run-7")
    assert (state.state, state.by, state.reason, state.run_id) == (
        "triggered",
        "Dana Ortiz",
        "incident 42",
        "run-7",
    )
    assert state.at == "2026-11-23T08:00:00.000000Z"
    assert "TRIGGERED by Dana Ortiz" in state.describe()
    again = ks.trigger("Someone Else", "again")
    assert again == state  # no-op
    assert store.count("kill_switch_events") == 1
    reset = ks.reset("Sam Lee", "fraud ring blocked")
    assert reset.armed and reset.by == "Sam Lee"
    assert reset.describe().startswith("Kill-switch armed: reset by Sam Lee")
    entries = worm.entries(store)
    unbound = [{k: v for k, v in e["detail"].items() if k != "bound"} for e in entries]
    assert [e["detail"]["bound"][0]["table"] for e in entries] == ["kill_switch_events"] * 2
    # the chained bodies (and the rows) hold keyed pseudonyms; the names live in `people`
    dana, sam = (
        pseudonym_of(keyring_for(store).pseudonym_key(), n) for n in ("Dana Ortiz", "Sam Lee")
    )
    assert [(e["action"], e["outcome"], d) for e, d in zip(entries, unbound, strict=True)] == [
        ("kill_switch_triggered", "triggered", {"by": dana, "reason": "incident 42"}),
        ("kill_switch_reset", "reset", {"by": sam, "reason": "fraud ring blocked"}),
    ]
    assert [r[0] for r in store.query("SELECT by FROM kill_switch_events ORDER BY id")] == [
        dana,
        sam,
    ]
    seqs = [r[0] for r in store.query("SELECT worm_seq FROM kill_switch_events ORDER BY id")]
    assert seqs == [1, 2]
    assert entries[0]["ts"] == "2026-11-23T08:00:00.000000Z"


def test_reset_when_armed_or_without_a_name_is_refused(store: Store) -> None:
    ks = KillSwitch(store)
    with pytest.raises(GovernanceError, match="reset refused: it is armed"):
        ks.reset("Dana Ortiz", "nothing to reset")
    ks.trigger("Dana Ortiz", "incident")
    with pytest.raises(GovernanceError, match="^by: ''"):
        ks.reset("", "ok")
    with pytest.raises(GovernanceError, match="^reason: '  '"):
        ks.reset("Dana Ortiz", "  ")
    assert not ks.state().armed
    assert store.count("worm_log") == 1


def test_trigger_is_atomic_when_the_worm_write_fails(store: Store) -> None:
    store.execute(
        "CREATE TRIGGER worm_full BEFORE INSERT ON worm_log "
        "BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        KillSwitch(store).trigger("Dana Ortiz", "incident")
    assert store.count("kill_switch_events") == 0
    assert KillSwitch(store).state().armed


# --- registry -----------------------------------------------------------------------------------
def test_registry_changes_are_worm_entries(store: Store) -> None:
    reg = ToolRegistry(store)
    spec = reg.register("payout", "Pay a claim", {"type": "object"}, risk_tier="high", by="ops")
    assert (spec.risk_tier, spec.enabled, spec.schema) == ("high", True, {"type": "object"})
    assert reg.register("payout", "Pay a claim", {"type": "object"}, risk_tier="high") == spec
    reg.register("payout", "Pay an approved claim", {"type": "object"}, risk_tier="high")
    assert not reg.disable("payout", by="Dana Ortiz").enabled
    assert not reg.disable("payout", by="Dana Ortiz").enabled  # no-op
    assert reg.enable("payout", by="Dana Ortiz").enabled
    assert [a for a, _, _ in actions(store)] == [
        "tool_registered",
        "tool_registered",
        "tool_disabled",
        "tool_enabled",
    ]
    assert worm.entries(store)[1]["detail"]["changed"] is True
    assert [t.name for t in reg.all()] == ["payout"]
    assert reg.get("nope") is None


def test_registry_refuses_bad_input(store: Store) -> None:
    reg = ToolRegistry(store)
    with pytest.raises(GovernanceError, match="^risk_tier: 'extreme'"):
        reg.register("x", "d", risk_tier="extreme")
    with pytest.raises(GovernanceError, match="not a valid JSON Schema"):
        reg.register("x", "d", {"type": "objekt"})
    with pytest.raises(GovernanceError, match="^name: ''"):
        reg.register("", "d")
    with pytest.raises(GovernanceError, match="'ghost' is not registered"):
        reg.disable("ghost", by="Dana Ortiz")
    assert store.count("tool_registry") == 0 and store.count("worm_log") == 0


# --- guard_tool ---------------------------------------------------------------------------------
def test_allowed_call_returns_the_spec_and_writes_nothing(gov: Governor, store: Store) -> None:
    before = store.count("worm_log")
    assert gov.guard_tool("payout", run_id="r1", node="payout").risk_tier == "high"
    assert store.count("worm_log") == before


@pytest.mark.parametrize(
    ("setup", "tool", "reason", "rule"),
    [
        (None, "send_email", "unregistered", None),
        ("disable", "payout", "disabled", None),
        ("trigger", "payout", "kill_switch", None),
        (None, "wire_transfer", "deny_rule", "no-wire"),
    ],
)
def test_refusals_are_recorded_and_never_reach_audit_log(
    gov: Governor, store: Store, setup: str | None, tool: str, reason: str, rule: str | None
) -> None:
    if setup == "disable":
        gov.registry.disable("payout", by="Dana Ortiz")
    if setup == "trigger":
        gov.kill_switch.trigger("Dana Ortiz", "incident 42")
    seq = worm.head(store)[0]
    executed = []
    with pytest.raises(GovernanceRefused) as info:
        gov.guard_tool(tool, run_id="r1", node="adjudication", actor="claims-agent")
        executed.append(tool)
    assert executed == []
    assert (info.value.reason, info.value.rule) == (reason, rule)
    entries = worm.entries(store)[seq:]
    refused = entries[-1]
    assert (refused["action"], refused["outcome"], refused["rule"]) == (
        "call_refused",
        "refused",
        rule,
    )
    assert (refused["run_id"], refused["node"]) == ("r1", "adjudication")
    assert refused["detail"] == {"tool": tool, "reason": reason, "actor": "claims-agent"}
    if reason == "deny_rule":
        assert [(e["action"], e["rule"], e["outcome"]) for e in entries] == [
            ("rule_evaluated", "no-wire", "deny"),
            ("call_refused", "no-wire", "refused"),
        ]
    assert store.count("audit_log") == 0
    assert chain_ok(store)


def test_refusal_message_lists_registered_tools(gov: Governor) -> None:
    with pytest.raises(
        GovernanceRefused, match=r"registered: payout, policy_lookup, wire_transfer"
    ):
        gov.guard_tool("send_email")


def test_guard_tool_takes_run_and_node_from_the_context(gov: Governor, store: Store) -> None:
    with workflow("claim-9"), node("payout"), pytest.raises(GovernanceRefused):
        gov.guard_tool("send_email")
    last = worm.entries(store)[-1]
    assert (last["run_id"], last["node"]) == ("claim-9", "payout")


def test_refused_calls_through_the_emitter_never_run(gov: Governor, store: Store) -> None:
    from govlib.capture.emitter import Emitter

    emitter = Emitter(store, tenant="acme", actor="claims-agent", synchronous=True, governor=gov)
    ran: list[str] = []

    def tool(name: str) -> Any:
        return emitter.wrap(lambda: ran.append(name) or {"ok": True}, name=name)

    assert tool("policy_lookup")() == {"ok": True}
    gov.registry.disable("payout", by="Dana Ortiz")
    for name, reason in (("send_email", "unregistered"), ("payout", "disabled")):
        with pytest.raises(GovernanceRefused) as info:
            tool(name)()
        assert info.value.reason == reason
    gov.kill_switch.trigger("Dana Ortiz", "incident 42")
    with pytest.raises(GovernanceRefused, match="kill-switch is triggered"):
        tool("policy_lookup")()
    emitter.close()
    assert ran == ["policy_lookup"]
    assert [r[0] for r in store.query("SELECT tool_name FROM audit_log")] == ["policy_lookup"]
    refusals = [e["detail"]["reason"] for e in worm.entries(store) if e["action"] == "call_refused"]
    assert refusals == ["unregistered", "disabled", "kill_switch"]


# --- fail-closed --------------------------------------------------------------------------------
def test_read_only_store_fails_closed(gov: Governor, store: Store, tmp_path: Path) -> None:
    gov.kill_switch.trigger("Dana Ortiz", "incident 42")
    head = worm.head(store)
    ro = Store(tmp_path, readonly=True)
    governor = Governor(ro)
    assert [r.id for r in governor.rules] == [r["id"] for r in RULES]
    ran: list[str] = []

    def governed_step() -> None:
        governor.guard_step("payout", run_id="r2")
        ran.append("payout")

    with pytest.raises(GovernanceRefused) as info:
        governed_step()
    assert info.value.reason == "kill_switch"
    assert "could not be recorded" in str(info.value)
    with pytest.raises(GovernanceRefused, match="could not be recorded"):
        governor.guard_tool("payout", run_id="r2")
    assert ran == []
    assert worm.head(store) == head
    ro.close()


def test_unrecordable_rule_evaluations_refuse(gov: Governor, store: Store, tmp_path: Path) -> None:
    ro = Store(tmp_path, readonly=True)
    governor = Governor(ro)
    # Armed switch, registered tool, no tool rule: nothing to record, the call may run.
    assert governor.guard_tool("payout", run_id="r3").name == "payout"
    # A rule in scope must be recorded before anything runs.
    with pytest.raises(GovernanceRefused) as info:
        governor.evaluate("adjudication", {"payout": 50}, run_id="r3")
    assert info.value.reason == "record_failed"
    assert "step 'adjudication' refused: its rule evaluations could not" in str(info.value)
    with pytest.raises(GovernanceRefused) as info:
        governor.guard_tool("wire_transfer", run_id="r3")
    assert info.value.reason == "deny_rule"
    assert "tool 'wire_transfer' refused: its rule evaluations could not" in str(info.value)
    assert "None" not in str(info.value)  # the refusal names the tool, not an absent node
    ro.close()


# --- evaluate -----------------------------------------------------------------------------------
def test_evaluate_writes_one_entry_per_rule_in_scope_in_order(gov: Governor, store: Store) -> None:
    seq = worm.head(store)[0]
    out = gov.evaluate("adjudication", {"payout": 12500, "claim_text": "private"}, run_id="r1")
    assert [(o.rule_id, o.outcome) for o in out] == [("payout-review", "review")]
    out = gov.evaluate("fraud_scoring", {"fraud_score": 0.2}, run_id="r1")
    assert [(o.rule_id, o.outcome) for o in out] == [("fraud-trip", "pass"), ("fraud-log", "pass")]
    assert gov.evaluate("policy_lookup", {}, run_id="r1") == []
    entries = worm.entries(store)[seq:]
    assert [(e["action"], e["rule"], e["outcome"], e["node"]) for e in entries] == [
        ("rule_evaluated", "payout-review", "review", "adjudication"),
        ("rule_evaluated", "fraud-trip", "pass", "fraud_scoring"),
        ("rule_evaluated", "fraud-log", "pass", "fraud_scoring"),
    ]
    assert entries[0]["detail"] == {
        "action": "require_review",
        "inputs": {"payout": 12500},
        "message": "payout 12,500 exceeded the 10,000 limit",
    }
    assert [o.worm_seq for o in out] == [e["seq"] for e in entries[1:]]
    assert gov.kill_switch.state().armed


def test_tripping_rule_triggers_the_kill_switch_and_refuses(gov: Governor, store: Store) -> None:
    seq = worm.head(store)[0]
    with pytest.raises(GovernanceRefused) as info:
        gov.evaluate("fraud_scoring", {"fraud_score": 0.91}, run_id="claim-13")
    assert (info.value.reason, info.value.rule) == ("kill_switch", "fraud-trip")
    assert str(info.value) == (
        "rule fraud-trip: fraud score 0.91 exceeded the 0.80 limit; the kill-switch is now triggered"
    )
    assert [o.outcome for o in info.value.outcomes] == ["trip", "pass"]  # type: ignore[attr-defined]
    assert actions(store, seq) == [
        ("rule_evaluated", "fraud-trip", "trip"),
        ("rule_evaluated", "fraud-log", "pass"),
        ("kill_switch_triggered", "fraud-trip", "triggered"),
    ]
    state = gov.kill_switch.state()
    assert (state.by, state.rule, state.run_id) == ("rule:fraud-trip", "fraud-trip", "claim-13")
    assert state.reason == "fraud score 0.91 exceeded the 0.80 limit"
    # Fail-closed afterwards: steps and tool calls are refused until a named reset.
    with pytest.raises(GovernanceRefused) as step:
        gov.guard_step("payout", run_id="claim-13")
    assert (step.value.reason, step.value.rule) == ("kill_switch", "fraud-trip")
    with pytest.raises(GovernanceRefused):
        gov.guard_tool("payout", run_id="claim-14")
    last = worm.entries(store)[-2]
    assert last["detail"] == {"tool": None, "reason": "kill_switch", "step": "payout"}
    gov.kill_switch.reset("Dana Ortiz", "false positive reviewed")
    gov.guard_step("payout", run_id="claim-14")
    assert gov.guard_tool("payout", run_id="claim-14").name == "payout"
    assert chain_ok(store)


def test_deny_rule_and_missing_input(gov: Governor, store: Store) -> None:
    with pytest.raises(GovernanceRefused) as info:
        gov.evaluate("intake", {"claimant": "x"}, run_id="r1")
    assert (info.value.reason, info.value.rule) == ("deny_rule", "missing-docs")
    assert str(info.value) == "rule missing-docs: documents was not provided"
    assert gov.kill_switch.state().armed
    assert gov.evaluate("intake", {"documents": ["a.pdf"]}, run_id="r1")[0].outcome == "pass"
    # A trip rule whose input is missing fails closed: it trips.
    with pytest.raises(GovernanceRefused, match="fraud score was not provided"):
        gov.evaluate("fraud_scoring", {}, run_id="r2")
    assert not gov.kill_switch.state().armed


def test_governor_uses_a_clock_for_every_entry(store: Store) -> None:
    clock = FixedClock(datetime(2026, 10, 1, 12, tzinfo=UTC))
    g = Governor(store, rules=RULES, clock=clock)
    g.registry.register("payout", "Pay", risk_tier="high")
    with pytest.raises(GovernanceRefused):
        g.evaluate("fraud_scoring", {"fraud_score": 0.99}, run_id="r")
    with pytest.raises(GovernanceRefused):
        g.guard_tool("payout", run_id="r")
    assert {e["ts"] for e in worm.entries(store)} == {"2026-10-01T12:00:00.000000Z"}
    assert g.kill_switch.state().at == "2026-10-01T12:00:00.000000Z"


# --- stored rules -------------------------------------------------------------------------------
def test_rules_are_stored_once_and_reloaded(store: Store) -> None:
    Governor(store, rules=RULES)
    Governor(store, rules=RULES)  # unchanged: nothing written
    assert actions(store) == [("rules_loaded", None, "loaded")]
    assert [r.id for r in stored_rules(store)] == [r["id"] for r in RULES]
    changed = [RULES[2] | {"condition": {"field": "payout", "op": ">", "value": 5000}}]
    assert save_rules(store, changed) == ["payout-review"]
    detail = worm.entries(store)[-1]["detail"]
    assert [(b["table"], b["key"]) for b in detail.pop("bound")] == [
        ("governance_rules", "payout-review")
    ]
    assert detail == {"rules": ["payout-review"], "changed": ["payout-review"]}
    g = Governor(store)
    assert [r.id for r in g.rules][2] == "payout-review"
    assert g.evaluate("adjudication", {"payout": 6000}, run_id="r")[0].outcome == "review"
    row = store.query("SELECT scope_node, action, condition FROM governance_rules WHERE id = ?",
                      ("payout-review",))[0]  # fmt: skip
    assert tuple(row) == (
        "adjudication",
        "require_review",
        '{"field":"payout","op":">","value":5000}',
    )


def test_bad_rules_are_refused_before_anything_is_stored(store: Store) -> None:
    with pytest.raises(RuleDefinitionError, match="rule 'payout-review': unknown action 'hold'"):
        Governor(store, rules=[RULES[0], RULES[2] | {"action": "hold"}])
    assert store.count("governance_rules") == 0 and store.count("worm_log") == 0


def test_latest_rule_outcomes_for_the_dashboard(gov: Governor) -> None:
    gov.evaluate("adjudication", {"payout": 500}, run_id="r1")
    gov.evaluate("adjudication", {"payout": 50000}, run_id="r2")
    with pytest.raises(GovernanceRefused):
        gov.evaluate("fraud_scoring", {"fraud_score": 0.95}, run_id="r3")
    rows = {r["rule"]: r for r in latest_rule_outcomes(gov.store)}
    assert list(rows) == [r["id"] for r in RULES]
    review = rows["payout-review"]
    assert (review["latest_outcome"], review["run_id"], review["evaluations"], review["fired"]) == (
        "review",
        "r2",
        2,
        1,
    )
    assert review["message"] == "payout 50,000 exceeded the 10,000 limit"
    assert review["description"] == "Payouts above 10,000 need a human"
    assert (rows["fraud-trip"]["latest_outcome"], rows["fraud-trip"]["action"]) == (
        "trip",
        "trip_kill_switch",
    )
    never = rows["missing-docs"]
    assert (never["latest_outcome"], never["at"], never["evaluations"]) == (None, None, 0)
