"""govlib.capture.emitter: the tool-call emitter (rows, content-freedom, governance, sink failures, load)."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from govlib.capture.counters import STATS_DIRNAME
from govlib.capture.emitter import (
    Emitter,
    EmitterError,
    ToolSchemaError,
    audited,
    read_emitter_stats,
    tool,
)
from govlib.capture.fingerprint import output_hash
from govlib.clock import SimClock
from govlib.context import node, workflow
from govlib.errors import GovernanceRefused
from govlib.evidence.digests import rows_digest
from govlib.settings import Settings
from govlib.store.database import Store
from govlib.store.schema import AUDIT_COLUMNS, AUDIT_IMMUTABLE, TABLES

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
QUIET = Settings(
    emitter_queue_size=100_000, emitter_batch_size=100_000, emitter_flush_interval_s=60.0
)
FAST = Settings(emitter_batch_size=50, emitter_flush_interval_s=0.02)


def audit_rows(store: Store) -> list[dict]:
    return [dict(r) for r in store.query("SELECT * FROM audit_log ORDER BY id")]


def check_batch_digests(store: Store) -> int:
    """Every audit_batch digest matches its rows; every row is in exactly one batch."""
    covered: list[int] = []
    for (detail,) in store.query("SELECT detail FROM worm_log WHERE action = 'audit_batch'"):
        d = json.loads(detail)
        rows = store.query(
            f"SELECT {', '.join(AUDIT_IMMUTABLE)} FROM audit_log WHERE id BETWEEN ? AND ? "
            "ORDER BY id",
            (d["first_id"], d["last_id"]),
        )
        assert d["count"] == len(rows) == d["last_id"] - d["first_id"] + 1
        assert d["digest"] == rows_digest(tuple(r) for r in rows)
        covered += range(d["first_id"], d["last_id"] + 1)
    ids = [r[0] for r in store.query("SELECT id FROM audit_log ORDER BY id")]
    assert sorted(covered) == ids
    return len(ids)


@pytest.fixture
def mem():
    s = Store(memory=True)
    yield s
    s.close()


# --- one row, every column -----------------------------------------------------------------------
def test_synchronous_row_has_every_column(mem):
    clock = SimClock("2026-03-02T09:00:00Z", lambda tool: 42.4)
    em = Emitter(mem, synchronous=True, clock=clock, actor="claims-agent", tenant="acme")
    lookup = em.wrap(lambda claim_id: {"ok": True, "claim": claim_id}, name="policy_lookup")
    with workflow("run-7"):
        assert lookup("C-1") == {"ok": True, "claim": "C-1"}
    [row] = audit_rows(mem)
    assert list(row) == list(AUDIT_COLUMNS)
    assert row == {
        "id": 1,
        "tenant_id": "acme",
        "tool_name": "policy_lookup",
        "actor": "claims-agent",
        "composition_id": "run-7",
        "success": 1,
        "schema_valid": 1,
        "latency_ms": 42,
        "output_hash": output_hash({"ok": True, "claim": "C-1"}),
        "error": None,
        "human_verdict": None,
        "verdict_by": None,
        "verdict_at": None,
        "created_at": "2026-03-02T09:00:00.000000Z",
    }
    assert clock.iso() == "2026-03-02T09:00:00.042400Z"  # advanced by the sampled latency
    assert check_batch_digests(mem) == 1


def test_background_row_on_a_file_store(tmp_path):
    em = Emitter(tmp_path, settings=FAST, actor="bot")

    @tool("slow_tool", emitter=em)
    def slow_tool(x):
        time.sleep(0.02)
        return [x, x]

    before = time.time()
    assert slow_tool(3) == [3, 3]
    assert em.flush()
    with Store(tmp_path) as store:
        [row] = audit_rows(store)
        assert check_batch_digests(store) == 1
    assert row["tenant_id"] == "default"  # Settings.default_tenant
    assert row["tool_name"] == "slow_tool" and row["actor"] == "bot"
    assert row["composition_id"] is None
    assert (row["success"], row["schema_valid"], row["error"]) == (1, 1, None)
    assert isinstance(row["latency_ms"], int) and row["latency_ms"] >= 20
    assert row["output_hash"] == output_hash([3, 3])
    assert ISO.match(row["created_at"])
    created = datetime.fromisoformat(row["created_at"]).timestamp()
    assert before <= created + 1e-6 and created <= time.time()  # the call's start, in UTC
    em.close()


def test_tenant_and_composition_overrides(mem):
    em = Emitter(mem, synchronous=True, settings=Settings(default_tenant="fallback"))
    plain = em.wrap(lambda: 1, name="plain")
    aware = em.wrap(lambda tenant, composition_id=None: (tenant, composition_id), name="aware")
    plain()
    plain(tenant="t2", composition_id="run-x")  # stripped: the tool takes no such arguments
    with workflow("run-ctx"):
        plain()
        plain(composition_id="explicit")
        assert aware("t3") == ("t3", None)  # positional tenant is just an argument
        assert aware(tenant="t4", composition_id="c4") == ("t4", "c4")
    got = [(r["tenant_id"], r["composition_id"]) for r in audit_rows(mem)]
    assert got == [
        ("fallback", None),
        ("t2", "run-x"),
        ("fallback", "run-ctx"),
        ("fallback", "explicit"),
        ("fallback", "run-ctx"),
        ("t4", "c4"),
    ]


# --- success, errors, schema ---------------------------------------------------------------------
class Boom(RuntimeError):
    pass


def test_exception_is_reraised_unchanged_and_recorded(mem):
    em = Emitter(mem, synchronous=True)
    error = Boom("no policy for claim")

    def failing():
        raise error

    wrapped = em.wrap(failing, name="failing")
    with pytest.raises(Boom) as info:
        wrapped()
    assert info.value is error
    assert info.traceback[-1].name == "failing"  # the tool's own frame is still there
    [row] = audit_rows(mem)
    assert row["success"] == 0
    assert row["error"] == "Boom: no policy for claim"
    assert row["output_hash"] is None


def test_long_error_message_is_cut(mem):
    em = Emitter(mem, synchronous=True)
    with pytest.raises(ValueError):
        em.wrap(lambda: (_ for _ in ()).throw(ValueError("x" * 2000)), name="v")()
    assert len(audit_rows(mem)[0]["error"]) == 500


@pytest.mark.parametrize(
    ("result", "success"),
    [
        ({"ok": False, "why": "no"}, 0),
        ({"ok": 0}, 0),
        ({"ok": None}, 0),
        ({"ok": True}, 1),
        ({"ok": "yes"}, 1),
        ({"status": "fine"}, 1),
        ([{"ok": False}], 1),  # only a dict result's own "ok" counts
        (None, 1),
    ],
)
def test_success_follows_ok_of_a_dict_result(mem, result, success):
    em = Emitter(mem, synchronous=True)
    assert em.wrap(lambda: result, name="t")() == result
    assert audit_rows(mem)[0]["success"] == success


SCHEMA = {
    "type": "object",
    "properties": {"claim_id": {"type": "string"}, "amount": {"type": "number", "minimum": 0}},
    "required": ["claim_id"],
}


def test_schema_validity_is_recorded_and_invalid_calls_still_run(mem):
    em = Emitter(mem, synchronous=True)
    calls = []

    def pay(claim_id, amount=0):
        calls.append((claim_id, amount))
        return {"ok": True}

    wrapped = em.wrap(pay, name="pay", schema=SCHEMA)
    wrapped("C-1", 10)
    wrapped("C-2", amount=-5)  # minimum violated
    wrapped(claim_id=7)  # wrong type
    from_json = em.wrap(pay, name="pay_json", schema=json.dumps(SCHEMA))
    from_json("C-3")
    assert calls == [("C-1", 10), ("C-2", -5), (7, 0), ("C-3", 0)]
    assert [r["schema_valid"] for r in audit_rows(mem)] == [1, 0, 0, 1]
    assert [r["success"] for r in audit_rows(mem)] == [1, 1, 1, 1]


def test_star_args_are_validated_as_a_list(mem):
    em = Emitter(mem, synchronous=True)
    schema = {"properties": {"rest": {"type": "array", "maxItems": 2}}}
    wrapped = em.wrap(lambda first, *rest: first, name="star", schema=schema)
    wrapped(1, 2, 3)
    wrapped(1, 2, 3, 4)
    assert [r["schema_valid"] for r in audit_rows(mem)] == [1, 0]


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "no-such-type"}, "is not valid under any of the given schemas"),
        ("{not json", "not valid JSON"),
        (["a", "list"], "a list; expected a JSON Schema"),
    ],
)
def test_bad_schema_is_refused_at_wrap_time(mem, schema, problem):
    em = Emitter(mem, synchronous=True)
    with pytest.raises(ToolSchemaError, match="schema of tool 'lookup'") as info:
        em.wrap(lambda: 1, name="lookup", schema=schema)
    assert problem in str(info.value)
    with pytest.raises(ToolSchemaError):
        audited(lambda: 1, name="lookup", schema=schema)  # also before any call


def test_unresolvable_schema_counts_as_invalid_and_the_call_runs(mem):
    em = Emitter(mem, synchronous=True)
    schema = {"properties": {"x": {"$ref": "https://example.invalid/x.json"}}}
    assert em.wrap(lambda x: x, name="remote", schema=schema)(5) == 5
    assert audit_rows(mem)[0]["schema_valid"] == 0


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("emitter_queue_size", 0),
        ("emitter_batch_size", -1),
        ("emitter_flush_interval_s", 0.0),
    ],
)
def test_bad_emitter_settings_are_named(mem, setting, value):
    with pytest.raises(EmitterError, match=f"setting {setting}: {value!r}"):
        Emitter(mem, settings=Settings(**{setting: value}))


def test_bad_tool_names_are_refused(mem):
    em = Emitter(mem, synchronous=True)
    with pytest.raises(EmitterError, match="name: ''; expected a non-empty tool name"):
        em.wrap(lambda: 1, name="")
    with pytest.raises(EmitterError, match="is not callable"):
        em.wrap("not a function")


def test_decorator_forms_and_default_emitter(mem):
    from govlib.capture.emitter import set_default_emitter

    em = Emitter(mem, synchronous=True)
    previous = set_default_emitter(em)
    try:

        @tool
        def bare():
            return 1

        @tool("named", schema={"type": "object"})
        def second(a):
            return a

        assert bare() == 1 and second(2) == 2
        assert bare.tool_name == "bare" and bare.__name__ == "bare"
    finally:
        set_default_emitter(previous)
    assert [r["tool_name"] for r in audit_rows(mem)] == ["bare", "named"]


# --- content-free ---------------------------------------------------------------------------------
def test_no_argument_or_result_payload_is_stored_anywhere(tmp_path):
    marker = "ZZ-SECRET-PAYLOAD-7731"
    em = Emitter(tmp_path, settings=FAST, tenant="acme", actor="agent")
    echo = em.wrap(lambda text, extra=None: {"ok": True, "echo": text, "extra": extra}, name="echo")
    fail = em.wrap(lambda text: 1 / 0, name="fail", schema={"type": "object"})
    with workflow("run-1"):
        for i in range(50):
            assert echo(f"{marker}-{i}", extra={"nested": marker})["echo"].startswith(marker)
            with pytest.raises(ZeroDivisionError):
                fail(marker)
    em.close()
    with Store(tmp_path) as store:
        assert store.count("audit_log") == 100
        for table in TABLES:
            for row in store.query(f"SELECT * FROM {table}"):
                assert marker not in json.dumps([str(v) for v in tuple(row)])
        store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path


# --- governance -----------------------------------------------------------------------------------
class RefuseTool:
    """A governor that refuses one tool and records what it was asked."""

    def __init__(self, refused: str) -> None:
        self.refused, self.asked = refused, []

    def guard_tool(self, tool_name, *, run_id=None, node=None, actor=None):
        self.asked.append((tool_name, run_id, node, actor))
        if tool_name == self.refused:
            raise GovernanceRefused(f"tool {tool_name!r} refused", reason="disabled")


def test_refused_call_never_runs_and_gets_no_row(mem):
    gov = RefuseTool("wire_money")
    em = Emitter(mem, synchronous=True, governor=gov, actor="agent")
    ran = []
    wire = em.wrap(lambda: ran.append(1), name="wire_money")
    look = em.wrap(lambda: "ok", name="lookup")
    with workflow("run-9"), node("pay"):
        with pytest.raises(GovernanceRefused) as info:
            wire()
        assert look() == "ok"
    assert info.value.reason == "disabled"
    assert ran == []
    assert [r["tool_name"] for r in audit_rows(mem)] == ["lookup"]
    assert gov.asked == [
        ("wire_money", "run-9", "pay", "agent"),
        ("lookup", "run-9", "pay", "agent"),
    ]


def test_real_governor_refuses_unregistered_tool(tmp_path):
    from govlib.governance.governor import Governor

    store = Store(tmp_path)
    gov = Governor(store)
    gov.registry.register("lookup", "reads a policy")
    em = Emitter(store, synchronous=True, governor=gov)
    assert em.wrap(lambda: 1, name="lookup")() == 1
    with pytest.raises(GovernanceRefused):
        em.wrap(lambda: 1, name="unknown_tool")()
    assert [r["tool_name"] for r in audit_rows(store)] == ["lookup"]
    refused = store.query("SELECT detail FROM worm_log WHERE action = 'call_refused'")
    assert json.loads(refused[0][0])["tool"] == "unknown_tool"
    store.close()


# --- synchronous mode: reproducible ---------------------------------------------------------------
def seeded_history(path: Path, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    clock = SimClock("2026-01-05T09:00:00Z", lambda tool: rng.lognormvariate(3.0, 0.6))
    store = Store(path)
    em = Emitter(store, synchronous=True, clock=clock, tenant="acme", actor="sim")
    lookup = em.wrap(lambda c: {"ok": rng.random() > 0.2, "claim": c}, name="lookup")
    score = em.wrap(lambda c: round(rng.random(), 3), name="score", schema={"type": "object"})
    with em.batch():
        for i in range(60):
            with workflow(f"run-{i // 6}"):
                lookup(f"C-{i}")
                score(f"C-{i}")
            clock.advance(rng.uniform(1, 90))
    for i in range(60, 63):  # outside batch(): one transaction and digest per call
        lookup(f"C-{i}")
    rows = [tuple(r) for r in store.query("SELECT * FROM audit_log ORDER BY id")]
    worm_rows = store.query("SELECT ts, action, detail FROM worm_log ORDER BY seq")
    store.close()
    return rows + [tuple(r) for r in worm_rows]


def test_synchronous_mode_with_sim_clock_is_deterministic(tmp_path):
    first = seeded_history(tmp_path / "a", seed=11)
    again = seeded_history(tmp_path / "b", seed=11)
    other = seeded_history(tmp_path / "c", seed=12)
    assert first == again  # every column, and the WORM digests' ts and detail
    assert first != other
    assert len(first) == 123 + 4  # 123 rows; one digest for the batch, one per later call
    assert first[123][0] > "2026-01-05T09:00:00" and first[123][1] == "audit_batch"


def test_synchronous_latency_and_created_at_follow_the_clock(mem):
    samples = iter([10.0, 20.6, 30.4])
    clock = SimClock("2026-01-01T00:00:00Z", lambda tool: next(samples))
    em = Emitter(mem, synchronous=True, clock=clock)
    f = em.wrap(lambda: None, name="f")
    for _ in range(3):
        f()
    assert [(r["latency_ms"], r["created_at"]) for r in audit_rows(mem)] == [
        (10, "2026-01-01T00:00:00.000000Z"),
        (21, "2026-01-01T00:00:00.010000Z"),
        (30, "2026-01-01T00:00:00.030600Z"),
    ]
    assert em.stats["written"] == 3 and em.stats["batches"] == 3
    assert check_batch_digests(mem) == 3


def test_synchronous_write_errors_reach_the_caller(tmp_path):
    store = Store(tmp_path)
    em = Emitter(store, synchronous=True)
    f = em.wrap(lambda: 1, name="f")
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        f()


# --- background mode: overflow, flush, stats -----------------------------------------------------
def test_overflow_is_counted_never_raised(tmp_path):
    em = Emitter(tmp_path, settings=Settings(emitter_queue_size=5, **_quiet_rest()))
    f = em.wrap(lambda i: i * 2, name="double")
    assert [f(i) for i in range(20)] == [i * 2 for i in range(20)]
    assert em.stats["dropped_overflow"] == 15 and em.stats["enqueued"] == 5
    em.close()
    assert em.stats["written"] == 5
    with Store(tmp_path) as store:
        assert store.count("audit_log") == 5
    stats = read_emitter_stats(tmp_path)
    assert (stats["dropped_overflow"], stats["written"], stats["dropped"]) == (15, 5, 15)


def _quiet_rest() -> dict:
    return {"emitter_batch_size": 100_000, "emitter_flush_interval_s": 60.0}


def test_stats_file_per_process_and_sum(tmp_path):
    em = Emitter(tmp_path, settings=FAST)
    f = em.wrap(lambda: 1, name="f")
    for _ in range(30):
        f()
    em.close()
    own = tmp_path / STATS_DIRNAME / f"{os.getpid()}.json"
    data = json.loads(own.read_text())
    assert data["written"] == 30 and data["pid"] == os.getpid()
    other = {"enqueued": 7, "written": 4, "dropped_overflow": 1, "sink_errors": 1}
    other |= {"batches": 1, "dropped_rows": 2, "last_error": "OperationalError: x"}
    other["last_error_at"] = "2999-01-01T00:00:00.000000Z"
    (tmp_path / STATS_DIRNAME / "999999.json").write_text(json.dumps(other))
    (tmp_path / STATS_DIRNAME / "1.json").write_text("{half a file")
    total = read_emitter_stats(tmp_path)
    assert total["written"] == 34 and total["dropped"] == 3 and total["sink_errors"] == 1
    assert total["processes"] == 2 and total["unreadable"] == 1
    assert total["last_error"] == "OperationalError: x"


def test_a_reused_pid_does_not_erase_an_earlier_process_file(tmp_path):
    folder = tmp_path / STATS_DIRNAME
    folder.mkdir()
    stale = {"written": 40, "dropped_rows": 2}
    (folder / f"{os.getpid()}.json").write_text(json.dumps(stale))
    em = Emitter(tmp_path, settings=FAST)
    em.wrap(lambda: 1, name="f")()
    em.close()
    total = read_emitter_stats(tmp_path)
    assert (total["written"], total["dropped_rows"], total["processes"]) == (41, 2, 2)


def test_two_emitters_in_one_process_share_the_stats_file(tmp_path):
    a, b = Emitter(tmp_path, settings=FAST), Emitter(tmp_path, settings=FAST)
    fa, fb = a.wrap(lambda: 1, name="a"), b.wrap(lambda: 2, name="b")
    for _ in range(10):
        fa(), fb(), fb()
    a.close(), b.close()
    assert read_emitter_stats(tmp_path)["written"] == 30
    with Store(tmp_path) as store:
        assert check_batch_digests(store) == 30


def test_flush_on_interpreter_exit(tmp_path):
    script = f"""
        from govlib.capture.emitter import Emitter
        from govlib.settings import Settings
        em = Emitter({str(tmp_path)!r}, settings=Settings(emitter_flush_interval_s=60.0))
        f = em.wrap(lambda i: i, name="exit_test")
        for i in range(250):
            f(i)
        # no flush, no close: atexit must write the queue
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True, timeout=120)
    with Store(tmp_path) as store:
        assert check_batch_digests(store) == 250
    assert read_emitter_stats(tmp_path)["written"] == 250


def test_forked_child_gets_its_own_sink(tmp_path):
    em = Emitter(tmp_path, settings=FAST)
    f = em.wrap(lambda: 1, name="f")
    f()
    em.flush()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            for _ in range(20):
                f()
            em.close()
            code = 0 if em.stats["written"] == 20 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    f()
    em.close()
    with Store(tmp_path) as store:
        assert check_batch_digests(store) == 22


# --- sink failures: the caller never notices ------------------------------------------------------
def _run_calls(f, start, n):
    return all(f(i) == {"ok": True, "i": i} for i in range(start, start + n))


def _echo(em: Emitter):
    return em.wrap(lambda i: {"ok": True, "i": i}, name="echo")


def test_store_file_made_unwritable_mid_run(tmp_path):
    em = Emitter(tmp_path, settings=FAST)
    f = _echo(em)
    assert _run_calls(f, 0, 100) and em.flush()
    db = tmp_path / "govlib.sqlite"
    db.chmod(0o444)
    try:
        assert _run_calls(f, 100, 100)  # results unchanged, no exception
        assert em.flush()
        s = em.stats
        assert s["sink_errors"] > 0 and s["dropped_rows"] == 100 and s["written"] == 100
        assert "not writable" in s["last_error"]
    finally:
        db.chmod(0o644)
    assert _run_calls(f, 200, 10) and em.flush()  # recovers once writable again
    em.close()
    assert em.stats["written"] == 110
    with Store(tmp_path) as store:
        assert check_batch_digests(store) == 110
    assert read_emitter_stats(tmp_path)["dropped_rows"] == 100


def test_data_dir_removed_mid_run(tmp_path):
    data = tmp_path / "data"
    em = Emitter(data, settings=FAST)
    f = _echo(em)
    assert _run_calls(f, 0, 20) and em.flush()
    shutil.rmtree(data)
    assert _run_calls(f, 20, 80) and em.flush()
    s = em.stats
    assert s["written"] == 20 and s["dropped_rows"] == 80 and s["sink_errors"] > 0
    assert not data.exists()  # the sink never recreates a store behind the user's back
    em.close()


def test_store_file_replaced_mid_run_is_not_written_through_the_old_handle(tmp_path):
    em = Emitter(tmp_path, settings=FAST)
    f = _echo(em)
    assert _run_calls(f, 0, 10) and em.flush()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'govlib.sqlite'}{suffix}").unlink(missing_ok=True)
    Store(tmp_path).close()  # someone made a fresh store at the same path
    assert _run_calls(f, 10, 5) and em.flush()
    em.close()
    with Store(tmp_path) as store:
        assert store.count("audit_log") == 5  # landed in the file that is there now
        assert check_batch_digests(store) == 5


def test_shared_memory_store_closed_mid_run(mem):
    em = Emitter(mem, settings=FAST)
    f = _echo(em)
    assert _run_calls(f, 0, 10) and em.flush()
    mem.close()
    assert _run_calls(f, 10, 30) and em.flush()
    s = em.stats
    assert (s["written"], s["dropped_rows"]) == (10, 30) and s["sink_errors"] >= 1
    assert "ProgrammingError" in s["last_error"]
    em.close()


def test_sink_store_closed_mid_run_then_reopened(tmp_path):
    em = Emitter(tmp_path, settings=FAST)
    f = _echo(em)
    assert _run_calls(f, 0, 10) and em.flush()
    em._sink._store.close()  # fault injection: the sink's own connection dies
    assert _run_calls(f, 10, 10) and em.flush()
    assert em.stats["dropped_rows"] == 10
    assert _run_calls(f, 20, 10) and em.flush()
    em.close()
    assert em.stats["written"] == 20
    with Store(tmp_path) as store:
        assert check_batch_digests(store) == 20


def test_locked_store_does_not_block_calls(tmp_path):
    em = Emitter(tmp_path, settings=FAST)
    f = _echo(em)
    blocker = sqlite3.connect(tmp_path / "govlib.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        assert _run_calls(f, 0, 200)  # every call returns while the sink waits
        assert em.stats["written"] == 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert em.flush()
    em.close()
    assert em.stats["written"] == 200 and em.stats["dropped_rows"] == 0


DISK_FULL_CHILD = """
import json, os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
from govlib.capture.emitter import Emitter
from govlib.settings import Settings
data = sys.argv[1]
em = Emitter(data, settings=Settings(emitter_batch_size=100, emitter_flush_interval_s=0.02))
f = em.wrap(lambda i: {"ok": True, "i": i}, name="padded")
ok = all(f(i)["i"] == i for i in range(300))
em.flush()
before = em.stats["written"]
names = ["govlib.sqlite", "govlib.sqlite-wal"]
biggest = max(os.path.getsize(os.path.join(data, n)) for n in names)
resource.setrlimit(resource.RLIMIT_FSIZE, (biggest + 4096, resource.RLIM_INFINITY))
ok = ok and all(f(i)["i"] == i for i in range(300, 3300))
em.flush()
em.close()
print(json.dumps({"ok": ok, "before": before, "stats": em.stats}))
"""


def test_disk_full_via_rlimit_fsize(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    stats = out["stats"]
    assert out["ok"] is True and out["before"] == 300
    assert stats["sink_errors"] > 0 and stats["dropped_rows"] > 0
    assert stats["written"] + stats["dropped_rows"] == 3300
    assert "full" in stats["last_error"] or "I/O" in stats["last_error"]
    with Store(tmp_path) as store:
        assert store.integrity_problem() is None
        assert check_batch_digests(store) == stats["written"]  # committed rows all intact
    assert read_emitter_stats(tmp_path)["dropped_rows"] == stats["dropped_rows"]
    from govlib.cli.status import store_status

    assert store_status(tmp_path)["emitter"]["dropped_rows"] == stats["dropped_rows"]


# --- concurrency ----------------------------------------------------------------------------------
WRITER = """
import sys
from govlib.capture.emitter import Emitter
from govlib.context import workflow
data, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
em = Emitter(data, actor=who)
f = em.wrap(lambda i: {"ok": i % 7 != 0, "i": i}, name="tool_" + who)
for i in range(n):
    with workflow(f"{who}-{i}"):
        f(i)
em.close(timeout=300)
s = em.stats
assert s["written"] == n, s
assert s["dropped_overflow"] == s["dropped_rows"] == s["sink_errors"] == 0, s
"""
READER = """
import sys, time
from govlib.store.database import Store
data, stop = sys.argv[1], sys.argv[2]
import os
loops = 0
while not os.path.exists(stop):
    with Store(data, readonly=True) as s:
        s.query("SELECT tool_name, COUNT(*), AVG(latency_ms) FROM audit_log GROUP BY tool_name")
        s.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT 50")
    loops += 1
print(loops)
"""


@pytest.mark.slow
def test_four_processes_write_while_a_reader_loops(tmp_path):
    data = tmp_path / "data"
    Store(data).close()
    stop = tmp_path / "stop"
    n, writers = 2000, 4
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(data), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data), f"p{k}", str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(writers)
    ]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=600)
        errors.append((p.returncode, err))
    stop.touch()
    loops, reader_err = reader.communicate(timeout=120)
    for code, err in errors + [(reader.returncode, reader_err)]:
        assert code == 0, err
        assert "database is locked" not in err
    assert int(loops) > 0
    with Store(data) as store:
        assert check_batch_digests(store) == writers * n
        got = set(store.query("SELECT actor, composition_id FROM audit_log"))
        assert {tuple(r) for r in got} == {
            (f"p{k}", f"p{k}-{i}") for k in range(writers) for i in range(n)
        }
        from govlib.evidence.verify import verify_store

        assert verify_store(store).ok
    stats = read_emitter_stats(data)
    assert (stats["written"], stats["dropped"], stats["processes"]) == (writers * n, 0, writers)
