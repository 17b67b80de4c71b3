"""OpenTelemetry ingestion rate: 100k spans of OTLP/JSON into a fresh govlib store.

Run: ``.venv/bin/python benchmarks/otel.py [--spans N]``. Prints figures; asserts nothing.

The input is the in-repo sample export (made with the real OpenTelemetry SDK by
``tests/otel_sample.py``: 13 spans in 3 traces - tool calls, model calls, agents, evaluations)
copied with fresh trace/span ids and shifted times until it holds N spans, one
``ExportTraceServiceRequest`` per line like the Collector ``file`` exporter writes.

Printed: reading + decoding alone, mapping alone (pure), the whole ``ingest_paths`` into a
file store (SQLite WAL, ``synchronous=FULL``, digests, verdicts), and re-ingesting the same file
(idempotent: nothing new), each as spans per second of wall time and of CPU time (SQLite's fsyncs
are wall time only; on a shared machine the CPU figure is the steadier one).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

from govlib.capture.otel.config import IngestConfig
from govlib.capture.otel.ingest import IngestSummary, ingest_paths, read_export
from govlib.capture.otel.mapping import plan_spans
from govlib.store.database import Store

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "otel" / "sample_traces.jsonl"
_IDS = re.compile(r'"(traceId|spanId|parentSpanId)":"([0-9a-f]+)"')
_TIMES = re.compile(r'"(startTimeUnixNano|endTimeUnixNano|timeUnixNano)":"(\d+)"')


def build_export(path: Path, spans: int) -> int:
    """Write copies of the sample until ``spans`` spans; returns how many were written."""
    lines = SAMPLE.read_text().splitlines()
    per_copy = sum(line.count('"spanId"') for line in lines)
    copies = -(-spans // per_copy)
    with path.open("w") as out:
        for k in range(copies):
            suffix, shift = f"{k:08x}", k * 200_000_000_000

            def new_id(m: re.Match[str], suffix: str = suffix) -> str:
                return f'"{m.group(1)}":"{m.group(2)[:-8]}{suffix}"'

            def new_time(m: re.Match[str], shift: int = shift) -> str:
                return f'"{m.group(1)}":"{int(m.group(2)) + shift}"'

            for line in lines:
                out.write(_TIMES.sub(new_time, _IDS.sub(new_id, line)) + "\n")
    return copies * per_copy


class Timer:
    """Wall time and this process's CPU time (the CPU figure holds on a busy machine)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def rate(self, n: int) -> str:
        return (
            f"wall {self.wall:7.2f} s {n / self.wall:>9,.0f} spans/s | "
            f"cpu {self.cpu:7.2f} s {n / self.cpu:>9,.0f} spans/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "traces.jsonl"
        n = build_export(export, args.spans)
        size_mb = export.stat().st_size / 1e6
        print(f"input: {n:,} spans, {size_mb:.1f} MB, {export.read_text().count(chr(10)):,} lines")

        with Timer() as t:
            spans = list(read_export(export, IngestSummary()))
        print(f"read + decode  {t.rate(len(spans))}")
        with Timer() as t:
            mapped = plan_spans(spans, IngestConfig(default_tenant="default"))
        print(f"map (pure)     {t.rate(len(mapped))}")
        del spans, mapped

        with Store(Path(tmp) / "data") as store:
            with Timer() as t:
                summary = ingest_paths(store, [export])
            print(f"ingest (all)   {t.rate(n)}")
            print("  " + summary.describe().splitlines()[0])
            with Timer() as t:
                again = ingest_paths(store, [export])
            print(f"re-ingest      {t.rate(n)}  ({again.new_total} new)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
