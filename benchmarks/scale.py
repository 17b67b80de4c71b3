"""The statistics over a partitioned lake: DuckDB against Spark local, 10M, 20M and 40M calls.

Run: ``.venv/bin/python benchmarks/scale.py [--sizes 10,20,40] [--engines duckdb,spark]
[--dir DIR] [--master local[*]]``. Needs the ``spark`` extra and Java for Spark (``make bench``).

For each size a fleet lake is generated once (``govlib.demo.fleet.generate_fleet_lake``: 3 stores,
3 tenants, 7 days, sealed rows of the first store; kept in ``--dir`` for the next run). Each engine
then computes ``tool_stats`` and ``workflow_stats`` over it (``govlib.analysis.lake.lake_stats``)
in a process of its own, so its peak memory is its own: the largest resident set of the process
and its children (Spark's JVM) sampled from ``/proc`` every 0.2 s.

Printed per size and engine: the seconds for both tables (Spark: after its session started; the
JVM start is printed apart), rows/s (calls / seconds) and the peak memory; then, per engine, the
cost growth from the smallest to the largest size against linear (the check: at most 1.3x).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINEAR_TOLERANCE = 1.3


def _child(engine: str, lake_dir: str, master: str) -> None:
    """Run one engine over one lake and print its timings as JSON (the measured process)."""
    from govlib.analysis import lake
    from govlib.settings import Settings

    started = time.perf_counter()
    session = None
    if engine == "spark":
        session = lake.spark_session(master, conf={"spark.driver.memory": "6g"})
    startup = time.perf_counter() - started
    t0 = time.perf_counter()
    if session is not None:
        tools, flows = lake.spark_lake_stats(
            session, lake.lake_source(lake_dir), settings=Settings()
        )
    else:
        tools, flows = lake.lake_stats(lake_dir, settings=Settings())
    seconds = time.perf_counter() - t0
    calls = int(tools["count"].sum())
    print(json.dumps({"startup": startup, "seconds": seconds, "calls": calls, "tools": len(tools)}))
    if session is not None:
        session.stop()


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every descendant (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    family, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in family} - family
        family |= more
        grew = bool(more)
    total = 0
    for pid in family:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _measure(engine: str, lake_dir: Path, master: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, __file__, "--child", engine, str(lake_dir), "--master", master]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.2)
    out = proc.stdout.read().decode() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{engine} on {lake_dir} failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mb"] = peak / 2**20
    return result


def _lake(base: Path, millions: int) -> Path:
    from govlib.demo.fleet import generate_fleet_lake

    lake_dir = base / f"fleet-{millions}M"
    done = lake_dir / "_generated.json"
    if not done.exists():
        t0 = time.perf_counter()
        counts = generate_fleet_lake(lake_dir, calls=millions * 1_000_000, days=7, seed=11)
        counts["seconds"] = time.perf_counter() - t0
        done.write_text(json.dumps(counts))
        print(f"  generated {millions}M calls in {counts['seconds']:.0f} s", flush=True)
    return lake_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,20,40", help="millions of calls, comma-separated")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "govlib-scale"))
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "LAKE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.master)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    print(f"govlib stats over a fleet lake ({os.cpu_count()} cores, Spark master {args.master})")
    results: dict[tuple[str, int], dict[str, float]] = {}
    for millions in sizes:
        lake_dir = _lake(base, millions)
        for engine in engines:
            r = results[engine, millions] = _measure(engine, lake_dir, args.master)
            assert r["calls"] == millions * 1_000_000, r
            print(
                f"  {millions:>3}M  {engine:<6}  {r['seconds']:8.1f} s  "
                f"{millions * 1e6 / r['seconds']:>12,.0f} rows/s  peak {r['peak_mb']:>7,.0f} MB"
                + (f"  (JVM start {r['startup']:.1f} s)" if engine == "spark" else ""),
                flush=True,
            )
    _summary(results, sizes, engines)


def _summary(results: dict, sizes: list[int], engines: list[str]) -> None:
    print("\nside by side (rows/s, peak MB):")
    print("  size   " + "".join(f"{e:>28}" for e in engines))
    for millions in sizes:
        cells = "".join(
            f"{millions * 1e6 / results[e, millions]['seconds']:>16,.0f}"
            f"{results[e, millions]['peak_mb']:>12,.0f}"
            for e in engines
        )
        print(f"  {millions:>3}M  {cells}")
    lo, hi = min(sizes), max(sizes)
    if lo == hi:
        return
    for e in engines:
        growth = results[e, hi]["seconds"] / results[e, lo]["seconds"]
        ratio = growth / (hi / lo)
        verdict = "linear" if ratio <= LINEAR_TOLERANCE else "NOT linear"
        print(
            f"{e}: {lo}M -> {hi}M costs {growth:.2f}x for {hi / lo:.0f}x the calls "
            f"({ratio:.2f}x of linear; at most {LINEAR_TOLERANCE}x): {verdict}"
        )


if __name__ == "__main__":
    main()
