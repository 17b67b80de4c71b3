"""``govlib collect`` (issue 17): a real OTLP/HTTP exporter sends to the receiver.

The spans are the in-repo sample made with the real OpenTelemetry SDK; they are sent by the real
``opentelemetry-exporter-otlp-proto-http`` exporter (protobuf, gzip) to a receiver on loopback
and must give exactly the rows that file ingestion of the same spans gives. Bad requests get the
status codes of the OTLP/HTTP specification; a busy store gets 503/429 with Retry-After and
nothing is lost once it is free again.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SpanExportResult
from otel_sample import encode_lines, sample_spans

from govlib.capture.otel.collect import CollectLimits, Collector, OtlpServer, serve_collector
from govlib.capture.otel.ingest import ingest_paths
from govlib.evidence.verify import verify_store
from govlib.store.database import Store
from govlib.store.schema import AUDIT_COLUMNS, LEDGER_COLUMNS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def spans():
    return sample_spans()


def _rows(store: Store) -> dict[str, list[tuple]]:
    ledger = ", ".join(c for c in LEDGER_COLUMNS if c != "created_at")
    audit = ", ".join(AUDIT_COLUMNS)
    return {
        "audit": [tuple(r) for r in store.query(f"SELECT {audit} FROM audit_log ORDER BY id")],  # noqa: S608
        "ledger": [tuple(r) for r in store.query(f"SELECT {ledger} FROM token_ledger ORDER BY id")],  # noqa: S608
        "runs": [tuple(r) for r in store.query("SELECT composition_id, workflow_id, status FROM workflow_runs ORDER BY 1")],  # noqa: E501
        "verdicts": [tuple(r) for r in store.query("SELECT target_table, target_id, verdict, source FROM evaluator_verdicts ORDER BY id")],  # noqa: E501
    }  # fmt: skip


@pytest.fixture(scope="module")
def expected(tmp_path_factory, spans):
    tmp = tmp_path_factory.mktemp("file")
    path = tmp / "t.jsonl"
    path.write_text("\n".join(encode_lines(spans)) + "\n")
    store = Store(tmp / "data")
    ingest_paths(store, [path])
    return _rows(store)


class Receiver:
    """``serve_collector`` in a thread; ``stop()`` writes what it holds and returns the summary."""

    def __init__(self, store: Store, **kw) -> None:
        self.store, self.url, self.summary = store, None, None
        self._stop, self._ready = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._serve, kwargs=kw, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _serve(self, **kw) -> None:
        self.summary = serve_collector(
            self.store, "127.0.0.1:0", ready=self._on_ready, stop=self._stop, **kw
        )

    def _on_ready(self, url: str) -> None:
        self.url = url
        self._ready.set()

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        return self.summary

    def post(self, body: bytes, content_type: str, path="/v1/traces", **headers):
        u = urlsplit(self.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("POST", path, body, {"Content-Type": content_type} | headers)
        resp = conn.getresponse()
        out = (resp.status, dict(resp.getheaders()), resp.read())
        conn.close()
        return out


def _exporter(url: str) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=Compression.Gzip, timeout=10)


def test_the_real_exporter_gives_the_rows_of_file_ingestion(tmp_path, spans, expected):
    store = Store(tmp_path / "data")
    rx = Receiver(store)
    exporter = _exporter(rx.url)
    for start in range(0, len(spans), 4):  # children before parents, as a batch processor sends
        assert exporter.export(list(spans[start : start + 4])) == SpanExportResult.SUCCESS
    summary = rx.stop()
    assert _rows(store) == expected
    assert summary.spans == 13 and summary.problems == []
    again = Receiver(store)  # an exporter's retry re-delivers: nothing new
    assert _exporter(again.url).export(list(spans)) == SpanExportResult.SUCCESS
    assert again.stop().new_total == 0
    assert _rows(store) == expected
    assert verify_store(store).ok


def test_an_sdk_pointed_at_the_endpoint_by_environment(tmp_path, spans, expected, monkeypatch):
    store = Store(tmp_path / "data")
    rx = Receiver(store)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    assert OTLPSpanExporter().export(list(spans)) == SpanExportResult.SUCCESS
    rx.stop()
    assert _rows(store) == expected


def test_json_bodies_and_partial_success(tmp_path, spans, expected):
    store = Store(tmp_path / "data")
    rx = Receiver(store)
    lines = encode_lines(spans)
    for line in lines:
        status, headers, body = rx.post(gzip.compress(line.encode()), "application/json",
                                        **{"Content-Encoding": "gzip"})  # fmt: skip
        assert (status, json.loads(body)) == (200, {})
    bad = json.loads(lines[0])
    bad["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "xyz"
    status, _, body = rx.post(json.dumps(bad).encode(), "application/json")
    assert status == 200
    partial = json.loads(body)["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "spanId = 'xyz'" in partial["errorMessage"]
    rx.stop()
    assert _rows(store) == expected


def test_bad_requests_get_the_otlp_status_codes(tmp_path):
    rx = Receiver(Store(tmp_path / "data"), limits=CollectLimits(max_body_bytes=1024 * 1024))
    assert rx.post(b"\xff\xff\xff", "application/x-protobuf")[0] == 400
    assert rx.post(b"{oops", "application/json")[0] == 400
    assert rx.post(b"x", "text/plain")[0] == 415
    assert rx.post(b"{}", "application/json", path="/v1/metrics")[0] == 404
    assert rx.post(b"x", "application/json", **{"Content-Encoding": "br"})[0] == 415
    bomb = gzip.compress(b"0" * (3 * 1024 * 1024))  # 3 MB inside 3 KB: refused after 1 MB
    assert rx.post(bomb, "application/json", **{"Content-Encoding": "gzip"})[0] == 413
    status, _, body = rx.post(
        ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf"
    )
    assert status == 200
    rx.stop()


def test_a_100_mb_body_is_refused_unread(tmp_path):
    rx = Receiver(Store(tmp_path / "data"))
    u = urlsplit(rx.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", "/v1/traces")
    conn.putheader("Content-Type", "application/x-protobuf")
    conn.putheader("Content-Length", str(100 * 1024 * 1024))
    conn.endheaders()
    conn.send(b"\0" * 65536)  # the rest never comes: the receiver must answer without it
    resp = conn.getresponse()
    assert resp.status == 413 and resp.getheader("Connection") == "close"
    conn.close()
    assert rx.post(b"{}", "application/json")[0] == 200  # still serving
    rx.stop()


def test_non_loopback_needs_a_token_and_the_token_is_checked(tmp_path):
    from govlib.capture.otel.collect import CollectError

    with pytest.raises(CollectError, match="not a loopback address"):
        serve_collector(Store(tmp_path / "a"), "0.0.0.0:0")
    rx = Receiver(Store(tmp_path / "b"), token="s3cret")
    assert rx.post(b"{}", "application/json")[0] == 401
    assert rx.post(b"{}", "application/json", Authorization="Bearer nope")[0] == 401
    assert rx.post(b"{}", "application/json", Authorization="Bearer s3cret")[0] == 200
    rx.stop()


@pytest.mark.slow
def test_a_busy_store_answers_503_then_429_and_loses_nothing(tmp_path, spans, expected):
    store = Store(tmp_path / "data")
    store.write_deadline_s = 0.3
    collector = Collector(store, limits=CollectLimits(max_queued=1, retry_after_s=1))
    server = OtlpServer(("127.0.0.1", 0), collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rx = Receiver.__new__(Receiver)
    rx.url = f"http://127.0.0.1:{server.server_address[1]}"
    blocker = sqlite3.connect(tmp_path / "data" / "govlib.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the store
    lines = encode_lines(spans, batch=1)
    statuses = []
    for line in lines:
        for _ in range(200):
            status, headers, _ = rx.post(line.encode(), "application/json")
            statuses.append(status)
            if status == 200:
                break
            assert status in (429, 503) and headers["Retry-After"] == "1"
            if 503 in statuses and blocker.in_transaction:
                blocker.execute("ROLLBACK")  # the store is free again
            time.sleep(0.05)
    assert 503 in statuses
    assert collector.flush(30)
    server.shutdown()
    server.server_close()
    collector.close()
    blocker.close()
    assert _rows(store) == expected  # every span written once
    assert collector.write_errors >= 1


def _govlib(*args: str, **kw) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    code = "from govlib.cli.main import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kw)


def test_govlib_collect_command_end_to_end(tmp_path, spans, expected):
    port_probe = OtlpServer(("127.0.0.1", 0), Collector(Store(memory=True)))
    port = port_probe.server_address[1]
    port_probe.server_close()
    port_probe.collector.close()
    proc = _govlib("collect", "--listen", f"127.0.0.1:{port}", "--create",
                   "--data-dir", str(tmp_path / "s"), stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        line = proc.stderr.readline()
        if "receiving OTLP/HTTP" in line:
            break
    assert _exporter(url).export(list(spans)) == SpanExportResult.SUCCESS
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "13 span(s): 5 new tool call(s), 3 new receipt(s)" in out
    with Store(tmp_path / "s") as store:
        assert _rows(store) == expected
        assert verify_store(store).ok


def test_a_full_queue_answers_429_with_retry_after(tmp_path, spans, expected):
    store = Store(tmp_path / "data")
    store.write_deadline_s = 5.0
    collector = Collector(store, limits=CollectLimits(max_queued=1, retry_after_s=3))
    server = OtlpServer(("127.0.0.1", 0), collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rx = Receiver.__new__(Receiver)
    rx.url = f"http://127.0.0.1:{server.server_address[1]}"
    blocker = sqlite3.connect(tmp_path / "data" / "govlib.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer waits for it inside its write
    body = "\n".join(encode_lines(spans, batch=len(spans))).encode()
    statuses = [rx.post(body, "application/json")[0]]
    time.sleep(0.3)  # the writer has taken the request and is waiting for the store
    answers = [rx.post(body, "application/json") for _ in range(3)]
    statuses += [a[0] for a in answers]
    assert statuses[:2] == [200, 200] and 429 in statuses[2:]
    assert all(a[1]["Retry-After"] == "3" for a in answers if a[0] == 429)
    blocker.execute("ROLLBACK")
    assert collector.flush(30)
    server.shutdown()
    server.server_close()
    collector.close()
    blocker.close()
    assert _rows(store) == expected


@pytest.mark.slow
def test_50000_spans_from_4_exporters_none_lost_none_twice(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_collect", ROOT / "benchmarks" / "collect.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.run_load(50_000, 4, tmp_path / "data")
    assert r["failures"] == [] and r["returncode"] == 0
    assert r["counts"] == {
        "audit_log": 25_000,
        "token_ledger": 12_500,
        "workflow_runs": 12_500,
        "ingested_spans": 50_000,
        "distinct_spans": 50_000,
        "priced": 12_500,  # the dated gpt-4o-mini-2024-07-18 priced as gpt-4o-mini
    }
    assert r["status_100mb"] == 413
    assert r["peak_kib_after_100mb"] < r["peak_kib_load"] + 32 * 1024  # the body is never read
    with Store(tmp_path / "data") as store:
        assert verify_store(store).ok


def test_evaluations_sent_as_log_records_become_verdicts(tmp_path, spans):
    store = Store(tmp_path / "data")
    rx = Receiver(store)
    assert _exporter(rx.url).export(list(spans)) == SpanExportResult.SUCCESS
    tool = next(s for s in spans if s.attributes.get("gen_ai.tool.call.id") == "c5")
    record = {
        "timeUnixNano": str(tool.end_time + 1_000_000),
        "traceId": f"{tool.context.trace_id:032x}",
        "spanId": f"{tool.context.span_id:016x}",
        "eventName": "gen_ai.evaluation.result",
        "attributes": [
            {"key": "gen_ai.evaluation.name", "value": {"stringValue": "reviewer_bot"}},
            {"key": "gen_ai.evaluation.score.label", "value": {"stringValue": "fail"}},
        ],
    }
    other = {"timeUnixNano": "1", "body": {"stringValue": "an ordinary log line"}}
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record, other]}]}]}
    status, _, body = rx.post(json.dumps(logs).encode(), "application/json", path="/v1/logs")
    assert (status, json.loads(body)) == (200, {})
    rx.stop()
    audit_id = store.query_one(
        "SELECT target_id FROM ingested_spans WHERE span_id = ? AND kind = 'tool'",
        (f"{tool.context.span_id:016x}",),
    )
    assert _rows(store)["verdicts"][-1] == (
        "audit_log",
        audit_id,
        "reject",
        "evaluator:reviewer_bot",
    )
    assert store.query_one("SELECT human_verdict FROM audit_log WHERE id = ?", (audit_id,)) is None
