"""Governance in force: the kill-switch, the tool registry, stored rules and the Governor.

Every decision is evidence: a trigger or reset, a registry change, a rule evaluation and a refusal
are each a WORM entry (:mod:`govlib.evidence.worm`), written in the same transaction as the state it
changes. Governance fails closed: while the kill-switch is triggered every governed tool call and
workflow step is refused, and when a governance record cannot be written the call is refused too
(:class:`~govlib.errors.GovernanceRefused`, reason ``record_failed`` when nothing else refused it).
Refusal reasons: ``kill_switch``, ``unregistered``, ``disabled``, ``deny_rule``, ``record_failed``.

Rules are data (:mod:`govlib.governance.rules`); :func:`save_rules` keeps them in ``governance_rules``.
Clocks: any object with ``now() -> datetime`` (e.g. ``govlib.clock.SimClock``); None = real UTC.

Bounds (:mod:`govlib.bounds`): what a decision records about the call (tool name, actor, run id,
node) is truncated to its length with the marker ``…[truncated, N characters]``, so an
over-long name is still refused *and* recorded; a clock time outside 2000-01-01 .. now +
``max_clock_skew_s`` cannot be recorded, so the call is refused (fail-closed).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, NoReturn

from govlib import bounds
from govlib.clock import now_iso
from govlib.context import current_composition_id, current_node
from govlib.errors import GovernanceRefused, GovlibError
from govlib.evidence import worm
from govlib.evidence.binder import append_bound, binding_seq, proven_rows
from govlib.evidence.bindings import BindingError
from govlib.evidence.chain import canonical_json
from govlib.governance.killswitch import GovernanceError, KillSwitch, KillSwitchState
from govlib.governance.registry import RISK_TIERS, ToolRegistry, ToolSpec
from govlib.governance.rules import (
    Rule,
    RuleDefinitionError,
    RuleOutcome,
    evaluate_rule,
    load_rules,
)
from govlib.store.database import Store

__all__ = ["Governor", "KillSwitch", "KillSwitchState", "ToolRegistry", "ToolSpec", "Rule"]
__all__ += ["GovernanceError", "RuleOutcome", "load_rules", "save_rules", "stored_rules"]
__all__ += ["latest_rule_outcomes", "RISK_TIERS", "RuleDefinitionError"]

_RECORD_ERRORS = (sqlite3.Error, OSError, GovlibError)
_REFUSAL = {"trip": "kill_switch", "deny": "deny_rule"}


#: The bound (:data:`govlib.bounds.TEXT_LIMITS`) of each ``call_refused`` detail key.
_KINDS = {"actor": "actor", "step": "node", "tool": "tool_name"}


def _clip(kind: str, value: Any) -> Any:
    """Text a decision records, truncated to the bound of ``kind``; anything else as it is."""
    return bounds.truncated(kind, value) if isinstance(value, str) else value


# --- stored rules -------------------------------------------------------------------------------
def save_rules(store: Store, rules: Iterable[Any], *, clock: Any | None = None) -> list[str]:
    """Validate and upsert rules into ``governance_rules`` (one ``rules_loaded`` WORM entry).

    Returns the ids whose stored definition changed (nothing changed: nothing written).

    Example:
        >>> defs = [{"id": "r", "description": "d", "action": "deny",
        ...          "condition": {"always": True}}]
        >>> store = Store(memory=True)
        >>> save_rules(store, defs), save_rules(store, defs)
        (['r'], [])
    """
    rules = load_rules(rules)
    if clock is not None:
        bounds.checked_time("at", now_iso(clock), skew_s=bounds.skew_seconds(store.data_dir))
    # Stored rows are compared only once proven: a tampered rule is never silently re-saved.
    stored = {r["id"]: r["definition"] for r in proven_rows(store, "governance_rules")}
    changed = [r for r in rules if stored.get(r.id) != canonical_json(r.to_definition())]
    if not changed:
        return []
    at = now_iso(clock)
    with store.transaction():
        seq = binding_seq(store)
        for r in changed:
            store.execute(
                "INSERT INTO governance_rules(id, description, scope_node, scope_tool, condition, "
                "action, enabled, definition, updated_at, worm_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET description = excluded.description, "
                "scope_node = excluded.scope_node, scope_tool = excluded.scope_tool, "
                "condition = excluded.condition, action = excluded.action, "
                "enabled = excluded.enabled, definition = excluded.definition, "
                "updated_at = excluded.updated_at, worm_seq = excluded.worm_seq",
                (r.id, r.description, r.scope_node, r.scope_tool, canonical_json(r.condition))
                + (r.action, int(r.enabled), canonical_json(r.to_definition()), at, seq),
            )
        detail = {"rules": [r.id for r in rules], "changed": [r.id for r in changed]}
        bound = [("governance_rules", r.id) for r in changed]
        append_bound(store, "rules_loaded", bound, outcome="loaded", detail=detail, ts=at)
    return [r.id for r in changed]


def stored_rules(store: Store, *, proven: bool = True) -> list[Rule]:
    """The rules in ``governance_rules``, in the order first saved (re-validated).

    Example:
        >>> stored_rules(Store(memory=True))
        []
    """
    if proven:  # proven rows only: a broken one raises
        rows = proven_rows(store, "governance_rules")
    else:  # as stored, for a page that shows them beside the verification result
        rows = [dict(r) for r in store.query("SELECT * FROM governance_rules")]
    order = {
        r["id"]: n
        for n, r in enumerate(store.query("SELECT id FROM governance_rules ORDER BY rowid"))
    }
    rows.sort(key=lambda r: order.get(r["id"], len(order)))
    return load_rules([json.loads(r["definition"]) for r in rows])


def latest_rule_outcomes(store: Store, *, proven: bool = True) -> list[dict[str, Any]]:
    """Per stored rule: id, description, action, enabled, latest outcome, at, run_id, message,
    evaluations and fired (outcome other than ``pass``) counts. For the governance panel.

    Example:
        >>> latest_rule_outcomes(Store(memory=True))
        []
    """
    stats = {
        r["rule"]: (r["seq"], r["n"], r["fired"])
        for r in store.query(
            "SELECT rule, MAX(seq) AS seq, COUNT(*) AS n, SUM(outcome != 'pass') AS fired "
            "FROM worm_log WHERE action = 'rule_evaluated' GROUP BY rule"
        )
    }
    out = []
    for rule in stored_rules(store, proven=proven):
        seq, n, fired = stats.get(rule.id, (None, 0, 0))
        last = store.query("SELECT outcome, ts, run_id, detail FROM worm_log WHERE seq = ?", (seq,))
        latest = dict(last[0]) if last else dict.fromkeys(("outcome", "ts", "run_id", "detail"))
        message = json.loads(latest["detail"]).get("message") if latest["detail"] else None
        out.append(
            {"rule": rule.id, "description": rule.description, "action": rule.action}
            | {"enabled": rule.enabled, "latest_outcome": latest["outcome"], "at": latest["ts"]}
            | {"run_id": latest["run_id"], "message": message, "evaluations": n, "fired": fired}
        )
    return out


# --- the governor -------------------------------------------------------------------------------
class Governor:
    """Guards tool calls and workflow steps, and evaluates rules, recording every decision.

    Parameters
    ----------
    store : Store
        The govlib store.
    rules : iterable of rule definitions or :class:`~govlib.governance.rules.Rule`
        Validated, saved (no-op when unchanged) and used in this order. Empty: the stored rules.
    clock : object with ``now() -> datetime``, optional
        Time of WORM entries and events (default: the real UTC clock).

    Example:
        >>> gov = Governor(Store(memory=True))
        >>> try:
        ...     gov.guard_tool("wire_money", run_id="r1")
        ... except GovernanceRefused as exc:
        ...     exc.reason
        'unregistered'
    """

    def __init__(self, store: Store, *, rules: Iterable[Any] = (), clock: Any | None = None):
        self.store = store
        self.clock = clock
        self.kill_switch = KillSwitch(store, clock)
        self.registry = ToolRegistry(store, clock)
        given = load_rules(rules)
        if given:
            save_rules(store, given, clock=clock)
        self.rules: list[Rule] = given or stored_rules(store)

    def _refuse(
        self, reason: str, message: str, *, rule: str | None = None, **where: Any
    ) -> NoReturn:
        """Record a ``call_refused`` entry and raise; a failed record still refuses (fail-closed)."""
        run_id, node = (
            _clip("run_id", where.pop("run_id", None)),
            _clip("node", where.pop("node", None)),
        )
        detail = {"tool": _clip("tool_name", where.pop("tool", None)), "reason": reason}
        detail |= {k: _clip(_KINDS.get(k, "message"), v) for k, v in where.items() if v is not None}
        try:
            worm.append(
                self.store,
                "call_refused",
                run_id=run_id,
                node=node,
                rule=rule,
                outcome="refused",
                detail=detail,
                ts=self._now(),
            )
        except _RECORD_ERRORS as exc:
            note = f" (the refusal could not be recorded: {exc})"
            raise GovernanceRefused(message + note, reason=reason, rule=rule) from exc
        raise GovernanceRefused(message, reason=reason, rule=rule)

    def _now(self) -> str:
        """The clock's now; refused (:class:`~govlib.bounds.BoundsError`) outside the time bounds."""
        at = now_iso(self.clock)
        if self.clock is not None:
            bounds.checked_time("at", at, skew_s=bounds.skew_seconds(self.store.data_dir))
        return at

    def _proven(self, read: Callable[[], Any], subject: str, where: dict[str, Any]) -> Any:
        """``read()`` of governed state, or a refusal naming the row its binding does not prove."""
        try:
            return read()
        except BindingError as exc:
            self._refuse("unproven_state", f"{subject} refused: {exc}", **where)

    def guard_tool(
        self,
        tool_name: str,
        *,
        run_id: str | None = None,
        node: str | None = None,
        actor: str | None = None,
    ) -> ToolSpec:
        """Refuse the call unless the kill-switch is armed, the tool registered and enabled, and
        no deny rule scoped to the tool fires; each refusal is a ``call_refused`` WORM entry.

        ``run_id`` / ``node`` default to the surrounding :mod:`govlib.context`. Returns the spec.

        Example:
            >>> gov = Governor(Store(memory=True))
            >>> gov.registry.register("policy_lookup", "Find a policy").enabled
            True
            >>> gov.guard_tool("policy_lookup", run_id="r1").name
            'policy_lookup'
        """
        run_id = run_id if run_id is not None else current_composition_id()
        node = node if node is not None else current_node()
        where = {"run_id": run_id, "node": node, "tool": tool_name, "actor": actor}
        shown = bounds.shown(tool_name)
        ks = self._proven(self.kill_switch.state, f"tool {shown}", where)
        if not ks.armed:
            msg = f"tool {shown} refused: the kill-switch is triggered ({ks.reason})"
            self._refuse("kill_switch", msg, rule=ks.rule, **where)
        spec = self._proven(lambda: self.registry.get(tool_name), f"tool {shown}", where)
        if spec is None:
            known = ", ".join(t.name for t in self.registry.all()) or "none"
            msg = f"tool {shown} refused: it is not in the tool registry (registered: {known})"
            self._refuse("unregistered", msg, **where)
        if not spec.enabled:
            self._refuse("disabled", f"tool {shown} refused: it is disabled", **where)
        rules = [r for r in self.rules if r.enabled and r.action == "deny"]
        rules = [r for r in rules if r.scope_tool == tool_name and r.in_scope(node, tool_name)]
        facts = {"tool": tool_name, "node": node, "actor": actor, "risk_tier": spec.risk_tier}
        try:
            self._evaluate(rules, facts, run_id=run_id, node=node, subject=f"tool {tool_name!r}")
        except GovernanceRefused as exc:
            if exc.reason != "deny_rule":
                raise
            self._refuse(
                "deny_rule", f"tool {tool_name!r} refused by {exc}", rule=exc.rule, **where
            )
        return spec

    def guard_step(self, node: str, *, run_id: str | None) -> None:
        """Refuse a workflow step while the kill-switch is triggered (recorded, fail-closed).

        Example:
            >>> gov = Governor(Store(memory=True))
            >>> _ = gov.kill_switch.trigger("Dana Ortiz", "incident 42")
            >>> try:
            ...     gov.guard_step("payout", run_id="r1")
            ... except GovernanceRefused as exc:
            ...     exc.reason
            'kill_switch'
        """
        where = {"run_id": run_id, "node": node, "step": node}
        ks = self._proven(self.kill_switch.state, f"step {node!r}", where)
        if not ks.armed:
            msg = f"step {node!r} refused: the kill-switch is triggered ({ks.reason})"
            self._refuse("kill_switch", msg, rule=ks.rule, run_id=run_id, node=node, step=node)

    def evaluate(
        self, node: str, facts: Mapping[str, Any], *, run_id: str | None, tool: str | None = None
    ) -> list[RuleOutcome]:
        """Evaluate every enabled rule in scope, in order; one ``rule_evaluated`` entry each.

        A firing ``trip_kill_switch`` rule triggers the kill-switch (by ``rule:<id>``) and raises
        :class:`GovernanceRefused` (reason ``kill_switch``); a firing ``deny`` rule raises (reason
        ``deny_rule``); ``require_review`` returns outcome ``review``. The raised error carries
        ``.outcomes``. Evaluations that cannot be recorded: refused (``record_failed``).

        Example:
            >>> gov = Governor(Store(memory=True), rules=[{"id": "big-payout",
            ...     "description": "Large payouts need a human", "scope": {"node": "adjudication"},
            ...     "condition": {"field": "payout", "op": ">", "value": 10000},
            ...     "action": "require_review"}])
            >>> [(o.outcome, o.message) for o in gov.evaluate("adjudication", {"payout": 12500},
            ...                                                run_id="r1")]
            [('review', 'payout 12,500 exceeded the 10,000 limit')]
        """
        rules = [r for r in self.rules if r.enabled and r.in_scope(node, tool)]
        return self._evaluate(rules, facts, run_id=run_id, node=node)

    def _evaluate(
        self,
        rules: list[Rule],
        facts: Mapping[str, Any],
        *,
        run_id: str | None,
        node: str | None,
        subject: str | None = None,
    ) -> list[RuleOutcome]:
        """Evaluate and record ``rules``; ``subject`` ("tool 'x'", default "step 'node'") is what
        a refusal names when the evaluations cannot be recorded."""
        outcomes = [evaluate_rule(r, facts) for r in rules]
        if not outcomes:
            return []
        trip = next((o for o in outcomes if o.outcome == "trip"), None)
        deny = next((o for o in outcomes if o.outcome == "deny"), None)
        run_id, node = _clip("run_id", run_id), _clip("node", node)
        try:
            at = self._now()
            with self.store.transaction():
                for i, o in enumerate(outcomes):
                    e = worm.append(
                        self.store,
                        "rule_evaluated",
                        run_id=run_id,
                        node=node,
                        rule=o.rule_id,
                        outcome=o.outcome,
                        detail=o.detail(),
                        ts=at,
                    )
                    outcomes[i] = replace(o, worm_seq=e.seq)
                if trip:
                    by, rule = f"rule:{trip.rule_id}", trip.rule_id
                    self.kill_switch.trigger(by, trip.message, rule=rule, run_id=run_id)
        except _RECORD_ERRORS as exc:
            fired = trip or deny
            subject = subject or f"step {node!r}"
            msg = f"{subject} refused: its rule evaluations could not be recorded ({exc})"
            if fired is not None:
                msg = f"rule {fired.rule_id}: {fired.message}; {msg}"
            reason = "deny_rule" if fired is deny and deny else "record_failed"
            rule = fired.rule_id if fired else None
            raise GovernanceRefused(msg, reason=reason, rule=rule) from exc
        fired = trip or deny
        if fired is None:
            return outcomes
        tail = "; the kill-switch is now triggered" if trip else ""
        msg, reason = f"rule {fired.rule_id}: {fired.message}{tail}", fired.outcome
        refusal = GovernanceRefused(msg, reason=_REFUSAL[reason], rule=fired.rule_id)
        refusal.outcomes = outcomes  # type: ignore[attr-defined]
        raise refusal
