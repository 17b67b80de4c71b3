"""A small GenAI agent trace made with the real OpenTelemetry SDK, written as Collector OTLP/JSON.

The SDK has no OTLP file exporter and its console exporter is not OTLP/JSON, so finished spans
(from an ``InMemorySpanExporter``) are encoded with the SDK's own OTLP protobuf encoder
(``encode_spans``), turned into protobuf JSON (``MessageToDict``) and their ids rewritten from
base64 (protobuf's JSON mapping) to hex (what the Collector ``file`` exporter writes). One
``ExportTraceServiceRequest`` per line, in batches of spans in the order they ended, like a
``BatchSpanProcessor`` exports them. Ids and times are fixed, so the output is reproducible.

Needs ``opentelemetry-sdk`` and ``opentelemetry-exporter-otlp-proto-common`` (test extras).
Regenerate the in-repo sample with::

    python tests/otel_sample.py tests/data/otel/sample_traces.jsonl
"""

from __future__ import annotations

import base64
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["BASE_NS", "agent_traces", "encode_lines", "hexify_ids", "sample_spans", "write_sample"]

#: 2026-11-23T10:00:00Z, the start of the sample traces.
BASE_NS = 1_795_428_000_000_000_000
_ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def _at(seconds: float) -> int:
    return BASE_NS + round(seconds * 1_000_000_000)


def _providers(seed: int, processors: Sequence[Any]) -> tuple[Any, dict[str, Any]]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    rng = random.Random(seed)

    class SeededIds(IdGenerator):
        def generate_span_id(self) -> int:
            return rng.getrandbits(64) or 1

        def generate_trace_id(self) -> int:
            return rng.getrandbits(128) or 1

    exporter = InMemorySpanExporter()
    resources = {
        "claims": {"service.name": "claims-agent", "tenant.id": "acme-insurance"},
        "support": {"service.name": "support-bot"},
    }
    tracers = {}
    for key, attrs in resources.items():
        provider = TracerProvider(
            resource=Resource(attrs), id_generator=SeededIds(), shutdown_on_exit=False
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        for extra in processors:
            provider.add_span_processor(extra)
        tracers[key] = provider.get_tracer("govlib.otel_sample", "1.0")
    return exporter, tracers


class _Trace:
    """Spans with explicit times: ``span(name, parent, start_s, end_s, attrs)``."""

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer

    def span(
        self, name: str, parent: Any, start: float, end: float | None, attrs: dict[str, Any]
    ) -> Any:
        from opentelemetry import trace

        ctx = trace.set_span_in_context(parent) if parent is not None else None
        kind = trace.SpanKind.SERVER if name.startswith("POST") else trace.SpanKind.INTERNAL
        span = self.tracer.start_span(
            name, context=ctx, kind=kind, attributes=attrs, start_time=_at(start)
        )
        if end is not None:
            span.end(end_time=_at(end))
        return span


def _tool(name: str, call_id: str, result: str | None = None) -> dict[str, Any]:
    attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    attrs["gen_ai.tool.call.id"] = call_id
    return attrs | ({"gen_ai.tool.call.result": result} if result is not None else {})


def _chat(model: str, provider: str, tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
    }


def _evaluate(span: Any, metric: str, label: str, score: float, at: float) -> None:
    attrs = {"gen_ai.evaluation.name": metric, "gen_ai.evaluation.score.label": label}
    span.add_event(
        "gen_ai.evaluation.result", attrs | {"gen_ai.evaluation.score.value": score}, _at(at)
    )


def sample_spans(seed: int = 10, processors: Sequence[Any] = ()) -> list[Any]:
    """The sample's finished SDK spans (``ReadableSpan``), in the order they ended.

    Three traces: a ``claims_triage`` workflow (triage agent: a priced chat with cache reads, a
    tool judged ``pass``, a failing tool, a chat of a model missing from the price table, a tool
    judged ``fail``); a ``support_bot`` agent (a chat with a provider-reported cost, a tool judged
    ``partial``); and an HTTP request whose tool call sits under no agent span (plus a DB span).
    ``processors`` are added to every tracer provider too (e.g. a ``GovlibSpanProcessor``).

    Example:
        >>> [s.name for s in sample_spans()][:2]
        ['chat gpt-4.1', 'execute_tool lookup_policy']
    """
    from opentelemetry.trace import Status, StatusCode

    exporter, tracers = _providers(seed, processors)
    t = _Trace(tracers["claims"])
    flow = {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "claims_triage"}
    root = t.span("invoke_workflow claims_triage", None, 0.0, None, flow)
    agent_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"}
    agent = t.span("invoke_agent triage", root, 0.1, None, agent_attrs)
    cached = {"gen_ai.usage.cache_read.input_tokens": 1000}
    t.span("chat gpt-4.1", agent, 0.2, 1.4, _chat("gpt-4.1", "openai", 1200, 300) | cached)
    result = '{"policy": "P-100", "active": true}'
    lookup = t.span(
        "execute_tool lookup_policy", agent, 1.5, None, _tool("lookup_policy", "c1", result)
    )
    _evaluate(lookup, "policy_match", "pass", 1.0, 1.74)
    lookup.end(end_time=_at(1.742))
    fraud = t.span("execute_tool fraud_score", agent, 1.8, None, _tool("fraud_score", "c2"))
    fraud.set_attribute("error.type", "TimeoutError")
    fraud.set_status(Status(StatusCode.ERROR, "upstream timed out"))
    fraud.end(end_time=_at(6.8))
    t.span("chat in-house-llm", agent, 6.9, 7.7, _chat("in-house-llm", "acme-ml", 800, 120))
    letter = t.span(
        "execute_tool send_letter",
        agent,
        7.8,
        None,
        _tool("send_letter", "c3", "letter L-7 queued"),
    )
    _evaluate(letter, "tone_check", "fail", 0.0, 7.89)
    letter.end(end_time=_at(7.9))
    agent.end(end_time=_at(8.9))
    root.end(end_time=_at(9.0))

    s = _Trace(tracers["support"])
    bot_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support_bot"}
    bot = s.span("invoke_agent support_bot", None, 60.0, None, bot_attrs)
    chat = _chat("claude-sonnet-4-6", "anthropic", 2000, 400) | {"gen_ai.usage.cost": 0.0123}
    s.span("chat claude-sonnet-4-6", bot, 60.1, 62.3, chat)
    kb = s.span(
        "execute_tool search_kb", bot, 62.4, None, _tool("search_kb", "c4", '["doc-1", "doc-2"]')
    )
    _evaluate(kb, "relevance", "partial", 0.5, 62.7)
    kb.end(end_time=_at(62.71))
    bot.end(end_time=_at(63.0))

    http = s.span("POST /answer", None, 120.0, None, {"http.request.method": "POST"})
    s.span("SELECT answers", http, 120.01, 120.05, {"db.system.name": "postgresql"})
    tool = _tool("lookup_policy", "c5", '{"active": false, "policy": "P-200"}')
    s.span("execute_tool lookup_policy", http, 120.1, 120.4, tool | {"tenant.id": "globex"})
    http.end(end_time=_at(120.5))
    return list(exporter.get_finished_spans())


def agent_traces(traces: int, seed: int = 17, tenant: str = "load") -> list[Any]:
    """``traces`` agent traces of 4 real SDK spans each (agent, chat, two tools), ended spans.

    Each trace: ``invoke_agent`` root, a priced ``gpt-4o-mini`` chat (dated response model),
    a tool that succeeds and one that fails; 1 ms apart from the last trace. For load tests.

    Example:
        >>> [s.name for s in agent_traces(1)]
        ['chat gpt-4o-mini', 'execute_tool lookup', 'execute_tool pay', 'invoke_agent load_bot']
    """
    from opentelemetry.trace import Status, StatusCode

    exporter, tracers = _providers(seed, ())
    t = _Trace(tracers["support"])
    agent_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "load_bot"}
    agent_attrs["tenant.id"] = tenant
    chat = _chat("gpt-4o-mini", "openai", 900, 60) | {
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18"
    }
    for i in range(traces):
        at = 200.0 + i / 1000
        root = t.span("invoke_agent load_bot", None, at, None, agent_attrs)
        t.span("chat gpt-4o-mini", root, at + 0.0001, at + 0.0004, chat)
        t.span(
            "execute_tool lookup", root, at + 0.0005, at + 0.0006, _tool("lookup", f"l{i}", "ok")
        )
        pay = t.span("execute_tool pay", root, at + 0.0007, None, _tool("pay", f"p{i}"))
        pay.set_status(Status(StatusCode.ERROR, "declined"))
        pay.end(end_time=_at(at + 0.0008))
        root.end(end_time=_at(at + 0.0009))
    return list(exporter.get_finished_spans())


def hexify_ids(obj: Any) -> Any:
    """Rewrite base64 ``traceId``/``spanId``/``parentSpanId`` values (protobuf JSON) as hex.

    Example:
        >>> hexify_ids({"spanId": "AAAAAAAAAAE="})
        {'spanId': '0000000000000001'}
    """
    if isinstance(obj, list):
        return [hexify_ids(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, value in obj.items():
        if key in _ID_FIELDS and isinstance(value, str) and value:
            out[key] = base64.b64decode(value).hex()
        else:
            out[key] = hexify_ids(value)
    return out


def encode_lines(spans: Sequence[Any], *, ids: str = "hex", batch: int = 5) -> list[str]:
    """Collector-format lines: one ``ExportTraceServiceRequest`` per ``batch`` spans.

    ``ids="base64"`` keeps protobuf's JSON mapping of ids (what ``MessageToJson`` writes).

    Example:
        >>> encode_lines([])
        []
    """
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    if ids not in ("hex", "base64"):
        raise ValueError(f"ids: {ids!r}; expected 'hex' or 'base64'")
    lines = []
    for start in range(0, len(spans), batch):
        request = MessageToDict(encode_spans(list(spans[start : start + batch])))
        request = hexify_ids(request) if ids == "hex" else request
        lines.append(json.dumps(request, separators=(",", ":")))
    return lines


def write_sample(path: str | Path, *, ids: str = "hex") -> Path:
    """Write the sample export (one request per line) to ``path``; returns it.

    Example:
        >>> import tempfile, os
        >>> p = write_sample(os.path.join(tempfile.mkdtemp(), "t.jsonl"))
        >>> len(p.read_text().splitlines())
        3
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(encode_lines(sample_spans(), ids=ids)) + "\n", encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m govlib.otel_sample OUT.jsonl [--base64]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    ids = "base64" if "--base64" in args else "hex"
    targets = [a for a in args if a != "--base64"]
    if len(targets) != 1:
        print("usage: python -m govlib.otel_sample OUT.jsonl [--base64]", file=sys.stderr)
        return 2
    print(f"wrote {write_sample(targets[0], ids=ids)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
