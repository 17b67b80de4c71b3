"""The ClaimsFlow tools: real local functions over the shipped reference data, each with a JSON Schema.

Every tool takes keyword arguments only (the emitter validates them against the JSON Schema declared
in :mod:`govlib.demo.claimsflow.catalog` and records ``schema_valid``) and returns a JSON-able dict. The fraud scorer is a transparent logistic model:
:data:`FRAUD_FEATURES` lists each feature, its weight and its meaning, and the score is computed
from the claim's own features only::

    score = 1 / (1 + exp(-(FRAUD_BIAS + sum(weight_i * feature_i))))
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import date
from typing import Any

from govlib.demo.claimsflow.refdata import reference_data
from govlib.errors import GovlibError

__all__ = [
    "ClaimDataError",
    "ToolUnavailable",
    "FRAUD_BIAS",
    "FRAUD_FEATURES",
    "FRAUD_MODEL",
    "fraud_features",
    "claim_intake",
    "document_extraction",
    "policy_lookup",
    "claim_history",
    "fraud_scoring",
    "payout_calculator",
    "issue_payout",
]

FRAUD_MODEL = "fraud-logit-v1"
FRAUD_BIAS = -5.4
#: Feature -> (weight, what it measures). Features are numbers computed from the claim itself.
FRAUD_FEATURES: dict[str, tuple[float, str]] = {
    "amount_to_limit": (2.6, "claimed amount / policy coverage limit (capped at 1.5)"),
    "report_delay_months": (1.2, "days between incident and report / 30 (capped at 2)"),
    "prior_claims": (0.55, "earlier claims on the same policy (capped at 5)"),
    "prior_fraud": (1.7, "1 when an earlier claim on the policy was denied as fraud"),
    "document_mismatch": (2.3, "1 when the documents' total differs from the claim by > 10%"),
}
_AMOUNT = re.compile(r"USD\s*([0-9][0-9,]*(?:\.[0-9]+)?)")


class ClaimDataError(GovlibError):
    """A tool was given claim data it cannot use; the message names the field and the value."""


class ToolUnavailable(GovlibError):  # noqa: N818 - reads as a state, like GovernanceRefused
    """A tool's backing service did not answer (injected in the simulated history)."""


def _day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ClaimDataError(f"{name}: {value!r}; expected an ISO date YYYY-MM-DD") from None


# --- tools --------------------------------------------------------------------------------------
def claim_intake(
    *,
    claim_id: str,
    policy_id: str,
    workflow: str,
    amount: float,
    currency: str,
    incident_date: str,
    reported_date: str,
    document_kinds: list[str],
) -> dict[str, Any]:
    """Check a new claim's fields and derive the reporting delay.

    Example:
        >>> claim_intake(claim_id="CLM-1", policy_id="POL-204711", workflow="auto_claim",
        ...     amount=100.0, currency="USD", incident_date="2026-01-01",
        ...     reported_date="2026-01-03", document_kinds=["claim_form"])["report_delay_days"]
        2
    """
    incident, reported = _day("incident_date", incident_date), _day("reported_date", reported_date)
    if reported < incident:
        raise ClaimDataError(
            f"reported_date: {reported_date} is before incident_date {incident_date}; "
            "expected a report on or after the incident"
        )
    if not amount > 0:
        raise ClaimDataError(f"amount: {amount!r}; expected a positive amount")
    return {
        "claim_id": claim_id,
        "policy_id": policy_id,
        "workflow": workflow,
        "amount": round(float(amount), 2),
        "currency": currency,
        "report_delay_days": (reported - incident).days,
        "documents": len(document_kinds),
    }


def _fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            out[key.strip().lower().replace(" ", "_")] = value.strip()
    return out


def document_extraction(
    *, claim_id: str, claimed_amount: float, documents: list[dict[str, str]], required: list[str]
) -> dict[str, Any]:
    """Read ``Key: value`` lines out of each document; name missing ones; compare the totals.

    The extracted amount is the ``Total`` of the estimate, invoice or damage report.

    Example:
        >>> out = document_extraction(claim_id="CLM-1", claimed_amount=500.0,
        ...     documents=[{"kind": "claim_form", "text": "Claim: CLM-1"},
        ...                {"kind": "invoice", "text": "Total: USD 520.00"}],
        ...     required=["claim_form", "invoice", "photos"])
        >>> out["missing"], out["extracted_amount"], out["document_mismatch"]
        (['photos'], 520.0, 0)
    """
    fields = {d["kind"]: _fields(d.get("text", "")) for d in documents}
    found = sorted(fields)
    missing = [kind for kind in required if kind not in fields]
    extracted = None
    for kind in ("repair_estimate", "invoice", "damage_report"):
        total = fields.get(kind, {}).get("total")
        match = _AMOUNT.search(total or "")
        if match:
            extracted = float(match.group(1).replace(",", ""))
            break
    mismatch = int(
        extracted is not None and abs(extracted - claimed_amount) > 0.10 * claimed_amount
    )
    return {
        "claim_id": claim_id,
        "found": found,
        "missing": missing,
        "missing_count": len(missing),
        "extracted_amount": extracted,
        "document_mismatch": mismatch,
        "fields": fields,
    }


def policy_lookup(*, policy_id: str, incident_date: str) -> dict[str, Any]:
    """The policy's product, status, coverage limit and deductible on the incident date.

    Example:
        >>> policy_lookup(policy_id="POL-204711", incident_date="2026-01-01")["policy_status"]
        'active'
    """
    policy = reference_data().policies.get(policy_id)
    if policy is None:
        return {"policy_id": policy_id, "found": False, "policy_status": "not_found"}
    in_force = policy["start_date"] <= _day("incident_date", incident_date).isoformat()
    status = policy["status"] if in_force else "not_in_force"
    return {
        "policy_id": policy_id,
        "found": True,
        "policy_status": status,
        "product": policy["product"],
        "holder": policy["holder"],
        "start_date": policy["start_date"],
        "coverage_limit": policy["coverage_limit"],
        "deductible": policy["deductible"],
        "currency": policy["currency"],
    }


def claim_history(*, policy_id: str, before_date: str) -> dict[str, Any]:
    """Earlier claims on a policy (before ``before_date``) from the shipped claims history.

    Example:
        >>> claim_history(policy_id="POL-318844", before_date="2026-01-01")["prior_fraud"]
        1
    """
    cutoff = _day("before_date", before_date).isoformat()
    prior = [h for h in reference_data().history.get(policy_id, ()) if h["incident_date"] < cutoff]
    return {
        "policy_id": policy_id,
        "prior_claims": len(prior),
        "prior_fraud": int(any(h["outcome"] == "denied_fraud" for h in prior)),
        "prior_paid_total": round(sum(h["amount"] for h in prior if h["outcome"] == "paid"), 2),
        "claim_ids": [h["claim_id"] for h in prior],
    }


def fraud_features(
    *,
    amount: float,
    coverage_limit: float,
    report_delay_days: int,
    prior_claims: int,
    prior_fraud: int,
    document_mismatch: int,
) -> dict[str, float]:
    """The scorer's features from the claim's own values (see :data:`FRAUD_FEATURES`).

    Example:
        >>> fraud_features(amount=5000, coverage_limit=25000, report_delay_days=3,
        ...     prior_claims=0, prior_fraud=0, document_mismatch=0)["amount_to_limit"]
        0.2
    """
    ratio = amount / coverage_limit if coverage_limit > 0 else 1.5
    return {
        "amount_to_limit": round(min(ratio, 1.5), 4),
        "report_delay_months": round(min(report_delay_days / 30, 2.0), 4),
        "prior_claims": float(min(prior_claims, 5)),
        "prior_fraud": float(bool(prior_fraud)),
        "document_mismatch": float(bool(document_mismatch)),
    }


def fraud_scoring(
    *,
    amount: float,
    coverage_limit: float,
    report_delay_days: int,
    prior_claims: int,
    prior_fraud: int,
    document_mismatch: int,
) -> dict[str, Any]:
    """Fraud probability of a claim from a transparent logistic model (weights visible).

    Example:
        >>> fraud_scoring(amount=4700, coverage_limit=25000, report_delay_days=2,
        ...     prior_claims=0, prior_fraud=0, document_mismatch=0)["score"] < 0.05
        True
    """
    features = fraud_features(
        amount=amount,
        coverage_limit=coverage_limit,
        report_delay_days=report_delay_days,
        prior_claims=prior_claims,
        prior_fraud=prior_fraud,
        document_mismatch=document_mismatch,
    )
    contributions = {k: round(FRAUD_FEATURES[k][0] * v, 4) for k, v in features.items()}
    z = FRAUD_BIAS + sum(contributions.values())
    return {
        "model": FRAUD_MODEL,
        "score": round(1.0 / (1.0 + math.exp(-z)), 4),
        "bias": FRAUD_BIAS,
        "features": features,
        "weights": {k: w for k, (w, _) in FRAUD_FEATURES.items()},
        "contributions": contributions,
    }


def payout_calculator(
    *, assessed_amount: float, coverage_limit: float, deductible: float
) -> dict[str, Any]:
    """Payout = min(assessed amount, coverage limit) - deductible, never below zero.

    Example:
        >>> payout_calculator(assessed_amount=4700, coverage_limit=25000, deductible=500)
        {'payout': 4200.0, 'capped': False, 'deductible': 500.0}
    """
    covered = min(assessed_amount, coverage_limit)
    return {
        "payout": float(round(max(covered - deductible, 0.0), 2)),
        "capped": assessed_amount > coverage_limit,
        "deductible": float(deductible),
    }


def issue_payout(*, claim_id: str, policy_id: str, amount: float, currency: str) -> dict[str, Any]:
    """Issue the payment instruction; the reference is derived from the claim and amount.

    Example:
        >>> issue_payout(claim_id="CLM-1", policy_id="POL-1", amount=10.0, currency="USD")["status"]
        'issued'
    """
    if not amount > 0:
        raise ClaimDataError(f"amount: {amount!r}; expected a positive payout")
    digest = hashlib.sha256(f"{claim_id}|{policy_id}|{amount:.2f}|{currency}".encode()).hexdigest()
    return {
        "payment_ref": f"PAY-{digest[:10].upper()}",
        "claim_id": claim_id,
        "amount": round(amount, 2),
        "currency": currency,
        "status": "issued",
    }
