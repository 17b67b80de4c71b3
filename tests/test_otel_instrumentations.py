"""Real instrumentations against a local fake OpenAI-compatible server (issue 17).

The real ``openai`` client calls a loopback server that answers like OpenAI (a dated model,
1,000 prompt tokens of which 200 cached, 50 completion tokens) or fails with HTTP 500. Each
instrumentation's spans are exported (a) over OTLP/HTTP to ``govlib collect`` by the real
``opentelemetry-exporter-otlp-proto-http`` exporter (the Langfuse SDK through its own exporter,
``LANGFUSE_BASE_URL`` pointed at the receiver) and (b) as a Collector-format file, and both must
give exactly the rows below. The results also feed the compatibility table in ``docs/ingest.md``
(``python tests/test_otel_instrumentations.py`` prints it).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_sample import encode_lines
from test_otel_collect import Receiver

from govlib.capture.fingerprint import output_hash
from govlib.capture.otel.ingest import ingest_paths
from govlib.evidence.verify import verify_store
from govlib.store.database import Store

DOC = Path(__file__).resolve().parent.parent / "docs" / "ingest.md"
#: What each instrumentation yielded in this run: the rows of the compatibility table.
RESULTS: dict[str, str] = {}
FLAGS = {
    "opentelemetry-instrumentation-openai-v2": "none",
    "openinference-instrumentation-openai": "none",
    "langfuse": "`LANGFUSE_BASE_URL=http://127.0.0.1:4318` (any keys)",
    "opentelemetry-instrumentation-openai": "none",
    "pydantic-ai-slim": "none",
    "openinference-instrumentation-openai-agents": "`set_trace_processors([])` (no export to OpenAI)",
}

#: 800 x 0.15 + 200 x 0.075 + 50 x 0.6 per million (gpt-4o-mini), cached input apart
CACHED = 0.000165
#: 1000 x 0.15 + 50 x 0.6 per million: the instrumentation reports no cached count
UNCACHED = 0.00018


def _answer(request: dict) -> tuple[dict, str]:
    """Every offered tool called once (an agent's first turn), else a text answer."""
    tools = request.get("tools") or []
    if tools and not any(m.get("role") == "tool" for m in request.get("messages", [])):
        calls = [
            {"id": f"call_{i}", "type": "function"}
            | {"function": {"name": t["function"]["name"], "arguments": "{}"}}
            for i, t in enumerate(tools)
        ]
        return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
    return {"role": "assistant", "content": "SECRET ANSWER"}, "stop"


class _FakeOpenAI(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if request["model"] == "boom":
            status, body = 500, {"error": {"message": "boom", "type": "server_error"}}
        else:
            usage = {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050}
            usage["prompt_tokens_details"] = {"cached_tokens": 200}
            message, finish = _answer(request)
            status, body = (
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1_795_428_000,
                    "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                    "usage": usage,
                },
            )
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def fake_openai():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


_EVALUATION = json.dumps(
    {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1795428060000000000",
        "eventName": "gen_ai.evaluation.result",
        "attributes": [
            {"key": "gen_ai.response.id", "value": {"stringValue": "chatcmpl-1"}},
            {"key": "gen_ai.evaluation.name", "value": {"stringValue": "groundedness"}},
            {"key": "gen_ai.evaluation.score.label", "value": {"stringValue": "pass"}},
        ],
    }]}]}]}
).encode()  # fmt: skip
#: What the evaluation above gives when the instrumentation records ``gen_ai.response.id``.
JUDGED = [("evaluator:groundedness", "token_ledger", 1, "accept")]


def _calls(client) -> None:
    """A call answered by a dated model, then a call failing with HTTP 500."""
    messages = [{"role": "user", "content": "SECRET PROMPT"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="boom", messages=messages)


def _rows(store: Store) -> dict[str, list[tuple]]:
    q = store.query
    cols = "model, requested_model, priced_as, input_tokens, cache_read_tokens, output_tokens, "
    cols += "cost_usd, cost_source, unpriced_reason"
    return {
        "receipts": [tuple(r) for r in q(f"SELECT {cols} FROM token_ledger ORDER BY id")],  # noqa: S608
        "tools": [tuple(r) for r in q("SELECT tool_name, success, error, output_hash FROM audit_log ORDER BY id")],  # noqa: E501
        "runs": [tuple(r) for r in q("SELECT workflow_id, status FROM workflow_runs")],
        "verdicts": [tuple(r) for r in q("SELECT source, target_table, target_id, verdict FROM evaluator_verdicts")],  # noqa: E501
    }  # fmt: skip


def _both_ways(tmp_path: Path, run, *, collect_url_env=None):
    """Rows from (a) govlib collect over OTLP/HTTP and (b) a file of the same spans."""
    store = Store(tmp_path / "collected")
    rx = Receiver(store)
    memory = InMemorySpanExporter()
    run(rx.url, memory)
    # an evaluator's judgement of the answer, sent later as a log record naming the response
    status, _, _ = rx.post(_EVALUATION, "application/json", path="/v1/logs")
    assert status == 200
    summary = rx.stop()
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(encode_lines(memory.get_finished_spans())) + "\n")
    file_store = Store(tmp_path / "file")
    file_summary = ingest_paths(file_store, [path])
    collected = _rows(store)
    assert collected == _rows(file_store) | {"verdicts": collected["verdicts"]}
    # exporters retry: the same spans and evaluation delivered again add nothing
    again = Receiver(store)
    resent = OTLPSpanExporter(endpoint=f"{again.url}/v1/traces")
    assert resent.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS
    assert again.post(_EVALUATION, "application/json", path="/v1/logs")[0] == 200
    assert again.stop().new_total == 0 and _rows(store) == collected
    assert verify_store(store).ok and verify_store(file_store).ok
    dump = json.dumps([list(map(str, r)) for t in collected.values() for r in t])
    assert "SECRET" not in dump
    return collected, summary, file_summary


def _provider(url: str, memory: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    return provider


def _instrumented(instrumentor, fake_openai):
    def run(url: str, memory: InMemorySpanExporter) -> None:
        provider = _provider(url, memory)
        instrumentor.instrument(tracer_provider=provider)
        try:
            _calls(openai.OpenAI(base_url=fake_openai, api_key="test", max_retries=0))
        finally:
            instrumentor.uninstrument()
        provider.shutdown()

    return run


def test_opentelemetry_instrumentation_openai_v2(tmp_path, fake_openai):
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    rows, summary, _ = _both_ways(tmp_path, _instrumented(OpenAIInstrumentor(), fake_openai))
    assert rows["receipts"] == [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "gpt-4o-mini", 1000, 0, 50, UNCACHED,
         "price_table", None),
        ("boom", None, None, 0, 0, 0, None, "unpriced",
         "model call failed: InternalServerError: Error code: 500 - boom"),
    ]  # fmt: skip
    assert summary.conventions == {"OTel GenAI": 2}
    assert rows["verdicts"] == JUDGED  # its chat span records gen_ai.response.id
    _record("opentelemetry-instrumentation-openai-v2", "OTel GenAI", rows, "no cached count")


def test_openinference_instrumentation_openai(tmp_path, fake_openai):
    from openinference.instrumentation.openai import OpenAIInstrumentor

    rows, summary, _ = _both_ways(tmp_path, _instrumented(OpenAIInstrumentor(), fake_openai))
    assert rows["receipts"] == [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "gpt-4o-mini", 800, 200, 50, CACHED,
         "price_table", None),
        ("boom", None, None, 0, 0, 0, None, "unpriced",
         "model call failed: InternalServerError: Error code: 500 - boom"),
    ]  # fmt: skip
    assert summary.conventions == {"OpenInference": 2}
    assert (
        rows["verdicts"] == []
    )  # no gen_ai.response.id on its spans: only a span context ties one
    _record("openinference-instrumentation-openai", "OpenInference", rows, "")


def test_langfuse_sdk_otel_export(tmp_path, fake_openai, monkeypatch):
    from langfuse import Langfuse
    from langfuse.openai import OpenAI

    def scenario(lf) -> None:
        client = OpenAI(base_url=fake_openai, api_key="test", max_retries=0)
        with lf.start_as_current_observation(as_type="agent", name="triage"):
            _calls(client)
            with lf.start_as_current_observation(as_type="tool", name="lookup") as tool:
                tool.update(output={"ok": True})
            with lf.start_as_current_observation(as_type="tool", name="pay") as tool:
                tool.update(level="ERROR", status_message="declined")
        lf.flush()
        lf.shutdown()

    def run(url: str, memory: InMemorySpanExporter) -> None:
        # The OTLP/HTTP exporter the SDK builds for LANGFUSE_BASE_URL, pointed at govlib
        # collect (its Langfuse path), plus a copy of every span for the file.
        otlp = OTLPSpanExporter(endpoint=f"{url}/api/public/otel/v1/traces")

        class Both(InMemorySpanExporter):
            def export(self, spans):
                memory.export(spans)
                return otlp.export(spans)

        lf = Langfuse(public_key="pk-lf-test", secret_key="sk-lf-test", base_url=url,
                      span_exporter=Both())  # fmt: skip
        scenario(lf)

    rows, summary, _ = _both_ways(tmp_path, run)
    assert rows["receipts"] == [
        ("gpt-4o-mini-2024-07-18", None, "gpt-4o-mini", 800, 200, 50, CACHED, "price_table", None),
        ("boom", None, None, 0, 0, 0, None, "unpriced", "model call failed: Error code: 500 - boom"),
    ]  # fmt: skip
    assert rows["tools"] == [
        ("lookup", 1, None, output_hash({"ok": True})),
        ("pay", 0, "declined", None),
    ]
    assert rows["runs"] == [("otel:triage", "completed")]
    assert summary.conventions == {"Langfuse": 5}
    assert (
        rows["verdicts"] == []
    )  # no gen_ai.response.id on its spans: only a span context ties one
    _record("langfuse", "Langfuse", rows, "SDK observations + `langfuse.openai`")


@pytest.mark.slow
def test_openllmetry_opentelemetry_instrumentation_openai(tmp_path, fake_openai):
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    rows, summary, _ = _both_ways(tmp_path, _instrumented(OpenAIInstrumentor(), fake_openai))
    assert rows["receipts"] == [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "gpt-4o-mini", 800, 200, 50, CACHED,
         "price_table", None),
        ("boom", None, None, 0, 0, 0, None, "unpriced",
         "model call failed: InternalServerError: Error code: 500 - boom"),
    ]  # fmt: skip
    assert rows["tools"] == rows["runs"] == []
    assert summary.conventions == {"OTel GenAI": 2}
    assert rows["verdicts"] == JUDGED  # its chat span records gen_ai.response.id
    _record("opentelemetry-instrumentation-openai", "OTel GenAI", rows, "OpenLLMetry")


def _tools_and_failure(run_agent, failing_agent) -> None:
    """An agent run calling ``lookup`` (returns) and ``pay`` (raises), then a model call that
    fails with HTTP 500."""
    run_agent()
    with pytest.raises(Exception, match="500"):
        failing_agent()


@pytest.mark.slow
def test_pydantic_ai_native_spans(tmp_path, fake_openai):
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    def agent(model: str, url: str, memory: InMemorySpanExporter):
        provider = OpenAIProvider(base_url=fake_openai, api_key="test")
        made = Agent(OpenAIChatModel(model, provider=provider), name="triage")
        made.instrument = InstrumentationSettings(tracer_provider=_provider(url, memory))
        return made

    def run(url: str, memory: InMemorySpanExporter) -> None:
        triage = agent("gpt-4o-mini", url, memory)

        @triage.tool_plain
        def lookup() -> dict:
            return {"ok": True}

        @triage.tool_plain
        def pay() -> str:
            raise RuntimeError("declined")

        with pytest.raises(RuntimeError, match="declined"):  # a tool error ends the run
            triage.run_sync("SECRET PROMPT")
        with pytest.raises(Exception, match="500"):
            agent("boom", url, memory).run_sync("SECRET PROMPT")

    rows, summary, _ = _both_ways(tmp_path, run)
    assert rows["receipts"] == [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "gpt-4o-mini", 800, 200, 50, CACHED,
         "price_table", None),
        ("boom", None, None, 0, 0, 0, None, "unpriced",
         "model call failed: ModelServerError: status_code: 500, model_name: boom, body: "
         "{'message': 'boom', 'type': 'server_error'}"),
    ]  # fmt: skip
    # pydantic-ai runs the two tool calls of one model turn concurrently: their spans end, and
    # are exported, in either order, so the rows are compared as a set.
    assert sorted(rows["tools"]) == [
        ("lookup", 1, None, output_hash({"ok": True})),
        ("pay", 0, "RuntimeError: declined", None),  # the text of the exception event
    ]
    assert rows["runs"] == [("otel:triage", "failed"), ("otel:triage", "failed")]
    assert summary.conventions == {"OTel GenAI": 6}
    assert rows["verdicts"] == JUDGED  # its chat span records gen_ai.response.id
    _record("pydantic-ai-slim", "OTel GenAI", rows, "native spans (`Agent.instrument`)")


@pytest.mark.slow
def test_openinference_instrumentation_openai_agents(tmp_path, fake_openai):
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        set_trace_processors,
    )
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    @function_tool
    def lookup() -> dict:
        return {"ok": True}

    @function_tool
    def pay() -> str:
        raise RuntimeError("declined")

    def run(url: str, memory: InMemorySpanExporter) -> None:
        client = openai.AsyncOpenAI(base_url=fake_openai, api_key="test", max_retries=0)
        set_trace_processors([])  # no export to OpenAI: only the instrumentor's processor
        instrumentor = OpenAIAgentsInstrumentor()
        instrumentor.instrument(tracer_provider=_provider(url, memory))
        try:
            model = OpenAIChatCompletionsModel("gpt-4o-mini", client)
            triage = Agent(name="triage", instructions="x", model=model, tools=[lookup, pay])
            Runner.run_sync(triage, "SECRET PROMPT")
            boom = Agent(
                name="boom", instructions="x", model=OpenAIChatCompletionsModel("boom", client)
            )
            with pytest.raises(openai.InternalServerError):
                Runner.run_sync(boom, "SECRET PROMPT")
        finally:
            instrumentor.uninstrument()
            set_trace_processors([])

    rows, summary, _ = _both_ways(tmp_path, run)
    # The Agents SDK's spans carry no cached count and the requested model only.
    assert rows["receipts"] == [
        ("gpt-4o-mini", None, "gpt-4o-mini", 1000, 0, 50, UNCACHED, "price_table", None),
        ("gpt-4o-mini", None, "gpt-4o-mini", 1000, 0, 50, UNCACHED, "price_table", None),
        ("boom", None, None, 0, 0, 0, None, "unpriced",
         "model call failed: Error getting response: {'error': 'Error code: 500 - boom'}"),
    ]  # fmt: skip
    declined = (
        "Error running tool (non-fatal): {'tool_name': 'pay', 'error': 'Tool execution failed. "
        "Error details are redacted.'}"
    )
    # the Agents SDK also runs one turn's tool calls concurrently: compared as a set
    tools = sorted(rows["tools"])
    assert [t[:3] for t in tools] == [("lookup", 1, None), ("pay", 0, declined)]
    assert tools[0][3] == output_hash({"ok": True})
    # one run per trace, named by its root ("Agent workflow"); the agents inside count toward it
    assert rows["runs"] == [("otel:Agent workflow", "completed")] * 2
    assert summary.conventions == {"OpenInference": 7}
    assert (
        rows["verdicts"] == []
    )  # no gen_ai.response.id on its spans: only a span context ties one
    _record(
        "openinference-instrumentation-openai-agents",
        "OpenInference",
        rows,
        "`openai-agents` with `OpenAIChatCompletionsModel`",
    )


def _record(package: str, convention: str, rows: dict[str, list[tuple]], note: str) -> None:
    receipts = rows["receipts"]
    priced = sum(r[7] == "price_table" for r in receipts)
    failed = sum(str(r[8]).startswith("model call failed") for r in receipts)
    cached = "yes" if any(r[4] for r in receipts) else "no"
    RESULTS[package] = (
        f"| `{package}` | {version(package)} | {convention} | {len(rows['tools'])} | "
        f"{len(receipts)} ({priced} priced, {failed} failed call) | {cached} | "
        f"{len(rows['runs'])} | {len(rows['verdicts'])} | {FLAGS[package]} |"
        + (f" {note} |" if note else " |")
    )


def test_the_compatibility_table_in_docs_is_what_these_tests_found():
    if len(RESULTS) < len(FLAGS):
        pytest.skip("run with the instrumentation tests above (the whole file)")
    table = [
        line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith("| `")
    ]
    assert sorted(table) == sorted(RESULTS.values()), "\n".join(sorted(RESULTS.values()))
