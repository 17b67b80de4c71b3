"""Runs one claim through a ClaimsFlow workflow under governance, and records every step.

Per run: a ``workflow_runs`` row (fresh ``composition_id``, the claim id as ``subject``), one
``node_runs`` row per node (completed / blocked / skipped / failed / refused), WORM entries
``run_started``, ``node_started`` / ``node_finished`` per attempted node and ``run_finished``, tool
calls through the emitter inside :func:`govlib.context.workflow` / :func:`govlib.context.node`
(the emitter's governor refuses a call when the kill-switch is triggered or the tool is not
registered), model calls through the model client with a ledger receipt each, and the rules of
each node evaluated by :meth:`govlib.governance.governor.Governor.evaluate` on the node's facts.

Stops: a ``deny`` rule blocks the node and skips the rest; a ``trip_kill_switch`` rule blocks the
node and every later node is still *attempted* and refused by the triggered kill-switch
(fail-closed: the payout is refused, not merely not reached); a kill-switch already triggered
refuses the first node and the run ends ``refused``; a tool that keeps failing fails the node.
Every run ends with a signed checkpoint (:func:`govlib.evidence.checkpoints.sign_checkpoint`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from govlib.capture.emitter import Emitter
from govlib.capture.runs import finish_run, record_node, start_run
from govlib.clock import Clock, SystemClock, iso
from govlib.context import node as node_context
from govlib.context import workflow as workflow_context
from govlib.costs.ledger import Ledger
from govlib.demo.claimsflow.catalog import TOOLS
from govlib.demo.claimsflow.models import (
    EstimatingModelClient,
    ModelClient,
    ModelReply,
    record_usage,
)
from govlib.demo.claimsflow.rules import RULE_DEFINITIONS
from govlib.demo.claimsflow.steps import STEPS, RunState
from govlib.demo.claimsflow.summary import RunResult, new_run_id, plain_time, run_summary
from govlib.demo.claimsflow.tools import ToolUnavailable
from govlib.demo.claimsflow.workflows import (
    ADJUDICATION_MODEL,
    EXTRACTION_MODEL,
    Node,
    get_workflow,
)
from govlib.errors import GovernanceRefused
from govlib.evidence import worm
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.settings_log import record_settings
from govlib.governance.governor import Governor, KillSwitch
from govlib.governance.rules import load_rules
from govlib.settings import load_settings
from govlib.store.database import Store

__all__ = ["AGENT", "DEFAULT_TENANT", "ClaimsEngine", "RunResult", "new_run_id", "plain_time"]

DEFAULT_TENANT = "acme-insurance"
AGENT = "claimsflow-agent"


@dataclass
class _Stop:
    status: str  # run status: blocked / refused / failed
    node: str
    message: str
    attempt_rest: bool = False  # a kill-switch this run tripped: later nodes are attempted


class _ToolFailed(Exception):
    def __init__(self, tool: str, attempts: int, error: BaseException) -> None:
        super().__init__(f"{tool} failed after {attempts} attempt(s): {error}")
        self.tool, self.attempts, self.error = tool, attempts, error


class ClaimsEngine:
    """The governed ClaimsFlow runner of one store (tools wrapped once, reused for every run).

    Parameters
    ----------
    store : Store
        The govlib store.
    clock : Clock, optional
        :class:`~govlib.clock.SystemClock` (live, default) or a seeded
        :class:`~govlib.clock.SimClock` (history).
    models : mapping of model name to ModelClient, optional
        Default: offline :class:`~govlib.demo.claimsflow.models.EstimatingModelClient` per model.
    faults : callable, optional
        ``faults(tool) -> message or None``: raise :class:`ToolUnavailable` with that message
        before the tool runs (the simulated history's service errors).
    model_seconds : callable, optional
        ``model_seconds(reply) -> seconds`` a model call takes; the clock advances by it (SimClock).
    arguments : callable, optional
        ``arguments(tool, args) -> args`` the arguments a tool is called with (the simulated
        history's upstream quirks, e.g. a flag sent as ``true`` where the schema says ``0/1``).
    checkpoint_each_run : bool
        Sign a checkpoint at the end of every run (default).
    batch_audit : bool
        Write a run's audit rows with one ``audit_batch`` digest, in the run's transaction
        (history); default: each call commits with its own digest as it happens (live).

    Example:
        >>> from datetime import date
        >>> from govlib.demo.claimsflow.claims import scenario_claim
        >>> from govlib.demo.claimsflow.scenarios import register_claimsflow
        >>> store = Store(memory=True)
        >>> _ = register_claimsflow(store)
        >>> ClaimsEngine(store).run(scenario_claim("clean", date(2026, 11, 23))).status
        'completed'
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        models: Mapping[str, ModelClient] | None = None,
        tenant: str = DEFAULT_TENANT,
        actor: str = AGENT,
        faults: Callable[[str], str | None] | None = None,
        model_seconds: Callable[[ModelReply], float] | None = None,
        max_attempts: int = 2,
        checkpoint_each_run: bool = True,
        batch_audit: bool = False,
        service_time: Callable[[str], float] | None = None,
        arguments: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.tenant, self.actor = tenant, actor
        # The thresholds behind every figure are in the chain before the first run uses them.
        record_settings(store, load_settings(store.data_dir), ts=iso(self.clock.now()))
        self.governor = Governor(store, rules=load_rules(RULE_DEFINITIONS), clock=self.clock)
        self.kill_switch = KillSwitch(store, clock=self.clock)
        self.emitter = Emitter(
            store,
            tenant=tenant,
            actor=actor,
            synchronous=True,
            clock=self.clock,
            governor=self.governor,
        )
        self.ledger = Ledger(store, clock=self.clock)
        self.models: dict[str, ModelClient] = dict(
            models or {m: EstimatingModelClient(m) for m in (EXTRACTION_MODEL, ADJUDICATION_MODEL)}
        )
        self.faults, self.model_seconds = faults, model_seconds
        self.service_time, self.arguments = service_time, arguments
        self.max_attempts = max(1, int(max_attempts))
        self.checkpoint_each_run = checkpoint_each_run
        self.batch_audit = batch_audit
        self.tools = {
            name: self.emitter.wrap(self._faulty(spec.fn, name), name=name, schema=spec.schema)
            for name, spec in TOOLS.items()
        }

    # --- what steps call ------------------------------------------------------------------------
    def _faulty(self, fn: Callable[..., dict[str, Any]], name: str) -> Callable[..., Any]:
        def call(**kwargs: Any) -> dict[str, Any]:
            message = self.faults(name) if self.faults is not None else None
            if message:
                raise ToolUnavailable(message)
            if self.service_time is not None:
                # Stand-in for the remote service this local tool represents: the call waits
                # its service time, and the emitter measures the real elapsed time.
                time.sleep(self.service_time(name) / 1000.0)
            return fn(**kwargs)

        return call

    def call_tool(self, name: str, **args: Any) -> dict[str, Any]:
        """Call a tool through the emitter; a :class:`ToolUnavailable` is retried.

        A name that is not a ClaimsFlow tool goes to the governor's registry check (refused).

        Example:
            >>> # engine.call_tool("policy_lookup", policy_id="POL-204711",
            >>> #                  incident_date="2026-11-20")["policy_status"]
            >>> # 'active'
        """
        tool = self.tools.get(name)
        if tool is None:  # not a ClaimsFlow tool: the governor decides (registry check)
            self.governor.guard_tool(name, node=None, actor=self.actor)
            raise KeyError(name)
        if self.arguments is not None:
            args = self.arguments(name, args)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return tool(**args)
            except ToolUnavailable as exc:
                if attempt == self.max_attempts:
                    raise _ToolFailed(name, attempt, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def ask_model(self, state: RunState, node: Node, prompt: str) -> ModelReply:
        """Ask the node's model; the clock advances by the model time; a receipt is written.

        Example:
            >>> # engine.ask_model(state, WORKFLOWS["auto_claim"].node("adjudication"), prompt)
        """
        client = self.models[node.model or EXTRACTION_MODEL]
        reply = client.complete(prompt, task=node.model_task or node.name)
        if self.model_seconds is not None and hasattr(self.clock, "advance"):
            self.clock.advance(self.model_seconds(reply))  # type: ignore[attr-defined]
        record_usage(self.ledger, reply, run_id=state.run_id, node=node.name, tenant_id=self.tenant)
        return reply

    # --- one run --------------------------------------------------------------------------------
    def _now(self) -> str:
        return iso(self.clock.now())

    def _node_row(
        self,
        state: RunState,
        node: Node,
        position: int,
        status: str,
        started: str | None,
        detail: dict[str, Any],
    ) -> str:
        record_node(
            self.store,
            state.run_id,
            node.name,
            position,
            status,
            at=self._now(),
            started_at=started,
            detail=detail,
        )
        return status

    def run(self, claim: Mapping[str, Any], *, composition_id: str | None = None) -> RunResult:
        """Run ``claim`` through its workflow (``claim["workflow"]``) and return how it ended.

        Example:
            >>> # ClaimsEngine(store).run(claim).summary
            >>> # 'Claim CLM-1043 paid USD 4,200.00'
        """
        wf = get_workflow(str(claim["workflow"]))
        cid = composition_id or new_run_id()
        state = RunState(claim=dict(claim), workflow=wf, run_id=cid)
        subject = str(claim["claim_id"])
        started = self._now()
        start_run(
            self.store, cid, workflow_id=wf.id, subject=subject, at=started, tenant_id=self.tenant
        )
        statuses: dict[str, str] = {}
        stop: _Stop | None = None
        review: tuple[str, str] | None = None
        with self.emitter.batch() if self.batch_audit else nullcontext():
            for position, node in enumerate(wf.nodes):
                if review is not None or (stop is not None and not stop.attempt_rest):
                    why = "held for review" if review is not None else f"stopped at {stop.node}"
                    statuses[node.name] = self._node_row(
                        state, node, position, "skipped", None, {"message": why}
                    )
                    continue
                status, stop_here, review_here = self._run_node(state, node, position, stop)
                statuses[node.name] = status
                stop = stop or stop_here
                review = review or review_here
        return self._finish(state, statuses, stop, review, started)

    def _run_node(
        self, state: RunState, node: Node, position: int, stop: _Stop | None
    ) -> tuple[str, _Stop | None, tuple[str, str] | None]:
        cid, started = state.run_id, self._now()
        try:
            self.governor.guard_step(node.name, run_id=cid)
        except GovernanceRefused as exc:
            detail = {"message": self._refusal_text(exc), "reason": exc.reason}
            self._node_row(state, node, position, "refused", started, detail)
            return "refused", _Stop("refused", node.name, detail["message"]), None
        if stop is not None:  # the kill-switch was reset meanwhile: the run stays stopped
            return self._node_row(state, node, position, "skipped", None, {}), None, None
        worm.append(self.store, "node_started", run_id=cid, node=node.name, ts=started)
        try:
            with workflow_context(cid), node_context(node.name):
                facts = STEPS[node.name](self, state, node)
        except GovernanceRefused as exc:  # a tool call refused by the governor
            detail = {"message": self._refusal_text(exc), "reason": exc.reason}
            self._node_row(state, node, position, "refused", started, detail)
            return "refused", _Stop("refused", node.name, detail["message"]), None
        except _ToolFailed as exc:
            message = f"{exc.error} ({exc.attempts} attempts)"
            self._node_row(state, node, position, "failed", started, {"message": message})
            return "failed", _Stop("failed", node.name, message), None
        except Exception as exc:  # noqa: BLE001 - a tool error fails the node, not the engine
            message = f"{type(exc).__name__}: {exc}"
            self._node_row(state, node, position, "failed", started, {"message": message})
            return "failed", _Stop("failed", node.name, message), None
        detail = dict(state.details.get(node.name, {}))
        try:
            outcomes = self.governor.evaluate(node.name, facts, run_id=cid)
        except GovernanceRefused as exc:
            tripped = exc.reason == "kill_switch"
            fired = [o for o in getattr(exc, "outcomes", ()) if o.rule_id == exc.rule]
            message = fired[0].message if fired else str(exc)
            if detail.get("note"):
                message = f"{message} ({detail['note']})"
            if tripped:
                message = f"{message}. Kill-switch triggered {plain_time(self._trip_time())}"
            detail.update(message=message, rule=exc.rule, reason=exc.reason)
            self._node_row(state, node, position, "blocked", started, detail)
            return "blocked", _Stop("blocked", node.name, message, attempt_rest=tripped), None
        reviews = [o.message for o in outcomes if o.outcome == "review"]
        if reviews:
            detail["review"] = "; ".join(reviews)
        self._node_row(state, node, position, "completed", started, detail)
        return "completed", None, ((node.name, "; ".join(reviews)) if reviews else None)

    def _trip_time(self) -> str | None:
        return self.kill_switch.state().at

    def _refusal_text(self, exc: GovernanceRefused) -> str:
        """Plain words for a refusal ("the kill-switch is triggered since 14:02 UTC (...)")."""
        if exc.reason != "kill_switch":
            return str(exc)
        ks = self.kill_switch.state()
        return f"the kill-switch is triggered since {plain_time(ks.at)} ({ks.reason})"

    def _finish(
        self,
        state: RunState,
        statuses: dict[str, str],
        stop: _Stop | None,
        review: tuple[str, str] | None,
        started: str,
    ) -> RunResult:
        subject = str(state.claim["claim_id"])
        status = stop.status if stop else "completed"
        paid = state.payout if state.payment_ref else None
        if stop is not None:
            stopped_at, summary = (
                stop.node,
                run_summary(subject, status, node=stop.node, message=stop.message),
            )
        elif review is not None:
            stopped_at, summary = (
                review[0],
                run_summary(subject, status, node=review[0], message=review[1], review=True),
            )
        else:
            why = None if paid else "the assessed amount does not exceed the deductible"
            stopped_at, summary = None, run_summary(subject, status, payout=paid, message=why)
        ended = self._now()
        with self.store.transaction():
            finish_run(
                self.store,
                state.run_id,
                status,
                summary=summary,
                at=ended,
                stopped_at_node=stopped_at,
                detail={"workflow": state.workflow.id, "subject": subject},
            )
            if self.checkpoint_each_run:
                sign_checkpoint(self.store, at=ended)
        score = state.fraud.get("score")
        return RunResult(
            composition_id=state.run_id,
            workflow_id=state.workflow.id,
            subject=subject,
            status=status,
            summary=summary,
            stopped_at_node=stopped_at,
            node_statuses=statuses,
            payout=paid,
            fraud_score=float(score) if score is not None else None,
            started_at=started,
            ended_at=ended,
        )
