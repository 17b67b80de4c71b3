"""Governance rules as data: definitions, validation at load, condition evaluation. Pure.

A definition is a JSON object: ``{"id": "fraud-trip", "description": "plain words",
"scope": {"node": "fraud_scoring"}, "condition": {...}, "action": "trip_kill_switch",
"enabled": true}``. ``scope`` (optional; absent = everywhere) names a ``node`` and/or a ``tool``;
``action`` is one of ``allow``, ``deny``, ``require_review``, ``trip_kill_switch``.

Condition language (data only, no code):

- leaf ``{"field": NAME, "op": OP, "value": V}``, optional ``"label"`` (words for messages; default
  the field name with ``_``/``.`` as spaces); ``NAME`` may be a dotted path (``"claim.amount"``).
  ``> >= < <=``: V a finite number, or text compared as text (ISO dates); ``== !=``: V text, a
  number, a boolean or null; ``in not_in``: V a non-empty list; ``exists missing``: no V (absent
  or null is missing).
- ``{"all": [c, ...]}``, ``{"any": [c, ...]}``, ``{"not": c}``, ``{"always": true}``.

Evaluation is three-valued: a leaf whose field is missing, or whose value cannot be compared with
V (text against a number, NaN), is *unknown*; ``all``/``any``/``not`` follow Kleene logic. A rule
*fires* when its condition holds **or is unknown** (fail-closed: a limit cannot be checked without
its input). A rule that fires gives ``allow`` -> ``pass``, ``deny`` -> ``deny``,
``require_review`` -> ``review``, ``trip_kill_switch`` -> ``trip``; one that does not passes.
Each evaluation has a plain-language message ("fraud score 0.91 exceeded the 0.80 limit") and an
inputs summary of field names and numbers only (other values reduced to their type: no payload).

Bounds (:mod:`govlib.bounds`): a rule id is at most 200 characters, a description 2,000, a scope
name 256 and the whole definition 100,000 characters of canonical JSON (refused at load with
:class:`RuleDefinitionError`); a message longer than 2,000 characters is truncated with the
marker ``…[truncated, N characters]``, so a trip's kill-switch reason always fits.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from govlib import bounds
from govlib.errors import GovlibError

__all__ = [
    "ACTIONS",
    "OPS",
    "OUTCOMES",
    "Rule",
    "RuleDefinitionError",
    "RuleOutcome",
    "evaluate_rule",
    "load_rules",
]

ACTIONS: tuple[str, ...] = ("allow", "deny", "require_review", "trip_kill_switch")
OPS: tuple[str, ...] = (">", ">=", "<", "<=", "==", "!=", "in", "not_in", "exists", "missing")
OUTCOMES: tuple[str, ...] = ("pass", "deny", "review", "trip")
#: Outcome of a rule whose condition fires, per action.
OUTCOME_WHEN_FIRED = dict(zip(ACTIONS, ("pass", "deny", "review", "trip"), strict=True))
_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_RULE_KEYS = ("id", "description", "scope", "condition", "action", "enabled")
_SCOPE_KEYS = ("node", "tool")
_BRANCHES = ("field", "all", "any", "not", "always")
# op -> (phrase when the leaf holds, phrase when it does not); {x} = fact, {v} = rule value.
_PHRASES = {
    ">": ("{label}{x} exceeded the {v} limit", "{label}{x} was within the {v} limit"),
    ">=": ("{label}{x} reached the {v} limit", "{label}{x} was below the {v} limit"),
    "<": ("{label}{x} was below the {v} minimum", "{label}{x} met the {v} minimum"),
    "<=": ("{label}{x} was at or below {v}", "{label}{x} was above {v}"),
    "==": ("{label}{x} was {v}", "{label}{x} was not {v}"),
    "!=": ("{label}{x} was not {v}", "{label}{x} was {v}"),
    "in": ("{label}{x} was one of {v}", "{label}{x} was not one of {v}"),
    "not_in": ("{label}{x} was not one of {v}", "{label}{x} was one of {v}"),
    "exists": ("{label} was provided", "{label} was not provided"),
    "missing": ("{label} was not provided", "{label} was provided"),
}


class RuleDefinitionError(GovlibError):
    """A rule definition is refused at load; the message names the rule id and the problem."""

    def __init__(self, rule_id: str, problem: str) -> None:
        self.rule_id = rule_id
        self.problem = problem
        super().__init__(f"rule {rule_id!r}: {problem}")


@dataclass(frozen=True)
class Rule:
    """A validated governance rule (build it with :func:`load_rules`).

    Example:
        >>> [r] = load_rules([{"id": "r1", "description": "d", "action": "deny",
        ...                    "condition": {"always": True}, "scope": {"tool": "wire"}}])
        >>> (r.scope_tool, r.in_scope(None, "wire"), r.in_scope(None, "email"))
        ('wire', True, False)
    """

    id: str
    description: str
    action: str
    condition: Mapping[str, Any]
    scope_node: str | None = None
    scope_tool: str | None = None
    enabled: bool = True

    def in_scope(self, node: str | None, tool: str | None) -> bool:
        """True when the rule applies to a call at ``node`` (and ``tool``, if any)."""
        return (self.scope_node is None or self.scope_node == node) and (
            self.scope_tool is None or self.scope_tool == tool
        )

    def to_definition(self) -> dict[str, Any]:
        """The JSON-able definition (``load_rules([r.to_definition()])`` gives ``r`` back)."""
        scope = {k: v for k, v in (("node", self.scope_node), ("tool", self.scope_tool)) if v}
        return {
            "id": self.id,
            "description": self.description,
            "scope": scope,
            "condition": json.loads(json.dumps(self.condition)),
            "action": self.action,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class RuleOutcome:
    """The result of evaluating one rule against facts (``worm_seq`` once recorded).

    Example:
        >>> [r] = load_rules([{"id": "r", "description": "d", "action": "require_review",
        ...     "condition": {"field": "payout", "op": ">", "value": 10000}}])
        >>> o = evaluate_rule(r, {"payout": 12500})
        >>> (o.outcome, o.message)
        ('review', 'payout 12,500 exceeded the 10,000 limit')
    """

    rule_id: str
    action: str
    outcome: str
    fired: bool
    message: str
    inputs: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    worm_seq: int | None = None

    def detail(self) -> dict[str, Any]:
        """The WORM ``detail`` of this evaluation: inputs summary and message."""
        missing = {"missing": list(self.missing)} if self.missing else {}
        return {"action": self.action, "inputs": self.inputs, **missing, "message": self.message}


# --- validation ---------------------------------------------------------------------------------
class _Problem(Exception):
    pass


def _need(ok: bool, problem: str) -> None:
    if not ok:
        raise _Problem(problem)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | bool) or (_is_number(v) and math.isfinite(v))


def _text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _check_condition(cond: Any, path: str) -> None:
    example = '{"field": "fraud_score", "op": ">", "value": 0.8}'
    _need(isinstance(cond, Mapping), f"{path} is {cond!r}; expected an object such as {example}")
    kinds = [k for k in _BRANCHES if k in cond]
    found = sorted(map(str, cond)) or "nothing"
    _need(len(kinds) == 1, f"{path} has {found}; expected exactly one of {list(_BRANCHES)}")
    kind = kinds[0]
    if kind == "field":
        return _check_leaf(cond, path)
    extra = sorted(set(cond) - {kind})
    _need(not extra, f"{path}: unknown key(s) {extra} beside {kind!r}")
    body = cond[kind]
    if kind in ("all", "any"):
        ok = isinstance(body, list) and bool(body)
        _need(ok, f"{path}.{kind} is {body!r}; expected a non-empty list of conditions")
        for i, sub in enumerate(body):
            _check_condition(sub, f"{path}.{kind}[{i}]")
    elif kind == "not":
        _check_condition(body, f"{path}.not")
    else:
        _need(body is True, f"{path}.always is {body!r}; expected true")


def _check_leaf(cond: Mapping[str, Any], path: str) -> None:
    extra = sorted(set(cond) - {"field", "op", "value", "label"})
    _need(not extra, f"{path}: unknown key(s) {extra}; expected field, op, value, label")
    name, op = cond["field"], cond.get("op")
    _need(_text(name), f"{path}.field is {name!r}; expected a non-empty field name")
    _need("op" in cond, f"{path}: missing 'op'; expected one of {list(OPS)}")
    _need(op in OPS, f"{path}: unknown operator {op!r}; expected one of {list(OPS)}")
    label = cond.get("label", "x")
    _need(_text(label), f"{path}.label is {label!r}; expected non-empty text")
    if op in ("exists", "missing"):
        _need("value" not in cond, f"{path}: operator {op!r} takes no 'value'")
        return
    _need("value" in cond, f"{path}: missing 'value' for operator {op!r}")
    v = cond["value"]
    if op in ("in", "not_in"):
        ok = isinstance(v, list) and bool(v) and all(_is_scalar(x) for x in v)
        _need(ok, f"{path}.value is {v!r}; expected a non-empty list of plain values")
    elif op in ("==", "!="):
        _need(_is_scalar(v), f"{path}.value is {v!r}; expected text, a number, a boolean or null")
    else:
        ok = (_is_number(v) and math.isfinite(v)) or isinstance(v, str)
        _need(ok, f"{path}.value is {v!r}; operator {op!r} needs a finite number or text")


def _bounded(rule: Rule) -> Rule:
    """``rule`` when its texts and its definition fit :mod:`govlib.bounds`, else a problem."""
    try:
        bounds.checked_text("description", rule.description)
        bounds.checked_text("scope.node", rule.scope_node, kind="node")
        bounds.checked_text("scope.tool", rule.scope_tool, kind="tool_name")
        text = json.dumps(
            rule.to_definition(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        if len(text) > bounds.TEXT_LIMITS["definition"]:
            limit = bounds.TEXT_LIMITS["definition"]
            raise _Problem(
                f"definition: {len(text):,} characters of JSON; expected at most {limit:,}"
            )
    except bounds.BoundsError as exc:
        raise _Problem(str(exc)) from None
    return rule


def _rule_from(d: Any, position: int) -> Rule:
    rid = d.get("id") if isinstance(d, Mapping) else None
    label = rid if _text(rid) else f"#{position}"
    if len(label) > bounds.TEXT_LIMITS["rule"]:
        label = f"#{position}"
    try:
        _need(isinstance(d, Mapping), f"definition is {type(d).__name__}; expected an object")
        extra = sorted(set(map(str, d)) - set(_RULE_KEYS))
        _need(not extra, f"unknown key(s) {extra}; expected some of {list(_RULE_KEYS)}")
        for key in ("id", "description", "condition", "action"):
            _need(key in d, f"missing {key!r}")
        ok = _text(rid) and rid == rid.strip()
        _need(ok, f"id is {bounds.shown(rid)}; expected a non-empty name without outer spaces")
        limit = bounds.TEXT_LIMITS["rule"]
        _need(len(rid) <= limit, f"id: {bounds.shown(rid)}; expected at most {limit} characters")
        desc, action = d["description"], d["action"]
        _need(_text(desc), f"description is {desc!r}; expected plain-language text")
        _need(action in ACTIONS, f"unknown action {action!r}; expected one of {list(ACTIONS)}")
        scope = d.get("scope") or {}
        scope = {} if scope == "*" else scope
        ok = isinstance(scope, Mapping) and not set(map(str, scope)) - set(_SCOPE_KEYS)
        _need(ok, f"bad scope {scope!r}; expected an object with 'node' and/or 'tool' names")
        for k, v in scope.items():
            _need(_text(v), f"bad scope: {k} is {v!r}; expected a non-empty name")
        enabled = d.get("enabled", True)
        _need(isinstance(enabled, bool), f"enabled is {enabled!r}; expected true or false")
        _check_condition(d["condition"], "condition")
        return _bounded(
            Rule(
                id=rid,
                description=desc.strip(),
                action=action,
                condition=json.loads(json.dumps(d["condition"])),
                scope_node=scope.get("node"),
                scope_tool=scope.get("tool"),
                enabled=enabled,
            )
        )
    except _Problem as exc:
        raise RuleDefinitionError(label, str(exc)) from None


def load_rules(defs: Iterable[Mapping[str, Any] | Rule] | str) -> list[Rule]:
    """Validate rule definitions (a list of objects, or JSON text of one) into :class:`Rule`.

    Raises
    ------
    RuleDefinitionError
        Naming the rule id (or ``#N`` for the N-th definition without one) and the problem:
        unknown action, unknown operator, missing field or value, bad scope, duplicate id.

    Example:
        >>> load_rules('[{"id": "r", "description": "d", "action": "deny",'
        ...            ' "condition": {"always": true}}]')[0].action
        'deny'
    """
    if isinstance(defs, str):
        try:
            defs = json.loads(defs)
        except json.JSONDecodeError as exc:
            raise RuleDefinitionError("#1", f"definitions are not JSON ({exc})") from None
    if not isinstance(defs, Iterable) or isinstance(defs, Mapping | str):
        raise RuleDefinitionError("#1", f"definitions are {type(defs).__name__}; expected a list")
    rules: dict[str, Rule] = {}
    for i, d in enumerate(defs, start=1):
        rule = _rule_from(d.to_definition() if isinstance(d, Rule) else d, i)
        if rule.id in rules:
            raise RuleDefinitionError(rule.id, f"duplicate id (definition #{i} reuses it)")
        rules[rule.id] = rule
    return list(rules.values())


# --- evaluation ---------------------------------------------------------------------------------
def _lookup(facts: Mapping[str, Any], path: str) -> Any:
    """The fact at ``path`` (a key, else a dotted path); None when absent."""
    value: Any = facts
    for part in [path] if path in facts else path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    if _is_number(v):
        f = float(v)
        if not math.isfinite(f) or (f == int(f) and abs(f) < 1e15):
            return f"{int(f):,}" if math.isfinite(f) else str(f)
        two = f"{f:,.2f}"
        return two if float(two.replace(",", "")) == f else f"{f:,.6g}"
    return str(v)


def _summary(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if _is_number(v):
        return v if math.isfinite(float(v)) else str(float(v))
    if isinstance(v, list | tuple | Mapping):
        return f"<{type(v).__name__} of {len(v)}>"
    return f"<{type(v).__name__}>"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b) if _is_scalar(a) else False


def _leaf(cond: Mapping[str, Any], facts: Mapping[str, Any]) -> tuple[bool | None, str]:
    op, name = cond["op"], cond["field"]
    label = cond.get("label") or name.replace("_", " ").replace(".", " ")
    got = _lookup(facts, name)
    present = got is not None
    x = f" {_fmt(got)}" if _is_number(got) else ""
    v = cond.get("value")
    truth: bool | None
    if op in ("exists", "missing"):
        truth = present == (op == "exists")
    elif not present:
        return None, f"{label} was not provided"
    elif op in ("in", "not_in"):
        truth = any(_same(got, item) for item in v) == (op == "in")
    elif op in ("==", "!="):
        truth = _same(got, v) == (op == "==")
    else:
        numeric = _is_number(got) and _is_number(v) and not math.isnan(float(got))
        comparable = numeric or (isinstance(got, str) and isinstance(v, str))
        if not comparable:
            return None, f"{label} ({_summary(got)}) could not be compared with {_fmt(v)}"
        truth = _COMPARE[op](got, v)
    return truth, _PHRASES[op][0 if truth else 1].format(label=label, x=x, v=_fmt(v))


def _eval(cond: Mapping[str, Any], facts: Mapping[str, Any]) -> tuple[bool | None, list[str]]:
    if "field" in cond:
        truth, text = _leaf(cond, facts)
        return truth, [text]
    if "always" in cond:
        return True, []
    if "not" in cond:
        truth, texts = _eval(cond["not"], facts)
        return (None if truth is None else not truth), texts
    parts = [_eval(c, facts) for c in cond["all" if "all" in cond else "any"]]
    decisive = False if "all" in cond else True
    for wanted in (decisive, None):
        hits = [t for truth, texts in parts if truth is wanted for t in texts]
        if any(truth is wanted for truth, _ in parts):
            return wanted, hits
    return (not decisive), [t for _, texts in parts for t in texts]


def _fields(condition: Mapping[str, Any]) -> list[str]:
    out: list[str] = [condition["field"]] if "field" in condition else []
    subs = [condition["not"]] if "not" in condition else condition.get("all", condition.get("any"))
    for sub in subs or []:
        out += [f for f in _fields(sub) if f not in out]
    return out


def evaluate_rule(rule: Rule, facts: Mapping[str, Any]) -> RuleOutcome:
    """Evaluate one rule against facts (fires when the condition holds or is unknown).

    Example:
        >>> [r] = load_rules([{"id": "fraud", "description": "d", "action": "trip_kill_switch",
        ...     "condition": {"field": "fraud_score", "op": ">", "value": 0.8}}])
        >>> o = evaluate_rule(r, {"fraud_score": 0.91, "claim_text": "long payload"})
        >>> (o.outcome, o.message, o.inputs)
        ('trip', 'fraud score 0.91 exceeded the 0.80 limit', {'fraud_score': 0.91})
    """
    truth, texts = _eval(rule.condition, facts)
    fired = truth is not False
    names = _fields(rule.condition)
    inputs = {n: _summary(_lookup(facts, n)) for n in names}
    missing = tuple(n for n in names if _lookup(facts, n) is None)
    message = bounds.truncated("message", "; ".join(dict.fromkeys(texts)) or rule.description)
    return RuleOutcome(
        rule_id=rule.id,
        action=rule.action,
        outcome=OUTCOME_WHEN_FIRED[rule.action] if fired else "pass",
        fired=fired,
        message=message or "",
        inputs=inputs,
        missing=missing,
    )
