"""Capture: what agents do, recorded as it happens.

The tool-call emitter (one content-free ``audit_log`` row per call, a background sink that never
blocks, its counters), the output fingerprint, tool argument schemas, human verdicts and
OpenTelemetry ingestion (:mod:`govlib.capture.otel`). Imports the store, evidence, governance and
costs; imported by analysis and the products above it.
"""
