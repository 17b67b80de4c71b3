"""``govlib collect`` end to end: real OTLP/HTTP exporters (gzip) into a receiver process.

Run: ``.venv/bin/python benchmarks/collect.py [--spans 50000] [--exporters 4]``. Prints figures;
the ``slow`` test ``tests/test_otel_collect.py::test_50000_spans_from_4_exporters`` asserts the
counts of the same run.

The receiver is a real ``govlib collect`` process on loopback with a fresh store. The spans are
agent traces made with the real OpenTelemetry SDK (``tests/otel_sample.py:agent_traces``: an
agent, a chat, two tools per trace), split by trace over N threads, each with its own
``OTLPSpanExporter`` (protobuf, gzip) sending batches of 512 spans, as a
``BatchSpanProcessor`` does. Exporters and receiver share this machine's cores.

Printed: the wall rate (first export to the receiver's exit with every span written, spans/s),
the receiver's CPU time (user + system, from ``wait4``) and its rate per CPU second, the
receiver's peak memory (VmHWM), the rows in the store (none lost, none twice), and a 100 MB body
sent to the receiver: its status and the peak memory after it.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _start(data_dir: Path, port: int) -> subprocess.Popen:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    }
    code = "from govlib.cli.main import main; main()"
    args = ["collect", "--listen", f"127.0.0.1:{port}", "--create", "--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for _ in range(200):
        line = proc.stderr.readline()
        if "receiving OTLP/HTTP" in line or not line:
            break
    return proc


def _send(url: str, spans: list[Any], batch: int, failures: list[str]) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=Compression.Gzip)
    for start in range(0, len(spans), batch):
        if exporter.export(spans[start : start + batch]) != SpanExportResult.SUCCESS:
            failures.append(f"batch at {start}")
    exporter.shutdown()


def big_body(port: int, megabytes: int = 100) -> int:
    """POST a ``megabytes`` MB protobuf body; the status (the receiver must refuse it: 413)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/v1/traces")
    conn.putheader("Content-Type", "application/x-protobuf")
    conn.putheader("Content-Length", str(megabytes * 1024 * 1024))
    conn.endheaders()
    chunk = b"\0" * (1024 * 1024)
    try:
        for _ in range(megabytes):
            conn.send(chunk)
    except OSError:
        pass  # the receiver answered and closed: the rest was never read
    status = conn.getresponse().status
    conn.close()
    return status


def run_load(
    spans: int = 50_000, exporters: int = 4, data_dir: Path | None = None
) -> dict[str, Any]:
    """Send ``spans`` spans from ``exporters`` threads to a ``govlib collect`` process.

    Returns the figures and the store's counts (see the module docstring).
    """
    from otel_sample import agent_traces

    from govlib.store.database import Store

    traces = spans // 4
    made = agent_traces(traces)
    by_trace: dict[int, list[Any]] = {}
    for s in made:
        by_trace.setdefault(s.context.trace_id, []).append(s)
    groups: list[list[Any]] = [[] for _ in range(exporters)]
    for i, trace in enumerate(by_trace.values()):
        groups[i % exporters].extend(trace)
    data_dir = data_dir or Path(tempfile.mkdtemp()) / "data"
    port = _free_port()
    proc = _start(data_dir, port)
    url = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    threads = [threading.Thread(target=_send, args=(url, g, 512, failures)) for g in groups]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = time.perf_counter() - t0
    peak_load = _peak_kib(proc.pid)
    status_big = big_body(port)
    peak_big = _peak_kib(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, code, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(code)
    out = proc.stdout.read() if proc.stdout else ""
    cpu = usage.ru_utime + usage.ru_stime
    with Store(data_dir) as store:
        counts = {
            t: store.query_one(f"SELECT COUNT(*) FROM {t}")  # noqa: S608 - constant names
            for t in ("audit_log", "token_ledger", "workflow_runs", "ingested_spans")
        }
        counts["distinct_spans"] = store.query_one(
            "SELECT COUNT(*) FROM (SELECT DISTINCT trace_id, span_id FROM ingested_spans)"
        )
        counts["priced"] = store.query_one(
            "SELECT COUNT(*) FROM token_ledger WHERE priced_as = 'gpt-4o-mini'"
        )
    return {
        "spans": len(made),
        "traces": traces,
        "exporters": exporters,
        "failures": failures,
        "send_s": sent,
        "wall_s": wall,
        "receiver_cpu_s": cpu,
        "peak_kib_load": peak_load,
        "peak_kib_after_100mb": peak_big,
        "status_100mb": status_big,
        "returncode": proc.returncode,
        "counts": counts,
        "summary": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--exporters", type=int, default=4)
    args = parser.parse_args()
    r = run_load(args.spans, args.exporters)
    n = r["spans"]
    print(f"spans sent: {n:,} in {r['traces']:,} traces by {r['exporters']} exporters (gzip)")
    print(f"exports done in {r['send_s']:.2f} s; all written at {r['wall_s']:.2f} s")
    print(f"wall rate: {n / r['wall_s']:,.0f} spans/s end to end (exporters on the same cores)")
    print(f"receiver CPU: {r['receiver_cpu_s']:.2f} s = {n / r['receiver_cpu_s']:,.0f} spans/CPU-s")
    print(f"receiver peak memory: {r['peak_kib_load'] / 1024:.0f} MiB under load")
    print(f"100 MB body: HTTP {r['status_100mb']}; peak memory after it "
          f"{r['peak_kib_after_100mb'] / 1024:.0f} MiB")  # fmt: skip
    print(f"rows: {r['counts']}; failed exports: {len(r['failures'])}")


if __name__ == "__main__":
    main()
