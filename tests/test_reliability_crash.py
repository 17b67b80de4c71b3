"""Crash mid-write: ``kill -9`` at any moment loses no acknowledged write and breaks no chain.

* **Writer rounds**: a forked child appends tool-call rows (synchronous emitter, one call per
  transaction or a batch in one), WORM events, ledger receipts, verdicts, kill-switch changes and
  checkpoints, and writes each id to a pipe only after its transaction committed. The parent
  SIGKILLs it at a random moment, then checks: every acknowledged write is there exactly once, a
  batch is all or nothing, ``seq`` and row ids are gapless, checkpoint-file lines match rows, the
  store verifies (``verify_store`` every round, the ``govlib verify`` CLI every few rounds and at
  the end, ``govlib status`` at the end).
* **Crash points**: the same child killed exactly when it enters a chosen function (a profile
  hook sends SIGKILL), so the narrow windows random kills rarely hit are hit every time.
* **Killed demo / run**: ``govlib demo --history-days 2`` and ``govlib run clean`` SIGKILLed at
  random moments; ``govlib status`` opens what is left, ``govlib verify`` passes, checkpoint lines
  match rows, no process of the killed command's group survives and no file keeps changing.

Figures (rounds, writes acknowledged, kill phases) are printed; run with ``-s`` to see them.
Soak variants (``-m soak``) run more rounds and more demo kills.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from govlib.capture.emitter import Emitter
from govlib.capture.verdicts import stamp_verdict
from govlib.costs.ledger import Ledger

# Imported here, so the forked writers start at once (they inherit the parent's modules).
from govlib.evidence import worm
from govlib.evidence.checkpoints import Checkpoint, read_checkpoint_file, sign_checkpoint
from govlib.evidence.verify import verify_store
from govlib.governance.governor import KillSwitch
from govlib.store.database import Store

GOVLIB = [sys.executable, "-m", "govlib"]
AS_OF = "2026-11-20T10:00:00Z"
ACTOR = "crash-writer"
#: Kinds of write the child does, with their weights.
KINDS = {
    "call": 30,
    "batch": 10,
    "worm": 15,
    "receipt": 10,
    "receipts": 5,
    "verdict": 10,
    "killswitch": 5,
    "checkpoint": 5,
}
_FORK = multiprocessing.get_context("fork")


# --- the child ------------------------------------------------------------------------------------
@dataclass
class _Child:
    """What a writer child writes with, and the pipe it acknowledges on."""

    ack_fd: int
    rng: random.Random
    store: Store
    em: Emitter
    call: Callable[..., object]
    ledger: Ledger
    ks: KillSwitch

    def ack(self, *parts: object) -> None:
        _ack(self.ack_fd, *parts)


def _ack(ack_fd: int, *parts: object) -> None:
    """Write one acknowledgement line (the parts, space-separated) to ``ack_fd``."""
    os.write(ack_fd, (" ".join(map(str, parts)) + "\n").encode())


def _writer(data_dir: str, ack_fd: int, seed: int, crash_at: tuple[str, str, int] | None) -> None:
    """Write forever (until killed); report each write on ``ack_fd`` only after it committed."""
    parent = os.getppid()
    deadline = time.monotonic() + (30 if crash_at else 120)  # never outlive a forgetful test
    if crash_at is not None:
        _arm_crash_point(*crash_at)
    child = _start_child(data_dir, ack_fd, seed)
    kinds, weights = list(KINDS), list(KINDS.values())
    n = 0
    while time.monotonic() < deadline and os.getppid() == parent:
        n += 1
        token = f"s{seed}-{n}"
        kind = child.rng.choices(kinds, weights)[0]
        _WRITES[kind](child, n, token)


def _start_child(data_dir: str, ack_fd: int, seed: int) -> _Child:
    """Open the store and everything the child writes with; acknowledge the start and "ready"."""
    rng = random.Random(seed)
    store = Store(data_dir)
    start = worm.append(store, "crash_writer_started", detail={"seed": seed})
    _ack(ack_fd, "worm", start.seq, f"start-{seed}")
    em = Emitter(store, synchronous=True, actor=ACTOR, tenant="acme")
    call = em.wrap(lambda n: {"ok": True, "n": n}, name="crash_tool")
    child = _Child(ack_fd, rng, store, em, call, Ledger(store), KillSwitch(store))
    child.ack("ready")
    return child


def _write_call(child: _Child, n: int, token: str) -> None:
    child.call(n, composition_id=token)
    child.ack("call", token)


def _write_batch(child: _Child, n: int, token: str) -> None:
    k = child.rng.randint(2, 12)
    with child.em.batch():
        for j in range(k):
            child.call(j, composition_id=f"{token}.{j}of{k}")
    child.ack("batch", token, k)


def _write_worm(child: _Child, n: int, token: str) -> None:
    e = worm.append(child.store, "crash_note", run_id=token, outcome="ok", detail={"t": token})
    child.ack("worm", e.seq, token)


def _write_receipt(child: _Child, n: int, token: str) -> None:
    r = child.ledger.record(
        run_id=token, node="n", model="gpt-4.1", input_tokens=n, output_tokens=7
    )
    child.ack("receipt", r.id, token)


def _write_receipts(child: _Child, n: int, token: str) -> None:
    calls = [
        {"run_id": token, "model": "gpt-4.1", "input_tokens": j, "output_tokens": 1}
        for j in range(child.rng.randint(2, 6))
    ]
    got = child.ledger.record_many(calls)
    for r in got:
        child.ack("receipt", r.id, token)


def _write_verdict(child: _Child, n: int, token: str) -> None:
    audit_id = child.store.query_one(
        "SELECT id FROM audit_log WHERE human_verdict IS NULL ORDER BY id DESC LIMIT 1"
    )
    if audit_id is not None:
        verdict = child.rng.choice(["accept", "reject"])
        stamp_verdict(int(audit_id), verdict, "Ana Reviewer", store=child.store)
        child.ack("verdict", audit_id, verdict)


def _write_killswitch(child: _Child, n: int, token: str) -> None:
    if child.ks.state().armed:
        state = child.ks.trigger("Dana Ortiz", f"drill {token}")
    else:
        state = child.ks.reset("Dana Ortiz", f"drill over {token}")
    child.ack("ks", state.worm_seq, "reset" if state.armed else "triggered")


def _write_checkpoint(child: _Child, n: int, token: str) -> None:
    cp = sign_checkpoint(child.store)
    if cp is not None:
        child.ack("cp", cp.signature)


#: One write of each kind in ``KINDS``: (child, call number, token) -> write, then acknowledge.
_WRITES: dict[str, Callable[[_Child, int, str], None]] = {
    "call": _write_call,
    "batch": _write_batch,
    "worm": _write_worm,
    "receipt": _write_receipt,
    "receipts": _write_receipts,
    "verdict": _write_verdict,
    "killswitch": _write_killswitch,
    "checkpoint": _write_checkpoint,
}


def _arm_crash_point(filename_suffix: str, function: str, nth: int) -> None:
    """SIGKILL this process when it enters ``function`` (a qualified name, in a file ending so)
    for the nth time."""
    seen = [0]

    def hook(frame, event, _arg):  # noqa: ANN001 - sys.setprofile signature
        if event == "call" and frame.f_code.co_qualname == function:
            if frame.f_code.co_filename.endswith(filename_suffix):
                seen[0] += 1
                if seen[0] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)

    sys.setprofile(hook)


# --- acknowledgements -----------------------------------------------------------------------------
@dataclass
class Acks:
    """Everything the children acknowledged, over all rounds on one data dir."""

    calls: list[str] = field(default_factory=list)
    batches: list[tuple[str, int]] = field(default_factory=list)
    worm: list[tuple[int, str]] = field(default_factory=list)
    receipts: list[tuple[int, str]] = field(default_factory=list)
    verdicts: dict[int, str] = field(default_factory=dict)
    ks: list[tuple[int, str]] = field(default_factory=list)
    cps: list[str] = field(default_factory=list)
    ready: int = 0

    def add(self, text: str) -> int:
        n = 0
        for line in text.split("\n")[:-1]:  # a pipe write of one short line is atomic
            kind, *rest = line.split(" ")
            n += 1
            if kind == "ready":
                self.ready += 1
            elif kind == "call":
                self.calls.append(rest[0])
            elif kind == "batch":
                self.batches.append((rest[0], int(rest[1])))
            elif kind == "worm":
                self.worm.append((int(rest[0]), rest[1]))
            elif kind == "receipt":
                self.receipts.append((int(rest[0]), rest[1]))
            elif kind == "verdict":
                self.verdicts[int(rest[0])] = rest[1]
            elif kind == "ks":
                self.ks.append((int(rest[0]), rest[1]))
            elif kind == "cp":
                self.cps.append(rest[0])
        return n

    @property
    def total(self) -> int:
        rows = sum(k for _, k in self.batches)
        return len(self.calls) + rows + len(self.worm) + len(self.receipts) + len(self.ks)


def run_writer(
    data: Path, seed: int, *, delay: float, crash_at: tuple[str, str, int] | None = None
) -> tuple[str, bool]:
    """Fork a writer, SIGKILL it ``delay`` s after it is ready (or let the crash point kill it).

    Returns the acknowledgement text and whether the child was killed (not exited by itself).
    """
    r, w = os.pipe()
    child = _FORK.Process(target=_writer, args=(str(data), w, seed, crash_at), daemon=True)
    child.start()
    os.close(w)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(r, chunks), daemon=True)
    reader.start()
    if crash_at is None:
        t0 = time.monotonic()
        while b"ready\n" not in b"".join(chunks) and child.is_alive():
            if time.monotonic() - t0 > 120:
                break
            time.sleep(0.002)
        time.sleep(delay)
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
    child.join(180)
    if child.is_alive():  # a crash point that was never reached: stop it anyway
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
    reader.join(30)
    return b"".join(chunks).decode(), child.exitcode == -signal.SIGKILL


def _drain(fd: int, chunks: list[bytes]) -> None:
    with os.fdopen(fd, "rb", buffering=0) as f:
        while True:
            data = f.read(65536)
            if not data:
                return
            chunks.append(data)


# --- checks ---------------------------------------------------------------------------------------
def check_checkpoint_file(data: Path) -> tuple[int, int]:
    """Lines are checkpoints with rows, none twice; only the newest rows may lack a line."""
    with Store(data, readonly=True) as store:
        rows = [r[0] for r in store.query("SELECT signature FROM worm_checkpoints ORDER BY id")]
    path = data / "checkpoints.jsonl"
    lines = read_checkpoint_file(path) if path.exists() else []
    bad = [(n, c) for n, c in lines if not isinstance(c, Checkpoint)]
    assert not bad, f"{path}: lines that are not checkpoints: {bad}"
    sigs = [c.signature for _, c in lines]
    assert len(sigs) == len(set(sigs)), f"{path}: a checkpoint line written twice"
    assert set(sigs) <= set(rows), f"{path}: a line names a checkpoint the store does not have"
    missing = [s for s in rows if s not in set(sigs)]
    assert missing == rows[len(rows) - len(missing) :], (
        "a checkpoint row other than the newest ones has no line in the file"
    )
    return len(rows), len(sigs)


def check_store(data: Path, acks: Acks, *, verify: bool = True) -> dict[str, int]:
    """Every acknowledged write present exactly once, batches whole, ids gapless, verify ok."""
    with Store(data, readonly=True) as store:
        comp = Counter(
            r[0]
            for r in store.query("SELECT composition_id FROM audit_log WHERE actor = ?", (ACTOR,))
        )
        dups = [c for c, k in comp.items() if k > 1]
        assert not dups, f"tool-call rows written twice: {dups[:5]}"
        lost = [t for t in acks.calls if comp[t] != 1]
        assert not lost, f"acknowledged tool calls missing: {lost[:5]}"
        for token, k in acks.batches:
            got = [comp[f"{token}.{j}of{k}"] for j in range(k)]
            assert got == [1] * k, f"acknowledged batch {token} of {k}: rows {got}"
        batches = Counter(c.split(".")[0] for c in comp if "of" in c)
        for token, k in batches.items():
            size = next(int(c.rsplit("of", 1)[1]) for c in comp if c.startswith(token + "."))
            assert k == size, f"batch {token}: {k} of {size} rows committed (not atomic)"

        seqs = [r[0] for r in store.query("SELECT seq FROM worm_log ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)), "WORM seq has a gap"
        for table in ("audit_log", "token_ledger", "verdict_events", "kill_switch_events"):
            ids = [r[0] for r in store.query(f"SELECT id FROM {table} ORDER BY id")]
            assert ids == list(range(1, len(ids) + 1)), f"{table}: ids have a gap"

        details = dict(store.query("SELECT seq, json_extract(body, '$.detail.t') FROM worm_log"))
        runs = dict(store.query("SELECT seq, run_id FROM worm_log"))
        for seq, token in acks.worm:
            assert seq in runs, f"acknowledged WORM entry {seq} missing"
            if not token.startswith("start-"):
                assert details[seq] == token, f"WORM entry {seq} is not the acknowledged one"
        receipts = dict(store.query("SELECT id, run_id FROM token_ledger"))
        for rid, token in acks.receipts:
            assert receipts.get(rid) == token, f"acknowledged receipt {rid} ({token}) missing"
        verdicts = dict(store.query("SELECT id, human_verdict FROM audit_log"))
        events = Counter(r[0] for r in store.query("SELECT audit_id FROM verdict_events"))
        for audit_id, verdict in acks.verdicts.items():
            assert verdicts.get(audit_id) == verdict, f"acknowledged verdict on {audit_id} lost"
            assert events[audit_id] >= 1, f"verdict on {audit_id} has no verdict_events row"
        ks = {tuple(r) for r in store.query("SELECT worm_seq, state FROM kill_switch_events")}
        for seq, state in acks.ks:
            assert (seq, state) in ks, f"acknowledged kill-switch {state} (seq {seq}) missing"
        cps = {r[0] for r in store.query("SELECT signature FROM worm_checkpoints")}
        assert set(acks.cps) <= cps, "an acknowledged checkpoint row is missing"
        if verify:
            result = verify_store(store)
            assert result.ok, result.describe()
        counts = store.counts()
    n_rows, n_lines = check_checkpoint_file(data)
    path = data / "checkpoints.jsonl"
    in_file = {c.signature for _, c in read_checkpoint_file(path)} if path.exists() else set()
    assert set(acks.cps) <= in_file, "an acknowledged checkpoint has no line in the file"
    return {**counts, "checkpoint_lines": n_lines, "entries": counts["worm_log"]}


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GOVLIB, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def cli_verify_ok(data: Path) -> str:
    p = cli("verify", "--data-dir", data)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    line = p.stdout.strip()
    assert line.startswith("Chain verified: "), line
    assert line.endswith("(the chain alone was checked)") or ", last signed checkpoint at seq " in (
        line
    ), line
    return line


def cli_status_ok(data: Path) -> str:
    p = cli("status", "--data-dir", data)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ERROR" not in p.stdout and "Traceback" not in p.stderr, p.stdout + p.stderr
    assert "Chain head: " in p.stdout
    return p.stdout


def _fresh(path: Path, checkpoint_every: int = 25) -> Path:
    path.mkdir(parents=True)
    (path / "govlib.json").write_text(json.dumps({"checkpoint_every": checkpoint_every}))
    return path


# --- writer rounds --------------------------------------------------------------------------------
def _writer_rounds(
    tmp_path: Path, rounds: int, max_delay: float, cli_every: int, verify_every: int = 1
) -> None:
    seed = int(os.environ.get("GOVLIB_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    data = _fresh(tmp_path / "data")
    acks = Acks()
    killed = 0
    t0 = time.perf_counter()
    for i in range(rounds):
        text, was_killed = run_writer(data, seed * 1000 + i, delay=rng.uniform(0, max_delay))
        assert was_killed, f"round {i}: the writer ended by itself:\n{text[-500:]}"
        killed += 1
        acks.add(text)
        info = check_store(data, acks, verify=(i + 1) % verify_every == 0)
        if (i + 1) % cli_every == 0:
            cli_verify_ok(data)
    cli_verify_ok(data)
    cli_status_ok(data)
    elapsed = time.perf_counter() - t0
    print(
        f"\n[crash] seed {seed}: {killed} SIGKILLs in {elapsed:.1f} s; acknowledged "
        f"{len(acks.calls)} calls, {len(acks.batches)} batches "
        f"({sum(k for _, k in acks.batches)} rows), {len(acks.worm)} WORM events, "
        f"{len(acks.receipts)} receipts, {len(acks.verdicts)} verdicts, {len(acks.ks)} "
        f"kill-switch changes, {len(acks.cps)} checkpoints; store: {info['audit_log']} "
        f"tool calls, {info['entries']} WORM entries, {info['worm_checkpoints']} checkpoints "
        f"({info['checkpoint_lines']} lines); all present, no duplicates, seq gapless, verify ok"
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_write(tmp_path: Path) -> None:
    _writer_rounds(tmp_path, rounds=30, max_delay=0.25, cli_every=10)


@pytest.mark.soak
def test_sigkill_soak(tmp_path: Path) -> None:
    _writer_rounds(tmp_path, rounds=100, max_delay=0.6, cli_every=25, verify_every=10)


#: (file suffix, function, nth call): each a moment random kills rarely land on.
CRASH_POINTS = [
    ("govlib/evidence/digests.py", "append_batch_digest", 3),  # rows inserted, digest not yet
    ("govlib/evidence/digests.py", "rows_digest", 9),  # inside the batch transaction
    ("govlib/evidence/checkpoints.py", "export_checkpoints", 1),  # row committed, no line yet
    ("govlib/evidence/checkpoints.py", "_sync_locked", 2),  # file locked, nothing written yet
    ("govlib/evidence/checkpoints.py", "flush_pending", 2),  # periodic checkpoint row, line pending
    ("govlib/evidence/checkpoints.py", "_insert", 2),  # signing inside a transaction
    ("govlib/evidence/worm.py", "_after_append", 7),  # entry inserted, not committed
    ("govlib/evidence/worm.py", "_after_commit", 5),  # committed, hooks not run
    ("govlib/capture/verdicts.py", "_apply", 1),
    ("govlib/governance/killswitch.py", "KillSwitch._event", 1),
    ("govlib/costs/ledger.py", "Ledger._write", 2),
    ("govlib/capture/rows.py", "insert_audit_batch", 4),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "point", CRASH_POINTS, ids=[f"{p[1].split('.')[-1]}#{p[2]}" for p in CRASH_POINTS]
)
def test_sigkill_at_a_chosen_crash_point(tmp_path: Path, point: tuple[str, str, int]) -> None:
    module = importlib.import_module(point[0].removesuffix(".py").replace("/", "."))
    target: object = module
    for part in point[1].split("."):
        target = getattr(target, part, None)
    assert callable(target), f"crash point {point} is gone: update CRASH_POINTS"
    data = _fresh(tmp_path / "data", checkpoint_every=10)
    acks = Acks()
    seed = sum(map(ord, point[1])) + point[2]
    # a first round writes some history, the second is killed at the point, the third carries on
    for delay, crash_at in ((0.15, None), (0.0, point), (0.15, None)):
        text, killed = run_writer(data, seed, delay=delay, crash_at=crash_at)
        assert killed, f"the writer ended by itself (crash point not reached?):\n{text[-300:]}"
        acks.add(text)
        check_store(data, acks)  # verify_store included; the CLI runs in the other tests
        seed += 1


# --- the creation windows -------------------------------------------------------------------------
def _die_in(data: str, function: str) -> None:
    _arm_crash_point("govlib/store/database.py" if function.startswith("Store.") else "govlib/evidence/keys.py",
                     function, 1)  # fmt: skip
    worm.append(Store(data), "first")


def _content(data: Path) -> tuple:
    """What a store holds (tables and their row counts) and which key files exist."""
    with closing(sqlite3.connect(f"file:{data / 'govlib.sqlite'}?mode=ro", uri=True)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables]
    keys = sorted(p.name for p in (data / "keys").glob("*")) if (data / "keys").exists() else []
    return tuple(zip(tables, counts, strict=True)), tuple(keys)


@pytest.mark.slow
@pytest.mark.parametrize("function", ["Store._ensure_schema", "KeyRing.load"])
def test_killed_while_the_store_is_created(tmp_path: Path, function: str) -> None:
    """Killed before the schema committed, or before the first key existed: nothing was
    recorded. `govlib status` and `govlib verify` either show an empty store (verify: 0 entries,
    no checkpoint) or, for a file without a schema, say in one line that it is not a govlib store;
    neither creates tables, rows or keys; the next writer sets the store up and it verifies."""
    data = tmp_path / "data"
    data.mkdir()
    child = _FORK.Process(target=_die_in, args=(str(data), function))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    assert (data / "govlib.sqlite").exists()
    before = _content(data)
    status = cli("status", "--data-dir", data)
    verify = cli("verify", "--data-dir", data)
    assert "Traceback" not in status.stderr + verify.stderr
    assert _content(data) == before, "status/verify created tables, rows or keys"
    if not before[0]:  # no schema yet: a one-line refusal is the honest answer
        assert "not a govlib store" in status.stdout and status.returncode != 0, status.stdout
        assert verify.returncode == 2 and verify.stderr.startswith("Error: "), verify.stderr
        assert "not a govlib store" in verify.stderr and len(verify.stderr.splitlines()) == 1
    else:
        assert status.returncode == 0, status.stdout + status.stderr
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert verify.stdout.strip() == (
            "Chain verified: 0 entries; no signed checkpoint yet (the chain alone was checked)"
        )
    with Store(data) as store:  # the next writer carries on
        worm.append(store, "first")
    cli_verify_ok(data)


def _first_run_killed_in_setup(data: str) -> None:
    from govlib.demo.claimsflow import run_scenario

    _arm_crash_point("govlib/governance/registry.py", "ToolRegistry.register", 3)
    run_scenario(Store(data), "clean")


@pytest.mark.slow
def test_a_run_killed_while_claimsflow_sets_up_leaves_a_store_the_next_run_can_use(
    tmp_path: Path,
) -> None:
    """The first `govlib run` of a store registers the workflows and then the tools, one by one.
    Killed half-way, the next run must still find every ClaimsFlow tool registered; a store that
    refuses every later run ("tool ... is not in the tool registry") never heals by itself."""
    data = tmp_path / "data"
    child = _FORK.Process(target=_first_run_killed_in_setup, args=(str(data),))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    cli_verify_ok(data)
    p = cli("run", "clean", "--data-dir", data)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "paid" in p.stdout, f"the next run after a killed set-up: {p.stdout.strip()}"
    cli_verify_ok(data)


def test_torn_checkpoint_line_does_not_poison_later_verifies(tmp_path: Path) -> None:
    """A SIGKILL (or power cut) in the middle of appending a checkpoint line can leave a torn last
    line (Linux stops a multi-page write between pages on SIGKILL). The next export must not leave
    that fragment in the middle of the file, where every later `govlib verify` fails on it."""
    data = _fresh(tmp_path / "data")
    with Store(data) as store:
        for _ in range(2):
            worm.append(store, "note")
            sign_checkpoint(store)
    path = data / "checkpoints.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1][:57])  # the second append torn mid-line
    cli_verify_ok(data)  # a torn last line is ignored: fine so far
    with Store(data) as store:
        worm.append(store, "note")
        sign_checkpoint(store)  # re-exports the torn checkpoint and the new one
    check_checkpoint_file(data)
    cli_verify_ok(data)


# --- killed demo and run ---------------------------------------------------------------------------
def _files(data: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in data.rglob("*"):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if p.is_file():
            out[str(p.relative_to(data))] = (st.st_size, st.st_mtime_ns)
    return out


def _kill_and_check(proc: subprocess.Popen, data: Path, settle_s: float = 0.3) -> bool:
    """SIGKILL the command (its pid only), then: nothing of its process group is left and no
    file in the data dir changes any more. Returns whether it was still running when killed."""
    running = proc.poll() is None
    if running:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(60)
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        pass
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"a process of the killed command's group (pgid {proc.pid}) survived it")
    before = _files(data)
    time.sleep(settle_s)
    assert _files(data) == before, "files in the data dir kept changing after the kill"
    return running


def _check_killed_store(data: Path) -> str:
    cli_status_ok(data)
    line = cli_verify_ok(data)
    check_checkpoint_file(data)
    return line


def _head(data: Path) -> int:
    """The WORM head seq as committed now (0 when there is no readable store yet)."""
    db = data / "govlib.sqlite"
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM worm_log").fetchone()[0])
    except sqlite3.Error:
        return 0


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 300) -> bool:  # noqa: ANN001
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def _sleep_unless_done(proc: subprocess.Popen, delay: float) -> float | None:
    """Sleep ``delay`` s; return after how long the process ended if it ended first."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < delay:
        if proc.poll() is not None:
            return time.monotonic() - t0
        time.sleep(0.002)
    return None


def _kill_rounds(
    tmp_path: Path, name: str, command: list[str], dirs: list[Path], window_s: float
) -> list[str]:
    """Start ``command --data-dir D`` per round; once its first WORM entry of the round is
    committed, SIGKILL it after a stratified random delay within ``window_s``. A run that
    finishes first shrinks the window, so later rounds land inside the run."""
    seed = int(os.environ.get("GOVLIB_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    report = [f"seed {seed}"]
    rounds = len(dirs)
    for i, data in enumerate(dirs):
        log_path = tmp_path / f"{name}{i}.log"
        start = _head(data)
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [*GOVLIB, *command, "--data-dir", str(data)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started = _wait_for(lambda d=data, s=start: _head(d) > s, proc)
            delay = rng.uniform(i / rounds, (i + 1) / rounds) * window_s
            ended_after = _sleep_unless_done(proc, delay) if started else 0.0
            killed = _kill_and_check(proc, data)
        if ended_after is not None:
            window_s = max(0.1, min(window_s, ended_after * 0.9))
        text = log_path.read_text().replace("\r", "\n").strip()
        phase = text.splitlines()[-1][:50] if text else "(nothing printed yet)"
        if not (data / "govlib.sqlite").exists():
            report.append(f"{delay:.2f}s: no store yet")
            continue
        line = _check_killed_store(data)
        what = f"killed {delay:.2f}s in" if killed else "finished first"
        report.append(f"{what} (last output '{phase}'): {line[:64]}")
    return report


def _killed_demos(tmp_path: Path, rounds: int, window_s: float) -> None:
    command = ["demo", "--history-days", "2", "--as-of", AS_OF]
    dirs = [tmp_path / f"demo{i}" for i in range(rounds)]
    report = _kill_rounds(tmp_path, "demo", command, dirs, window_s)
    print("\n[killed demo] " + "\n  ".join(report))


@pytest.mark.slow
def test_killed_demo_leaves_a_verifiable_store(tmp_path: Path) -> None:
    _killed_demos(tmp_path, rounds=3, window_s=4.5)


@pytest.mark.soak
def test_killed_demo_soak(tmp_path: Path) -> None:
    _killed_demos(tmp_path, rounds=20, window_s=6.0)


def _killed_runs(tmp_path: Path, rounds: int, window_s: float) -> None:
    data = tmp_path / "runs"
    made = subprocess.run([*GOVLIB, "init", "--data-dir", str(data)], capture_output=True)
    assert made.returncode == 0, made.stderr  # `govlib run` never makes a store by itself
    report = _kill_rounds(tmp_path, "run", ["run", "clean"], [data] * rounds, window_s)
    with Store(data, readonly=True) as store:
        runs = dict(store.query("SELECT status, COUNT(*) FROM workflow_runs GROUP BY 1"))
    print(f"\n[killed run] runs by status {runs}; " + "\n  ".join(report))


@pytest.mark.slow
def test_killed_run_leaves_a_verifiable_store(tmp_path: Path) -> None:
    _killed_runs(tmp_path, rounds=3, window_s=2.0)


@pytest.mark.soak
def test_killed_run_soak(tmp_path: Path) -> None:
    _killed_runs(tmp_path, rounds=25, window_s=1.0)


@pytest.mark.soak
def test_a_killed_demo_is_rebuilt_by_the_next_demo(tmp_path: Path) -> None:
    """The data dir a killed demo left is wiped (keys kept) and rebuilt by the next demo."""
    data = tmp_path / "demo"
    args = [*GOVLIB, "demo", "--history-days", "1", "--as-of", AS_OF, "--data-dir", str(data)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: (data / "keys" / "hmac_keys.json").exists(), proc)
    time.sleep(1.0)
    _kill_and_check(proc, data)
    keys = (data / "keys" / "hmac_keys.json").read_bytes()
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (data / "keys" / "hmac_keys.json").read_bytes() == keys
    _check_killed_store(data)
    shutil.rmtree(data)
