"""What each ClaimsFlow node does: which tools it calls with which arguments, which model it asks,
and which facts it hands to the governance rules.

A step is ``step(ctx, state, node) -> facts``. ``ctx`` is the engine (it runs tool calls through
the emitter and model calls through the model client and the ledger); ``state`` carries what
earlier nodes found. Steps hold no governance logic: the engine evaluates the rules on the facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from govlib.demo.claimsflow.models import ModelReply
from govlib.demo.claimsflow.workflows import Node, Workflow

__all__ = ["RunState", "StepContext", "STEPS", "EXTRACTION_GUIDE", "ADJUDICATION_GUIDE"]

EXTRACTION_GUIDE = """You are the document clerk of an insurance claims team.
Read every document of the claim below and return the facts as JSON: claim number, policy number,
claimant, incident date, amounts (claimed, parts, labour, total), the cause of loss, and anything
that disagrees between documents. Quote amounts exactly as written, with their currency. Do not
guess a value that is not on a document; leave it out instead. Flag a missing signature, a total
that differs from the claimed amount, or a date after the report date.
"""

ADJUDICATION_GUIDE = """You are the adjudicator of an insurance claims team.
Write a short rationale (three to five sentences) for the decision below, for the claimant's file.
Cite the policy status, the covered amount, the deductible, the fraud score and the payout, and
state which policy term decides the outcome. Plain language; no legal advice; no new facts.
"""


class StepContext(Protocol):
    """What a step needs from the engine."""

    def call_tool(self, name: str, **args: Any) -> dict[str, Any]:
        """Run a registered tool through the emitter (with retries) and return its result."""
        ...

    def ask_model(self, state: RunState, node: Node, prompt: str) -> ModelReply:
        """Ask the node's model and record the usage in the token ledger."""
        ...


@dataclass
class RunState:
    """What the nodes of one run have found so far.

    Example:
        >>> from datetime import date
        >>> from govlib.demo.claimsflow.claims import scenario_claim
        >>> from govlib.demo.claimsflow.workflows import WORKFLOWS
        >>> claim = scenario_claim("fraud", date(2026, 11, 23))
        >>> state = RunState(claim, WORKFLOWS["auto_claim"], "run-1")
        >>> state.documents["extracted_amount"] = 9800.0
        >>> state.assessed_amount
        9800.0
    """

    claim: dict[str, Any]
    workflow: Workflow
    run_id: str
    report_delay_days: int = 0
    policy: dict[str, Any] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    fraud: dict[str, Any] = field(default_factory=dict)
    payout: float | None = None
    payment_ref: str | None = None
    review: str | None = None
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def assessed_amount(self) -> float:
        """The lower of the claimed amount and the documents' total (when there is one)."""
        claimed = float(self.claim["amount"])
        extracted = self.documents.get("extracted_amount")
        return claimed if extracted is None else min(claimed, float(extracted))


def _intake(ctx: StepContext, state: RunState, node: Node) -> dict[str, Any]:
    c = state.claim
    out = ctx.call_tool(
        "claim_intake",
        claim_id=c["claim_id"],
        policy_id=c["policy_id"],
        workflow=state.workflow.id,
        amount=c["amount"],
        currency=c["currency"],
        incident_date=c["incident_date"],
        reported_date=c["reported_date"],
        document_kinds=[d["kind"] for d in c["documents"]],
    )
    state.report_delay_days = int(out["report_delay_days"])
    state.details[node.name] = {"report_delay_days": state.report_delay_days}
    return {"amount": out["amount"], "report_delay_days": state.report_delay_days}


def _documents(ctx: StepContext, state: RunState, node: Node) -> dict[str, Any]:
    c = state.claim
    out = ctx.call_tool(
        "document_extraction",
        claim_id=c["claim_id"],
        claimed_amount=c["amount"],
        documents=c["documents"],
        required=list(state.workflow.required_documents),
    )
    state.documents = out
    if node.model_task:
        texts = "\n\n".join(d["text"] for d in c["documents"])
        ctx.ask_model(state, node, f"{EXTRACTION_GUIDE}\n{texts}\n")
    state.details[node.name] = {
        "missing": out["missing"],
        "extracted_amount": out["extracted_amount"],
        "document_mismatch": out["document_mismatch"],
    }
    if out["missing"]:
        state.details[node.name]["note"] = "missing: " + ", ".join(
            kind.replace("_", " ") for kind in out["missing"]
        )
    return {
        "missing_documents": out["missing_count"],
        "document_mismatch": out["document_mismatch"],
    }


def _policy(ctx: StepContext, state: RunState, node: Node) -> dict[str, Any]:
    c = state.claim
    out = ctx.call_tool("policy_lookup", policy_id=c["policy_id"], incident_date=c["incident_date"])
    state.policy = out
    state.details[node.name] = {"policy_status": out["policy_status"]}
    return {"policy_status": out["policy_status"]}


def _history(ctx: StepContext, state: RunState, node: Node) -> dict[str, Any]:
    c = state.claim
    out = ctx.call_tool("claim_history", policy_id=c["policy_id"], before_date=c["incident_date"])
    state.history = out
    state.details[node.name] = {"prior_claims": out["prior_claims"]}
    return {"prior_claims": out["prior_claims"], "prior_fraud": out["prior_fraud"]}


def _fraud(ctx: StepContext, state: RunState, node: Node) -> dict[str, Any]:
    out = ctx.call_tool(
        "fraud_scoring",
        amount=float(state.claim["amount"]),
        coverage_limit=float(state.policy["coverage_limit"]),
        report_delay_days=state.report_delay_days,
        prior_claims=int(state.history.get("prior_claims", 0)),
        prior_fraud=int(state.history.get("prior_fraud", 0)),
        document_mismatch=int(state.documents.get("document_mismatch", 0)),
    )
    state.fraud = out
    state.details[node.name] = {"score": out["score"], "contributions": out["contributions"]}
    # The rule reads the score as shown to people: two decimals ("fraud score 0.91").
    return {"fraud_score": round(float(out["score"]), 2)}


def _adjudication(ctx: StepContext, state: RunState, node: Node) -> dict[str, Any]:
    out = ctx.call_tool(
        "payout_calculator",
        assessed_amount=state.assessed_amount,
        coverage_limit=float(state.policy["coverage_limit"]),
        deductible=float(state.policy["deductible"]),
    )
    state.payout = float(out["payout"])
    if node.model_task:
        c, p = state.claim, state.policy
        facts = (
            f"Claim: {c['claim_id']}\nPolicy status: {p['policy_status']}\n"
            f"Claimed: USD {c['amount']:,.2f}\nAssessed: USD {state.assessed_amount:,.2f}\n"
            f"Coverage limit: USD {p['coverage_limit']:,.2f}\n"
            f"Deductible: USD {p['deductible']:,.2f}\n"
            f"Fraud score: {state.fraud.get('score', 'n/a')}\nPayout: USD {state.payout:,.2f}\n"
        )
        ctx.ask_model(state, node, f"{ADJUDICATION_GUIDE}\n{facts}")
    state.details[node.name] = {"payout": state.payout, "capped": out["capped"]}
    return {"payout_amount": state.payout}


def _payout(ctx: StepContext, state: RunState, node: Node) -> dict[str, Any]:
    c = state.claim
    if not state.payout:  # the assessed amount does not exceed the deductible: nothing to pay
        state.details[node.name] = {"amount": 0.0, "note": "nothing to pay"}
        return {"paid_amount": 0.0}
    out = ctx.call_tool(
        "issue_payout",
        claim_id=c["claim_id"],
        policy_id=c["policy_id"],
        amount=float(state.payout),
        currency=c["currency"],
    )
    state.payment_ref = out["payment_ref"]
    state.details[node.name] = {"payment_ref": out["payment_ref"], "amount": out["amount"]}
    return {"paid_amount": out["amount"]}


#: The step of each node name.
STEPS: dict[str, Callable[[StepContext, RunState, Node], dict[str, Any]]] = {
    "intake": _intake,
    "document_extraction": _documents,
    "policy_lookup": _policy,
    "claim_history": _history,
    "fraud_scoring": _fraud,
    "adjudication": _adjudication,
    "payout": _payout,
}
