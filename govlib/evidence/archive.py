"""Sealed archive segments: ``govlib seal``, ``govlib purge`` and ``govlib verify --archives``.

A seal moves a prefix of the WORM log (every entry written before a date, cut back so that no
run straddles it) out of the live SQLite store, with every row those entries prove: the
``audit_log`` rows and receipts of the batch digests in that prefix, and the governed rows whose
newest binding lies in it (finished runs and their node runs, kill-switch events but the latest,
verdict events of sealed tool calls). It never moves current state: the latest kill-switch
event, the rules and the registry, open runs; when the entry that binds such a row is sealed, a
MAC'd copy stays live in ``worm_retained`` (see :mod:`govlib.evidence.sealed`).

The segment is a folder ``DIR/archive/seg-NNNNNN-<first seq>-<last seq>/`` with one Parquet file
per table and ``manifest.json``: row counts, the SHA-256 of each file, the first and last WORM
seq and MAC, the previous segment, the tenants and runs it holds, signed with the checkpoint key
(Ed25519). ``DIR/lake/`` is a rebuildable cache; a segment is evidence and is never rebuilt.

Crash safety is a small state machine, each step durable before the next:

1. ``seal_journal`` row in state ``writing`` (committed);
2. files written under ``archive/.tmp-NAME/``, fsynced, renamed to ``archive/NAME/``;
3. one SQLite transaction: journal ``deleting`` (the only state in which the append-only DELETE
   guards admit a delete), the ``segment_sealed`` WORM entry binding the manifest, the
   ``sealed_segments`` row, the retained copies, the deletes (each count checked against the
   files), journal ``sealed``; commit;
4. the space is reclaimed (incremental vacuum, a few pages per short transaction).

A ``kill -9`` before step 3 commits leaves the old state (a folder no ``sealed_segments`` row
names, removed by the next seal and reported by ``verify --archives`` as a leftover); after it,
the new state. A purge commits its ``segment_purged`` entry first and then deletes the segment's
Parquet files, keeping its signed manifest, so the chain stays provable across the purged range.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from govlib.clock import utc_now_iso
from govlib.errors import GovlibError
from govlib.evidence import worm
from govlib.evidence.bindings import (
    BINDING_ACTIONS,
    GOVERNED,
    canonical_row_sql,
    latest_bindings,
    row_digests,
)
from govlib.evidence.chain import GENESIS_MAC, canonical_json, chain_intact, first_chain_problem
from govlib.evidence.checkpoints import signature_valid
from govlib.evidence.digests import batch_digest_problems
from govlib.evidence.keys import fingerprint, keyring_for
from govlib.evidence.sealed import (
    SEGMENT_PURGED,
    SEGMENT_SEALED,
    LiveAnchor,
    live_anchor,
    retained_entries,
)
from govlib.settings import Settings, load_settings
from govlib.store.database import Store
from govlib.store.datadir import fsync_dir
from govlib.store.snapshot import read_snapshot

__all__ = [
    "ARCHIVE_DIRNAME",
    "MANIFEST_FILE",
    "ArchiveCheck",
    "PurgeResult",
    "RetentionError",
    "SealResult",
    "archive_problems",
    "cutoff_time",
    "purge_before",
    "seal_before",
    "segment_files",
    "segments",
]

ARCHIVE_DIRNAME = "archive"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "govlib-segment/1"
#: ``GOVLIB_SEAL_FAULT=<moment>`` kills the sealing process (SIGKILL) at that moment: the crash
#: tests' fault-injection hook. Moments, in order:
FAULT_MOMENTS = ("journal", "files", "renamed", "deleted", "committed", "vacuum")
_FAULT_ENV = "GOVLIB_SEAL_FAULT"
#: Tables a segment may hold, in the order their files are written.
SEGMENT_TABLES = (
    "worm_log",
    "audit_log",
    "token_ledger",
    "verdict_events",
    "kill_switch_events",
    "workflow_runs",
    "node_runs",
)
_VACUUM_STEP_PAGES = 2000


class RetentionError(GovlibError):
    """A seal or purge was refused (bad date, legal hold, not past retention, ...)."""


def _fault(moment: str) -> None:
    if os.environ.get(_FAULT_ENV) == moment:
        os.kill(os.getpid(), signal.SIGKILL)


# --- dates and policy ---------------------------------------------------------------------------
def cutoff_time(before: str) -> str:
    """``YYYY-MM-DD`` -> the ISO time of that midnight (UTC); whole days only."""
    try:
        day = date.fromisoformat(before)
    except (TypeError, ValueError):
        raise RetentionError(
            f"--before: {before!r} is not a date; expected YYYY-MM-DD (whole days are sealed)"
        ) from None
    return f"{day.isoformat()}T00:00:00Z"


def default_before(settings: Settings, now: datetime | None = None) -> str:
    """The date before which ``retention_hot_days`` says evidence leaves the live store.

    Example:
        >>> default_before(Settings(retention_hot_days=10), datetime(2026, 12, 1, tzinfo=UTC))
        '2026-11-21'
    """
    now = now or datetime.now(UTC)
    return (now.date() - timedelta(days=int(settings.retention_hot_days))).isoformat()


def _names(text: str) -> set[str]:
    return {part.strip() for part in str(text or "").split(",") if part.strip()}


# --- reading rows as Arrow ----------------------------------------------------------------------
def _arrow_type(decl: str) -> pa.DataType:
    decl = (decl or "TEXT").upper()
    return {"INTEGER": pa.int64(), "REAL": pa.float64(), "BLOB": pa.binary()}.get(decl, pa.string())


def _table_schema(conn: sqlite3.Connection, table: str) -> list[tuple[str, pa.DataType]]:
    info = conn.execute(f"PRAGMA table_xinfo({table})").fetchall()
    return [(name, _arrow_type(decl)) for _cid, name, decl, *_ in info]


def _rows_arrow(
    conn: sqlite3.Connection, table: str, wheres: Iterable[tuple[str, tuple[Any, ...]]]
) -> pa.Table:
    """Rows of ``table`` matching any of ``wheres`` (each a condition and its parameters)."""
    cols = _table_schema(conn, table)
    names = ", ".join(c for c, _ in cols)
    rows: list[tuple[Any, ...]] = []
    for where, params in wheres:
        rows.extend(conn.execute(f"SELECT {names} FROM {table} WHERE {where}", params))  # noqa: S608 - names from PRAGMA, conditions constant
    arrays = [pa.array([r[i] for r in rows], type=t) for i, (_, t) in enumerate(cols)]
    return pa.Table.from_arrays(arrays, names=[c for c, _ in cols])


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the plan -----------------------------------------------------------------------------------
@dataclass
class _Plan:
    """What one seal moves, read from one snapshot."""

    before: str
    prev: LiveAnchor
    number: int
    first_seq: int
    last_seq: int
    last_mac: str = ""
    audit_ranges: list[tuple[int, int]] = field(default_factory=list)
    ledger_ranges: list[tuple[int, int]] = field(default_factory=list)
    governed: dict[str, list[Any]] = field(default_factory=dict)  # table -> keys to move
    retained: dict[int, set[tuple[str, str]]] = field(default_factory=dict)
    max_verdict_id: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"seg-{self.number:06d}-{self.first_seq:012d}-{self.last_seq:012d}"

    def wheres(self, table: str) -> list[tuple[str, tuple[Any, ...]]]:
        """The conditions selecting this plan's rows of ``table``."""
        if table == "worm_log":
            return [("seq BETWEEN ? AND ?", (self.first_seq, self.last_seq))]
        if table in ("audit_log", "token_ledger"):
            ranges = self.audit_ranges if table == "audit_log" else self.ledger_ranges
            return [("id BETWEEN ? AND ?", r) for r in ranges]
        key = _key(table)
        return [(f"{key} = ?", (k,)) for k in self.governed.get(table, [])]


def _key(table: str) -> str:
    return next(t.key for t in GOVERNED if t.name == table)


def _last_sealable_seq(conn: sqlite3.Connection, first: int, cutoff: str) -> int:
    """The last seq before ``cutoff``, cut back so that no run straddles the boundary."""
    row = conn.execute(
        "SELECT MIN(seq) FROM worm_log WHERE seq >= ? AND ts >= ?", (first, cutoff)
    ).fetchone()
    if row[0] is not None:
        last = int(row[0]) - 1
    else:
        last = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM worm_log").fetchone()[0])
    spans = conn.execute(
        "SELECT run_id, MIN(seq), MAX(seq) FROM worm_log WHERE seq >= ? AND run_id IS NOT NULL "
        "GROUP BY run_id",
        (first,),
    ).fetchall()
    running = {
        r
        for (r,) in conn.execute(
            "SELECT composition_id FROM workflow_runs WHERE status = ?", ("running",)
        )
    }
    # SQLite gives a new row MAX(id) + 1: the newest tool-call batch and receipt batch stay
    # live so that no id is ever handed out twice (once sealed, once live).
    for action in ("audit_batch", "ledger_batch"):
        (newest,) = conn.execute(
            "SELECT MAX(seq) FROM worm_log WHERE action = ?", (action,)
        ).fetchone()
        if newest is not None and newest <= last:
            last = int(newest) - 1
    changed = True
    while changed:  # each cut can make another run straddle; the boundary only moves down
        changed = False
        for run_id, lo, hi in spans:
            if lo <= last and (hi > last or run_id in running):
                last, changed = lo - 1, True
    return last


def _batch_ranges(
    conn: sqlite3.Connection, action: str, first: int, last: int
) -> list[tuple[int, int]]:
    rows = conn.execute(
        "SELECT json_extract(detail, '$.first_id'), json_extract(detail, '$.last_id') "
        "FROM worm_log WHERE action = ? AND seq BETWEEN ? AND ? ORDER BY seq",
        (action, first, last),
    ).fetchall()
    return [(int(a), int(b)) for a, b in rows]


def _latest(conn: sqlite3.Connection, keys: dict[str, bytes]) -> dict[tuple[str, str], Any]:
    marks = ", ".join("?" for _ in BINDING_ACTIONS)
    entries: list[tuple[int, Any]] = list(
        conn.execute(
            f"SELECT seq, detail FROM worm_log WHERE action IN ({marks})",  # noqa: S608
            BINDING_ACTIONS,
        )
    )
    copies, _bad = retained_entries(conn, keys)
    entries += [(e.seq, e.detail()) for e in copies]
    return latest_bindings(entries)


def _governed_moves(conn: sqlite3.Connection, plan: _Plan, keys: dict[str, bytes]) -> None:
    """Which governed rows move and which sealed entries stay as retained copies."""
    latest = _latest(conn, keys)
    last = plan.last_seq

    def newest(table: str, key: Any) -> int | None:
        b = latest.get((table, str(key)))
        return None if b is None else b.seq

    def sealable(table: str, key: Any) -> bool:
        seq = newest(table, key)
        return seq is not None and seq <= last

    ks = [k for (k,) in conn.execute("SELECT id FROM kill_switch_events ORDER BY id")]
    move: dict[str, set[Any]] = {t.name: set() for t in GOVERNED}
    move["kill_switch_events"] = {k for k in ks[:-1] if sealable("kill_switch_events", k)}
    nodes: dict[str, list[int]] = {}
    for node_id, run_id in conn.execute("SELECT id, run_id FROM node_runs"):
        nodes.setdefault(run_id, []).append(node_id)
    # The newest row of each id-keyed table stays live (a new row gets MAX(id) + 1).
    (top_node,) = conn.execute("SELECT MAX(id) FROM node_runs").fetchone()
    (top_verdict,) = conn.execute("SELECT MAX(id) FROM verdict_events").fetchone()
    for run_id, status in conn.execute("SELECT composition_id, status FROM workflow_runs"):
        ids = nodes.get(run_id, [])
        if top_node in ids:
            continue
        if status != "running" and sealable("workflow_runs", run_id):
            if all(sealable("node_runs", n) for n in ids):
                move["workflow_runs"].add(run_id)
                move["node_runs"].update(ids)
    audit = plan.audit_ranges
    for vid, audit_id in conn.execute("SELECT id, audit_id FROM verdict_events"):
        if vid == top_verdict:
            continue
        if sealable("verdict_events", vid) and any(a <= audit_id <= b for a, b in audit):
            move["verdict_events"].add(vid)
    plan.retained = _retained_copies(conn, move, newest, last)
    plan.governed = {t: sorted(keys_) for t, keys_ in move.items() if keys_}


def _retained_copies(
    conn: sqlite3.Connection,
    move: dict[str, set[Any]],
    newest: Any,
    last: int,
) -> dict[int, set[tuple[str, str]]]:
    """Rows that stay but whose newest binding is sealed keep a copy of that entry; every row
    that entry binds then stays too (a copy stands for live rows only). ``move`` is trimmed."""
    retained: dict[int, set[tuple[str, str]]] = {}
    for _round in range(3):
        retained = {}
        for t in GOVERNED:
            for (k,) in conn.execute(f"SELECT {t.key} FROM {t.name}"):  # noqa: S608
                seq = newest(t.name, k)
                if seq is not None and seq <= last and k not in move[t.name]:
                    retained.setdefault(seq, set()).add((t.name, str(k)))
        stuck = [
            (t.name, k) for t in GOVERNED for k in move[t.name] if newest(t.name, k) in retained
        ]
        for name, k in stuck:
            move[name].discard(k)
        if not stuck:
            break
    return retained


def _plan(store: Store, conn: sqlite3.Connection, before: str) -> _Plan | None:
    """What a seal before ``before`` moves (None when nothing is older)."""
    cutoff = cutoff_time(before)
    prev = live_anchor(conn)
    first = prev.first_seq
    lo = conn.execute("SELECT MIN(seq) FROM worm_log").fetchone()[0]
    if lo is not None and int(lo) != first:
        raise RetentionError(
            f"worm_log starts at seq {lo}, not at {first} after the last sealed segment; run "
            "`govlib verify --archives` before sealing"
        )
    last = _last_sealable_seq(conn, first, cutoff)
    if last < first:
        return None
    number = int(conn.execute("SELECT COUNT(*) FROM sealed_segments").fetchone()[0]) + 1
    plan = _Plan(before, prev, number, first, last)
    (plan.last_mac,) = conn.execute("SELECT mac FROM worm_log WHERE seq = ?", (last,)).fetchone()
    plan.audit_ranges = _batch_ranges(conn, "audit_batch", first, last)
    plan.ledger_ranges = _batch_ranges(conn, "ledger_batch", first, last)
    keys = dict(keyring_for(store).hmac_keys)
    _governed_moves(conn, plan, keys)
    plan.max_verdict_id = int(
        conn.execute("SELECT COALESCE(MAX(id), 0) FROM verdict_events").fetchone()[0]
    )
    return plan


# --- sealing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SealResult:
    """What a seal did; ``message`` is the line the CLI prints."""

    segment: str | None
    first_seq: int
    last_seq: int
    rows: dict[str, int]
    bytes_before: int
    bytes_after: int
    message: str


def _store_bytes(store: Store) -> int:
    if store.path is None:
        return 0
    total = 0
    for suffix in ("", "-wal"):
        p = Path(str(store.path) + suffix)
        total += p.stat().st_size if p.exists() else 0
    return total


def archive_dir(store: Store) -> Path:
    """``DIR/archive`` of a file store."""
    if store.data_dir is None:
        raise RetentionError("sealing needs a store in a data dir (not an in-memory store)")
    return store.data_dir / ARCHIVE_DIRNAME


def seal_before(store: Store, before: str | None = None) -> SealResult:
    """Seal every whole day before ``before`` (default: ``retention_hot_days`` ago).

    Parameters
    ----------
    store
        A writable file store.
    before
        ``YYYY-MM-DD``: entries written before that midnight (UTC) are sealed.

    Returns
    -------
    SealResult

    Example:
        >>> seal_before(Store("data"), "2026-11-01").message  # doctest: +SKIP
        'Sealed entries 1–18,400 into archive/seg-000001-... (6,026 audit rows, ...)'
    """
    base = archive_dir(store)
    settings = load_settings(store.data_dir)
    before = before or default_before(settings)
    _recover(store, base)
    size_before = _store_bytes(store)
    with read_snapshot(store) as conn:
        plan = _plan(store, conn, before)
        if plan is None:
            msg = f"Nothing to seal: no entry older than {before} is still in the live store"
            return SealResult(None, 0, 0, {}, size_before, size_before, msg)
        with store.transaction():
            store.execute(
                "INSERT INTO seal_journal(segment, state, started_at) VALUES (?, 'writing', ?)",
                (plan.name, utc_now_iso()),
            )
        _fault("journal")
        manifest = _write_segment(store, conn, base, plan)
    _commit_seal(store, plan, manifest)
    _fault("committed")
    _drop_lake(store)
    _reclaim(store)
    size_after = _store_bytes(store)
    rows = dict(plan.counts)
    shown = ", ".join(f"{n:,} {t}" for t, n in rows.items() if n)
    msg = (
        f"Sealed entries {plan.first_seq:,}–{plan.last_seq:,} (before {before}) into "
        f"{base / plan.name} ({shown}); govlib.sqlite {size_before:,} -> {size_after:,} bytes"
    )
    return SealResult(plan.name, plan.first_seq, plan.last_seq, rows, size_before, size_after, msg)


def _recover(store: Store, base: Path) -> None:
    """Finish what an interrupted seal left: its folder is removed, its journal row closed."""
    pending = store.query("SELECT id, segment FROM seal_journal WHERE state = 'writing'")
    sealed = {r["name"] for r in store.query("SELECT name FROM sealed_segments")}
    for row in pending:
        for leftover in (base / row["segment"], base / f".tmp-{row['segment']}"):
            if row["segment"] not in sealed and leftover.exists():
                shutil.rmtree(leftover)
        with store.transaction():
            store.execute(
                "UPDATE seal_journal SET state = 'abandoned', finished_at = ? WHERE id = ?",
                (utc_now_iso(), row["id"]),
            )
    if base.exists():
        for leftover in base.glob(".tmp-*"):
            shutil.rmtree(leftover)


def _write_segment(
    store: Store, conn: sqlite3.Connection, base: Path, plan: _Plan
) -> dict[str, Any]:
    """Steps 2: the Parquet files and the signed manifest, in place under ``archive/NAME``."""
    tmp = base / f".tmp-{plan.name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    files: dict[str, dict[str, Any]] = {}
    tenants: set[str] = set()
    runs: set[str] = set()
    for table in SEGMENT_TABLES:
        data = _rows_arrow(conn, table, plan.wheres(table))
        plan.counts[table] = data.num_rows
        if table in ("audit_log", "token_ledger", "workflow_runs"):
            tenants.update(t for t in data.column("tenant_id").to_pylist() if t)
        if table in ("audit_log", "workflow_runs", "token_ledger"):
            col = {"audit_log": "composition_id", "workflow_runs": "composition_id"}.get(
                table, "run_id"
            )
            runs.update(r for r in data.column(col).to_pylist() if r)
        path = tmp / f"{table}.parquet"
        pq.write_table(data, path, write_page_checksum=True)
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        files[path.name] = {"table": table, "rows": data.num_rows, "sha256": sha256_of(path)}
    _fault("files")
    first_prev = conn.execute(
        "SELECT prev_mac FROM worm_log WHERE seq = ?", (plan.first_seq,)
    ).fetchone()[0]
    first_ts, last_ts = conn.execute(
        "SELECT MIN(ts), MAX(ts) FROM worm_log WHERE seq BETWEEN ? AND ?",
        (plan.first_seq, plan.last_seq),
    ).fetchone()
    sealed_before = plan.before
    body = {
        "format": MANIFEST_FORMAT,
        "segment": plan.name,
        "number": plan.number,
        "sealed_before": sealed_before,
        "sealed_at": utc_now_iso(),
        "worm": {
            "first_seq": plan.first_seq,
            "last_seq": plan.last_seq,
            "first_prev_mac": first_prev,
            "last_mac": plan.last_mac,
            "first_ts": first_ts,
            "last_ts": last_ts,
        },
        "previous": {"last_seq": plan.prev.last_seq, "last_mac": plan.prev.last_mac},
        "files": files,
        "audit_ranges": plan.audit_ranges,
        "ledger_ranges": plan.ledger_ranges,
        "tenants": sorted(tenants),
        "runs": sorted(runs),
    }
    key = keyring_for(store).require_signing_key()
    text = canonical_json(body)
    doc = {
        "manifest": body,
        "key_id": fingerprint(key.public_key()),
        "signature": key.sign(text.encode("utf-8")).hex(),
    }
    (tmp / MANIFEST_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    with open(tmp / MANIFEST_FILE, "rb") as fh:
        os.fsync(fh.fileno())
    fsync_dir(tmp)
    target = base / plan.name
    if target.exists():  # a folder no sealed_segments row names: left by an interrupted seal
        shutil.rmtree(target)
    os.replace(tmp, target)
    fsync_dir(base)
    _fault("renamed")
    return {**body, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _commit_seal(store: Store, plan: _Plan, manifest: dict[str, Any]) -> None:
    """Step 3: one transaction records the segment and removes exactly the sealed rows."""
    with store.transaction():
        top = store.query_one("SELECT COALESCE(MAX(last_seq), 0) FROM sealed_segments")
        if int(top) != plan.prev.last_seq:
            raise RetentionError(
                "another seal committed meanwhile; nothing was changed, run it again"
            )
        late = store.query_one(
            "SELECT COUNT(*) FROM verdict_events WHERE id > ? AND audit_id IN "
            "(SELECT id FROM audit_log WHERE id <= ?)",
            (plan.max_verdict_id, max((b for _, b in plan.audit_ranges), default=0)),
        )
        if late:
            raise RetentionError(
                "a verdict was stamped on a tool call being sealed; nothing was changed, run it again"
            )
        store.execute(
            "UPDATE seal_journal SET state = 'deleting' WHERE segment = ? AND state = 'writing'",
            (plan.name,),
        )
        counts = {t: n for t, n in plan.counts.items()}
        entry = worm.append(
            store,
            SEGMENT_SEALED,
            outcome="sealed",
            detail={
                "segment": plan.name,
                "first_seq": plan.first_seq,
                "last_seq": plan.last_seq,
                "last_mac": plan.last_mac,
                "manifest_sha256": manifest["sha256"],
                "sealed_before": plan.before,
                "rows": counts,
            },
        )
        audit_max = max((b for _, b in plan.audit_ranges), default=0)
        ledger_max = max((b for _, b in plan.ledger_ranges), default=0)
        store.execute(
            "INSERT INTO sealed_segments(name, first_seq, last_seq, last_mac, manifest_sha256, "
            "sealed_before, sealed_at, audit_max_id, ledger_max_id, entry_seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                plan.name,
                plan.first_seq,
                plan.last_seq,
                plan.last_mac,
                manifest["sha256"],
                plan.before,
                manifest["sealed_at"],
                audit_max,
                ledger_max,
                entry.seq,
            ),
        )
        _replace_retained(store, plan)
        for table in SEGMENT_TABLES:
            deleted = 0
            for where, params in plan.wheres(table):
                deleted += store.execute(f"DELETE FROM {table} WHERE {where}", params).rowcount  # noqa: S608
            if deleted != plan.counts[table]:
                raise RetentionError(
                    f"{table}: {deleted} rows to remove but {plan.counts[table]} sealed; "
                    "nothing was changed"
                )
        _fault("deleted")
        store.execute(
            "UPDATE seal_journal SET state = 'sealed', finished_at = ? WHERE segment = ? "
            "AND state = 'deleting'",
            (utc_now_iso(), plan.name),
        )


def _replace_retained(store: Store, plan: _Plan) -> None:
    """The live copies of sealed entries that bind rows staying live (rebuilt at each seal)."""
    old = {r["seq"]: r for r in store.query("SELECT seq, body, prev_mac, mac FROM worm_retained")}
    store.execute("DELETE FROM worm_retained")
    for seq, pairs in sorted(plan.retained.items()):
        row = (
            old.get(seq)
            or store.query("SELECT seq, body, prev_mac, mac FROM worm_log WHERE seq = ?", (seq,))[0]
        )
        store.execute(
            "INSERT INTO worm_retained(seq, body, prev_mac, mac, keys) VALUES (?, ?, ?, ?, ?)",
            (seq, row["body"], row["prev_mac"], row["mac"], json.dumps(sorted(pairs))),
        )


def _drop_lake(store: Store) -> None:
    """The lake is a cache of the live store: rebuilt from what is still live by `govlib export`."""
    if store.data_dir is None:
        return
    lake = store.data_dir / "lake"
    if lake.exists():
        shutil.rmtree(lake, ignore_errors=True)


def _reclaim(store: Store) -> None:
    """Step 4: give the freed pages back, a few at a time, so writers wait only briefly."""
    mode = int(store.query_one("PRAGMA auto_vacuum") or 0)
    if mode != 2:
        # An older file: one VACUUM converts it to incremental (later seals reclaim in steps).
        store.execute("PRAGMA auto_vacuum=INCREMENTAL")
        store.execute("VACUUM")
    else:
        while int(store.query_one("PRAGMA freelist_count") or 0) > 0:
            store.conn.execute(f"PRAGMA incremental_vacuum({_VACUUM_STEP_PAGES})").fetchall()
            _fault("vacuum")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


# --- reading segments ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """One row of ``sealed_segments`` (the live store's record of a segment)."""

    name: str
    first_seq: int
    last_seq: int
    last_mac: str
    manifest_sha256: str
    sealed_before: str
    sealed_at: str
    entry_seq: int
    purged_at: str | None
    purge_seq: int | None

    def label(self) -> str:
        """``segment NAME (entries a–b)``."""
        return f"segment {self.name} (entries {self.first_seq:,}–{self.last_seq:,})"


def segments(conn: sqlite3.Connection) -> list[Segment]:
    """Every sealed segment the store records, in seq order (none for an older schema).

    Example:
        >>> segments(Store(memory=True).conn)
        []
    """
    try:
        rows = conn.execute(
            "SELECT name, first_seq, last_seq, last_mac, manifest_sha256, sealed_before, "
            "sealed_at, entry_seq, purged_at, purge_seq FROM sealed_segments ORDER BY first_seq"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    return [Segment(*tuple(r)) for r in rows]


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest document of a segment folder (raises OSError/ValueError when unreadable)."""
    doc = json.loads((folder / MANIFEST_FILE).read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("manifest"), dict):
        raise ValueError("not a govlib segment manifest")
    return doc


def segment_files(
    data_dir: Path | None, conn: sqlite3.Connection
) -> dict[str, list[tuple[Path, str]]]:
    """``table -> [(parquet file, its sha256)]`` of every segment not purged (read path).

    Example:
        >>> segment_files(None, Store(memory=True).conn)
        {}
    """
    out: dict[str, list[tuple[Path, str]]] = {}
    if data_dir is None:
        return out
    for seg in segments(conn):
        if seg.purged_at:
            continue
        folder = Path(data_dir) / ARCHIVE_DIRNAME / seg.name
        try:
            manifest = read_manifest(folder)["manifest"]
        except (OSError, ValueError) as exc:
            raise RetentionError(
                f"{seg.label()}: its manifest cannot be read ({exc}); run `govlib verify --archives`"
            ) from None
        for name, info in manifest.get("files", {}).items():
            if info.get("rows"):
                out.setdefault(str(info["table"]), []).append((folder / name, str(info["sha256"])))
    return out


# --- purging ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PurgeResult:
    """What a purge did; ``message`` is the line the CLI prints."""

    purged: list[str]
    message: str


_CLASS_SETTING = {
    "audit_log": "retention_tool_calls_days",
    "token_ledger": "retention_receipts_days",
    "worm_log": "retention_governance_days",
    "kill_switch_events": "retention_governance_days",
    "workflow_runs": "retention_governance_days",
    "node_runs": "retention_governance_days",
    "verdict_events": "retention_verdicts_days",
}


def _retention_days(settings: Settings, manifest: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """The longest retention of the table classes a segment holds, and the policy applied."""
    policy: dict[str, int] = {}
    for info in manifest.get("files", {}).values():
        if info.get("rows"):
            name = _CLASS_SETTING[str(info["table"])]
            policy[name] = int(getattr(settings, name))
    return max(policy.values(), default=0), policy


def purge_before(
    store: Store, before: str, *, reason: str = "retention policy", now: datetime | None = None
) -> PurgeResult:
    """Delete the data of sealed segments whose entries all precede ``before``.

    Refused, with nothing deleted, when a segment holds a tenant or run under legal hold
    (``legal_hold_tenants``, ``legal_hold_runs``) or is younger than its retention period
    (the longest ``retention_*_days`` of the table classes it holds). Each purge appends a
    ``segment_purged`` WORM entry (what, why, under which policy) and then deletes the segment's
    Parquet files; its signed manifest stays, so ``verify --archives`` still proves the chain
    across the purged range and reports it as "purged by policy on DATE".

    Example:
        >>> purge_before(Store("data"), "2020-01-01").message  # doctest: +SKIP
        'Nothing to purge: no sealed segment ends before 2020-01-01'
    """
    cutoff = cutoff_time(before)
    base = archive_dir(store)
    settings = load_settings(store.data_dir)
    now = now or datetime.now(UTC)
    holds_t, holds_r = _names(settings.legal_hold_tenants), _names(settings.legal_hold_runs)
    chosen: list[tuple[Segment, dict[str, Any], dict[str, int]]] = []
    for seg in segments(store.conn):
        if seg.purged_at:
            continue
        manifest = read_manifest(base / seg.name)["manifest"]
        last_ts = str(manifest["worm"].get("last_ts") or "")
        if not last_ts or last_ts >= cutoff:
            continue
        held = sorted(holds_t & set(manifest.get("tenants", [])))
        runs = sorted(holds_r & set(manifest.get("runs", [])))
        if held or runs:
            what = f"tenant(s) {', '.join(held)}" if held else f"run(s) {', '.join(runs)}"
            raise RetentionError(
                f"{seg.label()}: under legal hold ({what}); nothing was purged. Lift the hold "
                "(settings legal_hold_tenants / legal_hold_runs) or purge an earlier date"
            )
        days, policy = _retention_days(settings, manifest)
        ends = datetime.fromisoformat(last_ts.replace("Z", "+00:00"))
        if ends + timedelta(days=days) > now:
            raise RetentionError(
                f"{seg.label()}: its newest entry ({last_ts}) is not past its retention of "
                f"{days} days ({', '.join(f'{k}={v}' for k, v in policy.items())}); nothing was purged"
            )
        chosen.append((seg, manifest, policy))
    if not chosen:
        return PurgeResult([], f"Nothing to purge: no sealed segment ends before {before}")
    for seg, _manifest, policy in chosen:
        with store.transaction():
            when = utc_now_iso()
            entry = worm.append(
                store,
                SEGMENT_PURGED,
                outcome="purged",
                detail={
                    "segment": seg.name,
                    "first_seq": seg.first_seq,
                    "last_seq": seg.last_seq,
                    "manifest_sha256": seg.manifest_sha256,
                    "purged_before": before,
                    "reason": reason,
                    "policy": policy,
                },
            )
            store.execute(
                "UPDATE sealed_segments SET purged_at = ?, purge_seq = ? WHERE name = ?",
                (when, entry.seq, seg.name),
            )
        _delete_data_files(base / seg.name)
    names = [s.name for s, _, _ in chosen]
    return PurgeResult(names, f"Purged {len(names)} segment(s) by policy: {', '.join(names)}")


def _delete_data_files(folder: Path) -> None:
    for f in folder.glob("*.parquet"):
        f.unlink()
    fsync_dir(folder)


# --- verifying segments -------------------------------------------------------------------------
@dataclass
class ArchiveCheck:
    """What ``verify --archives`` found: problems ``(seq or None, reason)`` and notes."""

    problems: list[tuple[int | None, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    segments: int = 0


def _manifest_checked(
    seg: Segment, folder: Path, public: Ed25519PublicKey | None, out: ArchiveCheck
) -> dict[str, Any] | None:
    label = seg.label()
    if not folder.is_dir():
        out.problems.append((seg.first_seq, f"{label}: missing ({folder} not found)"))
        return None
    try:
        doc = read_manifest(folder)
    except (OSError, ValueError) as exc:
        out.problems.append((seg.first_seq, f"{label}: manifest unreadable ({exc})"))
        return None
    body = doc["manifest"]
    text = canonical_json(body)
    if public is None:
        out.problems.append((seg.first_seq, f"{label}: no pinned public key to check its manifest"))
    elif not signature_valid(public, text, str(doc.get("signature", ""))):
        out.problems.append(
            (seg.first_seq, f"{label}: manifest signature does not verify (edited or forged)")
        )
        return None
    worm_part = body.get("worm", {})
    if body.get("segment") != seg.name or (
        worm_part.get("first_seq"),
        worm_part.get("last_seq"),
    ) != (
        seg.first_seq,
        seg.last_seq,
    ):
        out.problems.append(
            (
                seg.first_seq,
                f"{label}: its folder holds the manifest of {body.get('segment')} "
                "(segments renamed or re-ordered)",
            )
        )
        return None
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != seg.manifest_sha256:
        out.problems.append(
            (
                seg.first_seq,
                f"{label}: manifest differs from the one its segment_sealed entry bound",
            )
        )
        return None
    return body


def _files_checked(seg: Segment, folder: Path, body: dict[str, Any], out: ArchiveCheck) -> bool:
    ok = True
    for name, info in body.get("files", {}).items():
        path = folder / name
        where = f"{seg.label()}: {name}"
        if not path.is_file():
            out.problems.append((seg.first_seq, f"{where}: missing"))
            ok = False
        elif sha256_of(path) != info.get("sha256"):
            out.problems.append(
                (seg.first_seq, f"{where}: SHA-256 differs from the signed manifest (altered)")
            )
            ok = False
        elif pq.ParquetFile(path).metadata.num_rows != info.get("rows"):
            out.problems.append((seg.first_seq, f"{where}: row count differs from the manifest"))
            ok = False
    return ok


def _load(folder: Path, body: dict[str, Any]) -> Store:
    """The segment's rows in an in-memory store, where the digest and binding checks run."""
    mem = Store(memory=True)
    for name, info in body.get("files", {}).items():
        table = str(info["table"])
        data = pq.read_table(folder / name)
        if table == "worm_log":
            data = data.select(["seq", "body", "prev_mac", "mac"])
        cols = data.column_names
        sql = f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608
        rows = zip(*(data.column(c).to_pylist() for c in cols), strict=True) if cols else iter(())
        mem.conn.executemany(sql, rows)
    return mem


def _chain_checked(
    seg: Segment, mem: Store, keys: dict[str, bytes], prev: tuple[int, str], out: ArchiveCheck
) -> tuple[int, str] | None:
    cur = mem.conn.cursor()
    cur.row_factory = None
    start = {"start_seq": prev[0] + 1, "start_prev_mac": prev[1]}
    cur.execute(
        "SELECT seq, CAST(body AS BLOB), CAST(prev_mac AS BLOB), CAST(mac AS BLOB) "
        "FROM worm_log ORDER BY seq"
    )
    intact, n, head = chain_intact(iter(lambda: cur.fetchmany(256), []), keys, **start)
    if not intact:
        rows = cur.execute(
            "SELECT seq, CAST(body AS BLOB), prev_mac, mac, json_extract(body, '$.seq'), "
            "json_extract(body, '$.prev_mac'), json_extract(body, '$.key_id') FROM worm_log "
            "ORDER BY seq"
        )
        broken, _, _ = first_chain_problem(rows, keys, **start)
        if broken is not None:
            out.problems.append((broken.seq, f"{seg.label()}: {broken.reason}"))
        return None
    last = prev[0] + n
    if last != seg.last_seq or head != seg.last_mac:
        out.problems.append(
            (
                seg.last_seq,
                f"{seg.label()}: its entries end at seq {last}, not at the recorded head",
            )
        )
        return None
    return last, head


def _rows_checked(
    seg: Segment, mem: Store, latest: dict[tuple[str, str], Any], out: ArchiveCheck
) -> None:
    for table in ("audit_log", "token_ledger"):
        for seq, reason in batch_digest_problems(mem.conn, table):
            out.problems.append((seq, f"{seg.label()}: {reason}"))
    marks = ", ".join("?" for _ in BINDING_ACTIONS)
    latest.update(
        latest_bindings(
            mem.conn.execute(
                f"SELECT seq, detail FROM worm_log WHERE action IN ({marks})",  # noqa: S608
                BINDING_ACTIONS,
            )
        )
    )
    for t in GOVERNED:
        cols = [r[1] for r in mem.conn.execute(f"PRAGMA table_info({t.name})")]
        for row in row_digests(mem.conn.execute(canonical_row_sql(t, cols))):
            bound = latest.get((t.name, row.key))
            if bound is None or bound.sha256 != row.sha256:
                out.problems.append(
                    (
                        None,
                        f"{seg.label()}: {t.name} row {row.key} is not the row its WORM entry bound",
                    )
                )


def _segment_entries(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for action, detail in conn.execute(
        "SELECT action, detail FROM worm_log WHERE action IN (?, ?) ORDER BY seq",
        (SEGMENT_SEALED, SEGMENT_PURGED),
    ):
        try:
            d = json.loads(detail)
        except (TypeError, ValueError):
            continue
        out.setdefault(str(d.get("segment")), {})[action] = d
    return out


def archive_problems(
    store: Store,
    conn: sqlite3.Connection,
    keys: dict[str, bytes],
    public: Ed25519PublicKey | None,
    anchor: LiveAnchor,
) -> ArchiveCheck:
    """Verify every sealed segment against its manifest, its entry and its neighbours.

    Checked per segment, in seq order: the folder is there; the manifest's signature verifies
    under the pinned public key and its SHA-256 is the one its ``segment_sealed`` entry bound; the
    folder holds that segment (not a renamed neighbour); every file's SHA-256 and row count; the
    MAC chain from the previous segment's last MAC through every entry to the recorded head; the
    batch digests and row bindings of the rows it holds; checkpoints and retained copies that
    fall in its range. A purged segment is checked through its manifest only and reported as
    "purged by policy on DATE". Problems name the segment.

    Example:
        >>> mem = Store(memory=True)
        >>> archive_problems(mem, mem.conn, {}, None, LiveAnchor()).segments
        0
    """
    base = store.data_dir / ARCHIVE_DIRNAME if store.data_dir is not None else None
    check = _ArchiveVerifier(conn, keys, public, base)
    segs = segments(conn)
    for seg in segs:
        check.segment(seg)
    check.finish(segs, anchor)
    return check.out


class _ArchiveVerifier:
    """The state ``verify --archives`` carries from one segment to the next."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        keys: dict[str, bytes],
        public: Ed25519PublicKey | None,
        base: Path | None,
    ) -> None:
        self.out = ArchiveCheck()
        self.keys, self.public = keys, public
        self.base = base or Path("/nonexistent")
        self.entries = _segment_entries(conn)
        self.prev: tuple[int, str] = (0, GENESIS_MAC)
        self.latest: dict[tuple[str, str], Any] = {}
        self.retained = {r[0]: r[1] for r in conn.execute("SELECT seq, body FROM worm_retained")}
        self.checkpoints = conn.execute("SELECT seq, head_mac FROM worm_checkpoints").fetchall()

    def add(self, seq: int | None, reason: str) -> None:
        self.out.problems.append((seq, reason))

    def segment(self, seg: Segment) -> None:
        """Check one segment and move the boundary past it."""
        self.out.segments += 1
        label = seg.label()
        if seg.first_seq != self.prev[0] + 1:
            expected = self.prev[0] + 1
            self.add(
                seg.first_seq,
                f"{label}: starts at seq {seg.first_seq}, expected {expected} "
                "(a segment is missing or out of order)",
            )
        folder = self.base / seg.name
        body = _manifest_checked(seg, folder, self.public, self.out)
        fallback = (seg.last_seq, seg.last_mac)
        if body is None:
            self.prev = fallback
            return
        if body["worm"].get("first_prev_mac") != self.prev[1]:
            self.add(
                seg.first_seq,
                f"{label}: does not link to the previous segment's last MAC "
                "(chain broken at the segment boundary)",
            )
        if seg.purged_at:
            purge = self.entries.get(seg.name, {}).get(SEGMENT_PURGED, {})
            why = purge.get("reason") or "retention policy"
            self.out.notes.append(
                f"{label}: purged by policy on {seg.purged_at[:10]} ({why}); its signed manifest "
                "still proves the chain across it"
            )
            self.prev = (seg.last_seq, str(body["worm"]["last_mac"]))
            return
        if not _files_checked(seg, folder, body, self.out):
            self.prev = fallback
            return
        self.prev = self._contents(seg, folder, body) or fallback

    def _contents(self, seg: Segment, folder: Path, body: dict[str, Any]) -> tuple[int, str] | None:
        """The chain, rows, checkpoints and retained copies of one segment's files."""
        with closing(_load(folder, body).conn) as mem_conn:
            mem = Store(conn=mem_conn)
            linked = _chain_checked(seg, mem, self.keys, self.prev, self.out)
            _rows_checked(seg, mem, self.latest, self.out)
            for name, acts in _segment_entries(mem.conn).items():
                self.entries.setdefault(name, {}).update(acts)
            archived = dict(mem.conn.execute("SELECT seq, mac FROM worm_log").fetchall())
            bodies = {
                s: b
                for s, b in mem.conn.execute("SELECT seq, body FROM worm_log")
                if s in self.retained
            }
        for seq, head_mac in self.checkpoints:
            if seg.first_seq <= seq <= seg.last_seq and archived.get(seq) != head_mac:
                self.add(seq, f"{seg.label()}: entry {seq} is not the one a checkpoint signed")
        for seq, text in bodies.items():
            if self.retained[seq] != text:
                self.add(seq, f"worm_retained entry {seq} differs from {seg.label()}")
        return linked

    def finish(self, segs: list[Segment], anchor: LiveAnchor) -> None:
        """Each record matches the entry that sealed it; the live chain starts after the last."""
        for seg in segs:
            recorded = self.entries.get(seg.name, {}).get(SEGMENT_SEALED)
            if recorded is None:
                self.add(seg.entry_seq, f"{seg.label()}: no segment_sealed entry records it")
            elif recorded.get("manifest_sha256") != seg.manifest_sha256:
                self.add(seg.entry_seq, f"{seg.label()}: differs from its segment_sealed entry")
        if segs and self.prev[0] != anchor.last_seq:
            self.add(
                anchor.first_seq,
                f"the live chain starts after seq {anchor.last_seq}, but the sealed "
                f"segments end at seq {self.prev[0]}",
            )
        names = {s.name for s in segs}
        if self.base.is_dir():
            for folder in sorted(self.base.iterdir()):
                if folder.is_dir() and folder.name not in names and not folder.name.startswith("."):
                    self.out.notes.append(
                        f"archive/{folder.name}: not a sealed segment (left by an interrupted "
                        "seal; the next `govlib seal` removes it)"
                    )
