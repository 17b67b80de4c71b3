"""The governance rules of ClaimsFlow, as data (the condition language is :mod:`govlib.governance.rules`).

Each rule is scoped to the node whose facts it reads, so a fact is never missing when it is
evaluated (a missing fact makes a rule fire: fail-closed). A tool outside the tool registry needs
no rule here: :meth:`govlib.governance.governor.Governor.guard_tool` refuses it before it runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RULE_DEFINITIONS", "FRAUD_LIMIT", "REVIEW_LIMIT_USD"]

FRAUD_LIMIT = 0.80
REVIEW_LIMIT_USD = 10_000

#: Rule definitions, in evaluation order within a node.
RULE_DEFINITIONS: list[dict[str, Any]] = [
    {
        "id": "missing_documents",
        "description": "A claim missing a required document is stopped until the documents arrive.",
        "scope": {"node": "document_extraction"},
        "condition": {
            "field": "missing_documents",
            "op": ">",
            "value": 0,
            "label": "missing documents",
        },
        "action": "deny",
    },
    {
        "id": "policy_not_active",
        "description": "A claim on a policy that is not active on the incident date is denied.",
        "scope": {"node": "policy_lookup"},
        "condition": {
            "field": "policy_status",
            "op": "!=",
            "value": "active",
            "label": "policy status",
        },
        "action": "deny",
    },
    {
        "id": "fraud_score_limit",
        "description": f"A fraud score above {FRAUD_LIMIT:.2f} stops every claim (kill-switch) "
        "until a named person resets it.",
        "scope": {"node": "fraud_scoring"},
        "condition": {"field": "fraud_score", "op": ">", "value": FRAUD_LIMIT},
        "action": "trip_kill_switch",
    },
    {
        "id": "payout_review_limit",
        "description": f"A payout above USD {REVIEW_LIMIT_USD:,} needs a human review before "
        "it is paid.",
        "scope": {"node": "adjudication"},
        "condition": {
            "field": "payout_amount",
            "op": ">",
            "value": REVIEW_LIMIT_USD,
            "label": "payout USD",
        },
        "action": "require_review",
    },
]
