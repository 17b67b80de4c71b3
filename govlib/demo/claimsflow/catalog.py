"""The ClaimsFlow tool catalog: each tool's function, argument JSON Schema, description, risk tier.

:data:`TOOLS` is what :func:`govlib.demo.claimsflow.register_claimsflow` writes to the tool registry
and what the engine wraps with the emitter (``schema`` gives ``audit_log.schema_valid``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from govlib.demo.claimsflow.tools import (
    claim_history,
    claim_intake,
    document_extraction,
    fraud_scoring,
    issue_payout,
    payout_calculator,
    policy_lookup,
)

__all__ = ["ToolSpec", "TOOLS"]

# --- schemas ------------------------------------------------------------------------------------
_STR = {"type": "string", "minLength": 1}
_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_MONEY = {"type": "number", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}
_FLAG = {"type": "integer", "enum": [0, 1]}


def _schema(props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(props),
        "required": sorted(props),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ToolSpec:
    """A tool as registered: its function, JSON Schema, description and risk tier.

    Example:
        >>> TOOLS["issue_payout"].risk_tier
        'high'
    """

    name: str
    fn: Callable[..., dict[str, Any]]
    description: str
    schema: Mapping[str, Any] = field(default_factory=dict)
    risk_tier: str = "low"


_SCORE_ARGS = {
    "amount": _MONEY,
    "coverage_limit": _MONEY,
    "report_delay_days": _COUNT,
    "prior_claims": _COUNT,
    "prior_fraud": _FLAG,
    "document_mismatch": _FLAG,
}
#: Every ClaimsFlow tool, by name (the names in the tool registry and in ``audit_log``).
TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "claim_intake",
            claim_intake,
            "Checks a new claim's fields and derives the reporting delay.",
            _schema(
                {
                    "claim_id": _STR,
                    "policy_id": _STR,
                    "workflow": _STR,
                    "amount": {"type": "number", "exclusiveMinimum": 0},
                    "currency": {"type": "string", "enum": ["USD"]},
                    "incident_date": _DATE,
                    "reported_date": _DATE,
                    "document_kinds": {"type": "array", "items": _STR},
                }
            ),
        ),
        ToolSpec(
            "document_extraction",
            document_extraction,
            "Reads the claim's documents, names missing ones and extracts the assessed total.",
            _schema(
                {
                    "claim_id": _STR,
                    "claimed_amount": _MONEY,
                    "documents": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"kind": _STR, "text": {"type": "string"}},
                            "required": ["kind", "text"],
                        },
                    },
                    "required": {"type": "array", "items": _STR},
                }
            ),
            "medium",
        ),
        ToolSpec(
            "policy_lookup",
            policy_lookup,
            "Looks the policy up: status, coverage limit and deductible on the incident date.",
            _schema({"policy_id": _STR, "incident_date": _DATE}),
        ),
        ToolSpec(
            "claim_history",
            claim_history,
            "Counts earlier claims on the policy and flags earlier fraud denials.",
            _schema({"policy_id": _STR, "before_date": _DATE}),
        ),
        ToolSpec(
            "fraud_scoring",
            fraud_scoring,
            "Transparent logistic fraud score from the claim's own features (weights visible).",
            _schema(_SCORE_ARGS),
            "medium",
        ),
        ToolSpec(
            "payout_calculator",
            payout_calculator,
            "Payout = min(assessed amount, coverage limit) - deductible.",
            _schema({"assessed_amount": _MONEY, "coverage_limit": _MONEY, "deductible": _MONEY}),
        ),
        ToolSpec(
            "issue_payout",
            issue_payout,
            "Issues the payment instruction to the claimant (moves money).",
            _schema(
                {
                    "claim_id": _STR,
                    "policy_id": _STR,
                    "amount": {"type": "number", "exclusiveMinimum": 0},
                    "currency": {"type": "string", "enum": ["USD"]},
                }
            ),
            "high",
        ),
    )
}
