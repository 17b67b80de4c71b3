"""Reading OTLP protobuf: ``ExportTraceServiceRequest`` bytes into span records.

Pure: bytes in, :class:`~govlib.capture.otel.decoding.SpanRecord` values and
:class:`~govlib.capture.otel.decoding.OtelFormatError` problems out. Used for ``.pb`` files (the
Collector ``file`` exporter with ``format: proto`` writes each request behind a 4-byte
big-endian length; a varint length, as protobuf's ``writeDelimitedTo``, and a single bare
request are read too) and for ``govlib collect`` bodies. Spans are converted straight from the
message (no JSON detour): the receiver's rate depends on it.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from govlib.capture.otel.decoding import EventRecord, OtelFormatError, SpanRecord

__all__ = ["parse_proto_request", "proto_attributes", "split_delimited", "spans_from_proto"]

_MAX_NS = 253_402_300_799_999_999_999


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    raw = getattr(v, kind)
    if kind == "array_value":
        return [_value(x) for x in raw.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in raw.values}
    return raw


def proto_attributes(items: Any) -> dict[str, Any]:
    """Protobuf ``KeyValue`` items as a dict of plain values."""
    out: dict[str, Any] = {}
    for kv in items:
        value = kv.value
        out[kv.key] = value.string_value if value.HasField("string_value") else _value(value)
    return out


def _span(span: Any, resource: dict[str, Any], source: str) -> SpanRecord:
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    if len(span.trace_id) != 16 or not trace_id.strip("0"):
        raise OtelFormatError("traceId", trace_id, "16 bytes, not all zero", source=source)
    if len(span.span_id) != 8 or not span_id.strip("0"):
        raise OtelFormatError("spanId", span_id, "8 bytes, not all zero", source=source)
    parent = span.parent_span_id.hex() if span.parent_span_id else None
    if parent is not None and (len(span.parent_span_id) != 8 or not parent.strip("0")):
        parent = None  # an all-zero parent is the encoders' way of saying none
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not 0 < start <= _MAX_NS:
        raise OtelFormatError(
            "startTimeUnixNano", start, "nanoseconds since 1970 (> 0)", source=source
        )
    if end < start:
        raise OtelFormatError(
            "endTimeUnixNano", end, f"a time at or after the start ({start})", source=source
        )
    events = tuple(
        EventRecord(e.name, e.time_unix_nano, proto_attributes(e.attributes)) for e in span.events
    )
    return SpanRecord(
        trace_id,
        span_id,
        parent,
        span.name,
        start,
        end,
        int(span.status.code),
        span.status.message,
        proto_attributes(span.attributes),
        resource,
        events,
        source,
    )


def spans_from_proto(
    request: ExportTraceServiceRequest, source: str
) -> tuple[list[SpanRecord], list[OtelFormatError]]:
    """Spans of a decoded request, and the problems of spans that cannot be read.

    Example:
        >>> spans_from_proto(ExportTraceServiceRequest(), "t.pb")
        ([], [])
    """
    spans: list[SpanRecord] = []
    problems: list[OtelFormatError] = []
    for rs in request.resource_spans:
        resource = proto_attributes(rs.resource.attributes)
        for group in rs.scope_spans:
            for span in group.spans:
                try:
                    spans.append(_span(span, resource, source))
                except OtelFormatError as exc:
                    problems.append(exc)
    return spans, problems


def parse_proto_request(data: bytes, source: str) -> tuple[list[SpanRecord], list[OtelFormatError]]:
    """Spans and problems of one serialized ``ExportTraceServiceRequest`` (bad bytes: a problem).

    Example:
        >>> parse_proto_request(b"\\xff\\xff", "t.pb")[1][0].field
        'body'
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        problem = OtelFormatError(
            "body", data[:16], f"a protobuf ExportTraceServiceRequest ({exc})"
        )
        return [], [problem.at(source)]
    return spans_from_proto(request, source)


def _fixed_frames(data: bytes) -> list[bytes] | None:
    """4-byte big-endian length framing (the Collector file exporter), when it fits exactly."""
    frames, at = [], 0
    while at < len(data):
        if at + 4 > len(data):
            return None
        size = int.from_bytes(data[at : at + 4], "big")
        if at + 4 + size > len(data):
            return None
        frames.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return frames


def _varint_frames(data: bytes) -> list[bytes] | None:
    """Varint length framing (``writeDelimitedTo``), when it fits exactly."""
    frames, at = [], 0
    while at < len(data):
        size, shift = 0, 0
        while True:
            if at >= len(data) or shift > 63:
                return None
            byte = data[at]
            at += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if at + size > len(data):
            return None
        frames.append(data[at : at + size])
        at += size
    return frames


def split_delimited(data: bytes) -> list[bytes]:
    """The serialized requests of a ``.pb`` file: 4-byte framed, varint framed, or one bare one.

    A framing is taken when its lengths cover the file exactly and each frame parses.

    Example:
        >>> body = ExportTraceServiceRequest().SerializeToString() or b"\\n\\x00"
        >>> split_delimited(len(body).to_bytes(4, "big") + body) == [body]
        True
    """
    frames = _fixed_frames(data)
    if frames and all(_parses(f) for f in frames):
        return frames
    if _parses(data, need_spans=True):
        return [data]
    frames = _varint_frames(data)
    if frames and all(_parses(f) for f in frames):
        return frames
    return [data]


def _parses(frame: bytes, need_spans: bool = False) -> bool:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(frame)
    except (DecodeError, ValueError, RuntimeError):
        return False
    return bool(request.resource_spans) or not need_spans
