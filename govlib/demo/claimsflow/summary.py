"""How a run ended: :class:`RunResult`, its id format and the plain-language one-liner of a run
(``workflow_runs.summary``). Pure.

Examples of what it writes::

    Claim CLM-1043 paid USD 4,200.00
    Claim CLM-1042 was blocked at fraud scoring: fraud score 0.91 exceeded the 0.80 limit.
        Kill-switch triggered 14:02 UTC.
    Claim CLM-20417 is held for human review at adjudication: payout USD 12,500 exceeded the
        10,000 limit.
    Claim CLM-20418 was refused at intake: the kill-switch is triggered.
    Claim CLM-20419 failed at claim history: ToolUnavailable: ... (2 attempts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from govlib.demo.claimsflow.workflows import NODE_LABELS

__all__ = ["RunResult", "new_run_id", "plain_time", "run_summary", "node_label"]


def new_run_id() -> str:
    """A fresh live run id, ``run-`` + 12 hex digits of a UUID4.

    Example:
        >>> len(new_run_id())
        16
    """
    return f"run-{uuid.uuid4().hex[:12]}"


def plain_time(value: str | None) -> str:
    """``'2026-11-23T14:02:11.5Z'`` -> ``'14:02 UTC'`` (empty text for None).

    Example:
        >>> plain_time("2026-11-23T14:02:11.500000Z")
        '14:02 UTC'
    """
    return f"{value[11:16]} UTC" if value and len(value) >= 16 else ""


@dataclass(frozen=True)
class RunResult:
    """How one run ended: its id, status, the node it stopped at and a plain-language summary.

    Example:
        >>> RunResult("run-1", "auto_claim", "CLM-1", "completed", "Claim CLM-1 paid USD 1.00").status
        'completed'
    """

    composition_id: str
    workflow_id: str
    subject: str
    status: str
    summary: str
    stopped_at_node: str | None = None
    node_statuses: dict[str, str] = field(default_factory=dict)
    payout: float | None = None
    fraud_score: float | None = None
    started_at: str = ""
    ended_at: str = ""


def node_label(node: str | None) -> str:
    """A node's plain name in lower case ("fraud scoring").

    Example:
        >>> node_label("document_extraction")
        'document extraction'
    """
    if not node:
        return "an unknown step"
    return NODE_LABELS.get(node, node.replace("_", " ")).lower()


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def run_summary(
    subject: str,
    status: str,
    *,
    node: str | None = None,
    message: str | None = None,
    payout: float | None = None,
    review: bool = False,
) -> str:
    """The one-line summary of a finished run.

    Parameters
    ----------
    subject
        The claim id.
    status
        The run status: completed, blocked, refused or failed.
    node, message
        Where the run stopped (or was held for review) and why.
    payout
        The amount paid, for a completed run that paid.
    review
        The run completed by handing the claim to a human reviewer.

    Example:
        >>> run_summary("CLM-1043", "completed", payout=4200.0)
        'Claim CLM-1043 paid USD 4,200.00'
        >>> run_summary("CLM-1042", "blocked", node="fraud_scoring",
        ...     message="fraud score 0.91 exceeded the 0.80 limit. Kill-switch triggered 14:02 UTC")
        'Claim CLM-1042 was blocked at fraud scoring: fraud score 0.91 exceeded the 0.80 limit. Kill-switch triggered 14:02 UTC.'
    """
    why = f": {_sentence(message)}" if message else "."
    where = node_label(node)
    if status == "completed":
        if review:
            return f"Claim {subject} is held for human review at {where}{why}"
        if payout is not None:
            return f"Claim {subject} paid USD {payout:,.2f}"
        return f"Claim {subject} completed without a payment{why}"
    if status == "blocked":
        return f"Claim {subject} was blocked at {where}{why}"
    if status == "refused":
        return f"Claim {subject} was refused at {where}{why}"
    if status == "failed":
        return f"Claim {subject} failed at {where}{why}"
    return f"Claim {subject} is {status}{why if message else ''}"
