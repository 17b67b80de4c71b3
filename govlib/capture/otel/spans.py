"""Where a GenAI span belongs: its operation, its workflow run (composition) and its agent.

The composition of a span is its outermost ``invoke_workflow``/``invoke_agent`` ancestor's span
id, else the trace id. :class:`SpanIndex` knows spans by id (parent, operation, agent) and walks a
span's ancestors; a chain that reaches a span it does not know is reported as incomplete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from govlib.capture.otel.decoding import SpanRecord

__all__ = ["INVOKE_OPS", "MODEL_OPS", "TOOL_OP", "SpanContext", "SpanIndex", "operation"]

TOOL_OP = "execute_tool"
INVOKE_OPS = frozenset({"invoke_workflow", "invoke_agent"})
MODEL_OPS = frozenset({"chat", "generate_content", "text_completion", "embeddings"})
KNOWN_OPS = INVOKE_OPS | MODEL_OPS | {TOOL_OP, "create_agent"}


def operation(attributes: Mapping[str, Any], name: str) -> str | None:
    """``gen_ai.operation.name``, else the first word of the span name when it is a known one.

    Example:
        >>> operation({}, "execute_tool lookup_policy")
        'execute_tool'
    """
    op = attributes.get("gen_ai.operation.name")
    if isinstance(op, str) and op:
        return op
    first = name.split(" ", 1)[0]
    return first if first in KNOWN_OPS else None


def _agent(attributes: Mapping[str, Any]) -> str | None:
    value = attributes.get("gen_ai.agent.name")
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True, slots=True)
class SpanContext:
    """Where a span belongs: its composition (workflow run), agent, and place in the trace.

    ``top``: the span's parent is absent (a trace root, or a span whose parent lives elsewhere).
    ``complete``: every ancestor was known when the span was resolved.
    """

    composition_id: str
    agent: str | None
    top: bool
    complete: bool
    has_model_child: bool = False
    composition_is_trace: bool = False


@dataclass(slots=True)
class _Node:
    parent_id: str | None
    op: str | None
    agent: str | None
    has_model_child: bool = False


class SpanIndex:
    """Known spans (id -> parent, operation, agent) for resolving compositions.

    Example:
        >>> idx = SpanIndex()
        >>> idx.add("t", "a", None, "invoke_agent", "bot")
        >>> idx.add("t", "b", "a", "execute_tool", None)
        >>> idx.resolve("t", "b").composition_id
        'a'
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[str, str], _Node] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def add(
        self, trace_id: str, span_id: str, parent_id: str | None, op: str | None, agent: str | None
    ) -> None:
        """Remember one span (a second add of the same id keeps the first's flags)."""
        node = self._nodes.get((trace_id, span_id))
        if node is None:
            self._nodes[(trace_id, span_id)] = _Node(parent_id, op, agent)
        else:
            node.parent_id, node.op, node.agent = parent_id, op, agent or node.agent

    def add_record(self, span: SpanRecord) -> None:
        """Remember a decoded span."""
        op = operation(span.attributes, span.name)
        self.add(span.trace_id, span.span_id, span.parent_id, op, _agent(span.attributes))

    def discard(self, trace_id: str, span_id: str) -> None:
        """Forget one span (the live processor does this once the span has ended)."""
        self._nodes.pop((trace_id, span_id), None)

    def _chain(self, trace_id: str, span_id: str) -> tuple[list[tuple[str, _Node]], bool]:
        """The span and its known ancestors, nearest first, and whether the chain is complete."""
        chain: list[tuple[str, _Node]] = []
        seen: set[str] = set()
        current: str | None = span_id
        while current is not None and current not in seen:
            node = self._nodes.get((trace_id, current))
            if node is None:
                return chain, False
            seen.add(current)
            chain.append((current, node))
            current = node.parent_id
        return chain, current is None

    def mark_model_call(self, trace_id: str, span_id: str) -> None:
        """Record that a model span sits below each of its invoke ancestors."""
        for _, node in self._chain(trace_id, span_id)[0][1:]:
            if node.op in INVOKE_OPS:
                node.has_model_child = True

    def resolve(self, trace_id: str, span_id: str) -> SpanContext:
        """The composition and agent of a known span (unknown: the trace, incomplete)."""
        chain, complete = self._chain(trace_id, span_id)
        if not chain:
            return SpanContext(trace_id, None, True, False, composition_is_trace=True)
        invokes = [(sid, n) for sid, n in chain if n.op in INVOKE_OPS]
        comp = invokes[-1][0] if invokes else trace_id
        agent = next((n.agent for _, n in chain if n.agent), None)
        node = chain[0][1]
        top = node.parent_id is None or len(chain) == 1
        return SpanContext(comp, agent, top, complete, node.has_model_child, not invokes)
