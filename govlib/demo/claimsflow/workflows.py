"""ClaimsFlow workflow graphs, as data: named nodes in order, the tools and model each node uses.

Each graph is linear (every node has one successor), which is what a dashboard draws as a node
strip. ``graph_json`` gives the exact JSON stored in the ``workflows.graph`` column: a list of
``{"node", "label", "position", "tools", "model_task", "model", "next"}`` objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from govlib.errors import GovlibError

__all__ = [
    "EXTRACTION_MODEL",
    "ADJUDICATION_MODEL",
    "NODE_LABELS",
    "Node",
    "Workflow",
    "WORKFLOWS",
    "UnknownWorkflowError",
    "get_workflow",
    "graph_json",
    "ensure_workflows",
]

#: Models the nodes use (both in ``govlib/data/prices.csv``).
EXTRACTION_MODEL = "claude-haiku-4-5"
ADJUDICATION_MODEL = "claude-sonnet-4-6"

NODE_LABELS: dict[str, str] = {
    "intake": "Intake",
    "document_extraction": "Document extraction",
    "policy_lookup": "Policy lookup",
    "claim_history": "Claim history",
    "fraud_scoring": "Fraud scoring",
    "adjudication": "Adjudication",
    "payout": "Payout",
}
_NODE_TOOLS: dict[str, tuple[str, ...]] = {
    "intake": ("claim_intake",),
    "document_extraction": ("document_extraction",),
    "policy_lookup": ("policy_lookup",),
    "claim_history": ("claim_history",),
    "fraud_scoring": ("fraud_scoring",),
    "adjudication": ("payout_calculator",),
    "payout": ("issue_payout",),
}


class UnknownWorkflowError(GovlibError):
    """A workflow id that ClaimsFlow does not define."""


@dataclass(frozen=True)
class Node:
    """One step of a workflow: the tools it calls and, optionally, a model task.

    Example:
        >>> WORKFLOWS["auto_claim"].node("fraud_scoring").label
        'Fraud scoring'
    """

    name: str
    tools: tuple[str, ...]
    model_task: str | None = None
    model: str | None = None

    @property
    def label(self) -> str:
        """Plain-language name ("Fraud scoring")."""
        return NODE_LABELS.get(self.name, self.name.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Workflow:
    """A named, linear graph of nodes and the documents a claim of this kind must carry.

    Example:
        >>> WORKFLOWS["fast_track_claim"].node_names[:3]
        ['intake', 'document_extraction', 'policy_lookup']
    """

    id: str
    name: str
    description: str
    nodes: tuple[Node, ...]
    required_documents: tuple[str, ...]
    claim_cap: float | None = None

    @property
    def node_names(self) -> list[str]:
        """Node names in execution order."""
        return [n.name for n in self.nodes]

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"workflow {self.id}: no node {name!r}; expected one of {self.node_names}")

    def graph(self) -> list[dict[str, Any]]:
        """The graph as JSON-able data (what ``workflows.graph`` stores)."""
        out = []
        for i, n in enumerate(self.nodes):
            nxt = [self.nodes[i + 1].name] if i + 1 < len(self.nodes) else []
            out.append(
                {
                    "node": n.name,
                    "label": n.label,
                    "position": i,
                    "tools": list(n.tools),
                    "model_task": n.model_task,
                    "model": n.model,
                    "next": nxt,
                }
            )
        return out


def _node(name: str, model_task: str | None = None, model: str | None = None) -> Node:
    return Node(name, _NODE_TOOLS[name], model_task, model)


_EXTRACT = ("document_summary", EXTRACTION_MODEL)
_ADJUDICATE = ("adjudication_rationale", ADJUDICATION_MODEL)

#: Every ClaimsFlow workflow, by id.
WORKFLOWS: dict[str, Workflow] = {
    w.id: w
    for w in (
        Workflow(
            id="auto_claim",
            name="Auto claim",
            description="Motor damage claim: documents read by a model, full fraud check, "
            "adjudication rationale drafted by a model, then payout.",
            nodes=(
                _node("intake"),
                _node("document_extraction", *_EXTRACT),
                _node("policy_lookup"),
                _node("claim_history"),
                _node("fraud_scoring"),
                _node("adjudication", *_ADJUDICATE),
                _node("payout"),
            ),
            required_documents=("claim_form", "repair_estimate", "photos"),
        ),
        Workflow(
            id="property_claim",
            name="Property claim",
            description="Home and property damage claim: coverage checked before the documents "
            "are read, then history, fraud check, adjudication and payout.",
            nodes=(
                _node("intake"),
                _node("policy_lookup"),
                _node("document_extraction", *_EXTRACT),
                _node("claim_history"),
                _node("fraud_scoring"),
                _node("adjudication", *_ADJUDICATE),
                _node("payout"),
            ),
            required_documents=("claim_form", "damage_report", "invoice"),
        ),
        Workflow(
            id="fast_track_claim",
            name="Fast-track claim",
            description="Small claims (up to USD 2,000): no claim-history lookup and no model "
            "rationale; adjudicated by the payout calculator alone.",
            nodes=(
                _node("intake"),
                _node("document_extraction", *_EXTRACT),
                _node("policy_lookup"),
                _node("fraud_scoring"),
                _node("adjudication"),
                _node("payout"),
            ),
            required_documents=("claim_form", "photos"),
            claim_cap=2000.0,
        ),
    )
}


def get_workflow(workflow_id: str) -> Workflow:
    """The workflow with this id.

    Raises
    ------
    UnknownWorkflowError
        Naming the id and the known ids.

    Example:
        >>> get_workflow("auto_claim").name
        'Auto claim'
    """
    try:
        return WORKFLOWS[workflow_id]
    except KeyError:
        raise UnknownWorkflowError(
            f"workflow: {workflow_id!r} is not a ClaimsFlow workflow; expected one of "
            f"{sorted(WORKFLOWS)}"
        ) from None


def graph_json(workflow: Workflow) -> str:
    """The graph as stored in ``workflows.graph`` (canonical JSON).

    Example:
        >>> graph_json(WORKFLOWS["fast_track_claim"])[:20]
        '[{"label":"Intake","'
    """
    return json.dumps(workflow.graph(), sort_keys=True, separators=(",", ":"))


def ensure_workflows(store: Any, workflows: Mapping[str, Workflow] | None = None) -> int:
    """Insert or refresh the ``workflows`` rows (id, name, description, graph); returns how many.

    Example:
        >>> from govlib.store.database import Store
        >>> ensure_workflows(Store(memory=True))
        3
    """
    rows = list((workflows or WORKFLOWS).values())
    with store.transaction():
        for w in rows:
            store.execute(
                "INSERT INTO workflows(id, name, description, graph) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
                "description = excluded.description, graph = excluded.graph",
                (w.id, w.name, w.description, graph_json(w)),
            )
    return len(rows)
