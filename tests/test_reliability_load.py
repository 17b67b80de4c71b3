"""Concurrency under load: writers, dashboard readers and verdict stampers, all at once.

8 processes each make 5,000 tool calls through a background emitter; 2 processes loop like a
dashboard (``govlib.analysis.read_path.connect`` + ``govlib.analysis.stats.tool_stats``); 2 processes stamp and
correct verdicts on rows that exist. All start together behind one gate. Checked: zero drops and
the exact count, every acknowledged verdict in place (none lost), no ``database is locked`` (or any
other error) reaching a caller, the chain verifies. The sustained rows/s is printed (``-s``).

Processes are spawned (fresh interpreters: no state shared with the test process); the time
between the gate and the last writer's ``close()`` is what the rate is computed over.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from govlib.capture.emitter import read_emitter_stats
from govlib.capture.rows import insert_audit_batch
from govlib.evidence.verify import verify_store
from govlib.store.database import Store

SEEDED = 2_000  # rows present before the run (the stampers' targets)
_SPAWN = multiprocessing.get_context("spawn")


# --- children (module-level: spawned processes import them) ----------------------------------------
def _guarded(role: str, out: Any, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except BaseException:  # noqa: BLE001 - every error goes to the parent
        out.put(("error", role, traceback.format_exc()))


def writer(data: str, k: int, n: int, ready: Any, gate: Any, out: Any, rate: float = 0) -> None:
    def work() -> None:
        from govlib.capture.emitter import Emitter

        em = Emitter(data, actor=f"w{k}", tenant=f"t{k % 2}")
        tool = em.wrap(lambda i: {"ok": i % 11 != 0, "i": i}, name=f"load_tool_{k % 4}")
        ready.put(("writer", k))
        gate.wait()
        t0 = time.time()
        for i in range(n):
            if tool(i, composition_id=f"w{k}-{i}")["i"] != i:
                raise AssertionError("a wrapped call returned something else")
            if rate and i % 250 == 249:  # paced: at most `rate` calls/s
                time.sleep(max(0.0, t0 + (i + 1) / rate - time.time()))
        calls_done = time.time()
        em.close(timeout=600)
        out.put(("writer", k, em.stats, t0, calls_done, time.time()))

    _guarded(f"writer {k}", out, work)


def reader(data: str, k: int, ready: Any, gate: Any, stop: Any, out: Any) -> None:
    def work() -> None:
        from govlib.analysis.read_path import connect
        from govlib.analysis.stats import tool_stats

        ready.put(("reader", k))
        gate.wait()
        loops, biggest, seconds = 0, 0, []
        while loops == 0 or not stop.is_set():
            t0 = time.perf_counter()
            con = connect(data)
            try:
                df = tool_stats(con)
                biggest = max(biggest, int(df["count"].sum()) if len(df) else 0)
            finally:
                con.close()
            seconds.append(time.perf_counter() - t0)
            loops += 1
        out.put(("reader", k, loops, biggest, seconds))

    _guarded(f"reader {k}", out, work)


def stamper(data: str, k: int, ids: list[int], ready: Any, gate: Any, stop: Any, out: Any) -> None:
    def work() -> None:
        from govlib.capture.verdicts import correct_verdict, stamp_verdict
        from govlib.store.database import Store

        store = Store(data)
        done: list[tuple[int, str]] = []
        ready.put(("stamper", k))
        gate.wait()
        for j, audit_id in enumerate(ids):
            if stop.is_set() and j >= 40:
                break
            verdict = "accept" if (audit_id + k) % 3 else "reject"
            stamp_verdict(audit_id, verdict, f"Reviewer {k}", store=store)
            done.append((audit_id, verdict))
            if j % 4 == 0:
                other = "reject" if verdict == "accept" else "accept"
                correct_verdict(audit_id, other, f"Lead {k}", "second look", store=store)
                done.append((audit_id, other))
        store.close()
        out.put(("stamper", k, done))

    _guarded(f"stamper {k}", out, work)


# --- the run ----------------------------------------------------------------------------------------
def _seed(data: Path) -> None:
    data.mkdir(parents=True)
    with Store(data) as store:
        rows = [
            ("t0", "seeded_tool", "seed", f"seed-{i}", 1, 1, 40 + i % 17, f"{i:08x}", None,
             1_763_900_000_000_000_000 + i * 1_000_000)
            for i in range(SEEDED)
        ]  # fmt: skip
        insert_audit_batch(store, rows)


def run_load(tmp_path: Path, writers: int, calls: int, rate: float = 0) -> dict[str, Any]:
    data = tmp_path / "data"
    _seed(data)
    ready, out = _SPAWN.Queue(), _SPAWN.Queue()
    gate, stop = _SPAWN.Event(), _SPAWN.Event()
    procs = [
        _SPAWN.Process(target=writer, args=(str(data), k, calls, ready, gate, out, rate))
        for k in range(writers)
    ]
    procs += [
        _SPAWN.Process(target=reader, args=(str(data), k, ready, gate, stop, out)) for k in range(2)
    ]
    ids = list(range(1, SEEDED + 1))
    procs += [
        _SPAWN.Process(target=stamper, args=(str(data), k, ids[k::2], ready, gate, stop, out))
        for k in range(2)
    ]
    for p in procs:
        p.start()
    results: dict[str, list] = {"writer": [], "reader": [], "stamper": [], "error": []}
    try:
        for _ in procs:  # every process is imported and has opened its store
            msg = ready.get(timeout=300)
            assert msg[0] in ("writer", "reader", "stamper")
        t_gate = time.time()
        gate.set()
        while len(results["writer"]) < writers and not results["error"]:
            msg = out.get(timeout=600)
            results[msg[0]].append(msg)
        stop.set()
        while len(results["reader"]) + len(results["stamper"]) < 4 and not results["error"]:
            msg = out.get(timeout=600)
            results[msg[0]].append(msg)
    finally:
        stop.set()
        gate.set()
        for p in procs:
            p.join(120)
            if p.is_alive():
                p.kill()
    errors = [m[2] for m in results["error"]]
    assert not errors, "\n\n".join(errors)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return {"data": data, "t_gate": t_gate, **results}


def check_load(r: dict[str, Any], writers: int, calls: int, *, overload: bool = False) -> None:
    """Exact counts, no lost verdict, chain verifies. With ``overload`` the callers outrun the
    bounded queue on purpose: every call is then either written or counted as dropped."""
    data: Path = r["data"]
    total = writers * calls
    stats = read_emitter_stats(data)
    written = {f"w{k}": s["written"] for _, k, s, *_ in r["writer"]}
    for _, k, s, *_ in r["writer"]:
        assert s["written"] + s["dropped_overflow"] == calls, f"writer {k}: {s}"
        assert s["enqueued"] == s["written"], f"writer {k}: queued rows not written: {s}"
        assert s["dropped_rows"] == s["sink_errors"] == 0 and s["last_error"] is None, s
        assert overload or s["dropped_overflow"] == 0, f"writer {k} dropped rows: {s}"
    dropped = stats["dropped_overflow"]
    assert (stats["written"] + dropped, stats["sink_errors"]) == (total, 0), stats
    with Store(data, readonly=True) as store:
        per = dict(
            store.query(
                "SELECT actor, COUNT(DISTINCT composition_id) FROM audit_log "
                "WHERE actor LIKE 'w%' GROUP BY actor"
            )
        )
        assert per == {a: n for a, n in written.items() if n}, "rows in the store != written"
        assert store.count("audit_log") == SEEDED + sum(written.values())
        acked = [pair for m in r["stamper"] for pair in m[2]]
        final: dict[int, str] = {}
        for audit_id, verdict in acked:
            final[audit_id] = verdict
        got = dict(
            store.query("SELECT id, human_verdict FROM audit_log WHERE human_verdict IS NOT NULL")
        )
        assert got == final, "a verdict was lost or changed"
        assert store.count("verdict_events") == len(acked)
        kinds = Counter(r2[0] for r2 in store.query("SELECT kind FROM verdict_events"))
        entries = store.count("worm_log")
    first = min(m[3] for m in r["writer"])
    calls_end = max(m[4] for m in r["writer"])
    end = max(m[5] for m in r["writer"])
    loops = [m[2] for m in r["reader"]]
    reads = sorted(s for m in r["reader"] for s in m[4])
    median = reads[len(reads) // 2] if reads else float("nan")
    print(
        f"\n[load] {writers} writers x {calls:,} calls: {stats['written']:,} rows in "
        f"{end - r['t_gate']:.1f} s from the gate: {stats['written'] / (end - r['t_gate']):,.0f} "
        f"rows/s sustained (all calls returned "
        f"after {calls_end - first:.1f} s: {total / max(calls_end - first, 1e-9):,.0f} calls/s); "
        f"readers: {sum(loops)} dashboard reads (median {median:.2f} s each, max rows seen "
        f"{max(m[3] for m in r['reader']):,}); verdicts: {kinds['stamp']} stamps + "
        f"{kinds['correct']} corrections, none lost; drops {dropped:,} (overflow, counted), "
        f"sink errors 0, "
        f"'database is locked' 0; {entries:,} WORM entries; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    with Store(data, readonly=True) as store:
        result = verify_store(store)
    assert result.ok, result.describe()
    p = subprocess.run(
        [sys.executable, "-m", "govlib", "verify", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.slow
def test_writers_readers_and_stampers_at_once(tmp_path: Path) -> None:
    writers = int(os.environ.get("GOVLIB_LOAD_WRITERS", 8))
    calls = int(os.environ.get("GOVLIB_LOAD_CALLS", 5_000))
    r = run_load(tmp_path, writers, calls)
    check_load(r, writers, calls)


@pytest.mark.soak
def test_load_soak(tmp_path: Path) -> None:
    """Five times the calls per writer, as fast as they can: the callers outrun the bounded
    queue (10,000 by default), so rows may be dropped, but every one is counted, none silently."""
    r = run_load(tmp_path, 8, 25_000)
    check_load(r, 8, 25_000, overload=True)


@pytest.mark.soak
def test_load_soak_paced(tmp_path: Path) -> None:
    """8 x 25,000 calls paced at 1,500 calls/s per writer (12,000 rows/s offered for ~17 s):
    a sustained load the sink keeps up with, so nothing is dropped."""
    r = run_load(tmp_path, 8, 25_000, rate=1_500)
    check_load(r, 8, 25_000)
