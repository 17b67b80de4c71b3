"""Mapping OpenTelemetry GenAI spans to govlib rows. Pure: span records in, row dicts out.

Follows the OpenTelemetry GenAI semantic conventions:

* ``execute_tool`` spans -> an ``audit_log`` row: ``gen_ai.tool.name``; success = status not
  ERROR and no ``error.type``; latency = end - start (ms, rounded half up like the emitter);
  ``output_hash`` = :func:`govlib.capture.fingerprint.output_hash` of ``gen_ai.tool.call.result`` (a JSON
  object/array string is hashed as the parsed value, so it matches what the emitter records for
  the same result; the result itself is never kept).
* model spans (``chat``, ``generate_content``, ``text_completion``, ``embeddings``, or any span
  with usage naming a model) -> a ledger receipt. ``gen_ai.usage.input_tokens`` includes cached
  input in the conventions while govlib's ledger counts cache tokens apart, so the cache read /
  write counts are subtracted from it (unless they exceed it: then the producer counted them
  apart already). Usage on an ``invoke_agent``/``invoke_workflow`` span is receipted only when
  no model span below it was seen (it is then the only record of those tokens).
* the composition (workflow run) of a span is its outermost ``invoke_workflow``/``invoke_agent``
  ancestor's span id, else the trace id; its ``workflow_runs`` row comes from that span (or, for a
  trace id, from the trace's top span when the trace holds GenAI spans).
* ``gen_ai.evaluation.result`` events on a tool span or a model (chat) span -> an evaluator's
  verdict (source ``evaluator:<gen_ai.evaluation.name>``) when the
  ``gen_ai.evaluation.score.label`` is one of the configured accept / reject labels. It is kept
  apart from human review (:func:`govlib.capture.verdicts.record_evaluator_verdict`).
* bounds (:mod:`govlib.bounds`): a span whose token count, provider cost, latency, time (start,
  end, evaluation) or text (tool, model, provider, agent, workflow, tenant, actor, evaluator)
  is out of bounds is skipped as a whole (nothing of it is written), with the reason in the
  ingest summary; the rest of the file is kept. A long error message is truncated with the
  marker ``…[truncated, N characters]`` instead.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from govlib import bounds
from govlib.capture.fingerprint import output_hash
from govlib.capture.otel.config import IngestConfig
from govlib.capture.otel.conventions import convention, normalized
from govlib.capture.otel.decoding import STATUS_ERROR, OtelFormatError, SpanRecord, ns_to_iso
from govlib.capture.otel.spans import (
    INVOKE_OPS,
    MODEL_OPS,
    TOOL_OP,
    SpanContext,
    SpanIndex,
    operation,
)

__all__ = [
    "Evaluation",
    "MappedSpan",
    "OutOfBounds",
    "has_usage",
    "is_genai",
    "map_span",
    "plan_spans",
    "receipt_call",
    "run_row",
    "tool_row",
]

EVALUATION_EVENT = "gen_ai.evaluation.result"
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHE_READ = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
)
_CACHE_WRITE = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.input_tokens.cache_write",
)
_USAGE = frozenset(_INPUT + _OUTPUT + _CACHE_READ + _CACHE_WRITE)
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_COST = "gen_ai.usage.cost"


class OutOfBounds(OtelFormatError):
    """A span value outside :mod:`govlib.bounds`: the whole span is skipped, with this reason.

    Example:
        >>> str(OutOfBounds(bounds.BoundsError("gen_ai.usage.input_tokens", 2**64, "at most 10^12"),
        ...     "t.jsonl:3", "00f067aa0ba902b7"))
        't.jsonl:3: span 00f067aa0ba902b7 skipped: gen_ai.usage.input_tokens = 18446744073709551616; expected at most 10^12'
    """

    def __init__(self, exc: bounds.BoundsError, source: str, span_id: str) -> None:
        super().__init__(exc.field, exc.value, exc.expected, source=source)
        self.span_id = span_id
        prefix = f"{source}: " if source else ""
        Exception.__init__(
            self,
            f"{prefix}span {span_id} skipped: {exc.field} = {bounds.shown(exc.value)}; "
            f"expected {exc.expected}",
        )

    def at(self, source: str) -> OtelFormatError:
        """The same problem, located at ``source``."""
        err = bounds.BoundsError(self.field, self.value, self.expected)
        return OutOfBounds(err, source, self.span_id)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One ``gen_ai.evaluation.result`` event: the evaluator's verdict, or why none is.

    ``target`` is ``"tool"`` (a tool call) or ``"model"`` (a model call's receipt).
    """

    index: int
    label: Any
    verdict: str | None
    by: str
    at: str
    skip_reason: str | None = None
    target: str = "tool"
    score: float | None = None
    key: str | None = None

    @property
    def kind(self) -> str:
        """Its ``ingested_spans`` kind: ``evaluation:<position>`` or ``evaluation:<log key>``."""
        return f"evaluation:{self.key or self.index}"


@dataclass(slots=True)
class MappedSpan:
    """What one span becomes. ``keys`` name its ``ingested_spans`` rows (kind -> span_id)."""

    span: SpanRecord
    ctx: SpanContext
    tool: dict[str, Any] | None = None
    receipt: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    problems: list[OtelFormatError] = field(default_factory=list)
    note: str | None = None
    convention: str | None = None


def _lookup(span: SpanRecord, key: str, resource_first: bool = False) -> Any:
    first, second = (
        (span.resource, span.attributes) if resource_first else (span.attributes, span.resource)
    )
    value = first.get(key)
    return second.get(key) if value is None else value


def _flag(value: Any, key: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return int(value.strip().lower() in _TRUE)
    raise OtelFormatError(key, value, "true or false (or 1/0)")


def _result_hash(value: Any) -> str:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return output_hash(json.loads(value))
        except (ValueError, RecursionError):
            pass
    return output_hash(value)


def tool_row(span: SpanRecord, ctx: SpanContext, config: IngestConfig) -> dict[str, Any]:
    """The ``audit_log`` row of an ``execute_tool`` span (keys of the emitter's row tuple).

    Example:
        >>> s = SpanRecord("1" * 32, "2" * 16, None, "execute_tool ocr", 10**18, 10**18 + 2_500_000,
        ...     attributes={"gen_ai.tool.name": "ocr"})
        >>> row = tool_row(s, SpanContext("1" * 32, None, True, True), IngestConfig(default_tenant="t"))
        >>> (row["tool_name"], row["success"], row["latency_ms"], row["created_at"])
        ('ocr', 1, 3, '2001-09-09T01:46:40.000000Z')
    """
    attrs = span.attributes
    name = attrs.get("gen_ai.tool.name")
    if name in (None, "") and span.name.startswith(TOOL_OP + " "):
        name = span.name[len(TOOL_OP) + 1 :]
    if not isinstance(name, str) or not name.strip():
        raise OtelFormatError("gen_ai.tool.name", name, "the tool's name", source=span.source)
    error_type = attrs.get("error.type")
    failed = span.status_code == STATUS_ERROR or error_type not in (None, "")
    error = None
    if failed:
        error = error_text(span, error_type)
    key = config.schema_valid_attribute
    try:
        valid = _flag(attrs.get(key), key)
    except OtelFormatError as exc:
        raise exc.at(span.source) from None
    result = attrs.get("gen_ai.tool.call.result")
    actor = _lookup(span, config.actor_attribute, resource_first=True)
    actor = None if actor is None else str(actor)
    bounds.checked_text("gen_ai.tool.name", name, kind="tool_name")
    bounds.checked_text(config.actor_attribute, actor, kind="actor")
    latency = (span.duration_ns + 500_000) // 1_000_000
    bounds.checked_latency("latency_ms (endTimeUnixNano - startTimeUnixNano)", latency)
    return {
        "tenant_id": _tenant(span, config),
        "tool_name": name,
        "actor": actor,
        "composition_id": ctx.composition_id,
        "success": 0 if failed else 1,
        "schema_valid": valid,
        "latency_ms": latency,
        "output_hash": None if result is None else _result_hash(result),
        "error": error,
        "created_at": ns_to_iso(span.start_ns),
    }


def error_text(span: SpanRecord, error_type: Any = None) -> str:
    """A failed span's error: ``error.type: status message``, the message from the span's
    ``exception`` event when the status has none; ``"error"`` when nothing says more.

    Example:
        >>> from govlib.capture.otel.decoding import EventRecord
        >>> ev = EventRecord("exception", 5, {"exception.type": "TimeoutError",
        ...     "exception.message": "no answer in 30 s"})
        >>> error_text(SpanRecord("1" * 32, "2" * 16, None, "x", 1, 9, 2, events=(ev,)))
        'TimeoutError: no answer in 30 s'
    """
    message = span.status_message
    if not message:
        event = next((e for e in span.events if e.name == "exception"), None)
        if event is not None:
            error_type = error_type or event.attributes.get("exception.type")
            message = str(event.attributes.get("exception.message") or "")
    parts = [str(p) for p in (error_type, message) if p not in (None, "")]
    return bounds.truncated("error", ": ".join(parts)) or "error"


def _tenant(span: SpanRecord, config: IngestConfig) -> str:
    value = _lookup(span, config.tenant_attribute)
    tenant = str(value) if value not in (None, "") else str(config.default_tenant or "default")
    bounds.checked_text(config.tenant_attribute, tenant, kind="tenant")
    return tenant


def _count(attrs: Mapping[str, Any], names: Iterable[str], source: str) -> int:
    for key in names:
        value = attrs.get(key)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.isdigit():
            value = int(value) if len(value) <= 20 else bounds.checked_tokens(key, value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise OtelFormatError(key, value, "a token count (integer >= 0)", source=source)
        return bounds.checked_tokens(key, value)
    return 0


def _provider_cost(attrs: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """The provider-reported cost in USD, or a reason why it cannot be recorded."""
    costs = {
        k: v
        for k, v in attrs.items()
        if k == "gen_ai.usage.cost" or k.startswith("gen_ai.usage.cost.")
    }
    if not costs:
        return None, None
    currency = str(costs.pop("gen_ai.usage.cost.currency", "USD"))
    total = costs.get("gen_ai.usage.cost", costs.get("gen_ai.usage.cost.total"))
    values = [total] if total is not None else list(costs.values())
    if not values or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in values
    ):
        return None, f"provider cost {costs!r} is not a number >= 0"
    amount = float(sum(values))
    if currency.upper() != "USD":
        return None, f"provider cost {amount} {currency}: the ledger records USD only"
    field = _COST if total is not None or len(costs) != 1 else next(iter(costs))
    return bounds.checked_cost(field, amount), None


def has_usage(span: SpanRecord) -> bool:
    """True when the span reports token usage.

    Example:
        >>> has_usage(SpanRecord("1" * 32, "2" * 16, None, "chat", 1, 9,
        ...     attributes={"gen_ai.usage.output_tokens": 3}))
        True
    """
    return not _USAGE.isdisjoint(span.attributes)


def receipt_call(span: SpanRecord, ctx: SpanContext, config: IngestConfig) -> dict[str, Any]:
    """Keyword arguments of ``Ledger.record_external`` for a span with usage (never a guess).

    Example:
        >>> s = SpanRecord("1" * 32, "2" * 16, None, "chat", 10**18, 10**18 + 1, attributes={
        ...     "gen_ai.request.model": "gpt-4.1", "gen_ai.usage.input_tokens": 1200,
        ...     "gen_ai.usage.cache_read.input_tokens": 1000, "gen_ai.usage.output_tokens": 5})
        >>> c = receipt_call(s, SpanContext("1" * 32, None, True, True), IngestConfig())
        >>> (c["model"], c["input_tokens"], c["cache_read_tokens"], c["output_tokens"])
        ('gpt-4.1', 200, 1000, 5)
    """
    attrs, src = span.attributes, span.source
    tokens = {
        "input_tokens": _count(attrs, _INPUT, src),
        "output_tokens": _count(attrs, _OUTPUT, src),
        "cache_read_tokens": _count(attrs, _CACHE_READ, src),
        "cache_write_tokens": _count(attrs, _CACHE_WRITE, src),
    }
    cached = tokens["cache_read_tokens"] + tokens["cache_write_tokens"]
    if config.input_includes_cache and tokens["input_tokens"] >= cached:
        tokens["input_tokens"] -= cached
    requested = attrs.get("gen_ai.request.model")
    model = attrs.get("gen_ai.response.model") or requested
    cost, reason = _provider_cost(attrs)
    if not model:
        model = "unknown"
        if cost is None:
            reason = "the span names no gen_ai.response.model or gen_ai.request.model"
    provider = attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system")
    provider = None if provider is None else str(provider)
    requested = None if requested in (None, "", model) else str(requested)
    bounds.checked_text("gen_ai.response.model", str(model), kind="model")
    bounds.checked_text("gen_ai.request.model", requested, kind="model")
    bounds.checked_text("gen_ai.provider.name", provider, kind="provider")
    bounds.checked_text("gen_ai.agent.name", ctx.agent, kind="node")
    return tokens | {
        "run_id": ctx.composition_id,
        "node": ctx.agent,
        "model": str(model),
        "requested_model": requested,
        "cost_usd": cost,
        "unpriced_reason": reason,
        "provider": provider,
        "usage_source": "ingested",
        "tenant_id": _tenant(span, config),
        "created_at": ns_to_iso(span.start_ns),
    }


def run_row(span: SpanRecord, ctx: SpanContext, config: IngestConfig) -> dict[str, Any]:
    """The ``workflow_runs`` row (plus ``workflow_name``) of a composition's root span.

    The name is ``gen_ai.workflow.name``, else ``gen_ai.agent.name``, else the span name; the
    workflow id is ``otel:`` + that name.

    Example:
        >>> s = SpanRecord("1" * 32, "2" * 16, None, "invoke_agent bot", 10**18, 10**18 + 1,
        ...     attributes={"gen_ai.agent.name": "bot"})
        >>> r = run_row(s, SpanContext("2" * 16, "bot", True, True), IngestConfig())
        >>> (r["workflow_id"], r["status"], r["tenant_id"])
        ('otel:bot', 'completed', 'default')
    """
    attrs = span.attributes
    name = attrs.get("gen_ai.workflow.name") or attrs.get("gen_ai.agent.name") or span.name
    failed = span.status_code == STATUS_ERROR or attrs.get("error.type") not in (None, "")
    bounds.checked_text("gen_ai.workflow.name", f"otel:{name}", kind="workflow_id")
    return {
        "composition_id": ctx.composition_id,
        "workflow_id": f"otel:{name}",
        "workflow_name": str(name),
        "tenant_id": _tenant(span, config),
        "started_at": ns_to_iso(span.start_ns),
        "ended_at": ns_to_iso(span.end_ns),
        "status": "failed" if failed else "completed",
        "summary": f"ingested from OpenTelemetry trace {span.trace_id}",
    }


def evaluations(
    span: SpanRecord, target: str | None, config: IngestConfig, *, skew_s: float | None = None
) -> list[Evaluation]:
    """The ``gen_ai.evaluation.result`` events of a span, each with its verdict or skip reason.

    ``target``: ``"tool"`` for a tool span, ``"model"`` for a model (chat) span with a receipt,
    None for any other span (its evaluations have nothing to point at).

    Example:
        >>> from govlib.capture.otel.decoding import EventRecord
        >>> ev = EventRecord("gen_ai.evaluation.result", 10**18 + 5,
        ...     {"gen_ai.evaluation.score.label": "pass", "gen_ai.evaluation.score.value": 0.9})
        >>> s = SpanRecord("1" * 32, "2" * 16, None, "chat x", 10**18, 10**18 + 9, events=(ev,))
        >>> [(e.verdict, e.by, e.target, e.score) for e in evaluations(s, "model", IngestConfig())]
        [('accept', 'otel-evaluator', 'model', 0.9)]
    """
    out = []
    events = [e for e in span.events if e.name == EVALUATION_EVENT]
    for i, ev in enumerate(events):
        label = ev.attributes.get("gen_ai.evaluation.score.label")
        by = ev.attributes.get(config.evaluator_attribute) or "otel-evaluator"
        verdict = None if label is None else config.verdict_for(label)
        reason = None
        if target is None:
            reason = "evaluates a span that is neither a tool call nor a model call"
        elif label is None:
            reason = "no gen_ai.evaluation.score.label"
        elif verdict is None:
            reason = f"label {label!r} maps to neither accept nor reject"
        if reason is None:
            bounds.checked_text(config.evaluator_attribute, str(by), kind="by")
            bounds.checked_text("gen_ai.evaluation.score.label", str(label), kind="by")
        when = ev.time_ns or span.end_ns
        at = ns_to_iso(bounds.checked_time("events.timeUnixNano", when, skew_s=skew_s))
        score = _score(ev.attributes.get("gen_ai.evaluation.score.value"))
        target_kind = target or "tool"
        out.append(Evaluation(i, label, verdict, str(by), at, reason, target_kind, score, ev.key))
    return out


def _score(value: Any) -> float | None:
    """A finite numeric score, else None (a score is kept as given, never interpreted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value) if math.isfinite(float(value)) else None


def map_span(
    span: SpanRecord,
    ctx: SpanContext,
    config: IngestConfig,
    *,
    genai_composition: bool,
    skew_s: float | None = None,
) -> MappedSpan:
    """Everything one span becomes; a field that cannot be read becomes a problem instead.

    ``genai_composition``: the span's composition holds tool or model spans (a trace-id
    composition gets a ``workflow_runs`` row only then). A value out of :mod:`govlib.bounds`
    skips the whole span: nothing but the problem (:class:`OutOfBounds`). ``skew_s``: the
    allowed clock skew (default: the ``max_clock_skew_s`` setting without a data dir).

    Example:
        >>> s = SpanRecord("1" * 32, "2" * 16, None, "execute_tool x", 10**18, 10**18 + 9)
        >>> m = map_span(s, SpanContext("1" * 32, None, True, True), IngestConfig(),
        ...     genai_composition=True)
        >>> (m.tool["tool_name"], m.receipt, m.run)
        ('x', None, None)
    """
    try:
        return _mapped(span, ctx, config, genai_composition, skew_s)
    except bounds.BoundsError as exc:
        return MappedSpan(span, ctx, problems=[OutOfBounds(exc, span.source, span.span_id)])


def _mapped(
    span: SpanRecord,
    ctx: SpanContext,
    config: IngestConfig,
    genai_composition: bool,
    skew_s: float | None,
) -> MappedSpan:
    """:func:`map_span` (raises :class:`~govlib.bounds.BoundsError` for a value out of bounds)."""
    out = MappedSpan(span, ctx)
    op = operation(span.attributes, span.name)
    if op == TOOL_OP:
        try:
            out.tool = tool_row(span, ctx, config)
        except OtelFormatError as exc:
            out.problems.append(exc)
    if has_usage(span) and (op not in INVOKE_OPS or not ctx.has_model_child):
        try:
            out.receipt = receipt_call(span, ctx, config)
        except OtelFormatError as exc:
            out.problems.append(exc)
    elif op in MODEL_OPS and _failed(span):
        out.receipt = failed_call(span, ctx, config)
    elif op in MODEL_OPS:
        out.note = "model span(s) without token usage (no receipt)"
    is_run = op in INVOKE_OPS and ctx.composition_id == span.span_id
    if not is_run and ctx.composition_is_trace and ctx.top and genai_composition:
        is_run = op not in (TOOL_OP, *MODEL_OPS)
    if is_run:
        out.run = run_row(span, ctx, config)
    target = "tool" if op == TOOL_OP else "model" if out.receipt else None
    out.evaluations = evaluations(span, target, config, skew_s=skew_s)
    if out.tool or out.receipt or out.run:
        bounds.checked_time("startTimeUnixNano", span.start_ns, skew_s=skew_s)
        bounds.checked_time("endTimeUnixNano", span.end_ns, skew_s=skew_s)
    return out


def _failed(span: SpanRecord) -> bool:
    return span.status_code == STATUS_ERROR or span.attributes.get("error.type") not in (None, "")


def failed_call(span: SpanRecord, ctx: SpanContext, config: IngestConfig) -> dict[str, Any]:
    """The zero-token receipt of a failed model call (HTTP 500, timeout): unpriced, with why.

    Example:
        >>> s = SpanRecord("1" * 32, "2" * 16, None, "chat", 10**18, 10**18 + 1, 2, "HTTP 500",
        ...     attributes={"gen_ai.request.model": "gpt-4o-mini", "error.type": "InternalServerError"})
        >>> c = failed_call(s, SpanContext("1" * 32, None, True, True), IngestConfig())
        >>> (c["model"], c["input_tokens"], c["unpriced_reason"])
        ('gpt-4o-mini', 0, 'model call failed: InternalServerError: HTTP 500')
    """
    call = receipt_call(span, ctx, config)
    reason = f"model call failed: {error_text(span, span.attributes.get('error.type'))}"
    return call | {"cost_usd": None, "unpriced_reason": bounds.truncated("unpriced_reason", reason)}


def prepared(span: SpanRecord) -> tuple[SpanRecord, str | None]:
    """The span in GenAI terms and the convention it was written in (see ``conventions``).

    Example:
        >>> prepared(SpanRecord("1" * 32, "2" * 16, None, "GET /", 1, 9))[1] is None
        True
    """
    return normalized(span), convention(span.attributes)


def is_genai(span: SpanRecord) -> bool:
    """True for a tool span or a span reporting token usage.

    Example:
        >>> is_genai(SpanRecord("1" * 32, "2" * 16, None, "execute_tool x", 1, 9))
        True
    """
    return operation(span.attributes, span.name) == TOOL_OP or has_usage(span)


def plan_spans(
    spans: list[SpanRecord],
    config: IngestConfig,
    index: SpanIndex | None = None,
    *,
    skew_s: float | None = None,
) -> list[MappedSpan]:
    """Map a set of spans that may reference each other (one ingest: every file, every line).

    ``skew_s``: the allowed clock skew of :func:`map_span`.

    Example:
        >>> plan_spans([], IngestConfig())
        []
    """
    index = index if index is not None else SpanIndex()
    pairs = [prepared(s) for s in spans]
    spans = [p[0] for p in pairs]
    for span in spans:
        index.add_record(span)
    for span in spans:
        if has_usage(span) and operation(span.attributes, span.name) not in INVOKE_OPS:
            index.mark_model_call(span.trace_id, span.span_id)
    contexts = [index.resolve(s.trace_id, s.span_id) for s in spans]
    genai = {c.composition_id for s, c in zip(spans, contexts, strict=True) if is_genai(s)}
    out = []
    for (s, conv), c in zip(pairs, contexts, strict=True):
        mapped = map_span(s, c, config, genai_composition=c.composition_id in genai, skew_s=skew_s)
        mapped.convention = conv
        out.append(mapped)
    return out
