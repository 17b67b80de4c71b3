"""Claims as data: the two live scenario claims and the seeded claim generator of the history.

A claim is a plain dict::

    {"claim_id", "policy_id", "workflow", "claimant", "amount", "currency",
     "incident_date", "reported_date", "description", "documents": [{"kind", "text"}, ...]}

Documents are short texts of ``Key: value`` lines (what an OCR step would hand over); the
``Total`` line of an estimate, invoice or damage report is the assessed amount.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from govlib.demo.claimsflow.refdata import ReferenceData
from govlib.demo.claimsflow.tools import fraud_scoring
from govlib.demo.claimsflow.workflows import get_workflow
from govlib.errors import GovlibError

__all__ = [
    "SCENARIOS",
    "UnknownScenarioError",
    "make_documents",
    "make_claim",
    "scenario_claim",
    "random_claim",
    "CLAIM_KINDS",
]

#: Kinds of generated claims and their share of the history.
CLAIM_KINDS: dict[str, float] = {
    "clean": 0.957,
    "fraud": 0.011,
    "missing_documents": 0.022,
    "lapsed_policy": 0.010,
}
_EVIDENCE = {
    "auto_claim": "repair_estimate",
    "property_claim": "invoice",
    "fast_track_claim": "invoice",
}
_AUTO_EVENTS = (
    "rear-end collision at low speed",
    "side mirror and door damaged in a car park",
    "windscreen cracked by gravel on the motorway",
    "hail damage to the bonnet and roof",
    "scraped a bollard while reversing",
)
_PROPERTY_EVENTS = (
    "burst pipe flooded the kitchen",
    "storm blew tiles off the roof",
    "fire in the garage damaged tools and a wall",
    "break-in: back door and window broken",
    "water heater leaked into the basement",
)


class UnknownScenarioError(GovlibError):
    """A scenario name ClaimsFlow does not define."""


def _usd(amount: float) -> str:
    return f"USD {amount:,.2f}"


def make_documents(
    claim: dict[str, Any], kinds: Sequence[str], evidence_total: float
) -> list[dict[str, str]]:
    """Document texts for ``claim`` (``kinds`` in order), the evidence carrying ``evidence_total``.

    Example:
        >>> docs = make_documents({"claim_id": "C", "policy_id": "P", "amount": 10.0,
        ...     "incident_date": "2026-01-01", "description": "d", "claimant": "A"},
        ...     ["claim_form", "invoice"], 10.0)
        >>> docs[1]["text"].splitlines()[-1]
        'Total: USD 10.00'
    """
    out = []
    for kind in kinds:
        if kind == "claim_form":
            text = (
                f"CLAIM FORM\nClaim: {claim['claim_id']}\nPolicy: {claim['policy_id']}\n"
                f"Claimant: {claim['claimant']}\nIncident date: {claim['incident_date']}\n"
                f"Amount claimed: {_usd(claim['amount'])}\nDescription: {claim['description']}"
            )
        elif kind == "photos":
            text = f"PHOTOS\nImages: 4\nCaption: {claim['description']}"
        elif kind == "repair_estimate":
            text = (
                f"REPAIR ESTIMATE\nGarage: Northside Auto Body\nParts: {_usd(evidence_total * 0.6)}"
                f"\nLabour: {_usd(evidence_total * 0.4)}\nTotal: {_usd(evidence_total)}"
            )
        elif kind == "invoice":
            text = f"INVOICE\nSupplier: Harbor Repairs Ltd\nTotal: {_usd(evidence_total)}"
        elif kind == "damage_report":
            text = (
                f"DAMAGE REPORT\nAssessor: K. Lindqvist\nCause: {claim['description']}\n"
                f"Total: {_usd(evidence_total)}"
            )
        else:
            text = f"{kind.upper()}\nReference: {claim['claim_id']}"
        out.append({"kind": kind, "text": text})
    return out


def make_claim(
    *,
    claim_id: str,
    policy_id: str,
    workflow: str,
    claimant: str,
    amount: float,
    incident_date: date,
    reported_date: date,
    description: str,
    evidence_total: float | None = None,
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """A claim dict with its documents (all required ones, minus ``missing``).

    Example:
        >>> c = make_claim(claim_id="C", policy_id="P", workflow="fast_track_claim",
        ...     claimant="A", amount=500.0, incident_date=date(2026, 1, 1),
        ...     reported_date=date(2026, 1, 2), description="d")
        >>> [d["kind"] for d in c["documents"]]
        ['claim_form', 'photos', 'invoice']
    """
    wf = get_workflow(workflow)
    kinds = [k for k in wf.required_documents if k not in missing]
    evidence = _EVIDENCE[workflow]
    if evidence not in wf.required_documents and evidence not in missing:
        kinds.append(evidence)
    claim: dict[str, Any] = {
        "claim_id": claim_id,
        "policy_id": policy_id,
        "workflow": workflow,
        "claimant": claimant,
        "amount": round(float(amount), 2),
        "currency": "USD",
        "incident_date": incident_date.isoformat(),
        "reported_date": reported_date.isoformat(),
        "description": description,
    }
    total = amount if evidence_total is None else evidence_total
    claim["documents"] = make_documents(claim, kinds, round(float(total), 2))
    return claim


#: The live scenarios: claim id, policy, amount, days from incident to report, documents' total.
SCENARIOS: dict[str, dict[str, Any]] = {
    "clean": {
        "claim_id": "CLM-1043",
        "policy_id": "POL-204711",
        "claimant": "Maya Chen",
        "amount": 4700.0,
        "report_delay_days": 2,
        "evidence_total": 4700.0,
        "description": "rear-end collision at low speed; rear bumper and tail light replaced",
    },
    "fraud": {
        "claim_id": "CLM-1042",
        "policy_id": "POL-318844",
        "claimant": "Victor Novak",
        "amount": 16400.0,
        "report_delay_days": 12,
        "evidence_total": 9800.0,
        "description": "vehicle damaged in an unwitnessed collision; engine and frame replaced",
    },
}


def scenario_claim(name: str, today: date, **changes: Any) -> dict[str, Any]:
    """The live ``clean`` or ``fraud`` auto claim, reported ``today``; ``changes`` override fields.

    ``changes`` may set ``amount``, ``report_delay_days``, ``evidence_total``, ``policy_id``,
    ``claim_id`` or ``description`` (e.g. to move the fraud claim's score under the limit).

    Raises
    ------
    UnknownScenarioError
        Naming the scenario and the known ones.

    Example:
        >>> scenario_claim("clean", date(2026, 11, 23))["claim_id"]
        'CLM-1043'
    """
    if name not in SCENARIOS:
        raise UnknownScenarioError(
            f"scenario: {name!r} is not a ClaimsFlow scenario; expected one of {sorted(SCENARIOS)}"
        )
    spec = {**SCENARIOS[name], **changes}
    unknown = sorted(set(spec) - set(SCENARIOS[name]))
    if unknown:
        raise UnknownScenarioError(
            f"scenario {name}: cannot change {unknown}; expected some of {sorted(SCENARIOS[name])}"
        )
    return make_claim(
        claim_id=spec["claim_id"],
        policy_id=spec["policy_id"],
        workflow="auto_claim",
        claimant=spec["claimant"],
        amount=spec["amount"],
        incident_date=today - timedelta(days=int(spec["report_delay_days"])),
        reported_date=today,
        description=spec["description"],
        evidence_total=spec["evidence_total"],
    )


def _score(ref: ReferenceData, policy_id: str, amount: float, delay: int, mismatch: int) -> float:
    policy = ref.policies[policy_id]
    prior = ref.history.get(policy_id, ())
    return fraud_scoring(
        amount=amount,
        coverage_limit=policy["coverage_limit"],
        report_delay_days=delay,
        prior_claims=len(prior),
        prior_fraud=int(any(h["outcome"] == "denied_fraud" for h in prior)),
        document_mismatch=mismatch,
    )["score"]


def random_claim(
    rng: random.Random, ref: ReferenceData, *, claim_id: str, reported: date, kind: str
) -> dict[str, Any]:
    """One seeded history claim of ``kind`` (see :data:`CLAIM_KINDS`), reported on ``reported``.

    Clean claims are drawn until their fraud score is below 0.6 and fraud claims until it is above
    0.85, so a kind means what it says whatever the policy's past.

    Example:
        >>> from govlib.demo.claimsflow.refdata import reference_data
        >>> c = random_claim(random.Random(1), reference_data(), claim_id="CLM-1",
        ...     reported=date(2026, 1, 5), kind="clean")
        >>> c["claim_id"], c["workflow"] in ("auto_claim", "property_claim", "fast_track_claim")
        ('CLM-1', True)
    """
    if kind not in CLAIM_KINDS:
        raise ValueError(f"kind: {kind!r}; expected one of {sorted(CLAIM_KINDS)}")
    workflow = rng.choices(
        ("auto_claim", "property_claim", "fast_track_claim"), weights=(50, 30, 20)
    )[0]
    if kind == "fraud":
        workflow = rng.choice(("auto_claim", "property_claim"))
    product = "property" if workflow == "property_claim" else "auto"
    status = "lapsed" if kind == "lapsed_policy" else "active"
    pool = ref.policy_ids(product, status) or ref.policy_ids(product)
    for _ in range(200):
        policy_id = rng.choice(pool)
        policy = ref.policies[policy_id]
        limit, deductible = policy["coverage_limit"], policy["deductible"]
        if kind == "fraud":
            amount = round(limit * rng.uniform(0.75, 1.0), -1)
            delay, mismatch = rng.randint(20, 60), 1
            evidence = round(amount * rng.uniform(0.45, 0.8), -1)
        else:
            if workflow == "fast_track_claim":
                amount = round(rng.uniform(deductible + 150, 2000), -1)
            else:
                median = 3200 if product == "auto" else 8500
                amount = round(min(rng.lognormvariate(0, 0.6) * median, limit * 0.7), -1)
            delay = min(int(rng.expovariate(1 / 3)), 25)
            mismatch = int(rng.random() < 0.03)
            evidence = round(amount * (rng.uniform(0.6, 0.85) if mismatch else 1.0), -1)
        if min(amount, evidence) <= deductible + 100:
            continue
        score = _score(ref, policy_id, amount, delay, mismatch)
        if (kind == "fraud") == (score > 0.85) and (kind == "fraud" or score < 0.6):
            break
    events = _PROPERTY_EVENTS if product == "property" else _AUTO_EVENTS
    required = get_workflow(workflow).required_documents
    missing = [rng.choice(required[1:])] if kind == "missing_documents" else []
    return make_claim(
        claim_id=claim_id,
        policy_id=policy_id,
        workflow=workflow,
        claimant=policy["holder"],
        amount=amount,
        incident_date=reported - timedelta(days=delay),
        reported_date=reported,
        description=rng.choice(events),
        evidence_total=evidence,
        missing=missing,
    )
