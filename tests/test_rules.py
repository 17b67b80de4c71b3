"""govlib.governance.rules: rule definitions, load-time validation and the condition language."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govlib.errors import GovlibError
from govlib.governance.rules import Rule, RuleDefinitionError, evaluate_rule, load_rules

FRAUD = {
    "id": "fraud-trip",
    "description": "A fraud score above 0.80 stops every claim",
    "scope": {"node": "fraud_scoring"},
    "condition": {"field": "fraud_score", "op": ">", "value": 0.8},
    "action": "trip_kill_switch",
}


def rule(condition: dict[str, Any], action: str = "deny") -> Rule:
    return load_rules([{"id": "r", "description": "d", "action": action, "condition": condition}])[
        0
    ]


def fired(condition: dict[str, Any], facts: dict[str, Any]) -> bool:
    return evaluate_rule(rule(condition), facts).fired


# --- loading ------------------------------------------------------------------------------------
def test_load_builds_rules_and_round_trips() -> None:
    [r] = load_rules([FRAUD])
    assert (r.id, r.action, r.scope_node, r.scope_tool, r.enabled) == (
        "fraud-trip",
        "trip_kill_switch",
        "fraud_scoring",
        None,
        True,
    )
    assert load_rules([r.to_definition()]) == [r]
    assert load_rules(json.dumps([FRAUD])) == [r]
    assert load_rules([r]) == [r]


@pytest.mark.parametrize(
    ("change", "rule_id", "problem"),
    [
        ({"action": "block"}, "fraud-trip", "unknown action 'block'; expected one of"),
        (
            {"condition": {"field": "x", "op": "~", "value": 1}},
            "fraud-trip",
            "unknown operator '~'",
        ),
        ({"condition": {"op": ">", "value": 1}}, "fraud-trip", "expected exactly one of"),
        ({"condition": {"field": "", "op": ">", "value": 1}}, "fraud-trip", "condition.field"),
        (
            {"condition": {"field": "x", "op": ">"}},
            "fraud-trip",
            "missing 'value' for operator '>'",
        ),
        ({"condition": {"field": "x", "value": 1}}, "fraud-trip", "missing 'op'"),
        ({"condition": {"field": "x", "op": "exists", "value": 1}}, "fraud-trip", "takes no"),
        ({"condition": {"field": "x", "op": "in", "value": []}}, "fraud-trip", "non-empty list"),
        ({"condition": {"field": "x", "op": ">", "value": [1]}}, "fraud-trip", "finite number"),
        ({"condition": {"field": "x", "op": ">", "value": float("nan")}}, "fraud-trip", "finite"),
        ({"condition": {"all": []}}, "fraud-trip", "condition.all is []"),
        ({"condition": {"any": [{"field": "x", "op": "?"}]}}, "fraud-trip", "condition.any[0]"),
        ({"condition": {"always": False}}, "fraud-trip", "condition.always is False"),
        ({"condition": "fraud_score > 0.8"}, "fraud-trip", "expected an object"),
        ({"scope": {"step": "x"}}, "fraud-trip", "bad scope"),
        ({"scope": {"node": ""}}, "fraud-trip", "bad scope: node is ''"),
        ({"scope": "fraud_scoring"}, "fraud-trip", "bad scope"),
        ({"description": ""}, "fraud-trip", "description is ''"),
        ({"enabled": "yes"}, "fraud-trip", "enabled is 'yes'"),
        ({"then": "stop"}, "fraud-trip", "unknown key(s) ['then']"),
        ({"id": ""}, "#1", "id is ''"),
        ({"id": None}, "#1", "id is None"),
    ],
)
def test_bad_definitions_are_refused_with_rule_id_and_problem(
    change: dict[str, Any], rule_id: str, problem: str
) -> None:
    with pytest.raises(RuleDefinitionError) as info:
        load_rules([FRAUD | change])
    assert info.value.rule_id == rule_id
    assert problem in info.value.problem
    assert str(info.value).startswith(f"rule {rule_id!r}: ")
    assert isinstance(info.value, GovlibError)


def test_missing_keys_and_duplicates_are_refused() -> None:
    without = {k: v for k, v in FRAUD.items() if k != "condition"}
    with pytest.raises(RuleDefinitionError, match="rule 'fraud-trip': missing 'condition'"):
        load_rules([without])
    with pytest.raises(RuleDefinitionError, match="rule 'fraud-trip': duplicate id"):
        load_rules([FRAUD, FRAUD | {"action": "deny"}])
    with pytest.raises(RuleDefinitionError, match="rule '#2': definition is str"):
        load_rules([FRAUD, "not a rule"])
    with pytest.raises(RuleDefinitionError, match="not JSON"):
        load_rules("[{")
    with pytest.raises(RuleDefinitionError, match="expected a list"):
        load_rules(json.dumps(FRAUD))


def test_scope() -> None:
    node_rule, tool_rule = load_rules(
        [FRAUD, FRAUD | {"id": "t", "scope": {"tool": "payout", "node": "pay"}}]
    )
    assert node_rule.in_scope("fraud_scoring", None)
    assert node_rule.in_scope("fraud_scoring", "any_tool")
    assert not node_rule.in_scope("intake", None)
    assert tool_rule.in_scope("pay", "payout")
    assert not tool_rule.in_scope("pay", None)
    assert not tool_rule.in_scope("intake", "payout")
    everywhere = load_rules([FRAUD | {"scope": "*"}])[0]
    assert everywhere.in_scope(None, None) and everywhere.in_scope("x", "y")


# --- evaluation ---------------------------------------------------------------------------------
def test_fraud_rule_messages_and_inputs() -> None:
    [r] = load_rules([FRAUD])
    hit = evaluate_rule(r, {"fraud_score": 0.91, "claim_text": "a long private payload"})
    assert (hit.outcome, hit.fired) == ("trip", True)
    assert hit.message == "fraud score 0.91 exceeded the 0.80 limit"
    assert hit.inputs == {"fraud_score": 0.91}
    assert "payload" not in json.dumps(hit.detail())
    ok = evaluate_rule(r, {"fraud_score": 0.12})
    assert (ok.outcome, ok.fired) == ("pass", False)
    assert ok.message == "fraud score 0.12 was within the 0.80 limit"


@pytest.mark.parametrize(
    ("action", "outcome"),
    [
        ("allow", "pass"),
        ("deny", "deny"),
        ("require_review", "review"),
        ("trip_kill_switch", "trip"),
    ],
)
def test_outcome_per_action(action: str, outcome: str) -> None:
    r = rule({"field": "payout", "op": ">=", "value": 10000}, action)
    assert evaluate_rule(r, {"payout": 10000}).outcome == outcome
    assert evaluate_rule(r, {"payout": 9999.5}).outcome == "pass"


@pytest.mark.parametrize(
    ("cond", "facts", "holds", "message"),
    [
        ({"field": "payout", "op": ">", "value": 10000}, {"payout": 12500}, True,
         "payout 12,500 exceeded the 10,000 limit"),
        ({"field": "payout", "op": ">=", "value": 10000}, {"payout": 9000}, False,
         "payout 9,000 was below the 10,000 limit"),
        ({"field": "age_days", "op": "<", "value": 30}, {"age_days": 3}, True,
         "age days 3 was below the 30 minimum"),
        ({"field": "age_days", "op": "<=", "value": 30}, {"age_days": 31}, False,
         "age days 31 was above 30"),
        ({"field": "claim_type", "op": "==", "value": "auto"}, {"claim_type": "auto"}, True,
         "claim type was auto"),
        ({"field": "claim_type", "op": "!=", "value": "auto"}, {"claim_type": "home"}, True,
         "claim type was not auto"),
        ({"field": "region", "op": "in", "value": ["EU", "UK"]}, {"region": "US"}, False,
         "region was not one of (EU, UK)"),
        ({"field": "region", "op": "not_in", "value": ["EU", "UK"]}, {"region": "US"}, True,
         "region was not one of (EU, UK)"),
        ({"field": "documents", "op": "missing"}, {"documents": None}, True,
         "documents was not provided"),
        ({"field": "documents", "op": "exists", "label": "the police report"},
         {"documents": ["a.pdf"]}, True, "the police report was provided"),
        ({"field": "claim.amount", "op": ">", "value": 0.5}, {"claim": {"amount": 0.915}}, True,
         "claim amount 0.915 exceeded the 0.50 limit"),
        ({"field": "flag", "op": "==", "value": True}, {"flag": 1}, False, "flag 1 was not true"),
        ({"field": "when", "op": ">=", "value": "2026-11-01"}, {"when": "2026-11-23"}, True,
         "when reached the 2026-11-01 limit"),
    ],
)  # fmt: skip
def test_operators(cond: dict[str, Any], facts: dict[str, Any], holds: bool, message: str) -> None:
    out = evaluate_rule(rule(cond), facts)
    assert out.fired is holds
    assert out.message == message


def test_unknown_inputs_fire_fail_closed() -> None:
    cond = {"field": "fraud_score", "op": ">", "value": 0.8}
    missing = evaluate_rule(rule(cond, "trip_kill_switch"), {})
    assert (missing.outcome, missing.missing) == ("trip", ("fraud_score",))
    assert missing.message == "fraud score was not provided"
    assert missing.inputs == {"fraud_score": None}
    text = evaluate_rule(rule(cond), {"fraud_score": "high"})
    assert text.fired and text.message == "fraud score (<str>) could not be compared with 0.80"
    nan = evaluate_rule(rule(cond), {"fraud_score": float("nan")})
    assert nan.fired and nan.inputs == {"fraud_score": "nan"}
    # ...but an "any" already true, or an "all" already false, decides regardless.
    assert fired({"any": [cond, {"field": "x", "op": "exists"}]}, {"x": 1})
    assert not fired({"all": [cond, {"field": "x", "op": "exists"}]}, {})


def test_composite_messages_name_what_decided() -> None:
    big = {"field": "payout", "op": ">", "value": 10000}
    new = {"field": "policy_age_days", "op": "<", "value": 30}
    both = rule({"all": [big, new]}, "require_review")
    out = evaluate_rule(both, {"payout": 12500, "policy_age_days": 400, "note": "x"})
    assert out.outcome == "pass"
    assert out.message == "policy age days 400 met the 30 minimum"
    assert out.inputs == {"payout": 12500, "policy_age_days": 400}
    out = evaluate_rule(both, {"payout": 12500, "policy_age_days": 3})
    assert out.message == (
        "payout 12,500 exceeded the 10,000 limit; policy age days 3 was below the 30 minimum"
    )
    neg = evaluate_rule(rule({"not": big}), {"payout": 5})
    assert neg.fired and neg.message == "payout 5 was within the 10,000 limit"
    always = evaluate_rule(rule({"always": True}), {})
    assert always.fired and always.message == "d" and always.inputs == {}


def test_inputs_summary_holds_no_payloads() -> None:
    cond = {
        "all": [
            {"field": "name", "op": "exists"},
            {"field": "docs", "op": "exists"},
            {"field": "meta", "op": "exists"},
            {"field": "ok", "op": "==", "value": True},
        ]
    }
    out = evaluate_rule(
        rule(cond), {"name": "Jane Roe", "docs": [1, 2], "meta": {"a": 1}, "ok": True}
    )
    assert out.inputs == {"name": "<str>", "docs": "<list of 2>", "meta": "<dict of 1>", "ok": True}
    assert "Jane" not in json.dumps(out.detail())


# --- Kleene logic, against a reference --------------------------------------------------------------
def leaf(i: int) -> dict[str, Any]:
    return {"field": f"f{i}", "op": "==", "value": True}


conditions = st.recursive(
    st.integers(0, 3).map(leaf),
    lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
        st.lists(kids, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
        kids.map(lambda c: {"not": c}),
    ),
    max_leaves=8,
)
values = st.sampled_from([True, False, None])


def reference(cond: dict[str, Any], truth: dict[str, bool | None]) -> bool | None:
    if "field" in cond:
        return truth[cond["field"]]
    if "not" in cond:
        t = reference(cond["not"], truth)
        return None if t is None else not t
    ts = [reference(c, truth) for c in cond["all" if "all" in cond else "any"]]
    if "all" in cond:
        return False if False in ts else None if None in ts else True
    return True if True in ts else None if None in ts else False


@given(conditions, st.lists(values, min_size=4, max_size=4))
def test_three_valued_logic_matches_kleene(cond: dict[str, Any], vals: list[bool | None]) -> None:
    truth = {f"f{i}": v for i, v in enumerate(vals)}
    facts = {k: (True if v else 0) for k, v in truth.items() if v is not None}
    expected = reference(cond, truth)
    out = evaluate_rule(rule(cond), facts)
    assert out.fired is (expected is not False)
    assert out.message  # always something to say
