"""OpenInference and Langfuse spans, dated model names, failures (issue 17), from real SDK spans.

Each trace is made with the real ``opentelemetry-sdk`` carrying the attributes the named
instrumentation writes, exported as Collector OTLP/JSON (``tests/otel_sample.py``) and ingested;
the tests check the exact rows that come out and what the summary says about the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from otel_sample import encode_lines

from govlib.apps.executive.html import steps_table_html
from govlib.capture.fingerprint import output_hash
from govlib.capture.otel.ingest import ingest_paths
from govlib.costs.pricing import load_price_table, priced_name
from govlib.evidence.verify import verify_store
from govlib.present.formatting import priced_money
from govlib.store.database import Store


def _tracer(*processors):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "agent"}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for processor in processors:
        provider.add_span_processor(processor)
    return provider.get_tracer("test"), exporter


def _ingest(tmp_path: Path, exporter) -> tuple[Store, object]:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(encode_lines(exporter.get_finished_spans())) + "\n")
    store = Store(tmp_path / "data")
    return store, ingest_paths(store, [path])


def _rows(store: Store, sql: str) -> list[tuple]:
    return [tuple(r) for r in store.query(sql)]


def _child(tracer, name, parent, attrs):
    return tracer.start_span(name, context=trace.set_span_in_context(parent), attributes=attrs)


def _openinference_trace(tracer) -> None:
    """What openinference-instrumentation-openai(-agents) write: CHAIN > AGENT > LLM, TOOLs."""
    root = tracer.start_span("Agent workflow", attributes={"openinference.span.kind": "CHAIN"})
    agent = _child(tracer, "Claims triage", root, {"openinference.span.kind": "AGENT"})
    llm = _child(
        tracer,
        "ChatCompletion",
        agent,
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini-2024-07-18",
            "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini"}),
            "llm.provider": "openai",
            "llm.system": "openai",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 50,
            "llm.token_count.prompt_details.cache_read": 200,
            "llm.token_count.total": 1050,
            "input.value": "SECRET PROMPT",
            "output.value": "SECRET ANSWER",
        },
    )
    llm.end()
    tool = {"openinference.span.kind": "TOOL", "tool.name": "lookup_policy"}
    ok = _child(tracer, "lookup_policy", agent, tool | {"output.value": '{"status": "active"}'})
    ok.end()
    bad = _child(tracer, "lookup_policy", agent, tool)
    bad.record_exception(TimeoutError("policy service did not answer in 30 s"))
    bad.set_status(Status(StatusCode.ERROR))
    bad.end()
    _child(tracer, "guardrail step", agent, {"openinference.span.kind": "CHAIN"}).end()
    agent.end()
    root.end()


def test_openinference_spans_become_rows_priced_by_the_base_model(tmp_path):
    tracer, exporter = _tracer()
    _openinference_trace(tracer)
    store, summary = _ingest(tmp_path, exporter)
    audit = "SELECT tool_name, success, error, output_hash, composition_id FROM audit_log"
    rows = _rows(store, audit + " ORDER BY id")
    [run] = _rows(store, "SELECT composition_id, workflow_id, status FROM workflow_runs")
    assert rows == [
        ("lookup_policy", 1, None, output_hash({"status": "active"}), run[0]),
        ("lookup_policy", 0, "TimeoutError: policy service did not answer in 30 s", None, run[0]),
    ]
    assert run[1:] == ("otel:Agent workflow", "completed")
    cols = "run_id, node, model, requested_model, priced_as, provider, input_tokens, "
    cols += "cache_read_tokens, output_tokens, cost_usd, cost_source"
    assert _rows(store, f"SELECT {cols} FROM token_ledger") == [
        (run[0], "Claims triage", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "gpt-4o-mini", "openai",
         800, 200, 50, 0.000165, "price_table"),
    ]  # fmt: skip
    dump = "\n".join(str(tuple(r)) for t in ("audit_log", "token_ledger", "workflow_runs")
                     for r in store.query(f"SELECT * FROM {t}"))  # fmt: skip
    assert "SECRET" not in dump  # content-free: prompts and answers never stored
    assert summary.conventions == {"OpenInference": 4}
    assert summary.not_mapped_reasons == {
        "OpenInference CHAIN span inside a run (a step: nothing to record)": 1,
        "OpenInference AGENT span inside an outer run (its calls count toward that run)": 1,
    }
    assert "Priced as gpt-4o-mini (the table has no gpt-4o-mini-2024-07-18)" in summary.describe()
    assert verify_store(store).ok


def _langfuse_trace(tracer) -> None:
    """What the Langfuse SDK (v3, OTel based) exports: observation type, model, usage, cost."""
    root = tracer.start_span(
        "handle-claim",
        attributes={"langfuse.observation.type": "span", "langfuse.trace.name": "claims"},
    )
    agent = _child(tracer, "triage-agent", root, {"langfuse.observation.type": "agent"})
    gen = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": "gpt-4o-mini",
        "langfuse.observation.usage_details": json.dumps(
            {"input": 300, "output": 20, "input_cached_tokens": 100, "total": 420}
        ),
        "langfuse.observation.input": "SECRET",
    }
    _child(tracer, "OpenAI-generation", agent, gen).end()
    priced = gen | {"langfuse.observation.cost_details": json.dumps({"total": 0.0042})}
    _child(tracer, "OpenAI-generation", agent, priced).end()
    tool = {"langfuse.observation.type": "tool", "langfuse.observation.output": "42"}
    _child(tracer, "calculator", agent, tool).end()
    failed = tool | {
        "langfuse.observation.level": "ERROR",
        "langfuse.observation.status_message": "division by zero",
    }
    _child(tracer, "calculator", agent, failed).end()
    _child(tracer, "retrieve", agent, {"langfuse.observation.type": "span"}).end()
    agent.end()
    root.end()


def test_langfuse_observations_become_rows(tmp_path):
    tracer, exporter = _tracer()
    _langfuse_trace(tracer)
    store, summary = _ingest(tmp_path, exporter)
    [run] = _rows(store, "SELECT composition_id, workflow_id FROM workflow_runs")
    assert run[1] == "otel:claims"
    assert _rows(store, "SELECT tool_name, success, error, output_hash FROM audit_log") == [
        ("calculator", 1, None, output_hash("42")),
        ("calculator", 0, "division by zero", output_hash("42")),
    ]
    cols = "model, input_tokens, cache_read_tokens, output_tokens, cost_usd, cost_source"
    # 300 input besides 100 cached: 300 x 0.15 + 100 x 0.075 + 20 x 0.6 per million
    assert _rows(store, f"SELECT {cols} FROM token_ledger ORDER BY id") == [
        ("gpt-4o-mini", 300, 100, 20, 0.0000645, "price_table"),
        ("gpt-4o-mini", 300, 100, 20, 0.0042, "provider"),
    ]
    assert summary.conventions == {"Langfuse": 5}
    assert summary.not_mapped_reasons == {
        "Langfuse span observation inside a trace (not a tool, generation or agent)": 1,
        "Langfuse agent observation inside an outer run (its calls count toward that run)": 1,
    }
    assert verify_store(store).ok


def test_dated_and_prefixed_names_price_by_the_base_model_only():
    prices = load_price_table().prices
    assert priced_name(prices, "gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert priced_name(prices, "gpt-4o-mini-2024-07-18", "gpt-4.1") == "gpt-4.1"  # request next
    assert priced_name(prices, "openai/gpt-4o-mini") == "gpt-4o-mini"
    assert priced_name(prices, "gpt-4o-mini@20240718") == "gpt-4o-mini"
    assert priced_name(prices, "gpt-4o-mini-turbo") is None  # no guess beyond the rules
    assert priced_name(prices, "gpt-4.1", "gpt-4o-mini") == "gpt-4.1"  # exact first


def test_a_failed_model_call_leaves_a_zero_token_receipt(tmp_path):
    tracer, exporter = _tracer()
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    span = tracer.start_span("chat gpt-4o-mini", attributes=attrs | {"error.type": "500"})
    span.set_status(Status(StatusCode.ERROR, "Internal Server Error"))
    span.end()
    store, summary = _ingest(tmp_path, exporter)
    cols = "model, input_tokens, output_tokens, cost_usd, cost_source, unpriced_reason"
    assert _rows(store, f"SELECT {cols} FROM token_ledger") == [
        ("gpt-4o-mini", 0, 0, None, "unpriced", "model call failed: 500: Internal Server Error")
    ]
    assert summary.cost == {"unpriced": 1}


def test_plain_spans_are_ignored_with_the_reason(tmp_path):
    tracer, exporter = _tracer()
    tracer.start_span("GET /health", attributes={"http.request.method": "GET"}).end()
    store, summary = _ingest(tmp_path, exporter)
    assert summary.new_total == 0 and summary.not_mapped == 1
    assert summary.describe().splitlines()[1:] == [
        "Spans with nothing to record: 1:",
        "  1 not an AI span (no gen_ai.*, openinference.span.kind or langfuse.observation.type "
        "attribute): ignored",
    ]


def test_unpriced_cost_reads_unpriced_never_zero_dollars():
    assert priced_money(0.0, 3, 3) == "unpriced"
    assert priced_money(0.25, 4, 1) == "$0.2500 + 1 unpriced"
    steps = [{"node": "ocr", "models": "in-house", "input_tokens": 10, "output_tokens": 2}]
    html = steps_table_html([steps[0] | {"cost_usd": 0.0, "calls": 2, "unpriced_calls": 2}])
    assert "unpriced" in html and "$0.000000" not in html


# --- the live processor: operation names set at span end --------------------------------------
def _late_traces(tracer) -> None:
    """Spans whose ``gen_ai.operation.name`` (and agent name) arrive only at span end.

    Trace 1, OpenInference in GenAI mode: an agent span with a chat and a tool below it.
    Trace 2, OpenAI Agents style: a workflow root with two agents (a handoff), each calling.
    """
    chat = {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 10}
    chat |= {"gen_ai.usage.output_tokens": 2}
    tool = {"gen_ai.tool.name": "lookup"}

    def call(parent, name, attrs, op):
        span = _child(tracer, name, parent, {})
        span.set_attributes(attrs | {"gen_ai.operation.name": op})
        span.end()

    agent = tracer.start_span("agent")
    call(agent, "chat", chat, "chat")
    call(agent, "tool", tool, "execute_tool")
    agent.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bot"})
    agent.end()

    root = tracer.start_span("Agent workflow")
    for name in ("triage", "billing"):
        a = _child(tracer, name, root, {})
        call(a, "chat", chat, "chat")
        call(a, "tool", tool, "execute_tool")
        a.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name})
        a.end()
    root.set_attributes({"gen_ai.operation.name": "invoke_workflow"})
    root.set_attribute("gen_ai.workflow.name", "support")
    root.end()


def _linked(store: Store) -> dict[str, list[tuple]]:
    return {
        "tools": _rows(store, "SELECT tool_name, composition_id FROM audit_log ORDER BY id"),
        "receipts": _rows(store, "SELECT run_id, node FROM token_ledger ORDER BY id"),
        "runs": _rows(store, "SELECT composition_id, workflow_id FROM workflow_runs ORDER BY 2"),
    }


def test_the_live_processor_links_late_named_spans_like_file_ingestion(tmp_path):
    from govlib.capture.otel.ingest import GovlibSpanProcessor

    processor = GovlibSpanProcessor(Store(tmp_path / "live"))
    tracer, exporter = _tracer(processor)
    _late_traces(tracer)
    live = _linked(processor.store)
    file_store, _ = _ingest(tmp_path, exporter)
    assert live == _linked(file_store)
    spans = {s.name: f"{s.context.span_id:016x}" for s in exporter.get_finished_spans()}
    agent, root = spans["agent"], spans["Agent workflow"]
    assert live["runs"] == [(agent, "otel:bot"), (root, "otel:support")]  # one run per trace
    assert live["tools"] == [("lookup", agent), ("lookup", root), ("lookup", root)]
    assert live["receipts"] == [(agent, "bot"), (root, "triage"), (root, "billing")]
    assert verify_store(processor.store).ok


def test_force_flush_writes_open_traces_and_their_end_adds_the_rest_once(tmp_path):
    from govlib.capture.otel.ingest import GovlibSpanProcessor

    processor = GovlibSpanProcessor(Store(tmp_path / "live"))
    tracer, _ = _tracer(processor)
    attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bot"}
    agent = tracer.start_span("invoke_agent bot", attributes=attrs)
    _child(tracer, "execute_tool a", agent, {"gen_ai.operation.name": "execute_tool"}).end()
    assert processor.force_flush()
    assert _rows(processor.store, "SELECT tool_name FROM audit_log") == [("a",)]
    _child(tracer, "execute_tool b", agent, {"gen_ai.operation.name": "execute_tool"}).end()
    agent.end()
    store = processor.store
    assert _rows(store, "SELECT tool_name, composition_id FROM audit_log ORDER BY id") == [
        ("a", f"{agent.context.span_id:016x}"),
        ("b", f"{agent.context.span_id:016x}"),
    ]
    assert +processor.summary.new == {"tool_calls": 2, "runs": 1}  # each written once
