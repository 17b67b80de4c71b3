"""Bring your own agent: OpenTelemetry GenAI traces into the govlib store (the thin shell).

:func:`ingest_paths` reads OTLP/JSON exports (the Collector ``file`` exporter format, one
``ExportTraceServiceRequest`` per line) and :class:`GovlibSpanProcessor` takes finished spans
straight from a live ``TracerProvider``. Both decode spans (:mod:`govlib.capture.otel.decoding`), map them
(:mod:`govlib.capture.otel.mapping`, pure) and write (:mod:`govlib.capture.otel.writing`), each chunk in one
``store.transaction()``: tool-call rows with their ``audit_batch`` digest, ledger receipts with
their ``ledger_batch`` digest, ``workflows``/``workflow_runs`` rows, verdicts, and one
``ingested_spans`` row per thing written. Ingestion records past events and runs no tool, so the kill-switch does not apply.

Idempotent: a span (trace id, span id, kind) already in ``ingested_spans`` is not written again.
A span with a value out of :mod:`govlib.bounds` (tokens, cost, latency, time, text) is skipped
whole, with its reason among the summary's problems; the rest is kept.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from govlib import bounds
from govlib.capture.otel.config import IngestConfig, with_default_tenant
from govlib.capture.otel.conventions import genai_attributes
from govlib.capture.otel.decoding import EventRecord, SpanRecord
from govlib.capture.otel.files import OtelIngestError, export_files, read_export, scan
from govlib.capture.otel.mapping import (
    MappedSpan,
    plan_spans,
)
from govlib.capture.otel.refusals import record_ingest_error
from govlib.capture.otel.spans import SpanIndex, operation
from govlib.capture.otel.writing import IngestSummary, write_mapped
from govlib.costs.ledger import Ledger
from govlib.settings import load_settings
from govlib.store.database import Store

try:  # the SDK is optional at run time; the processor only needs its duck-typed interface
    from opentelemetry.sdk.trace import SpanProcessor as _ProcessorBase
except ImportError:  # pragma: no cover - exercised only without opentelemetry-sdk
    _ProcessorBase = object  # type: ignore[assignment,misc]

__all__ = [
    "GovlibSpanProcessor",
    "IngestConfig",
    "IngestSummary",
    "OtelIngestError",
    "ingest_paths",
    "export_files",
    "ingest_spans",
    "read_export",
    "record_from_sdk_span",
]

log = logging.getLogger("govlib.capture.otel.ingest")
CHUNK = 2000


def ingest_paths(
    store: Store, paths: Sequence[str | os.PathLike[str]], config: IngestConfig | None = None
) -> IngestSummary:
    """Ingest OTLP/JSON exports (files, or dirs of ``*.json``/``*.jsonl``) into ``store``.

    Every span of every file is indexed first, so a trace split over lines or files resolves
    to the same workflow run. Re-ingesting a file writes nothing new.

    Parameters
    ----------
    store : Store
        Where to write (its ``Settings.default_tenant`` fills ``config.default_tenant``).
    paths : sequence of paths
        Export files, or directories read recursively for ``*.json`` / ``*.jsonl``.
    config : IngestConfig, optional
        Attribute names and label mapping (default: :class:`IngestConfig()`).

    Returns
    -------
    IngestSummary
        New rows, rows already there, and every line, span or event left out with the reason.

    Raises
    ------
    OtelIngestError
        A path does not exist.

    Example:
        >>> ingest_paths(Store(memory=True), []).new_total
        0
    """
    summary = IngestSummary()
    spans: list[SpanRecord] = []
    seen: set[tuple[str, str]] = set()
    files, others = scan(paths)
    if others:
        summary.notes[f"file(s) not named as trace exports, left unread ({others[0]}, ...)"] += len(
            others
        )
    if not files:
        summary.problems.append(
            f"{', '.join(map(str, paths))}: no trace export found (expected *.json, *.jsonl, "
            "*.pb, optionally .gz/.zst)"
        )
    with _gc_paused():
        for path in files:
            for span in read_export(path, summary):
                summary.spans += 1
                if (span.trace_id, span.span_id) in seen:
                    summary.notes["span(s) appearing twice in the input (read once)"] += 1
                    continue
                seen.add((span.trace_id, span.span_id))
                spans.append(span)
        if summary.unreadable_files:
            first = os.path.basename(summary.unreadable_files[0])
            more = len(summary.unreadable_files) - 1
            reason = f"unreadable trace file {first}" + (f" and {more} more" if more else "")
            record_ingest_error(
                store, "ingest otel", reason, requests=len(summary.unreadable_files), spans=0
            )
        return ingest_spans(store, spans, config, summary=summary)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a bulk ingest builds its (acyclic) span objects.

    The collector would otherwise re-scan every span read so far many times (~25% of the time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def ingest_spans(
    store: Store,
    spans: list[SpanRecord],
    config: IngestConfig | None = None,
    *,
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Map and write decoded spans that belong together (see :func:`ingest_paths`).

    Example:
        >>> ingest_spans(Store(memory=True), []).describe().endswith("nothing new.")
        True
    """
    summary = summary if summary is not None else IngestSummary(spans=len(spans))
    config = _resolved(store, config)
    mapped = plan_spans(spans, config, skew_s=bounds.skew_seconds(store.data_dir))
    ledger = Ledger(store, prices=config.prices)
    for start in range(0, len(mapped), CHUNK):
        write_mapped(store, mapped[start : start + CHUNK], summary, ledger)
    return summary


def _resolved(store: Store, config: IngestConfig | None) -> IngestConfig:
    config = config or IngestConfig()
    return with_default_tenant(config, load_settings(store.data_dir).default_tenant)


# --- live agents -----------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def record_from_sdk_span(span: Any, source: str = "live") -> SpanRecord:
    """A finished ``opentelemetry.sdk.trace.ReadableSpan`` as a :class:`SpanRecord`.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> span = TracerProvider(shutdown_on_exit=False).get_tracer("t").start_span("chat")
        >>> span.end()
        >>> (record_from_sdk_span(span).name, record_from_sdk_span(span).parent_id)
        ('chat', None)
    """
    ctx, parent = span.get_span_context(), span.parent
    events = tuple(
        EventRecord(e.name, e.timestamp, {k: _plain(v) for k, v in (e.attributes or {}).items()})
        for e in span.events
    )
    return SpanRecord(
        trace_id=f"{ctx.trace_id:032x}",
        span_id=f"{ctx.span_id:016x}",
        parent_id=f"{parent.span_id:016x}" if parent is not None else None,
        name=span.name,
        start_ns=int(span.start_time),
        end_ns=int(span.end_time),
        status_code=int(span.status.status_code.value),
        status_message=span.status.description or "",
        attributes={k: _plain(v) for k, v in (span.attributes or {}).items()},
        resource={k: _plain(v) for k, v in span.resource.attributes.items()},
        events=events,
        source=source,
    )


class GovlibSpanProcessor(_ProcessorBase):  # type: ignore[misc,valid-type]
    """An OpenTelemetry ``SpanProcessor`` that writes finished GenAI spans into a govlib store.

    Add it to a ``TracerProvider``; tool, model and agent spans (OTel GenAI, OpenInference or
    Langfuse attributes) become audit rows, receipts, workflow runs and verdicts as with
    ``govlib ingest otel``. A trace's spans are held until its top span (no parent, or a remote
    one) ends, then mapped together with the attributes they ended with, so a library that sets
    ``gen_ai.operation.name`` only at span end still links every row to the right run: the same
    rows as file ingestion of the trace. ``force_flush`` also writes traces still open (what is
    known then; the rest of such a trace follows at its end, nothing twice); more than
    ``max_held`` held spans write the oldest open trace early. Writes happen in the thread that
    ends a top span, and on ``force_flush``/``shutdown``. A failed write is logged and kept for
    the next one (at most ``max_pending`` spans; beyond that the oldest are dropped and
    counted), never raised into the agent. ``summary``, ``write_errors`` and ``dropped`` tell
    what happened.

    Parameters
    ----------
    store_or_dir : Store or path
        A store, or a data dir / ``govlib.sqlite`` path (opened here, closed on ``shutdown``).
    config : IngestConfig, optional
        As for :func:`ingest_paths`.
    batch_size, max_pending, max_held : int
        Mapped spans per write; spans kept while writes fail; spans of open traces held.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> provider = TracerProvider()
        >>> provider.add_span_processor(GovlibSpanProcessor(Store(memory=True)))
    """

    def __init__(
        self,
        store_or_dir: Store | str | os.PathLike[str],
        config: IngestConfig | None = None,
        *,
        batch_size: int = 256,
        max_pending: int = 10_000,
        max_held: int = 50_000,
    ) -> None:
        self._own = not isinstance(store_or_dir, Store)
        self.store = Store(store_or_dir) if self._own else store_or_dir  # type: ignore[arg-type]
        self.config = _resolved(self.store, config)
        self._skew_s = bounds.skew_seconds(self.store.data_dir)
        self.batch_size, self.max_pending, self.max_held = batch_size, max_pending, max_held
        self.summary = IngestSummary()
        self.write_errors = self.dropped = 0
        self._ledger = Ledger(self.store, prices=self.config.prices)
        self._held: dict[str, list[SpanRecord]] = {}
        self._open: dict[tuple[str, str], tuple[str | None, str | None, str | None]] = {}
        self._held_count = 0
        self._pending: list[MappedSpan] = []
        self._lock = threading.RLock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Remember the open span (parent, operation and agent at start) for ``force_flush``."""
        ctx, parent = span.get_span_context(), span.parent
        attrs = genai_attributes(span.attributes or {}, span.name, parent is None)
        agent = attrs.get("gen_ai.agent.name")
        with self._lock:
            self._open[(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")] = (
                f"{parent.span_id:016x}" if parent is not None else None,
                operation(attrs, span.name),
                str(agent) if agent else None,
            )

    def on_end(self, span: Any) -> None:
        """Hold the finished span; when it is its trace's top span, map the trace and write."""
        try:
            record = record_from_sdk_span(span)
            top = span.parent is None or bool(getattr(span.parent, "is_remote", False))
        except Exception:  # noqa: BLE001 - a span we cannot read must not break the agent
            log.exception("govlib: could not read a finished span")
            return
        with self._lock:
            self._open.pop((record.trace_id, record.span_id), None)
            self.summary.spans += 1
            self._held.setdefault(record.trace_id, []).append(record)
            self._held_count += 1
            if top:
                self._plan(record.trace_id)
            while self._held_count > self.max_held and self._held:
                self._plan(next(iter(self._held)))  # the oldest open trace, as known now
            if top or len(self._pending) >= self.batch_size:
                self._flush()

    def _plan(self, trace_id: str, *, keep: bool = False) -> None:
        """Map a held trace into ``_pending``; ``keep``: hold its spans on (still open)."""
        records = self._held[trace_id] if keep else self._held.pop(trace_id)
        if not keep:
            self._held_count -= len(records)
        index = SpanIndex()
        if keep:  # the trace's open spans (its agent, its workflow) as they started
            for (trace, span_id), (parent, op, agent) in self._open.items():
                if trace == trace_id:
                    index.add(trace, span_id, parent, op, agent)
        mapped = plan_spans(records, self.config, index, skew_s=self._skew_s)
        self._pending.extend(mapped)

    def _flush(self) -> bool:
        with self._lock:
            if not self._pending:
                return True
            try:
                for start in range(0, len(self._pending), CHUNK):
                    write_mapped(
                        self.store, self._pending[start : start + CHUNK], self.summary, self._ledger
                    )
            except Exception:  # noqa: BLE001 - evidence trouble is counted, never raised into the agent
                self.write_errors += 1
                log.exception(
                    "govlib: writing %d span(s) failed; kept for retry", len(self._pending)
                )
                excess = len(self._pending) - self.max_pending
                if excess > 0:
                    del self._pending[:excess]
                    self.dropped += excess
                return False
            self._pending.clear()
            return True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write every finished span now (open traces as known so far); False when it failed."""
        with self._lock:
            for trace_id in list(self._held):
                self._plan(trace_id, keep=True)
            return self._flush()

    def shutdown(self) -> None:
        """Write everything held, then close the store when the processor opened it."""
        with self._lock:
            for trace_id in list(self._held):
                self._plan(trace_id)
            self._flush()
        if self._own:
            self.store.close()
