"""Verdict source (issue 17): evaluations are evaluators' verdicts, apart from human review.

Real SDK spans (an agent, a chat span with a response id, two tool spans) carry
``gen_ai.evaluation.result`` events, or their evaluations arrive later as OTLP log records tied
by span context or by ``gen_ai.response.id``. Each becomes an ``evaluator_verdicts`` row with
source ``evaluator:<name>`` on the tool call or the model call's receipt, bound to the chain;
none touches the human verdict triple, the sampling gate or the accept rate.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_sample import encode_lines
from test_otel_collect import Receiver, _exporter

from govlib.analysis.evaluations import evaluator_verdict_counts
from govlib.analysis.stats import tool_stats
from govlib.capture.otel.ingest import ingest_paths
from govlib.capture.verdicts import stamp_verdict
from govlib.evidence.verify import verify_store
from govlib.report.contents import report_data, report_hash
from govlib.report.page import render_report
from govlib.settings import Settings
from govlib.store.database import Store

T = 1_795_428_000_000_000_000  # 2026-11-23T10:00:00Z in ns
AT = "2026-11-23T10:00:"


def _at(seconds: float) -> int:
    return T + round(seconds * 1e9)


def _evaluation(name: str, label: str, score: float) -> dict:
    return {
        "gen_ai.evaluation.name": name,
        "gen_ai.evaluation.score.label": label,
        "gen_ai.evaluation.score.value": score,
    }


def _spans(*, events: bool = True, tools: int = 2) -> list:
    """An agent: a chat (response id chatcmpl-9, 1,000 + 50 tokens of gpt-4o-mini), then
    ``tools`` lookups; with ``events``, the chat judged ``pass`` and the first lookup ``fail``."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "eval-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    from opentelemetry import trace

    agent = tracer.start_span(
        "invoke_agent triage",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"},
        start_time=_at(0),
    )
    ctx = trace.set_span_in_context(agent)
    chat = tracer.start_span("chat gpt-4o-mini", context=ctx, start_time=_at(0.1))
    chat.set_attributes(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": "chatcmpl-9",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 50,
        }
    )
    if events:
        chat.add_event(
            "gen_ai.evaluation.result", _evaluation("groundedness", "pass", 0.9), _at(1.5)
        )
    chat.end(end_time=_at(1.0))
    for i in range(tools):
        tool = tracer.start_span(f"execute_tool lookup {i}", context=ctx, start_time=_at(2 + i))
        tool.set_attributes(
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}
            | {"gen_ai.tool.call.result": f"row {i}"}
        )
        if events and i == 0:
            tool.add_event("gen_ai.evaluation.result", _evaluation("judge", "fail", 0.1), _at(2.6))
        tool.end(end_time=_at(2.5 + i))
    agent.end(end_time=_at(9))
    return list(memory.get_finished_spans())


def _evaluators(store: Store) -> list[tuple]:
    sql = (
        "SELECT source, target_table, target_id, verdict, label, score, evaluated_at "
        "FROM evaluator_verdicts ORDER BY id"
    )
    return [tuple(r) for r in store.query(sql)]


def _human(store: Store) -> list[tuple]:
    sql = "SELECT id, human_verdict, verdict_by FROM audit_log ORDER BY id"
    return [tuple(r) for r in store.query(sql)]


def test_span_events_on_tool_and_chat_spans_are_evaluator_verdicts(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(encode_lines(_spans())) + "\n")
    store = Store(tmp_path / "data")
    summary = ingest_paths(store, [path])
    assert summary.new == {"tool_calls": 2, "receipts": 1, "runs": 1, "evaluator_verdicts": 2}
    assert _evaluators(store) == [
        ("evaluator:groundedness", "token_ledger", 1, "accept", "pass", 0.9, f"{AT}01.500000Z"),
        ("evaluator:judge", "audit_log", 1, "reject", "fail", 0.1, f"{AT}02.600000Z"),
    ]
    # a machine's opinion is no human review: the verdict triple and verdict_events stay empty
    assert _human(store) == [(1, None, None), (2, None, None)]
    assert store.count("verdict_events") == 0
    entries = store.query(
        "SELECT action, outcome, detail FROM worm_log WHERE action = 'evaluator_verdict'"
    )
    details = [json.loads(e["detail"]) for e in entries]
    assert [(d["source"], d["target_table"], d["target_id"]) for d in details] == [
        ("evaluator:groundedness", "token_ledger", 1),
        ("evaluator:judge", "audit_log", 1),
    ]
    assert [d["bound"][0]["table"] for d in details] == ["evaluator_verdicts"] * 2
    assert verify_store(store).ok
    assert ingest_paths(store, [path]).new_total == 0  # read again: nothing twice
    assert store.count("evaluator_verdicts") == 2


@pytest.mark.slow
def test_evaluator_verdicts_count_neither_toward_the_gate_nor_the_accept_rate(tmp_path):
    """Six calls of one tool: the same tool_stats (accept rate, pill, sampling) whatever the
    evaluators say; the human stamps alone move them. Evaluators are shown apart."""
    plain, judged = tmp_path / "plain.jsonl", tmp_path / "judged.jsonl"
    plain.write_text("\n".join(encode_lines(_spans(events=False, tools=6))) + "\n")
    judged.write_text("\n".join(encode_lines(_spans(events=True, tools=6))) + "\n")
    stores = {name: Store(tmp_path / name) for name in ("plain", "judged")}
    ingest_paths(stores["plain"], [plain])
    ingest_paths(stores["judged"], [judged])
    for store in stores.values():
        for audit_id in range(1, 6):  # five human accepts: the sampling gate's five reviews
            stamp_verdict(audit_id, "accept", "Ana", store=store, at=f"{AT}30Z")
    stats = {n: tool_stats(s, settings=Settings()) for n, s in stores.items()}
    columns = ["tool_name", "count", "accept_count", "reject_count", "accept_rate"]
    columns += ["accept_pill", "sampling", "sampling_reason"]
    assert stats["judged"][columns].to_dict("records") == stats["plain"][columns].to_dict("records")
    row = stats["judged"].iloc[0]
    assert (row["accept_count"], row["reject_count"], row["accept_rate"]) == (5, 0, 1.0)
    judged_store = stores["judged"]
    assert [tuple(r.values()) for r in evaluator_verdict_counts(judged_store)] == [
        ("evaluator:groundedness", "model call", "gpt-4o-mini-2024-07-18", 1, 0, f"{AT}01.500000Z"),
        ("evaluator:judge", "tool call", "lookup", 0, 1, f"{AT}02.600000Z"),
    ]
    assert verify_store(judged_store).ok
    # the report shows them apart, under the sampling levels
    data = report_data(judged_store, period="30d")
    assert [e["source"] for e in data["evaluators"]] == [
        "evaluator:groundedness",
        "evaluator:judge",
    ]
    meta = {"generated_at": f"{AT}59Z", "store": "x", "govlib_version": "0"}
    page = render_report(data, meta | {"sha256": report_hash(data), "data_rows": {}})
    assert "Evaluator verdicts (machine, not counted)" in page
    assert "<code>evaluator:judge</code>" in page


def _log_record(trace_id: str | None, span_id: str | None, at: float, attrs: dict) -> dict:
    record = {"timeUnixNano": str(_at(at)), "eventName": "gen_ai.evaluation.result"}
    if trace_id:
        record |= {"traceId": trace_id, "spanId": span_id}
    record["attributes"] = [
        {"key": k, "value": {"doubleValue": v} if isinstance(v, float) else {"stringValue": v}}
        for k, v in attrs.items()
    ]
    return record


def _logs(*records: dict) -> bytes:
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": list(records)}]}]}).encode()


def test_log_records_by_span_context_and_by_response_id(tmp_path):
    spans = _spans(events=False)
    tool = next(s for s in spans if s.name == "execute_tool lookup 1")
    trace_id, tool_id = f"{tool.context.trace_id:032x}", f"{tool.context.span_id:016x}"
    by_response = _log_record(
        None,
        None,
        3.0,
        _evaluation("groundedness", "fail", 0.2) | {"gen_ai.response.id": "chatcmpl-9"},
    )
    by_span = _log_record(trace_id, tool_id, 3.5, _evaluation("judge", "pass", 1.0))
    store = Store(tmp_path / "data")
    rx = Receiver(store)
    # the evaluation by response id comes before its span: held until the span arrives
    assert rx.post(_logs(by_response), "application/json", path="/v1/logs")[0] == 200
    assert _exporter(rx.url).export(spans) == SpanExportResult.SUCCESS
    assert rx.post(_logs(by_span, by_span), "application/json", path="/v1/logs")[0] == 200
    rx.stop()
    expected = [
        ("evaluator:groundedness", "token_ledger", 1, "reject", "fail", 0.2, f"{AT}03.000000Z"),
        ("evaluator:judge", "audit_log", 2, "accept", "pass", 1.0, f"{AT}03.500000Z"),
    ]
    assert _evaluators(store) == expected
    # later, to a new receiver that holds nothing of the trace: recorded against the store;
    # the same records again add nothing, another evaluation of the same call is recorded
    late = _log_record(trace_id, tool_id, 4.0, _evaluation("judge", "fail", 0.0))
    rx = Receiver(store)
    for body in (_logs(by_span), _logs(late), _logs(late)):
        assert rx.post(body, "application/json", path="/v1/logs")[0] == 200
    summary = rx.stop()
    assert _evaluators(store) == [
        *expected,
        ("evaluator:judge", "audit_log", 2, "reject", "fail", 0.0, f"{AT}04.000000Z"),
    ]
    assert summary.new == {"evaluator_verdicts": 1}
    assert summary.already == {"evaluator verdicts": 2}
    assert _human(store) == [(1, None, None), (2, None, None)]
    # the latest verdict of each evaluator per call is the one shown
    assert [
        (r["source"], r["accept_count"], r["reject_count"]) for r in evaluator_verdict_counts(store)
    ] == [
        ("evaluator:groundedness", 0, 1),
        ("evaluator:judge", 0, 1),
    ]
    assert verify_store(store).ok


def test_a_log_record_for_no_known_span_is_reported(tmp_path):
    store = Store(tmp_path / "data")
    rx = Receiver(store)
    orphan = _log_record(
        None, None, 1.0, _evaluation("judge", "pass", 1.0) | {"gen_ai.response.id": "nope"}
    )
    no_context = _log_record(None, None, 1.0, _evaluation("judge", "pass", 1.0))
    spans = _spans(events=False)
    agent = next(s for s in spans if s.name == "invoke_agent triage")  # neither tool nor model
    ids = f"{agent.context.trace_id:032x}", f"{agent.context.span_id:016x}"
    on_agent = _log_record(*ids, 9.5, _evaluation("judge", "pass", 1.0))
    assert _exporter(rx.url).export(spans) == SpanExportResult.SUCCESS
    status, _, body = rx.post(
        _logs(orphan, no_context, on_agent), "application/json", path="/v1/logs"
    )
    assert status == 200
    summary = rx.stop()
    assert store.count("evaluator_verdicts") == 0
    assert summary.skipped_evaluations == {
        "gen_ai.evaluation.result log record for response nope, never received": 1,
        "evaluates a span that is neither a tool call nor a model call": 1,
    }
    # the record without a span context or response id is answered as a partial problem
    assert "without a span context or gen_ai.response.id" in json.dumps(json.loads(body))
