"""Reading OTLP/JSON trace exports: one ``ExportTraceServiceRequest`` object into span records.

Pure: JSON values in, :class:`SpanRecord` values and :class:`OtelFormatError` problems out. The
format is the OpenTelemetry Collector ``file`` exporter's (protobuf's JSON mapping of
``ExportTraceServiceRequest``, one object per line): ``resourceSpans[].scopeSpans[].spans[]``,
attributes as ``[{"key": ..., "value": AnyValue}]``, 64-bit integers as strings or numbers. Ids
may be hex (what the Collector writes) or base64 (what ``MessageToJson`` writes); snake_case
field names (``resource_spans``) and the old ``instrumentationLibrarySpans`` are accepted too.

A span that cannot be read is reported (file, line, field, value, what was expected) and left
out; the other spans of its line are kept.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from govlib.errors import GovlibError

__all__ = [
    "EventRecord",
    "OtelFormatError",
    "SpanRecord",
    "any_value",
    "attributes",
    "decode_id",
    "ns_to_iso",
    "parse_line",
    "parse_request",
]

#: Span status codes (``opentelemetry.proto.trace.v1.Status.StatusCode``).
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_STATUS_NAMES |= {"UNSET": 0, "OK": 1, "ERROR": 2}
_HEX = re.compile("[0-9a-fA-F]+")
_MAX_NS = 253_402_300_799_999_999_999  # 9999-12-31T23:59:59.999999999Z


class OtelFormatError(GovlibError):
    """A line or span of an OTLP/JSON export cannot be read.

    The message names the file and line (``source``), the field, the value and what was
    expected; the attributes keep them apart for the ingest summary.

    Example:
        >>> str(OtelFormatError("spanId", "xyz", "16 hex digits", source="t.jsonl:3"))
        "t.jsonl:3: spanId = 'xyz'; expected 16 hex digits"
    """

    def __init__(self, field: str, value: Any, expected: str, *, source: str = "") -> None:
        self.field, self.value, self.expected, self.source = field, value, expected, source
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{field} = {shown}; expected {expected}")

    def at(self, source: str) -> OtelFormatError:
        """The same problem, located at ``source`` (``file:line``)."""
        return OtelFormatError(self.field, self.value, self.expected, source=source)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One span event: name, time (ns since the epoch) and attributes.

    ``key``: what names an event that did not come with its span (an OTLP log record) in
    ``ingested_spans`` (a span's own events are named by their position).
    """

    name: str
    time_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    key: str | None = None


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span, decoded: lowercase hex ids, plain Python attribute values.

    ``status_code`` is 0 (unset), 1 (ok) or 2 (error). ``source`` says where it came from
    (``file:line``, or ``live`` for the span processor).

    Example:
        >>> s = SpanRecord("0" * 31 + "1", "0" * 15 + "2", None, "chat", 1, 2)
        >>> s.duration_ns
        1
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status_code: int = STATUS_UNSET
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    events: tuple[EventRecord, ...] = ()
    source: str = ""

    @property
    def duration_ns(self) -> int:
        """End minus start, in nanoseconds."""
        return self.end_ns - self.start_ns


def _get(obj: Mapping[str, Any], camel: str, snake: str | None = None) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None and snake else value


def decode_id(value: Any, nbytes: int, field: str) -> str:
    """A trace id (16 bytes) or span id (8 bytes) as lowercase hex, from hex or base64 text.

    Hex has ``2 * nbytes`` digits; base64 (padded or not) encodes ``nbytes`` bytes. All-zero ids
    are invalid (the OTLP specification says so).

    Example:
        >>> decode_id("AAAAAAAAAAE=", 8, "spanId")
        '0000000000000001'
    """
    expected = f"{2 * nbytes} hex digits or {nbytes} bytes in base64, not all zero"
    if not isinstance(value, str):
        raise OtelFormatError(field, value, expected)
    if len(value) == 2 * nbytes and _HEX.fullmatch(value):
        text = value.lower()
    else:
        try:
            raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise OtelFormatError(field, value, expected) from None
        if len(raw) != nbytes:
            raise OtelFormatError(field, value, expected)
        text = raw.hex()
    if text.strip("0") == "":
        raise OtelFormatError(field, value, expected)
    return text


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise OtelFormatError(field, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise OtelFormatError(field, value, "an integer (number or decimal string)")


def _double(raw: Any, field: str) -> float:
    words = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
    if raw in words:
        return words[raw]
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    raise OtelFormatError(field, raw, "a number (doubleValue)")


def _array(raw: Any, field: str) -> list[Any]:
    items = raw.get("values") if isinstance(raw, Mapping) else raw
    if not isinstance(items, list | None):
        raise OtelFormatError(field, raw, "an arrayValue {values: [...]}")
    return [any_value(v, field) for v in items or ()]


def _kvlist(raw: Any, field: str) -> dict[str, Any]:
    return attributes(raw.get("values") if isinstance(raw, Mapping) else raw, field)


def _bytes(raw: Any, field: str) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise OtelFormatError(field, raw, "base64 bytes (bytesValue)") from None


_CONVERT: dict[str, Any] = {
    "stringValue": lambda raw, field: raw,
    "boolValue": lambda raw, field: bool(raw),
    "intValue": _int,
    "doubleValue": _double,
    "arrayValue": _array,
    "kvlistValue": _kvlist,
    "bytesValue": _bytes,
}
_CONVERT |= {
    "".join("_" + c.lower() if c.isupper() else c for c in k): f for k, f in _CONVERT.items()
}


def any_value(value: Any, field: str = "value") -> Any:
    """A protobuf-JSON ``AnyValue`` as a Python value (``{}`` -> None, kvlist -> dict).

    Example:
        >>> any_value({"arrayValue": {"values": [{"intValue": "3"}, {"boolValue": True}]}})
        [3, True]
    """
    if not isinstance(value, Mapping):
        raise OtelFormatError(field, value, "an AnyValue object such as {'stringValue': ...}")
    for kind, raw in value.items():
        convert = _CONVERT.get(kind)
        if convert is not None:
            return convert(raw, field)
    if not value:
        return None
    raise OtelFormatError(field, dict(value), "one of stringValue, intValue, doubleValue, ...")


def attributes(items: Any, field: str = "attributes") -> dict[str, Any]:
    """A protobuf-JSON ``KeyValue`` list as a dict (None or missing -> ``{}``).

    Example:
        >>> attributes([{"key": "gen_ai.tool.name", "value": {"stringValue": "lookup"}}])
        {'gen_ai.tool.name': 'lookup'}
    """
    if items is None:
        return {}
    if not isinstance(items, list):
        raise OtelFormatError(field, items, "a list of {key, value} objects")
    out: dict[str, Any] = {}
    for item in items:
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str):
            raise OtelFormatError(field, item, "a {key, value} object with a string key")
        value = item.get("value")
        if type(value) is dict and len(value) == 1 and "stringValue" in value:
            out[key] = value["stringValue"]  # the common case, without the general path
        else:
            out[key] = any_value(value or {}, f"{field}[{key}]")
    return out


def ns_to_iso(ns: int) -> str:
    """Nanoseconds since the epoch as the stored ``*_at`` text (UTC, microseconds, ``Z``).

    Example:
        >>> ns_to_iso(1_795_430_922_605_862_243)
        '2026-11-23T10:48:42.605862Z'
    """
    secs, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1000:06d}Z"


def _time(span: Mapping[str, Any], camel: str, snake: str) -> int:
    ns = _int(_get(span, camel, snake), camel)
    if not 0 < ns <= _MAX_NS:
        raise OtelFormatError(camel, ns, "nanoseconds since 1970 (> 0)")
    return ns


def _status(span: Mapping[str, Any]) -> tuple[int, str]:
    status = span.get("status") or {}
    if not isinstance(status, Mapping):
        raise OtelFormatError("status", status, "a {code, message} object")
    code = status.get("code", 0)
    code = _STATUS_NAMES.get(code, code) if isinstance(code, str) else code
    if code not in (0, 1, 2) or isinstance(code, bool):
        raise OtelFormatError("status.code", status.get("code"), "STATUS_CODE_UNSET/OK/ERROR")
    return int(code), str(status.get("message") or "")


def _events(span: Mapping[str, Any]) -> tuple[EventRecord, ...]:
    raw = span.get("events") or []
    if not isinstance(raw, list):
        raise OtelFormatError("events", raw, "a list of events")
    out = []
    for ev in raw:
        if not isinstance(ev, Mapping):
            raise OtelFormatError("events", ev, "an event object")
        name = ev.get("name")
        ns = _int(_get(ev, "timeUnixNano", "time_unix_nano") or 0, "events.timeUnixNano")
        out.append(EventRecord(str(name or ""), ns, attributes(ev.get("attributes"), "events")))
    return tuple(out)


def span_record(span: Any, resource: dict[str, Any], source: str) -> SpanRecord:
    """One protobuf-JSON ``Span`` object as a :class:`SpanRecord` (or :class:`OtelFormatError`).

    Example:
        >>> span_record({"traceId": "1" * 32, "spanId": "2" * 16, "name": "chat",
        ...     "startTimeUnixNano": "5", "endTimeUnixNano": "9"}, {}, "x:1").duration_ns
        4
    """
    if not isinstance(span, Mapping):
        raise OtelFormatError("spans[]", span, "a span object")
    trace_id = decode_id(_get(span, "traceId", "trace_id"), 16, "traceId")
    span_id = decode_id(_get(span, "spanId", "span_id"), 8, "spanId")
    parent = _get(span, "parentSpanId", "parent_span_id")
    parent_id = decode_id(parent, 8, "parentSpanId") if parent else None
    name = span.get("name")
    if not isinstance(name, str):
        raise OtelFormatError("name", name, "the span name as a string")
    start = _time(span, "startTimeUnixNano", "start_time_unix_nano")
    end = _time(span, "endTimeUnixNano", "end_time_unix_nano")
    if end < start:
        raise OtelFormatError("endTimeUnixNano", end, f"a time at or after the start ({start})")
    code, message = _status(span)
    attrs = attributes(span.get("attributes"))
    return SpanRecord(
        trace_id,
        span_id,
        parent_id,
        name,
        start,
        end,
        code,
        message,
        attrs,
        resource,
        _events(span),
        source,
    )


def _scope_groups(resource_spans: Mapping[str, Any]) -> Iterator[Any]:
    for key in ("scopeSpans", "scope_spans", "instrumentationLibrarySpans"):
        groups = resource_spans.get(key)
        if groups is not None:
            if not isinstance(groups, list):
                raise OtelFormatError(key, groups, "a list of scope spans")
            yield from groups


def parse_request(obj: Any, source: str) -> tuple[list[SpanRecord], list[OtelFormatError]]:
    """Spans of one decoded ``ExportTraceServiceRequest``, and the problems of unreadable spans.

    Raises :class:`OtelFormatError` (located at ``source``) when the object as a whole is not a
    request; a single bad span only adds a problem.

    Example:
        >>> spans, problems = parse_request({"resourceSpans": []}, "t.jsonl:1")
        >>> (spans, problems)
        ([], [])
    """
    if not isinstance(obj, Mapping):
        raise OtelFormatError(
            "line", obj, "a JSON object (ExportTraceServiceRequest)", source=source
        )
    groups = _get(obj, "resourceSpans", "resource_spans")
    if not isinstance(groups, list):
        raise OtelFormatError(
            "resourceSpans",
            groups,
            "a list (one ExportTraceServiceRequest per line)",
            source=source,
        )
    spans: list[SpanRecord] = []
    problems: list[OtelFormatError] = []
    for rs in groups:
        try:
            if not isinstance(rs, Mapping):
                raise OtelFormatError("resourceSpans[]", rs, "an object")
            resource = attributes((rs.get("resource") or {}).get("attributes"), "resource")
            scope_spans = list(_scope_groups(rs))
        except OtelFormatError as exc:
            problems.append(exc.at(source))
            continue
        for group in scope_spans:
            items = (group.get("spans") or []) if isinstance(group, Mapping) else group
            if not isinstance(items, list):
                problems.append(OtelFormatError("spans", items, "a list of spans", source=source))
                continue
            for span in items:
                try:
                    spans.append(span_record(span, resource, source))
                except OtelFormatError as exc:
                    problems.append(exc.at(source))
                except (ValueError, TypeError, AttributeError, KeyError) as exc:
                    expected = f"a valid OTLP span ({type(exc).__name__}: {exc})"
                    problems.append(OtelFormatError("span", span, expected, source=source))
    return spans, problems


def parse_line(text: str, source: str) -> tuple[list[SpanRecord], list[OtelFormatError]]:
    """Spans and problems of one line of an export (a line that is not JSON is one problem).

    Example:
        >>> parse_line("{oops", "t.jsonl:7")[1][0].source
        't.jsonl:7'
    """
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = getattr(exc, "msg", "too deeply nested")
        problem = OtelFormatError("line", text[:60], f"JSON ({msg})", source=source)
        return [], [problem]
    try:
        return parse_request(obj, source)
    except OtelFormatError as exc:
        return [], [exc]
