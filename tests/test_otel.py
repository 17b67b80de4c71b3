"""OpenTelemetry GenAI ingestion (issue 10): real SDK spans -> OTLP/JSON -> the govlib store.

Traces are made with the real ``opentelemetry-sdk`` (``tests/otel_sample.py`` or in the test),
encoded with the SDK's OTLP protobuf encoder, written as Collector-format JSON lines and ingested;
the tests check the exact rows, receipts, runs and verdicts that come out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from otel_sample import encode_lines, sample_spans

from govlib.analysis.stats import tool_stats, workflow_stats
from govlib.capture.fingerprint import output_hash
from govlib.capture.otel.config import OtelConfigError
from govlib.capture.otel.decoding import decode_id, parse_line
from govlib.capture.otel.ingest import (
    GovlibSpanProcessor,
    IngestConfig,
    OtelIngestError,
    ingest_paths,
)
from govlib.cli.main import cli
from govlib.evidence.verify import verify_store
from govlib.governance.governor import KillSwitch
from govlib.store.database import Store
from govlib.store.schema import AUDIT_COLUMNS, LEDGER_COLUMNS

SAMPLE = Path(__file__).parent / "data" / "otel" / "sample_traces.jsonl"
T0 = "2026-11-23T10:"


# --- helpers ---------------------------------------------------------------------------------------
def _ids(spans):
    """name -> (trace hex, span hex); a repeated name gets '#2'."""
    out = {}
    for s in spans:
        key = s.name if s.name not in out else s.name + "#2"
        out[key] = (f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}")
    return out


def _export(path: Path, spans, **kw) -> Path:
    path.write_text("\n".join(encode_lines(spans, **kw)) + "\n")
    return path


def _rows(store: Store, sql: str) -> list[tuple]:
    return [tuple(r) for r in store.query(sql)]


def _audit(store):
    return _rows(store, f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log ORDER BY id")


def _ledger(store):
    return _rows(store, f"SELECT {', '.join(LEDGER_COLUMNS)} FROM token_ledger ORDER BY id")


def _runs(store):
    cols = "composition_id, workflow_id, tenant_id, subject, started_at, ended_at, status, "
    cols += "stopped_at_node, summary"  # worm_seq differs between two stores, by design
    return _rows(store, f"SELECT {cols} FROM workflow_runs ORDER BY started_at")


def _verdicts(store):
    return _rows(
        store,
        "SELECT id, source, target_table, target_id, verdict, label, score, evaluated_at "
        "FROM evaluator_verdicts ORDER BY id",
    )


def _tracer(resource=None):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource(resource or {"service.name": "test-agent"}), shutdown_on_exit=False
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


@pytest.fixture(scope="module")
def spans():
    return sample_spans()


@pytest.fixture()
def ingested(tmp_path, spans):
    store = Store(tmp_path / "data")
    summary = ingest_paths(store, [_export(tmp_path / "t.jsonl", spans)])
    yield store, summary, _ids(spans)
    store.close()


# --- the in-repo sample ----------------------------------------------------------------------------
def test_sample_file_is_what_the_generator_writes(spans):
    checked_in = [parse_line(line, "x")[0] for line in SAMPLE.read_text().splitlines()]
    regenerated = [parse_line(line, "x")[0] for line in encode_lines(spans)]
    assert checked_in == regenerated
    assert sum(len(s) for s in checked_in) == 13
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    span = first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and len(span["spanId"]) == 16  # hex, like the Collector


# --- exact rows ------------------------------------------------------------------------------------
def test_tool_spans_become_exact_audit_rows(ingested):
    store, _, ids = ingested
    wf = ids["invoke_workflow claims_triage"][1]
    bot = ids["invoke_agent support_bot"][1]
    http_trace = ids["POST /answer"][0]
    assert _audit(store) == [
        (1, "acme-insurance", "lookup_policy", "claims-agent", wf, 1, 1, 242,
         output_hash({"policy": "P-100", "active": True}), None,
         None, None, None, f"{T0}00:01.500000Z"),
        (2, "acme-insurance", "fraud_score", "claims-agent", wf, 0, 1, 5000, None,
         "TimeoutError: upstream timed out", None, None, None, f"{T0}00:01.800000Z"),
        (3, "acme-insurance", "send_letter", "claims-agent", wf, 1, 1, 100,
         output_hash("letter L-7 queued"), None,
         None, None, None, f"{T0}00:07.800000Z"),
        (4, "default", "search_kb", "support-bot", bot, 1, 1, 310,
         output_hash(["doc-1", "doc-2"]), None, None, None, None, f"{T0}01:02.400000Z"),
        (5, "globex", "lookup_policy", "support-bot", http_trace, 1, 1, 300,
         output_hash({"active": False, "policy": "P-200"}), None, None, None, None,
         f"{T0}02:00.100000Z"),
    ]  # fmt: skip
    # evaluations are evaluators' verdicts, never a human review: the verdict triple stays empty
    # the result is hashed, never stored
    assert store.query_one("SELECT COUNT(*) FROM audit_log WHERE output_hash LIKE '%P-100%'") == 0


def test_model_spans_become_exact_receipts(ingested):
    store, summary, ids = ingested
    wf, bot = ids["invoke_workflow claims_triage"][1], ids["invoke_agent support_bot"][1]
    version = "2026-11-12.1"
    assert _ledger(store) == [
        # gpt-4.1: 1200 input tokens of which 1000 cache reads -> 200 + 1000 cached, priced
        (1, wf, "triage", "acme-insurance", "gpt-4.1", "openai", 200, 300, 1000, 0,
         2.0, 8.0, 0.5, None, 0.0033, "USD", version, "ingested", "price_table", None,
         f"{T0}00:00.200000Z"),
        # a model missing from the price table: tokens kept, no cost, the reason recorded
        (2, wf, "triage", "acme-insurance", "in-house-llm", "acme-ml", 800, 120, 0, 0,
         None, None, None, None, None, "USD", version, "ingested", "unpriced",
         f"model not in price table {version}", f"{T0}00:06.900000Z"),
        # the provider's own figure, recorded as such
        (3, bot, "support_bot", "default", "claude-sonnet-4-6", "anthropic", 2000, 400, 0, 0,
         None, None, None, None, 0.0123, "USD", version, "ingested", "provider", None,
         f"{T0}01:00.100000Z"),
    ]  # fmt: skip
    assert summary.unpriced == {("in-house-llm", f"model not in price table {version}"): 1}


def test_runs_workflows_and_verdicts(ingested):
    store, _, ids = ingested
    wf, bot = ids["invoke_workflow claims_triage"], ids["invoke_agent support_bot"]
    http = ids["POST /answer"]
    assert _runs(store) == [
        (wf[1], "otel:claims_triage", "acme-insurance", None, f"{T0}00:00.000000Z",
         f"{T0}00:09.000000Z", "completed", None, f"ingested from OpenTelemetry trace {wf[0]}"),
        (bot[1], "otel:support_bot", "default", None, f"{T0}01:00.000000Z",
         f"{T0}01:03.000000Z", "completed", None, f"ingested from OpenTelemetry trace {bot[0]}"),
        (http[0], "otel:POST /answer", "default", None, f"{T0}02:00.000000Z",
         f"{T0}02:00.500000Z", "completed", None, f"ingested from OpenTelemetry trace {http[0]}"),
    ]  # fmt: skip
    assert _rows(store, "SELECT id, name FROM workflows ORDER BY id") == [
        ("otel:POST /answer", "POST /answer"),
        ("otel:claims_triage", "claims_triage"),
        ("otel:support_bot", "support_bot"),
    ]
    assert _verdicts(store) == [
        (1, "evaluator:policy_match", "audit_log", 1, "accept", "pass", 1.0,
         f"{T0}00:01.740000Z"),
        (2, "evaluator:tone_check", "audit_log", 3, "reject", "fail", 0.0, f"{T0}00:07.890000Z"),
    ]  # fmt: skip
    assert store.count("verdict_events") == 0  # no human review was made


def test_summary_says_what_was_ingested_and_why_not(ingested, tmp_path):
    _, summary, _ = ingested
    assert summary.describe() == (
        "Read 1 file(s), 3 line(s), 13 span(s): 5 new tool call(s), 3 new receipt(s) "
        "(1 priced, 1 provider cost, 1 unpriced), 3 new workflow run(s), 2 new evaluator verdict(s).\n"
        "AI spans by convention: OTel GenAI 10.\n"
        "Unpriced (tokens kept, no cost): in-house-llm x1: model not in price table "
        "2026-11-12.1.\n"
        "Evaluation events without a verdict: 1: label 'partial' maps to neither accept nor "
        "reject.\n"
        "Spans with nothing to record: 2:\n"
        "  1 OTel GenAI invoke_agent span inside an outer run (its calls count toward that run)\n"
        "  1 not an AI span (no gen_ai.*, openinference.span.kind or langfuse.observation.type "
        "attribute): ignored"
    )


def test_batches_have_digests_and_the_store_verifies(ingested):
    store, _, _ = ingested
    actions = _rows(store, "SELECT action, detail FROM worm_log ORDER BY seq")
    assert [a for a, _ in actions] == [
        "audit_batch", "ledger_batch", "run_ingested", "run_ingested", "run_ingested",
        "evaluator_verdict", "evaluator_verdict",
    ]  # fmt: skip
    assert json.loads(actions[0][1])["first_id"] == 1 and json.loads(actions[0][1])["count"] == 5
    assert verify_store(store).ok


# --- idempotency, bad input, id formats --------------------------------------------------------------
def test_ingesting_twice_adds_nothing(ingested, tmp_path):
    store, _, _ = ingested
    before = store.counts()
    again = ingest_paths(store, [tmp_path / "t.jsonl"])
    assert again.new_total == 0
    assert store.counts() == before
    lines = again.describe().splitlines()
    assert lines[0] == "Read 1 file(s), 3 line(s), 13 span(s): nothing new."
    assert lines[1] == (
        "Already ingested, left as they are: 2 evaluator verdicts, 3 receipts, 5 tool calls, 3 "
        "workflow runs."
    )


def test_malformed_lines_are_reported_and_the_rest_kept(tmp_path, spans):
    good = encode_lines(spans)
    tool = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "execute_tool ocr",
            "startTimeUnixNano": "1795428000000000000", "endTimeUnixNano": "1795428000004000000",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                           {"key": "gen_ai.tool.name", "value": {"stringValue": "ocr"}}]}  # fmt: skip
    bad = dict(tool, spanId="xyz")
    mixed = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [bad, tool]}]}]}
    path = tmp_path / "t.jsonl"
    lines = [good[0], "{not json", json.dumps(mixed), "", good[1], '{"hello": 1}', good[2]]
    path.write_text("\n".join(lines) + "\n")
    store = Store(tmp_path / "data")
    summary = ingest_paths(store, [path])
    assert summary.problems == [
        f"{path}:2: line = '{{not json'; expected JSON (Expecting property name enclosed in "
        "double quotes)",
        f"{path}:3: spanId = 'xyz'; expected 16 hex digits or 8 bytes in base64, not all zero",
        f"{path}:6: resourceSpans = None; expected a list (one ExportTraceServiceRequest per line)",
    ]
    assert summary.new["tool_calls"] == 6  # the 5 sample calls + ocr from the mixed line
    assert store.query_one("SELECT latency_ms FROM audit_log WHERE tool_name = 'ocr'") == 4
    assert f"Skipped (3), the rest was kept:\n  {path}:2: line" in summary.describe()


def test_base64_ids_give_the_same_rows_and_count_as_the_same_spans(tmp_path, spans):
    hex_store, b64_store = Store(tmp_path / "hex"), Store(tmp_path / "b64")
    ingest_paths(hex_store, [_export(tmp_path / "hex.jsonl", spans)])
    b64_file = _export(tmp_path / "b64.jsonl", spans, ids="base64")
    assert '"spanId":"' in b64_file.read_text() and "=" in b64_file.read_text()
    ingest_paths(b64_store, [b64_file])
    assert _audit(b64_store) == _audit(hex_store)
    assert _ledger(b64_store) == _ledger(hex_store)
    assert _runs(b64_store) == _runs(hex_store)
    assert ingest_paths(hex_store, [b64_file]).new_total == 0


def test_decode_id_accepts_hex_and_base64():
    assert decode_id("00F067AA0BA902B7", 8, "spanId") == "00f067aa0ba902b7"
    assert decode_id("APBnqgupArc=", 8, "spanId") == "00f067aa0ba902b7"
    assert decode_id("APBnqgupArc", 8, "spanId") == "00f067aa0ba902b7"  # unpadded


def test_directory_input_reads_json_and_jsonl_and_joins_split_traces(tmp_path, spans):
    lines = encode_lines(spans)
    (tmp_path / "in" / "b").mkdir(parents=True)
    (tmp_path / "in" / "a.jsonl").write_text(lines[0] + "\n")  # trace 1's children only
    (tmp_path / "in" / "b" / "b.json").write_text(json.dumps(json.loads(lines[1]), indent=2))
    (tmp_path / "in" / "c.jsonl").write_text(lines[2] + "\n")
    (tmp_path / "in" / "notes.txt").write_text("not an export")
    store = Store(tmp_path / "data")
    summary = ingest_paths(store, [tmp_path / "in"])
    assert (summary.files, summary.lines, summary.spans) == (3, 3, 13)
    ref = Store(tmp_path / "ref")
    ingest_paths(ref, [_export(tmp_path / "t.jsonl", spans)])
    assert _audit(store) == _audit(ref) and _runs(store) == _runs(ref)


def test_a_trace_split_over_two_ingests_falls_back_to_the_trace_id(tmp_path, spans):
    lines = encode_lines(spans)
    store = Store(tmp_path / "data")
    (tmp_path / "1.jsonl").write_text(lines[0] + "\n")
    summary = ingest_paths(store, [tmp_path / "1.jsonl"])
    trace = _ids(spans)["invoke_workflow claims_triage"][0]
    assert {r[0] for r in _rows(store, "SELECT composition_id FROM audit_log")} == {trace}
    assert summary.notes == {"GenAI span(s) whose parent was not in this ingest (run = trace)": 5}


def test_missing_path_is_an_error_naming_it(tmp_path):
    with pytest.raises(OtelIngestError, match="nope.jsonl: no such file or directory"):
        ingest_paths(Store(memory=True), [tmp_path / "nope.jsonl"])


# --- governance and configuration --------------------------------------------------------------------
def test_a_triggered_kill_switch_does_not_block_ingestion(tmp_path, spans):
    store = Store(tmp_path / "data")
    KillSwitch(store).trigger("Dana Ortiz", "incident 42")
    summary = ingest_paths(store, [_export(tmp_path / "t.jsonl", spans)])
    assert summary.new["tool_calls"] == 5 and store.count("audit_log") == 5
    assert not KillSwitch(store).state().armed


def test_labels_tenant_and_attributes_are_configurable(tmp_path, spans):
    store = Store(tmp_path / "data")
    config = IngestConfig.from_options(
        default_tenant="northwind", accept_label=("pass", "partial"), reject_label=("fail",)
    )
    summary = ingest_paths(store, [_export(tmp_path / "t.jsonl", spans)], config)
    assert summary.new["evaluator_verdicts"] == 3
    assert _rows(store, "SELECT tenant_id, human_verdict FROM audit_log WHERE id = 4") == [
        ("northwind", None)
    ]
    assert _rows(store, "SELECT verdict, label FROM evaluator_verdicts WHERE target_id = 4") == [
        ("accept", "partial")
    ]


def test_settings_default_tenant_applies(tmp_path, spans):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "govlib.json").write_text('{"default_tenant": "contoso"}')
    store = Store(tmp_path / "data")
    ingest_paths(store, [_export(tmp_path / "t.jsonl", spans)])
    assert store.query_one("SELECT tenant_id FROM audit_log WHERE id = 4") == "contoso"


def test_a_label_cannot_both_accept_and_reject():
    with pytest.raises(OtelConfigError, match="'pass' is in both"):
        IngestConfig(accept_labels=("pass",), reject_labels=("PASS",))


def test_schema_valid_attribute_and_unreadable_values(tmp_path):
    tracer, exporter = _tracer()
    for value in (False, "true", "maybe"):
        attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "ocr"}
        tracer.start_span(
            "execute_tool ocr", attributes=attrs | {"govlib.schema_valid": value}
        ).end()
    store = Store(tmp_path / "data")
    summary = ingest_paths(store, [_export(tmp_path / "t.jsonl", exporter.get_finished_spans())])
    assert _rows(store, "SELECT schema_valid FROM audit_log ORDER BY id") == [(0,), (1,)]
    assert summary.problems == [
        f"{tmp_path / 't.jsonl'}:1: govlib.schema_valid = 'maybe'; expected true or false (or 1/0)"
    ]


def test_agent_usage_is_receipted_only_without_model_spans_below(tmp_path):
    tracer, exporter = _tracer()
    usage = {"gen_ai.request.model": "gpt-4.1", "gen_ai.usage.input_tokens": 100,
             "gen_ai.usage.output_tokens": 10}  # fmt: skip
    agent = {"gen_ai.operation.name": "invoke_agent"}
    with tracer.start_as_current_span("invoke_agent a1", attributes=agent | usage):
        tracer.start_span(
            "chat gpt-4.1", attributes={"gen_ai.operation.name": "chat"} | usage
        ).end()
    tracer.start_span(
        "invoke_agent a2", attributes=agent | usage | {"gen_ai.agent.name": "a2"}
    ).end()
    store = Store(tmp_path / "data")
    ingest_paths(store, [_export(tmp_path / "t.jsonl", exporter.get_finished_spans())])
    rows = _rows(store, "SELECT node, input_tokens, output_tokens, cost_usd FROM token_ledger")
    assert rows == [(None, 100, 10, 0.00028), ("a2", 100, 10, 0.00028)]


def test_no_tokens_are_lost_and_no_price_is_made_up(tmp_path):
    tracer, exporter = _tracer()
    usage = {"gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 7}
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "summarise"}
    tracer.start_span("execute_tool summarise", attributes=tool | usage).end()  # no model named
    eur = {"gen_ai.request.model": "gpt-4.1", "gen_ai.usage.cost": 0.5}
    tracer.start_span("chat", attributes=usage | eur | {"gen_ai.usage.cost.currency": "EUR"}).end()
    tracer.start_span("chat gpt-4.1", attributes={"gen_ai.operation.name": "chat"}).end()
    store = Store(tmp_path / "data")
    summary = ingest_paths(store, [_export(tmp_path / "t.jsonl", exporter.get_finished_spans())])
    assert _rows(store, "SELECT tool_name FROM audit_log") == [("summarise",)]
    sql = "SELECT model, input_tokens, output_tokens, cost_usd, cost_source, unpriced_reason "
    assert _rows(store, sql + "FROM token_ledger ORDER BY id") == [
        ("unknown", 50, 7, None, "unpriced",
         "the span names no gen_ai.response.model or gen_ai.request.model"),
        ("gpt-4.1", 50, 7, None, "unpriced",
         "provider cost 0.5 EUR: the ledger records USD only"),
    ]  # fmt: skip
    assert summary.notes == {"OTel GenAI model span(s) without token usage (no receipt)": 1}


def test_error_type_alone_marks_a_failure(tmp_path):
    tracer, exporter = _tracer()
    attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "pay"}
    tracer.start_span("execute_tool pay", attributes=attrs | {"error.type": "ValueError"}).end()
    span = tracer.start_span("execute_tool pay", attributes=attrs)
    span.set_status(Status(StatusCode.ERROR, "declined"))
    span.end()
    store = Store(tmp_path / "data")
    ingest_paths(store, [_export(tmp_path / "t.jsonl", exporter.get_finished_spans())])
    assert _rows(store, "SELECT success, error FROM audit_log ORDER BY id") == [
        (0, "ValueError"),
        (0, "declined"),
    ]


# --- dashboards and the command line -------------------------------------------------------------------
def test_the_spc_statistics_list_the_ingested_tools_and_workflows(ingested):
    store, _, _ = ingested
    tools = tool_stats(store)
    assert tools[["tool_name", "count"]].values.tolist() == [
        ["fraud_score", 1], ["lookup_policy", 2], ["search_kb", 1], ["send_letter", 1],
    ]  # fmt: skip
    flows = workflow_stats(store)
    assert sorted(flows["workflow_name"]) == ["POST /answer", "claims_triage", "support_bot"]
    assert dict(zip(flows["workflow_name"], flows["count"], strict=True))["claims_triage"] == 3


def test_cli_ingest_otel(tmp_path):
    data = tmp_path / "data"
    args = ["ingest", "otel", str(SAMPLE), "--data-dir", str(data), "--default-tenant", "northwind"]
    args.append("--create")  # a new store: ingest refuses a missing one without it
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[0] == (
        "Read 1 file(s), 3 line(s), 13 span(s): 5 new tool call(s), 3 new receipt(s) "
        "(1 priced, 1 provider cost, 1 unpriced), 3 new workflow run(s), 2 new evaluator "
        "verdict(s)."
    )
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "nothing new" in again.output.splitlines()[0]
    with Store(data) as store:
        assert store.query_one("SELECT tenant_id FROM audit_log WHERE id = 4") == "northwind"
    missing = CliRunner().invoke(
        cli, ["ingest", "otel", str(tmp_path / "x"), "--data-dir", str(data)]
    )
    assert missing.exit_code == 2 and "no such file or directory" in missing.output


# --- live agents: the span processor ------------------------------------------------------------------
def test_span_processor_writes_the_same_rows_as_file_ingestion(tmp_path, ingested):
    ref, _, _ = ingested
    live = Store(tmp_path / "live")
    processor = GovlibSpanProcessor(live)
    sample_spans(processors=[processor])
    assert processor.force_flush()
    assert _audit(live) == _audit(ref)
    assert _ledger(live) == _ledger(ref)
    assert _runs(live) == _runs(ref)
    assert _verdicts(live) == _verdicts(ref)
    assert processor.summary.new == {
        "tool_calls": 5,
        "receipts": 3,
        "runs": 3,
        "evaluator_verdicts": 2,
    }
    assert processor.write_errors == 0 and verify_store(live).ok
    # the same spans arriving later as a file are recognised
    assert ingest_paths(live, [SAMPLE]).new_total == 0


def test_span_processor_never_raises_into_the_agent(tmp_path, caplog):
    store = Store(tmp_path / "data")
    processor = GovlibSpanProcessor(store)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    store.close()  # the store goes away under the agent
    tracer = provider.get_tracer("t")
    attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "ocr"}
    tracer.start_span("execute_tool ocr", attributes=attrs).end()  # no exception
    assert processor.write_errors == 1 and len(processor._pending) == 1
    assert "kept for retry" in caplog.text


def test_span_processor_opens_a_data_dir(tmp_path):
    processor = GovlibSpanProcessor(tmp_path / "data")
    provider = TracerProvider(resource=Resource({"service.name": "bot"}), shutdown_on_exit=False)
    provider.add_span_processor(processor)
    attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "ocr"}
    provider.get_tracer("t").start_span("execute_tool ocr", attributes=attrs).end()
    provider.shutdown()
    with Store(tmp_path / "data") as store:
        assert _rows(store, "SELECT tool_name, actor, tenant_id FROM audit_log") == [
            ("ocr", "bot", "default")
        ]
