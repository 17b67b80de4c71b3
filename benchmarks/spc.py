"""Benchmark the SPC engine: per-tool/per-workflow stats over generated audit rows, and rules.

Usage::

    python benchmarks/spc.py                 # 1M and 10M rows
    python benchmarks/spc.py --rows 1000000  # one size, quicker

Prints wall times (best of ``--repeat`` warm runs; the first run over Parquet files in a fresh
connection as "cold"), the targets, and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np

from govlib.analysis import spc, stats
from govlib.settings import Settings

TOOLS, WORKFLOWS, CALLS_PER_RUN = 30, 10, 5
BASIC = """SELECT tool_name, count(*), avg(success), avg(schema_valid), quantile_cont(latency_ms,
 [0.5, 0.95]), avg(latency_ms), max(latency_ms) FROM audit_log GROUP BY tool_name"""


def generate(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    """audit_log / workflow_runs / workflows with lognormal latency, 1 call per ms of time."""
    con.execute("SELECT setseed(0.42)")
    con.execute(f"""
    CREATE OR REPLACE TABLE audit_log AS
    SELECT i + 1 AS id, 't' || (i % 3) AS tenant_id,
      'tool_' || lpad(CAST(hash(i // 7) % {TOOLS} AS VARCHAR), 2, '0') AS tool_name,
      'bench' AS actor, 'run-' || (i // {CALLS_PER_RUN}) AS composition_id,
      CAST(random() < 0.995 AS INTEGER) AS success, CAST(random() < 0.999 AS INTEGER) AS schema_valid,
      CAST(greatest(1, exp(5 + 0.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))
        AS INTEGER) AS latency_ms,
      NULL::VARCHAR AS output_hash, NULL::VARCHAR AS error,
      CASE WHEN random() < 0.02 THEN (CASE WHEN random() < 0.97 THEN 'accept' ELSE 'reject' END)
      END AS human_verdict, NULL::VARCHAR AS verdict_by, NULL::VARCHAR AS verdict_at,
      strftime(TIMESTAMP '2026-01-01' + to_microseconds(i * 1000), '%Y-%m-%dT%H:%M:%S.%fZ')
        AS created_at
    FROM range({rows}) r(i)""")
    con.execute(f"""
    CREATE OR REPLACE TABLE workflows AS SELECT 'wf-' || i AS id, 'workflow_' || i AS name,
      '' AS description, '[]' AS graph FROM range({WORKFLOWS}) r(i)""")
    runs = (rows + CALLS_PER_RUN - 1) // CALLS_PER_RUN
    con.execute(f"""
    CREATE OR REPLACE TABLE workflow_runs AS SELECT 'run-' || j AS composition_id,
      'wf-' || (hash(j) % {WORKFLOWS}) AS workflow_id, 't' || (j % 3) AS tenant_id,
      NULL::VARCHAR AS subject,
      strftime(TIMESTAMP '2026-01-01' + to_microseconds(j * {CALLS_PER_RUN * 1000}),
        '%Y-%m-%dT%H:%M:%S.%fZ') AS started_at,
      strftime(TIMESTAMP '2026-01-01' + to_microseconds(j * {CALLS_PER_RUN * 1000} + 4000
        + CAST(random() * 2000 AS BIGINT)), '%Y-%m-%dT%H:%M:%S.%fZ') AS ended_at,
      CASE WHEN random() < 0.97 THEN 'completed' ELSE 'failed' END AS status,
      NULL::VARCHAR AS stopped_at_node, NULL::VARCHAR AS summary
    FROM range({runs}) r(j)""")


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def line(label: str, seconds: float, target: float | None = None) -> None:
    mark = (
        ""
        if target is None
        else f"  (target <= {target:g} s: {'ok' if seconds <= target else 'MISSED'})"
    )
    print(f"  {label:<44} {seconds * 1000:10.1f} ms{mark}")


def bench_stats(rows: int, repeat: int, st: Settings) -> None:
    print(f"\n{rows:,} audit rows")
    con = duckdb.connect()
    t = time.perf_counter()
    generate(con, rows)
    print(f"  (generated in {time.perf_counter() - t:.1f} s)")
    stats.tool_stats(con, settings=st)  # warm-up
    line(
        "reference: DuckDB basic columns alone", best(lambda: con.execute(BASIC).fetchall(), repeat)
    )
    target = 1.0 if rows >= 10_000_000 else None
    line(
        "tool_stats, warm (all columns)",
        best(lambda: stats.tool_stats(con, settings=st), repeat),
        target,
    )
    stats.workflow_stats(con, settings=st)
    line("workflow_stats, warm", best(lambda: stats.workflow_stats(con, settings=st), repeat))
    line(
        "tool_series (one tool, newest 500)",
        best(lambda: stats.tool_series(con, "tool_07", settings=st), repeat),
    )
    with tempfile.TemporaryDirectory() as tmp:
        for table in ("audit_log", "workflow_runs", "workflows"):
            con.execute(f"COPY {table} TO '{Path(tmp) / table}.parquet' (FORMAT parquet)")
        files = duckdb.connect()
        for table in ("audit_log", "workflow_runs", "workflows"):
            files.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{Path(tmp) / table}.parquet')"
            )
        t = time.perf_counter()
        stats.tool_stats(files, settings=st)
        line("tool_stats from Parquet, first run", time.perf_counter() - t)
        line(
            "tool_stats from Parquet, warm",
            best(lambda: stats.tool_stats(files, settings=st), repeat),
        )
        t = time.perf_counter()
        stats.workflow_stats(files, settings=st)
        line("workflow_stats from Parquet, first run", time.perf_counter() - t)
        line(
            "workflow_stats from Parquet, warm",
            best(lambda: stats.workflow_stats(files, settings=st), repeat),
        )
        files.close()
    con.close()


def bench_rules(repeat: int) -> None:
    print("\nrule evaluation")
    rng = np.random.default_rng(0)
    matrix = rng.normal(5, 0.5, (TOOLS, 500))

    def batch() -> None:
        center, sigma = spc.control_limits_rows(matrix)
        spc.western_electric_rows(matrix, center=center, sigma=sigma)

    def one_by_one() -> None:
        for row in matrix:
            lim = spc.control_limits(row)
            spc.western_electric(row, center=lim.center, sigma=lim.sigma)

    line("30 tools x 500 points, limits + rules (2-D)", best(batch, repeat * 20), 0.005)
    line("30 tools x 500 points, one call per tool", best(one_by_one, repeat * 5))
    series = rng.normal(0, 1, 10_000_000)
    line(
        "one 10M-point series, rules",
        best(lambda: spc.western_electric(series, center=0.0, sigma=1.0), repeat),
        0.3,
    )
    line("one 10M-point series, limits (mr)", best(lambda: spc.control_limits(series), repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="audit rows (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs; the best is shown")
    args = parser.parse_args()
    sizes = args.rows or [1_000_000, 10_000_000]
    print(
        f"duckdb {duckdb.__version__}, numpy {np.__version__}, {TOOLS} tools, {WORKFLOWS} workflows"
    )
    bench_rules(args.repeat)
    for rows in sizes:
        bench_stats(rows, args.repeat, Settings())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
