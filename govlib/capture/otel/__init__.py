"""Bring your own agent: OpenTelemetry GenAI traces into the govlib store.

Config, decoding of OTLP/JSON exports, the span index (which run and agent a span belongs to),
mapping spans to rows (pure), writing them, and the live :class:`GovlibSpanProcessor`.

Example:
    >>> from govlib.capture.otel import GovlibSpanProcessor  # doctest: +SKIP
"""

from govlib.capture.otel.ingest import (
    GovlibSpanProcessor,
    IngestConfig,
    IngestSummary,
    OtelIngestError,
    ingest_paths,
    ingest_spans,
)

__all__ = [
    "GovlibSpanProcessor",
    "IngestConfig",
    "IngestSummary",
    "OtelIngestError",
    "ingest_paths",
    "ingest_spans",
]
