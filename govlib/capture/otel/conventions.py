"""Which AI tracing convention a span follows, and its attributes in OTel GenAI terms. Pure.

Three conventions are detected per span:

* **OTel GenAI** (``gen_ai.*``, the current and the previous release): used as is.
* **OpenInference** (Arize Phoenix; ``openinference.span.kind`` LLM / TOOL / AGENT / CHAIN /
  EMBEDDING): ``llm.model_name`` -> ``gen_ai.response.model`` (the requested model from
  ``llm.invocation_parameters``), ``llm.provider``/``llm.system`` -> ``gen_ai.provider.name``,
  ``llm.token_count.prompt``/``.completion``/``.prompt_details.cache_read``/``.cache_write`` ->
  the ``gen_ai.usage.*`` counts, ``tool.name`` -> ``gen_ai.tool.name``, ``output.value`` of a
  tool -> ``gen_ai.tool.call.result`` (hashed, never kept), AGENT -> ``invoke_agent``, a CHAIN
  with no parent -> ``invoke_workflow``.
* **Langfuse** (``langfuse.observation.type`` generation / embedding / tool / agent / chain /
  span): ``langfuse.observation.model.name``, ``langfuse.observation.usage_details`` and
  ``cost_details`` (JSON), ``langfuse.observation.level`` ERROR (with ``status_message``) as a
  failure, ``langfuse.observation.output`` of a tool as its result (hashed, never kept).

GenAI attributes already on a span win: the others only fill what is missing. Prompt and
completion text (``input.value``, ``llm.input_messages``, ``langfuse.observation.input``) are
never copied: govlib is content-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from govlib.capture.otel.decoding import STATUS_ERROR, SpanRecord

__all__ = [
    "GENAI",
    "LANGFUSE",
    "OPENINFERENCE",
    "convention",
    "genai_attributes",
    "normalized",
    "unmapped_reason",
]

GENAI, OPENINFERENCE, LANGFUSE = "OTel GenAI", "OpenInference", "Langfuse"
OI_KIND, LF_TYPE = "openinference.span.kind", "langfuse.observation.type"
_OI_TOKENS = {
    "llm.token_count.prompt": "gen_ai.usage.input_tokens",
    "llm.token_count.completion": "gen_ai.usage.output_tokens",
    "llm.token_count.prompt_details.cache_read": "gen_ai.usage.cache_read.input_tokens",
    "llm.token_count.prompt_details.cache_write": "gen_ai.usage.cache_creation.input_tokens",
}
_LF_USAGE = {
    "gen_ai.usage.input_tokens": ("input", "input_tokens", "prompt_tokens"),
    "gen_ai.usage.output_tokens": ("output", "output_tokens", "completion_tokens"),
    "gen_ai.usage.cache_read.input_tokens": (
        "input_cached_tokens",
        "cache_read_input_tokens",
        "input_cache_read",
        "cached_tokens",
    ),
    "gen_ai.usage.cache_creation.input_tokens": (
        "cache_creation_input_tokens",
        "input_cache_creation",
        "input_cache_write",
    ),
}
_OI_OPS = {
    "LLM": "chat",
    "EMBEDDING": "embeddings",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
}
_LF_OPS = {"generation": "chat", "embedding": "embeddings", "tool": "execute_tool"}
_LF_OPS["agent"] = "invoke_agent"


def convention(attributes: Mapping[str, Any]) -> str | None:
    """The AI convention a span's attributes follow (GenAI first), or None for none.

    Example:
        >>> convention({"openinference.span.kind": "LLM"}), convention({"http.method": "GET"})
        ('OpenInference', None)
    """
    if any(k.startswith("gen_ai.") for k in attributes):
        return GENAI
    if OI_KIND in attributes:
        return OPENINFERENCE
    if LF_TYPE in attributes or any(k.startswith("langfuse.observation.") for k in attributes):
        return LANGFUSE
    return None


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _openinference(attrs: Mapping[str, Any], name: str, is_root: bool) -> dict[str, Any]:
    kind = str(attrs.get(OI_KIND, "")).upper()
    out: dict[str, Any] = {}
    op = _OI_OPS.get(kind) or ("invoke_workflow" if kind == "CHAIN" and is_root else None)
    if op:
        out["gen_ai.operation.name"] = op
    model = attrs.get("llm.model_name") or attrs.get("embedding.model_name")
    if model:
        out["gen_ai.response.model"] = str(model)
    params = _json(attrs.get("llm.invocation_parameters"))
    if isinstance(params, Mapping) and params.get("model"):
        out["gen_ai.request.model"] = str(params["model"])
    provider = attrs.get("llm.provider") or attrs.get("llm.system")
    if provider:
        out["gen_ai.provider.name"] = str(provider)
    for key, target in _OI_TOKENS.items():
        if attrs.get(key) is not None:
            out[target] = attrs[key]
    if op == "execute_tool":
        out["gen_ai.tool.name"] = attrs.get("tool.name") or name
        if attrs.get("output.value") is not None:
            out["gen_ai.tool.call.result"] = attrs["output.value"]
    elif op == "invoke_agent":
        out["gen_ai.agent.name"] = attrs.get("agent.name") or name
    elif op == "invoke_workflow":
        out["gen_ai.workflow.name"] = name
    return out


def _langfuse_usage(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``usage_details`` / ``cost_details`` in GenAI terms.

    Langfuse's own keys (``input``, ``input_cached_tokens``) count cached input apart; the
    provider's keys it passes through (``prompt_tokens`` with ``prompt_tokens_details.
    cached_tokens``, OpenAI's shape) include it, as the GenAI count does. A cost of 0 is what
    Langfuse writes when it has no price: it is not taken as the provider's cost.
    """
    usage = _json(attrs.get("langfuse.observation.usage_details"))
    out: dict[str, Any] = {}
    if isinstance(usage, Mapping):
        for target, keys in _LF_USAGE.items():
            value = next((usage[k] for k in keys if usage.get(k) is not None), None)
            if value is not None:
                out[target] = value
        for details in ("prompt_tokens_details", "input_tokens_details"):
            nested = usage.get(details)
            if isinstance(nested, Mapping) and nested.get("cached_tokens") is not None:
                out.setdefault("gen_ai.usage.cache_read.input_tokens", nested["cached_tokens"])
        cached = [out.get(k) for k in _LF_USAGE if "cache" in k]
        if usage.get("input") is not None and all(isinstance(c, int | None) for c in cached):
            if isinstance(out["gen_ai.usage.input_tokens"], int):
                out["gen_ai.usage.input_tokens"] += sum(c or 0 for c in cached)
    cost = _json(attrs.get("langfuse.observation.cost_details"))
    if isinstance(cost, Mapping) and cost:
        total = cost.get("total", sum_or_none(cost.values()))
        if total != 0:
            out["gen_ai.usage.cost"] = total
    return out


def sum_or_none(values: Any) -> Any:
    """The sum of numbers, or the values themselves when one is not a number (then refused).

    Example:
        >>> sum_or_none([0.5, 0.25]), sum_or_none(["x"])
        (0.75, ['x'])
    """
    items = list(values)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
        return sum(items)
    return items


def _langfuse(attrs: Mapping[str, Any], name: str, is_root: bool) -> dict[str, Any]:
    kind = str(attrs.get(LF_TYPE, "span")).lower()
    out: dict[str, Any] = {}
    op = _LF_OPS.get(kind) or ("invoke_workflow" if is_root else None)
    if op:
        out["gen_ai.operation.name"] = op
    model = attrs.get("langfuse.observation.model.name")
    if model:
        out["gen_ai.response.model"] = str(model)
    out |= _langfuse_usage(attrs)
    if op == "execute_tool":
        out["gen_ai.tool.name"] = name
        if attrs.get("langfuse.observation.output") is not None:
            out["gen_ai.tool.call.result"] = attrs["langfuse.observation.output"]
    elif op == "invoke_agent":
        out["gen_ai.agent.name"] = name
    elif op == "invoke_workflow":
        out["gen_ai.workflow.name"] = attrs.get("langfuse.trace.name") or name
    return out


def genai_attributes(attributes: Mapping[str, Any], name: str, is_root: bool) -> dict[str, Any]:
    """The span's attributes with OpenInference / Langfuse ones restated as ``gen_ai.*``.

    GenAI attributes already there win; ``is_root``: the span has no parent (a root CHAIN or
    Langfuse span is the workflow run).

    Example:
        >>> a = genai_attributes({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
        ...     "llm.token_count.prompt": 12}, "ChatCompletion", False)
        >>> (a["gen_ai.operation.name"], a["gen_ai.response.model"], a["gen_ai.usage.input_tokens"])
        ('chat', 'gpt-4o-mini', 12)
    """
    found = convention(attributes)
    extra: dict[str, Any] = {}
    if OI_KIND in attributes:
        extra = _openinference(attributes, name, is_root)
    elif found == LANGFUSE:
        extra = _langfuse(attributes, name, is_root)
    if not extra:
        return dict(attributes)
    return extra | dict(attributes)


def normalized(span: SpanRecord) -> SpanRecord:
    """The span in GenAI terms (see :func:`genai_attributes`); a Langfuse ERROR level fails it.

    Example:
        >>> s = SpanRecord("1" * 32, "2" * 16, "3" * 16, "lookup", 1, 9, attributes={
        ...     "langfuse.observation.type": "tool", "langfuse.observation.level": "ERROR",
        ...     "langfuse.observation.status_message": "timeout"})
        >>> n = normalized(s)
        >>> (n.attributes["gen_ai.tool.name"], n.status_code, n.status_message)
        ('lookup', 2, 'timeout')
    """
    attrs = span.attributes
    if OI_KIND not in attrs and convention(attrs) != LANGFUSE:
        return span
    out = replace(span, attributes=genai_attributes(attrs, span.name, span.parent_id is None))
    if str(attrs.get("langfuse.observation.level", "")).upper() == "ERROR":
        message = span.status_message or str(attrs.get("langfuse.observation.status_message", ""))
        out = replace(out, status_code=STATUS_ERROR, status_message=message)
    return out


def unmapped_reason(span: SpanRecord) -> str:
    """Why a span gave nothing to record, naming its convention and what it lacked.

    Example:
        >>> unmapped_reason(SpanRecord("1" * 32, "2" * 16, None, "GET /", 1, 9,
        ...     attributes={"http.method": "GET"}))
        'not an AI span (no gen_ai.*, openinference.span.kind or langfuse.observation.type attribute): ignored'
    """
    attrs = span.attributes
    if OI_KIND in attrs:
        kind = str(attrs[OI_KIND]).upper()
        if kind == "CHAIN":
            return "OpenInference CHAIN span inside a run (a step: nothing to record)"
        if kind == "AGENT":
            return "OpenInference AGENT span inside an outer run (its calls count toward that run)"
        if kind in ("LLM", "EMBEDDING"):
            return f"OpenInference {kind} span without llm.token_count.* (no receipt)"
        return f"OpenInference {kind} span (not a tool, model call or agent)"
    if LF_TYPE in attrs or convention(attrs) == LANGFUSE:
        kind = str(attrs.get(LF_TYPE, "span"))
        if kind == "agent":
            return (
                "Langfuse agent observation inside an outer run (its calls count toward that run)"
            )
        if kind in ("generation", "embedding"):
            return f"Langfuse {kind} without langfuse.observation.usage_details (no receipt)"
        return f"Langfuse {kind} observation inside a trace (not a tool, generation or agent)"
    if convention(attrs) == GENAI:
        op = attrs.get("gen_ai.operation.name") or span.name.split(" ", 1)[0]
        if op in ("invoke_agent", "invoke_workflow"):
            return f"OTel GenAI {op} span inside an outer run (its calls count toward that run)"
        return f"OTel GenAI {op} span (not a tool call, model usage or run root)"
    return (
        "not an AI span (no gen_ai.*, openinference.span.kind or langfuse.observation.type "
        "attribute): ignored"
    )
