"""``govlib collect``: an OTLP/HTTP receiver writing traces into the store as they arrive.

``POST /v1/traces`` (also ``/api/public/otel/v1/traces``, where the Langfuse SDK sends when
``LANGFUSE_BASE_URL`` points here) takes an ``ExportTraceServiceRequest`` as protobuf
(``application/x-protobuf``) or JSON (``application/json``), optionally gzip/zstd/deflate
compressed (``Content-Encoding``), and answers as the OTLP/HTTP specification says: 200 with an
``ExportTraceServiceResponse`` (``partial_success`` counts the spans that could not be read),
400 for a malformed body, 415 for another content type, 413 over the size limit (the body is
not read), 411 without a length, 404 elsewhere, 401 without the token, and 429 (queue full) or
503 (the store refused the last write) with ``Retry-After`` so exporters back off.
``POST /v1/logs`` takes evaluation events (``gen_ai.evaluation.result`` log records, tied to
their span by the record's span context or, without one, by ``gen_ai.response.id``) and records
them as the span events of ingestion are: evaluators' verdicts on tool or model calls, apart
from human review. A record for a span written earlier is recorded at once.

Spans go through the same mapping as ``govlib ingest otel``. One writer thread owns the store:
it holds a trace's spans until the trace's root span has arrived (exporters send children
first) or the trace has been quiet for ``linger_s``, then maps the whole trace and writes it in
one transaction, so rows land in the right run. Re-delivered spans write nothing new (the
``ingested_spans`` key). Memory is bounded: request bodies (``max_body_bytes``, also after
decompression), queued requests (``max_queued``) and held spans (``max_held_spans``, beyond
which the oldest traces are written as they are).

Accepted means held in memory: a span answered with 200 is written within ``linger_s`` of its
trace's last span, and at shutdown; a crash in between loses those spans (the exporter will not
resend them).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from govlib import bounds
from govlib.capture.otel.config import IngestConfig, with_default_tenant
from govlib.capture.otel.decoding import (
    EventRecord,
    OtelFormatError,
    SpanRecord,
    attributes,
    decode_id,
    parse_request,
)
from govlib.capture.otel.files import BytesReader, decompressed
from govlib.capture.otel.mapping import EVALUATION_EVENT, plan_spans
from govlib.capture.otel.protobuf import proto_attributes, spans_from_proto
from govlib.capture.otel.refusals import RefusalTally
from govlib.capture.otel.writing import IngestSummary, write_late_evaluations, write_mapped
from govlib.costs.ledger import Ledger
from govlib.errors import GovlibError
from govlib.settings import load_settings
from govlib.store.database import Store

__all__ = ["CollectLimits", "Collector", "OtlpServer", "parse_listen", "serve_collector"]

log = logging.getLogger("govlib.capture.otel.collect")
PROTOBUF, JSON = "application/x-protobuf", "application/json"


class CollectError(GovlibError):
    """``govlib collect`` cannot start as asked (address, token); the message says why."""


@dataclass(frozen=True)
class CollectLimits:
    """Bounds of the receiver (bytes, requests, spans, seconds)."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_queued: int = 64
    max_held_spans: int = 200_000
    max_recent_spans: int = 20_000
    linger_s: float = 2.0
    retry_after_s: int = 2


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:4318`` for IPv6) as (host, port); a clear error otherwise.

    Example:
        >>> parse_listen("127.0.0.1:4318"), parse_listen("[::1]:0")
        (('127.0.0.1', 4318), ('::1', 0))
    """
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise CollectError(f"--listen {text!r}: expected HOST:PORT such as 127.0.0.1:4318")
    return host, int(port)


# --- the writer ----------------------------------------------------------------------------------
class Collector:
    """Spans in, rows out: the receiver's single writer (also usable without HTTP).

    ``submit`` queues decoded spans (False when the queue is full); a thread groups them by
    trace and writes complete traces. ``flush`` writes everything held; ``close`` stops.

    Example:
        >>> c = Collector(Store(memory=True))
        >>> c.submit([]), c.flush(), c.close()
        (True, True, None)
    """

    def __init__(
        self, store: Store, config: IngestConfig | None = None, limits: CollectLimits | None = None
    ) -> None:
        self.store, self.limits = store, limits or CollectLimits()
        self.config = with_default_tenant(
            config or IngestConfig(), load_settings(store.data_dir).default_tenant
        )
        self.summary = IngestSummary()
        self.write_errors = 0
        self.last_error: str | None = None
        self.refusals = RefusalTally()
        self._skew_s = bounds.skew_seconds(store.data_dir)
        self._ledger = Ledger(store, prices=self.config.prices)
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=self.limits.max_queued)
        self._held: OrderedDict[str, dict[str, SpanRecord]] = OrderedDict()
        self._quiet_since: dict[str, float] = {}
        self._rooted: set[str] = set()
        self._held_count = 0
        self._recent: OrderedDict[str, dict[str, SpanRecord]] = OrderedDict()
        self._recent_count = 0
        self._events: dict[tuple[str, str], list[EventRecord]] = {}
        # gen_ai.response.id -> (trace, span) of the spans held or recent (bounded like them)
        self._responses: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._by_response: dict[str, list[EventRecord]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="govlib-collect", daemon=True)
        self._thread.start()

    # -- intake
    def submit(self, spans: list[SpanRecord]) -> bool:
        """Queue spans for writing; False when the queue is full (answer 429)."""
        return self._put(("spans", spans))

    def submit_events(self, events: list[tuple[str, str, EventRecord]]) -> bool:
        """Queue evaluation events (trace id, span id, event); False when the queue is full."""
        return self._put(("events", events))

    def _put(self, item: tuple[str, Any]) -> bool:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        return True

    @property
    def busy(self) -> bool:
        """True after a failed write until a write succeeds (answer 503)."""
        return self.last_error is not None

    # -- the thread
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.05)
            except queue.Empty:
                self._write_ready()
                self._record_refusals()
                continue
            self._take(item)
            while True:  # drain what else is queued into the same write
                try:
                    self._take(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write_ready()
            self._record_refusals()

    def _take(self, item: tuple[str, Any]) -> None:
        kind, payload = item
        if kind == "spans":
            self._hold(payload)
        elif kind == "events":
            self._hold_events(payload)
        else:  # "flush": write everything held, then say so
            self._write_ready(everything=True)
            for key, events in self._events.items():
                if not self._late(*key, events):
                    self.summary.skipped_evaluations[self._why_not(*key)] += len(events)
            for response_id, events in self._by_response.items():
                reason = f"{EVALUATION_EVENT} log record for response {response_id}, never received"
                self.summary.skipped_evaluations[reason] += len(events)
            self._events.clear()
            self._by_response.clear()
            if not self.busy:
                payload.set()

    def _record_refusals(self, *, now: bool = False) -> None:
        try:
            self.refusals.write(self.store, now=now)
        except Exception:  # noqa: BLE001 - counts kept for the next try; the store may be busy
            log.exception("govlib collect: recording ingestion errors failed; kept for retry")

    def _hold(self, spans: list[SpanRecord]) -> None:
        now = time.monotonic()
        for span in spans:
            self.summary.spans += 1
            trace = self._trace(span.trace_id)
            if span.span_id in trace:
                self.summary.notes["span(s) received twice (read once)"] += 1
                continue
            trace[span.span_id] = self._with_events(span)
            self._remember_response(span)
            self._held_count += 1
            self._quiet_since[span.trace_id] = now
            if span.parent_id is None:
                self._rooted.add(span.trace_id)

    def _trace(self, trace_id: str) -> dict[str, SpanRecord]:
        """The held spans of a trace; a recently written trace is held again (late spans)."""
        trace = self._held.get(trace_id)
        if trace is None:
            trace = self._held[trace_id] = self._recent.pop(trace_id, {})
            self._recent_count -= len(trace)
            self._held_count += len(trace)
            if any(s.parent_id is None for s in trace.values()):
                self._rooted.add(trace_id)
        return trace

    def _with_events(self, span: SpanRecord) -> SpanRecord:
        extra = self._events.pop((span.trace_id, span.span_id), None)
        if not extra:
            return span
        return SpanRecord(**{**_fields(span), "events": span.events + tuple(extra)})

    def _remember_response(self, span: SpanRecord) -> None:
        response_id = span.attributes.get("gen_ai.response.id")
        if not isinstance(response_id, str) or not response_id:
            return
        self._responses[response_id] = (span.trace_id, span.span_id)
        while len(self._responses) > self.limits.max_recent_spans:
            self._responses.popitem(last=False)
        for event in self._by_response.pop(response_id, []):
            self._hold_events([(span.trace_id, span.span_id, event)])

    def _hold_events(self, events: list[tuple[str, str, EventRecord]]) -> None:
        for trace_id, span_id, event in events:
            if not span_id:  # no span context: tied by gen_ai.response.id
                response_id = str(event.attributes.get("gen_ai.response.id"))
                if response_id not in self._responses:
                    self._by_response.setdefault(response_id, []).append(event)
                    continue
                trace_id, span_id = self._responses[response_id]
            # a trace still held takes the event with its span; a written one gets it at once
            if trace_id in self._held:
                trace = self._held[trace_id]
                span = trace.get(span_id)
                if span is not None:
                    if all(e.key != event.key for e in span.events):  # re-delivered: once
                        trace[span_id] = SpanRecord(
                            **{**_fields(span), "events": (*span.events, event)}
                        )
                    self._quiet_since[trace_id] = time.monotonic()
                    continue
            if not self._late(trace_id, span_id, [event]):
                self._events.setdefault((trace_id, span_id), []).append(event)

    def _why_not(self, trace_id: str, span_id: str) -> str:
        """Why a log record's evaluation was not recorded (at shutdown)."""
        if span_id in self._recent.get(trace_id, {}):
            return "evaluates a span that is neither a tool call nor a model call"
        return f"{EVALUATION_EVENT} log record for span {span_id}, never received"

    def _late(self, trace_id: str, span_id: str, events: list[EventRecord]) -> bool:
        """Record evaluations of a span written before; False when the store has none of it."""
        try:
            return write_late_evaluations(
                self.store,
                trace_id,
                span_id,
                events,
                self.config,
                self.summary,
                skew_s=self._skew_s,
                ledger=self._ledger,
            )
        except Exception:  # noqa: BLE001 - kept: reported as never received at flush
            log.exception("govlib collect: a late evaluation of span %s failed", span_id)
            return False

    def _write_ready(self, *, everything: bool = False) -> None:
        now = time.monotonic()
        linger = self.limits.linger_s
        ready = [
            t
            for t in self._held
            if everything or t in self._rooted or now - self._quiet_since.get(t, now) >= linger
        ]
        over = self._held_count - self.limits.max_held_spans
        for t in self._held:  # oldest first: written as they are when too much is held
            if over <= 0:
                break
            if t not in ready:
                ready.append(t)
                over -= len(self._held[t])
        if ready:
            self._write(ready)

    def _write(self, trace_ids: list[str]) -> None:
        spans = [s for t in trace_ids for s in self._held[t].values()]
        try:
            mapped = plan_spans(spans, self.config, skew_s=self._skew_s)
            for start in range(0, len(mapped), 2000):
                write_mapped(self.store, mapped[start : start + 2000], self.summary, self._ledger)
        except Exception as exc:  # noqa: BLE001 - kept and retried; the receiver answers 503
            if self.last_error is None:  # once per outage, not once per retry
                why = f"cannot map or write spans ({type(exc).__name__}); kept for retry"
                self.refusals.note("collect", why, spans=len(spans), requests=0)
            self.write_errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("govlib collect: writing %d span(s) failed; kept for retry", len(spans))
            time.sleep(min(1.0, self.limits.retry_after_s))
            return
        self.last_error = None
        for t in trace_ids:
            trace = self._held.pop(t)
            self._held_count -= len(trace)
            self._quiet_since.pop(t, None)
            self._rooted.discard(t)
            self._recent[t] = trace
            self._recent_count += len(trace)
        while self._recent_count > self.limits.max_recent_spans and self._recent:
            _, old = self._recent.popitem(last=False)
            self._recent_count -= len(old)

    def flush(self, timeout: float = 60.0) -> bool:
        """Write everything queued and held now; False on timeout or a failed write."""
        done = threading.Event()
        try:
            self._queue.put(("flush", done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout) and not self.busy

    def close(self) -> None:
        """Write everything held, then stop the thread."""
        self.flush()
        self._stop.set()
        self._thread.join(timeout=10)
        self._record_refusals(now=True)


def _fields(span: SpanRecord) -> dict[str, Any]:
    return {name: getattr(span, name) for name in SpanRecord.__slots__}


# --- decoding bodies -----------------------------------------------------------------------------
def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body without its ``Content-Encoding``; ``ValueError`` when corrupt or over ``limit``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        out = bytearray()
        try:
            with gzip.GzipFile(fileobj=BytesReader(body)) as f:
                while chunk := f.read(1 << 20):
                    out += chunk
                    if len(out) > limit:
                        raise _TooLarge
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"gzip: {exc}") from None
        return bytes(out)
    if encoding == "deflate":
        d = zlib.decompressobj()
        try:
            out = d.decompress(body, limit + 1)
        except zlib.error as exc:
            raise ValueError(f"deflate: {exc}") from None
        if len(out) > limit:
            raise _TooLarge
        return out
    if encoding == "zstd":
        try:
            return decompressed(body, limit)
        except ValueError as exc:
            if "expands beyond" in str(exc):
                raise _TooLarge from None
            raise
    raise _Unsupported(f"Content-Encoding {encoding!r}; expected gzip, zstd, deflate or none")


class _TooLarge(Exception):
    pass


class _Unsupported(Exception):
    pass


def decode_traces(body: bytes, content_type: str) -> tuple[list[SpanRecord], list[str]]:
    """Spans of an OTLP/HTTP trace body, and the problems of spans that cannot be read.

    Raises ``ValueError`` when the body as a whole is malformed (answer 400).

    Example:
        >>> decode_traces(b'{"resourceSpans": []}', "application/json")
        ([], [])
    """
    if content_type == PROTOBUF:
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError) as exc:
            raise ValueError(f"not a protobuf ExportTraceServiceRequest ({exc})") from None
        spans, problems = spans_from_proto(request, "otlp")
    else:
        try:
            obj = json.loads(body)
            if obj == {}:  # an empty request is valid OTLP (protobuf's JSON omits empty fields)
                return [], []
            spans, problems = parse_request(obj, "otlp")
        except (ValueError, RecursionError, OtelFormatError) as exc:
            raise ValueError(f"not an OTLP/JSON ExportTraceServiceRequest ({exc})") from None
    return spans, [str(p) for p in problems]


def decode_evaluations(
    body: bytes, content_type: str
) -> tuple[list[tuple[str, str, EventRecord]], int, list[str]]:
    """Evaluation events of an OTLP/HTTP logs body: (trace, span, event), ignored, problems.

    Only ``gen_ai.evaluation.result`` records (``event_name`` or the ``event.name`` attribute)
    with a span context or a ``gen_ai.response.id`` are kept (trace and span empty for the
    latter); other records are counted as ignored. Each event gets a key from its content, so a
    re-delivered record is recorded once.

    Example:
        >>> decode_evaluations(b'{"resourceLogs": []}', "application/json")
        ([], 0, [])
    """
    if content_type == PROTOBUF:
        request = ExportLogsServiceRequest()
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError) as exc:
            raise ValueError(f"not a protobuf ExportLogsServiceRequest ({exc})") from None
        records = [
            (r.trace_id.hex(), r.span_id.hex(), r.event_name, r.time_unix_nano, _proto_attrs(r))
            for rl in request.resource_logs
            for sl in rl.scope_logs
            for r in sl.log_records
        ]
    else:
        try:
            records = list(_json_log_records(json.loads(body)))
        except (ValueError, RecursionError, OtelFormatError, AttributeError, TypeError) as exc:
            raise ValueError(f"not an OTLP/JSON ExportLogsServiceRequest ({exc})") from None
    out, ignored, problems = [], 0, []
    for trace_id, span_id, name, when, attrs in records:
        name = name or attrs.get("event.name")
        if name != EVALUATION_EVENT:
            ignored += 1
            continue
        key = (
            "log:"
            + hashlib.sha256(
                json.dumps(
                    [trace_id, span_id, int(when), attrs], sort_keys=True, default=str
                ).encode()
            ).hexdigest()[:16]
        )
        event = EventRecord(EVALUATION_EVENT, int(when), attrs, key)
        if len(trace_id) == 32 and len(span_id) == 16 and span_id.strip("0"):
            out.append((trace_id, span_id, event))
        elif isinstance(attrs.get("gen_ai.response.id"), str) and attrs["gen_ai.response.id"]:
            out.append(("", "", event))
        else:
            problems.append(
                f"otlp: {EVALUATION_EVENT} log record without a span context or gen_ai.response.id"
            )
    return out, ignored, problems


def _proto_attrs(record: Any) -> dict[str, Any]:
    return proto_attributes(record.attributes)


def _json_log_records(obj: Any) -> Any:
    for rl in obj.get("resourceLogs") or obj.get("resource_logs") or []:
        for sl in rl.get("scopeLogs") or rl.get("scope_logs") or []:
            for r in sl.get("logRecords") or sl.get("log_records") or []:
                trace_id = r.get("traceId") or r.get("trace_id") or ""
                span_id = r.get("spanId") or r.get("span_id") or ""
                trace_id = decode_id(trace_id, 16, "traceId") if trace_id else ""
                span_id = decode_id(span_id, 8, "spanId") if span_id else ""
                when = r.get("timeUnixNano") or r.get("observedTimeUnixNano") or 0
                attrs = attributes(r.get("attributes"))
                yield trace_id, span_id, r.get("eventName") or r.get("event_name"), when, attrs


# --- HTTP ----------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _status_body(code: int, message: str, content_type: str) -> bytes:
    """A ``google.rpc.Status`` (code, message) in the request's encoding."""
    if content_type == PROTOBUF:
        text = message.encode("utf-8")
        return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
    return json.dumps({"code": code, "message": message}).encode("utf-8")


#: Where the Langfuse SDK sends its OTLP traces (``LANGFUSE_BASE_URL`` + this path).
_ALIASES = {"/api/public/otel/v1/traces": "/v1/traces"}
_RPC_CODES = {400: 3, 401: 16, 404: 5, 411: 3, 413: 8, 415: 3, 429: 8, 503: 14}
#: What each refusal is recorded as in ``ingest_errors`` (fixed words: no request content).
_REFUSED = {
    400: "malformed body",
    401: "missing or wrong bearer token",
    404: "unknown path",
    411: "no Content-Length",
    413: "body too large",
    415: "unsupported content type or encoding",
    429: "write queue full",
    503: "the store refused a write",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: OtlpServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s - " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _fail(
        self, status: int, message: str, content_type: str, spans: int = 0, **headers: str
    ) -> None:
        self.server.counts[status] = self.server.counts.get(status, 0) + 1
        source = "collect " + (
            "/v1/logs" if self.path.rstrip("/").endswith("logs") else "/v1/traces"
        )
        reason = f"HTTP {status} {_REFUSED.get(status, 'refused')}"
        self.server.collector.refusals.note(source, reason, spans=spans)
        body = _status_body(_RPC_CODES.get(status, 2), message, content_type)
        self._send(status, body, content_type, **headers)

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        path = urlsplit(self.path).path.rstrip("/")
        path = _ALIASES.get(path, path)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        reply_type = PROTOBUF if ctype == PROTOBUF else JSON
        length_text = self.headers.get("Content-Length")
        body_expected = length_text is not None and length_text.strip() != "0"
        if path not in ("/v1/traces", "/v1/logs"):
            self.close_connection = body_expected
            return self._fail(404, f"{path}: expected /v1/traces or /v1/logs", reply_type)
        if not self._authorised():
            self.close_connection = body_expected
            return self._fail(401, "missing or wrong bearer token", reply_type)
        if ctype not in (PROTOBUF, JSON):
            self.close_connection = body_expected
            msg = f"Content-Type {ctype or 'none'!r}; expected {PROTOBUF} or {JSON}"
            return self._fail(415, msg, reply_type)
        if length_text is None or not length_text.strip().isdigit():
            self.close_connection = True
            return self._fail(411, "Content-Length required", reply_type)
        length, limit = int(length_text), self.server.limits.max_body_bytes
        if length > limit:
            self.close_connection = True  # the body is never read: memory stays bounded
            return self._fail(413, f"body of {length:,} bytes; the limit is {limit:,}", reply_type)
        body = self.rfile.read(length)
        self._handle(path, body, ctype)

    def _authorised(self) -> bool:
        token = self.server.token
        if not token:
            return True
        given = self.headers.get("Authorization") or ""
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)

    def _handle(self, path: str, body: bytes, ctype: str) -> None:
        limits = self.server.limits
        try:
            body = _decompress(
                body, self.headers.get("Content-Encoding") or "", limits.max_body_bytes
            )
        except _TooLarge:
            return self._fail(413, f"body expands beyond {limits.max_body_bytes:,} bytes", ctype)
        except _Unsupported as exc:
            return self._fail(415, str(exc), ctype)
        except ValueError as exc:
            return self._fail(400, str(exc), ctype)
        collector = self.server.collector
        retry = {"Retry_After": str(limits.retry_after_s)}
        if collector.busy:
            return self._fail(
                503, f"the store refused a write ({collector.last_error})", ctype, **retry
            )
        try:
            if path == "/v1/traces":
                spans, problems = decode_traces(body, ctype)
                accepted = collector.submit(spans)
                response: Any = ExportTraceServiceResponse()
                if problems:
                    response.partial_success.rejected_spans = len(problems)
            else:
                events, _, problems = decode_evaluations(body, ctype)
                accepted = collector.submit_events(events)
                response = ExportLogsServiceResponse()
                if problems:
                    response.partial_success.rejected_log_records = len(problems)
        except ValueError as exc:
            return self._fail(400, str(exc), ctype)
        if not accepted:
            count = len(spans) if path == "/v1/traces" else 0
            return self._fail(429, "the write queue is full; retry later", ctype, count, **retry)
        if problems:
            response.partial_success.error_message = "; ".join(problems[:5])[:2000]
            collector.summary.problems += problems
        self.server.counts[200] = self.server.counts.get(200, 0) + 1
        if ctype == PROTOBUF:
            out = response.SerializeToString()
        else:
            from google.protobuf.json_format import MessageToJson

            out = MessageToJson(response).encode("utf-8")
        self._send(200, out, ctype)


class OtlpServer(ThreadingHTTPServer):
    """The OTLP/HTTP server: a thread per connection, one :class:`Collector` behind them.

    Example:
        >>> srv = OtlpServer(("127.0.0.1", 0), Collector(Store(memory=True)))
        >>> srv.server_address[1] > 0
        True
        >>> srv.server_close(); srv.collector.close()
    """

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], collector: Collector, *, token: str | None = None
    ) -> None:
        import socket

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.collector, self.limits, self.token = collector, collector.limits, token
        self.counts: dict[int, int] = {}


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_collector(
    store: Store,
    listen: str = "127.0.0.1:4318",
    *,
    config: IngestConfig | None = None,
    limits: CollectLimits | None = None,
    token: str | None = None,
    ready: Any = None,
    stop: threading.Event | None = None,
) -> IngestSummary:
    """Receive OTLP/HTTP until ``stop`` is set (or KeyboardInterrupt); the summary.

    A non-loopback address needs ``token`` (clients send ``Authorization: Bearer TOKEN``).
    ``ready(url)`` is called once listening. Everything held is written before returning.

    Example:
        >>> ev = threading.Event(); ev.set()
        >>> serve_collector(Store(memory=True), "127.0.0.1:0", stop=ev).new_total
        0
    """
    host, port = parse_listen(listen)
    if not _is_loopback(host) and not token:
        raise CollectError(
            f"--listen {listen}: not a loopback address; set a token (GOVLIB_TOKEN or "
            "--token-file) so only your exporters can write"
        )
    collector = Collector(store, config, limits)
    try:
        server = OtlpServer((host, port), collector, token=token)
    except OSError as exc:
        collector.close()
        raise CollectError(f"--listen {listen}: cannot listen ({exc})") from None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    shown = f"[{host}]" if ":" in host else host
    if ready is not None:
        ready(f"http://{shown}:{server.server_address[1]}")
    try:
        while not (stop.wait(0.2) if stop is not None else time.sleep(0.2)):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        collector.close()
    return collector.summary
