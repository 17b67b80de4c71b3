"""Emitter overhead per tool call (median and p99 microseconds), sink excluded and included.

Run: ``.venv/bin/python benchmarks/emitter.py [--calls N]``. Prints figures; asserts nothing.

The tool returns a ~1 KB JSON-able dict. Each call is timed alone with ``perf_counter_ns``; the
overhead is a wrapped call's time minus the median time of the bare tool (timer cost cancels).

* sink excluded: background emitter whose sink never runs during the measurement (queue and batch
  larger than the run, flush interval an hour), so only the caller's hot path is timed.
* sink included: background emitter with the default settings writing to a real SQLite file while
  the calls run (the sink thread competes for the GIL), then the final flush.
* synchronous: each row written in the caller's thread inside ``emitter.batch()`` (seeded
  histories), for comparison.

Targets (issue 3): median overhead <= 25 us without a schema, <= 40 us with a JSON Schema.
Also printed: stable_stringify, djb2 (NumPy and the pure loop) and jsonschema validation alone.

``--load 8x5000`` instead runs N processes x M background-emitter calls on one store at once
(started together once every process is ready) and prints the sustained rows/s from the first
call to the last row committed, and the drop counters.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from govlib.capture.arguments import compile_schema
from govlib.capture.emitter import Emitter, read_emitter_stats
from govlib.capture.fingerprint import djb2, djb2_loop, output_hash, stable_stringify
from govlib.settings import Settings

RESULT: dict[str, Any] = {
    "ok": True,
    "claim_id": "CLM-2026-000123",
    "decision": "approve",
    "amount": 1234.56,
    "currency": "EUR",
    "items": [
        {"code": f"X{i:03d}", "qty": i, "price": round(i * 1.5, 2), "desc": "windscreen repair"}
        for i in range(10)
    ],
    "notes": "policy active; no prior claims in 24 months; photos attached and checked",
}
SCHEMA = {
    "type": "object",
    "properties": {
        "claim_id": {"type": "string", "pattern": "^CLM-"},
        "amount": {"type": "number", "minimum": 0},
        "urgent": {"type": "boolean"},
    },
    "required": ["claim_id", "amount"],
    "additionalProperties": False,
}


def tool_fn(claim_id: str, amount: float, urgent: bool = False) -> dict[str, Any]:
    """The benchmarked tool: returns the same ~1 KB result."""
    return RESULT


def per_call_ns(fn: Callable[..., Any], calls: int) -> list[int]:
    """Nanoseconds of each of ``calls`` calls of ``fn("CLM-1", 10.0)``."""
    perf = time.perf_counter_ns
    out = [0] * calls
    for i in range(calls):
        t0 = perf()
        fn("CLM-1", 10.0)
        out[i] = perf() - t0
    return out


def quantile(values: list[int], q: float) -> float:
    """The q-quantile (nearest rank)."""
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def report(label: str, times: list[int], bare_median: float) -> None:
    """Print median and p99 overhead in microseconds."""
    med = (statistics.median(times) - bare_median) / 1000
    p99 = (quantile(times, 0.99) - bare_median) / 1000
    print(f"  {label:<44} median {med:7.2f} us   p99 {p99:7.2f} us")


def micro(label: str, fn: Callable[[], Any], number: int = 20_000) -> None:
    """Median per-call microseconds of ``fn()`` over 7 repeats."""
    runs = []
    for _ in range(7):
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter_ns() - t0) / number / 1000)
    print(f"  {label:<44} {statistics.median(runs):7.2f} us")


LOAD_WRITER = """
import sys, time
from govlib.capture.emitter import Emitter
data, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
em = Emitter(data, actor=who)
f = em.wrap(lambda i: {"ok": True, "i": i, "who": who}, name="load_" + who)
print("ready", flush=True)
sys.stdin.readline()  # start together
start = time.time()
for i in range(n):
    f(i)
em.close(timeout=600)
print(start, time.time(), flush=True)
"""


def load(spec: str) -> None:
    """N processes x M calls at once on one store; sustained rows/s and drops."""
    from govlib.store.database import Store

    processes, calls = (int(x) for x in spec.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        Store(tmp).close()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", LOAD_WRITER, tmp, f"p{k}", str(calls)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for k in range(processes)
        ]
        for p in procs:  # every process imported and opened its emitter
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        spans = [tuple(map(float, p.communicate()[0].split())) for p in procs]
        codes = [p.returncode for p in procs]
        elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
        with Store(tmp) as store:
            rows = store.count("audit_log")
        stats = read_emitter_stats(tmp)
    print(f"load {processes} processes x {calls} calls: exit codes {codes}")
    print(
        f"  {rows} rows in {elapsed:.2f} s (first call to last commit) = "
        f"{rows / elapsed:,.0f} rows/s; dropped {stats['dropped']}, "
        f"sink errors {stats['sink_errors']}, batches {stats['batches']}"
    )


def print_pieces(data: bytes) -> None:
    """Time the pieces alone: stringify, djb2, output hash and argument validation."""
    print("pieces:")
    micro("stable_stringify(result)", lambda: stable_stringify(RESULT))
    micro("djb2 NumPy closed form (same bytes)", lambda: djb2(data))
    micro("djb2 pure-Python loop (same bytes)", lambda: djb2_loop(data), number=2_000)
    micro("output_hash(result)", lambda: output_hash(RESULT))
    is_valid = compile_schema(SCHEMA, "bench")
    assert is_valid is not None
    args = {"claim_id": "CLM-1", "amount": 10.0}
    micro("compiled argument validator (used)", lambda: is_valid(args))
    from jsonschema import Draft7Validator

    reference = Draft7Validator(SCHEMA).is_valid
    micro("jsonschema Draft7Validator.is_valid (reference)", lambda: reference(args))


def bench_sink_excluded(tmp: str, calls: int, bare: float) -> None:
    """Overhead per call with rows only queued, then the flush rate."""
    quiet = Settings(
        emitter_queue_size=10 * calls,
        emitter_batch_size=10 * calls,
        emitter_flush_interval_s=3600.0,
    )
    print("overhead per call, sink excluded (rows only queued):")
    for label, schema in (("no schema", None), ("JSON Schema, compiled once", SCHEMA)):
        em = Emitter(Path(tmp) / f"quiet-{schema is None}", settings=quiet)
        wrapped = em.wrap(tool_fn, name="lookup", schema=schema)
        per_call_ns(wrapped, 2_000)  # warm-up
        report(label, per_call_ns(wrapped, calls), bare)
        t0 = time.perf_counter()
        em.close(timeout=600)
        rate = em.stats["written"] / (time.perf_counter() - t0)
        print(f"    then flushed {em.stats['written']} rows at {rate:,.0f} rows/s")


def bench_sink_included(tmp: str, calls: int, bare: float) -> None:
    """Overhead per call with the default sink writing to a real SQLite file meanwhile."""
    print("overhead per call, sink included (default settings, real SQLite file):")
    for label, schema in (("no schema", None), ("JSON Schema, compiled once", SCHEMA)):
        em = Emitter(Path(tmp) / f"live-{schema is None}", settings=Settings())
        wrapped = em.wrap(tool_fn, name="lookup", schema=schema)
        t0 = time.perf_counter()
        times = per_call_ns(wrapped, calls)
        em.flush(timeout=600)
        elapsed = time.perf_counter() - t0
        report(label, times, bare)
        s = em.stats
        print(
            f"    {s['written']} written in {s['batches']} batches, dropped "
            f"{s['dropped_overflow'] + s['dropped_rows']}; wall incl. flush "
            f"{elapsed / calls * 1e6:.2f} us/call"
        )
        em.close()


def bench_synchronous(tmp: str, calls: int, bare: float) -> None:
    """Overhead per call with each row written in the caller's thread inside ``batch()``."""
    print("synchronous mode inside emitter.batch() (row written in the caller's thread):")
    em = Emitter(Path(tmp) / "sync", synchronous=True)
    wrapped = em.wrap(tool_fn, name="lookup")
    n = min(calls, 20_000)
    with em.batch():
        times = per_call_ns(wrapped, n)
    report("no schema", times, bare)
    em.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--load", default=None, help="NxM: N processes x M calls at once")
    options = parser.parse_args()
    if options.load:
        load(options.load)
        return
    calls = options.calls
    text = stable_stringify(RESULT)
    data = text.encode()
    print(f"result: {len(data)} bytes stable-stringified; {calls} calls per measurement")

    print_pieces(data)

    bare = statistics.median(per_call_ns(tool_fn, calls))
    print(f"bare tool call: median {bare / 1000:.2f} us (subtracted below)")

    with tempfile.TemporaryDirectory() as tmp:
        bench_sink_excluded(tmp, calls, bare)
        bench_sink_included(tmp, calls, bare)
        bench_synchronous(tmp, calls, bare)


if __name__ == "__main__":
    main()
