"""Disk full / write errors: tool calls carry on, governance stops, committed evidence stays intact.

A forked child opens real stores, writes a little, then makes every further write to the store
fail: ``resource.setrlimit(RLIMIT_FSIZE, 4096)`` with ``SIGXFSZ`` ignored (writes beyond 4 KiB
fail with EFBIG, as on a full disk; no filesystem needs mounting). The emitter stats side file
(2 KiB, reserved at start) is smaller than that, so it is still written: that is how the drops
reach ``govlib status``.

The counters are also checked on a really full file system: a 1 MiB ``tmpfs`` mounted in a private
mount namespace (``unshare -m``, root only; skipped elsewhere) filled to the last byte while a
running app holds ``-wal``/``-shm``. The reserved counter file is overwritten in place, so the
drops are on disk while it is full; an emitter that starts on the full disk cannot reserve one and
``govlib status`` then says "counters unreadable: drops may have happened", never "none".

Checked: wrapped tools return their normal results while the emitter drops and counts the rows;
``govlib status`` shows the counters; WORM appends, kill-switch triggers, rule evaluations, guarded
tool calls and ClaimsFlow steps all fail loudly and nothing governed executes; everything committed
before is intact and verifies; writes work again once the limit is gone. The CLI's write verbs
under a full disk exit non-zero with one line and no traceback.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from govlib.capture.emitter import Emitter
from govlib.costs.ledger import Ledger
from govlib.demo.claimsflow import ClaimsEngine
from govlib.demo.claimsflow.claims import scenario_claim
from govlib.errors import GovernanceRefused
from govlib.evidence import worm
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.verify import verify_store
from govlib.governance.governor import Governor, KillSwitch
from govlib.settings import Settings
from govlib.store.database import Store

#: Heavy stores, servers or fault injection: `make test` runs these, `make test-fast` does not.
pytestmark = pytest.mark.slow

GOVLIB = [sys.executable, "-m", "govlib"]
LIMIT = 4096  # bytes: the stats side file (~400 B) fits, no store write does
CALLS = 200
RULES = [
    {
        "id": "lookup_high_risk",
        "description": "High-risk lookups are refused.",
        "scope": {"tool": "lookup"},
        "condition": {"field": "risk_tier", "op": "==", "value": "high"},
        "action": "deny",
    },
    {
        "id": "payout_review",
        "description": "Payouts above 1,000 need a review.",
        "scope": {"node": "payout"},
        "condition": {"field": "amount", "op": ">", "value": 1000},
        "action": "require_review",
    },
    {
        "id": "fraud_trip",
        "description": "A fraud score above 0.8 stops everything.",
        "scope": {"node": "fraud"},
        "condition": {"field": "score", "op": ">", "value": 0.8},
        "action": "trip_kill_switch",
    },
]
_FORK = multiprocessing.get_context("fork")


def _build(template: Path, root: Path, *, triggered: bool) -> Path:
    """A store with committed evidence of every kind, ClaimsFlow set up and one run done."""
    shutil.copytree(template, root)  # ClaimsFlow set up, one clean run, a checkpoint (conftest)
    with Store(root) as store:
        gov = Governor(store, rules=RULES)
        gov.registry.register("lookup", "Find a record")
        em = Emitter(store, synchronous=True, actor="setup")
        f = em.wrap(lambda i: {"ok": True, "i": i}, name="lookup")
        for i in range(5):
            f(i)
        Ledger(store).record(run_id="r0", node="n", model="gpt-4.1", input_tokens=10,
                             output_tokens=5)  # fmt: skip
        worm.append(store, "note", outcome="ok")
        if triggered:
            KillSwitch(store).trigger("Dana Ortiz", "incident 42")
        sign_checkpoint(store)
    return root


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, claimsflow_template: Path) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("disk")
    return {"armed": _build(claimsflow_template, base / "armed", triggered=False),
            "triggered": _build(claimsflow_template, base / "triggered", triggered=True)}  # fmt: skip


def _snapshot(data: Path) -> dict[str, Any]:
    with Store(data, readonly=True) as store:
        return {"counts": store.counts(), "head": list(worm.head(store))}


def _attempt(results: dict[str, Any], name: str, fn: Any) -> None:
    """Run ``fn``; record what it returned or raised (type, reason, message)."""
    try:
        value = fn()
    except GovernanceRefused as exc:
        results[name] = {"raised": type(exc).__name__, "reason": exc.reason, "msg": str(exc)}
    except Exception as exc:  # noqa: BLE001 - every failure is what we look at
        results[name] = {"raised": type(exc).__name__, "msg": str(exc)}
    else:
        results[name] = {"returned": repr(value)[:200]}


def _disk_full_child(armed: str, triggered: str, out_fd: int) -> None:
    results: dict[str, Any] = {}
    try:
        _disk_full_work(Path(armed), Path(triggered), results)
    except BaseException:  # noqa: BLE001 - report, never hang the parent
        results["crash"] = traceback.format_exc()
    os.write(out_fd, json.dumps(results).encode())
    os._exit(0)


def _disk_full_work(armed: Path, triggered: Path, results: dict[str, Any]) -> None:
    store, other = Store(armed), Store(triggered)
    gov = Governor(store, rules=RULES)  # rules unchanged: nothing written
    fast = Settings(emitter_batch_size=50, emitter_flush_interval_s=0.02)
    em = Emitter(armed, actor="disk-test", settings=fast)
    tool = em.wrap(lambda i: {"ok": True, "i": i}, name="lookup")
    ran = {"lookup": 0, "claims": 0}

    def lookup_body(i: int) -> dict[str, Any]:
        ran["lookup"] += 1
        return {"ok": True, "i": i}

    governed = Emitter(armed, actor="disk-test", governor=gov, settings=fast)
    guarded = governed.wrap(lookup_body, name="lookup")
    engines = {"armed": ClaimsEngine(store), "triggered": ClaimsEngine(other)}
    for engine in engines.values():

        def counted(fn: Any) -> Any:
            def call(**kw: Any) -> Any:
                ran["claims"] += 1
                return fn(**kw)

            return call

        engine.tools = {k: counted(v) for k, v in engine.tools.items()}
    assert [tool(i)["i"] for i in range(3)] == [0, 1, 2]
    assert em.flush() and guarded(99)["i"] == 99 and governed.flush()
    ran["lookup"] = 0
    results["before"] = {"armed": _snapshot(armed), "triggered": _snapshot(triggered)}
    results["stats_before"] = em.stats

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))

    results["tool_results_ok"] = all(tool(i) == {"ok": True, "i": i} for i in range(CALLS))
    results["flushed"] = em.flush()
    results["stats_after"] = em.stats
    _attempt(results, "guarded_tool", lambda: guarded(7))
    _attempt(results, "worm_append", lambda: worm.append(store, "note", outcome="ok"))
    _attempt(results, "trigger", lambda: KillSwitch(store).trigger("Dana Ortiz", "disk test"))
    results["armed_after_trigger"] = KillSwitch(store).state().armed
    _attempt(results, "evaluate_review", lambda: gov.evaluate("payout", {"amount": 5}, run_id="r"))
    _attempt(results, "evaluate_trip", lambda: gov.evaluate("fraud", {"score": 0.95}, run_id="r"))
    _attempt(results, "guard_step_armed", lambda: gov.guard_step("payout", run_id="r"))
    gov_b = Governor(other)
    _attempt(results, "guard_step_triggered", lambda: gov_b.guard_step("payout", run_id="r"))
    claim = scenario_claim("clean", date(2026, 11, 23))
    _attempt(results, "run_armed", lambda: engines["armed"].run(claim))
    _attempt(results, "run_triggered", lambda: engines["triggered"].run(claim))
    results["ran"] = ran
    em.close()
    governed.close()
    results["stats_closed"] = em.stats
    results["after"] = {"armed": _snapshot(armed), "triggered": _snapshot(triggered)}


@pytest.fixture(scope="module")
def disk_full(stores: dict[str, Path]) -> dict[str, Any]:
    files = {k: (p / "checkpoints.jsonl").read_bytes() for k, p in stores.items()}
    r, w = os.pipe()
    child = _FORK.Process(
        target=_disk_full_child, args=(str(stores["armed"]), str(stores["triggered"]), w)
    )
    child.start()
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    child.join(120)
    results = json.loads(out)
    assert "crash" not in results, results["crash"]
    results["checkpoint_files_before"] = files
    return results


def test_tool_calls_return_normal_results_and_count_the_drops(disk_full: dict) -> None:
    before, after = disk_full["stats_before"], disk_full["stats_closed"]
    assert disk_full["tool_results_ok"] is True
    assert disk_full["flushed"] is True
    assert after["written"] == before["written"] == 3
    assert after["dropped_rows"] == CALLS
    assert after["sink_errors"] >= 1
    assert after["last_error"], after
    print(
        f"\n[disk full] {CALLS} calls returned normally; emitter: written {after['written']}, "
        f"dropped_rows {after['dropped_rows']}, sink_errors {after['sink_errors']}, "
        f"last_error {after['last_error']!r}"
    )


def test_drop_counters_are_visible_in_govlib_status(disk_full: dict, stores: dict) -> None:
    p = subprocess.run(
        [*GOVLIB, "status", "--json", "--data-dir", str(stores["armed"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    em = json.loads(p.stdout)["emitter"]
    assert em["dropped_rows"] >= CALLS and em["dropped"] >= CALLS
    assert em["sink_errors"] >= 1 and em["last_error"]
    text = subprocess.run(
        [*GOVLIB, "status", "--data-dir", str(stores["armed"])],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    line = next(x for x in text.splitlines() if x.startswith("Emitter counters:"))
    assert f"dropped_rows={em['dropped_rows']}" in line and "sink_errors=" in line
    print(f"\n[disk full] govlib status: {line[:160]}")


def test_the_governance_write_path_fails_loudly(disk_full: dict) -> None:
    r = disk_full
    for name in ("worm_append", "trigger"):
        assert "raised" in r[name], f"{name} under a full disk did not raise: {r[name]}"
    assert r["armed_after_trigger"] is True  # a trigger that was not recorded did not happen
    for name in ("guarded_tool", "evaluate_review", "evaluate_trip"):
        assert r[name].get("raised") == "GovernanceRefused", f"{name}: {r[name]}"
        assert r[name]["reason"] == "record_failed", r[name]
        assert "could not be recorded" in r[name]["msg"]
    assert "'lookup'" in r["guarded_tool"]["msg"], "the refusal does not name the tool"
    # guard_step of an armed switch records nothing, so it has nothing to fail on ...
    assert "returned" in r["guard_step_armed"]
    # ... but a triggered switch refuses even when its refusal cannot be recorded (fail-closed)
    assert r["guard_step_triggered"]["reason"] == "kill_switch"
    assert "could not be recorded" in r["guard_step_triggered"]["msg"]
    print("\n[disk full] governance under a full disk:")
    for name in ("worm_append", "trigger", "guarded_tool", "evaluate_trip", "run_armed"):
        print(f"  {name}: {r[name].get('raised')}: {r[name]['msg'][:110]}")


def test_a_step_that_cannot_record_its_governance_event_does_not_execute(disk_full: dict) -> None:
    r = disk_full
    assert r["ran"] == {"lookup": 0, "claims": 0}, "a governed tool or a workflow step executed"
    for name in ("run_armed", "run_triggered"):
        assert "raised" in r[name] or "refused" in r[name].get("returned", ""), r[name]


def test_everything_committed_before_is_intact(disk_full: dict, stores: dict) -> None:
    assert disk_full["after"] == disk_full["before"]
    for name, data in stores.items():
        assert _snapshot(data) == disk_full["before"][name]
        assert (data / "checkpoints.jsonl").read_bytes() == disk_full["checkpoint_files_before"][
            name
        ]
        with Store(data, readonly=True) as store:
            assert store.integrity_problem() is None
        p = subprocess.run(
            [*GOVLIB, "verify", "--data-dir", str(data)], capture_output=True, text=True
        )
        assert p.returncode == 0 and p.stdout.startswith("Chain verified: "), p.stdout + p.stderr


def test_writes_work_again_once_space_is_back(disk_full: dict, stores: dict, tmp_path) -> None:
    data = tmp_path / "copy"
    shutil.copytree(stores["armed"], data)
    with Store(data) as store:
        assert not KillSwitch(store).trigger("Dana Ortiz", "after the outage").armed
        sign_checkpoint(store)
        assert verify_store(store).ok


# --- the CLI under a full disk ---------------------------------------------------------------------
def _full_disk() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))


@pytest.mark.parametrize(
    "args",
    [
        ["killswitch", "trigger", "--by", "Dana Ortiz", "--reason", "incident 43"],
        ["stamp", "1", "accept", "--by", "Ana Reviewer"],
        ["run", "clean"],
    ],
    ids=["killswitch-trigger", "stamp", "run"],
)
def test_cli_write_verbs_on_a_full_disk_fail_with_one_line(
    stores: dict, tmp_path: Path, args: list[str]
) -> None:
    data = tmp_path / "data"
    shutil.copytree(stores["armed"], data)
    before = _snapshot(data)
    holder = Store(data)  # keeps -wal/-shm in place, as a running app would
    holder.query("SELECT 1")
    try:
        p = subprocess.run(
            [*GOVLIB, *args, "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=300,
            preexec_fn=_full_disk,  # noqa: PLW1509 - only sets a resource limit
        )
    finally:
        holder.close()
    print(f"\n[disk full] govlib {args[0]}: exit {p.returncode}: {p.stderr.strip()[-200:]}")
    assert p.returncode != 0
    assert _snapshot(data) == before  # nothing half-written ...
    with Store(data, readonly=True) as store:
        assert KillSwitch(store).state().armed
        assert verify_store(store).ok
    # ... and the person at the terminal gets one line, not a traceback
    assert "Traceback" not in p.stderr, p.stderr[-700:]
    assert p.stderr.startswith("Error: ") and len(p.stderr.strip().splitlines()) == 1, p.stderr


# --- the emitter counters on a really full file system -------------------------------------------
def _can(cmd: str) -> bool:
    try:
        return subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


TMPFS = shutil.which("unshare") is not None and _can(
    "unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs /mnt'"
)

#: One emitter process: ``space`` says whether the disk has room when the emitter starts (then it
#: fills the disk itself after three written calls) or is already full.
COUNTER_CHILD = """
import json, os, sys
from pathlib import Path
from govlib.capture.emitter import Emitter
from govlib.settings import Settings
from govlib.store.database import Store

data, mode, calls = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
fill = data.parent / "fill"

def fill_up():
    fd = os.open(fill, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    for size in (65536, 4096, 512, 1):
        try:
            while os.write(fd, b"\\0" * size) == size:
                pass
        except OSError:
            pass
    os.close(fd)

if mode == "full":  # a running app keeps -wal/-shm in place, then the disk fills up
    holder = Store(data)
    holder.query("SELECT 1")
    fill_up()
fast = Settings(emitter_batch_size=50, emitter_flush_interval_s=0.02)
em = Emitter(data, actor="disk-test", settings=fast)
tool = em.wrap(lambda i: {"ok": True, "i": i}, name="lookup")
free = os.statvfs(data).f_bavail
if mode == "space":
    assert [tool(i)["i"] for i in range(3)] == [0, 1, 2] and em.flush()
    holder = Store(data)  # as a running app would, keeps -wal/-shm (and their blocks) held
    holder.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty -wal: a batch needs new blocks
    fill_up()
free = os.statvfs(data).f_bavail
ok = all(tool(i) == {"ok": True, "i": i} for i in range(calls))
em.flush()
em.close()
print(json.dumps({"ok": ok, "stats": em.stats, "free": free}))
"""


@pytest.mark.skipif(not TMPFS, reason="needs root, unshare -m and tmpfs")
def test_drop_counters_survive_a_really_full_disk(tmp_path: Path) -> None:
    """A 1 MiB tmpfs filled to the last byte: the counters still reach the disk (reserved file
    overwritten in place); an emitter that starts on the full disk cannot reserve one, and
    ``govlib status`` then says the counters are unreadable, never "none"."""
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir(), out.mkdir()
    data = mnt / "data"
    py, status = f"'{sys.executable}'", f"'{sys.executable}' -m govlib status --data-dir '{data}'"
    script = "\n".join(
        [
            "set -e",
            f"mount -t tmpfs -o size=1m tmpfs '{mnt}'",
            f"{py} -c 'from govlib.store.database import Store; Store(\"{data}\").close()'",
            f"{py} -c \"$CHILD\" '{data}' space {CALLS} > '{out}/a.json'",
            f"{status} --json > '{out}/full.json' || true",
            f"{py} -c \"$CHILD\" '{data}' full 50 > '{out}/b.json'",
            f"ls -la '{data}/emitter-stats' > '{out}/ls.txt'",
            f"rm '{mnt}/fill'",
            f"{status} --json > '{out}/freed.json' || true",
            f"{status} > '{out}/freed.txt' || true",
        ]
    )
    p = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "CHILD": COUNTER_CHILD},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = (json.loads((out / f).read_text()) for f in ("a.json", "b.json"))
    assert a["ok"] and b["ok"], "tool calls did not return their normal results"
    assert a["free"] == 0 and b["free"] == 0, ("the disk was not full", a, b)
    assert a["stats"]["written"] == 3 and a["stats"]["dropped_rows"] == CALLS, a
    assert b["stats"]["written"] == 0 and b["stats"]["dropped_rows"] == 50, b
    # while the disk is still full, status reads the counters of the first emitter
    full = json.loads((out / "full.json").read_text())
    assert full["emitter"]["dropped_rows"] >= CALLS, full["emitter"]
    # once space is back: every drop that could be recorded is, the rest is flagged, never "none"
    freed = json.loads((out / "freed.json").read_text())["emitter"]
    assert freed["dropped_rows"] >= CALLS and freed["unreadable"] >= 1, freed
    line = next(
        x for x in (out / "freed.txt").read_text().splitlines() if x.startswith("Emitter counters")
    )
    assert "none recorded" not in line
    assert (
        "counters unreadable: drops may have happened" in line and f"dropped_rows={CALLS}" in line
    )
    print(f"\n[really full disk] {line[:220]}\n{(out / 'ls.txt').read_text()}")


def test_a_half_written_or_damaged_counter_file_never_reads_as_none(tmp_path: Path) -> None:
    from govlib.capture.counters import FILE_SIZE, STATS_DIRNAME, persist_stats
    from govlib.cli.status import format_status, store_status

    folder = tmp_path / STATS_DIRNAME
    folder.mkdir()
    (folder / ".4242.json.tmp").write_bytes(b"")  # a reservation the full disk cut short
    Store(tmp_path).close()
    line = next(x for x in format_status(store_status(tmp_path)).splitlines() if "Emitter" in x)
    assert "none recorded" not in line and "drops may have happened" in line, line
    (folder / ".4242.json.tmp").unlink()
    persist_stats(tmp_path, 1, {"written": 5, "dropped_rows": 7})
    own = folder / f"{os.getpid()}.json"
    assert own.stat().st_size == FILE_SIZE
    raw = bytearray(own.read_bytes())
    raw[raw.index(b'"dropped_rows": 7') + len(b'"dropped_rows": ')] = ord("0")  # 7 -> 0
    own.write_bytes(bytes(raw))
    info = store_status(tmp_path)
    assert info["emitter"]["unreadable"] == 1 and info["emitter"]["processes"] == 0
    line = next(x for x in format_status(info).splitlines() if "Emitter" in x)
    assert "counters unreadable: drops may have happened" in line, line
