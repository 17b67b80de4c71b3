"""``govlib verify``: re-check every piece of evidence in a store against its MACs and signatures.

All checks read one snapshot (a separate read-only connection for a file store):
1. every WORM entry: seq gapless from 1, seq and ``prev_mac`` inside the MAC'd body equal to the
   columns, links, MACs: a batched pass over the stored bytes (:func:`govlib.evidence.chain.chain_intact`),
   and only when it fails the exact pass that names the first bad seq (``json_extract`` fields);
2. every checkpoint, from the export file and ``worm_checkpoints``: signature under the *pinned*
   public key (``--pubkey``, or ``checkpoint_pubkey.pem`` beside the file or in the data dir;
   never a key inside the database), and the log still extends it; a file line needs its row;
3. every ``audit_batch`` / ``ledger_batch`` digest recomputed, every row in exactly one batch;
4. every ``audit_log`` verdict triple equal to the latest WORM verdict entry for it, and back.

Incremental verification (a page view): ``verify_store(store, since=point)`` starts from a
:class:`VerifiedPoint` an earlier verification returned (``result.point``; kept per process, and
shared by a data dir's processes HMAC-signed: :mod:`govlib.evidence.verified_point`). It
checks that the remembered entry still holds its MAC at its seq and that the log still holds the
same number of entries up to it (a rewrite of history, even one re-MAC'd with the HMAC key, or a
deletion is caught), that the schema cookie is unchanged (dropping an append-only guard trigger,
the SQL way to edit an old row, changes it: then everything is verified again), then verifies
only the entries and batch digests after it; checkpoints, verdicts and governed rows are checked
in full. A byte-level edit of an old entry that keeps the schema cookie is only caught by a full
verification: ``govlib verify`` always runs one.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from govlib.errors import GovlibError
from govlib.evidence import checkpoints as cps
from govlib.evidence.archive import archive_problems
from govlib.evidence.bindings import (
    BINDING_ACTIONS,
    GOVERNED,
    Binding,
    GovernedTable,
    RowDigest,
    binding_problems,
    canonical_row_sql,
    row_digests,
)
from govlib.evidence.chain import chain_intact, first_chain_problem
from govlib.evidence.checkpoints import Checkpoint
from govlib.evidence.digests import DIGEST_COLUMNS, batch_digest_check
from govlib.evidence.keys import (
    PUBKEY_FILE,
    KeyMaterialError,
    KeyRing,
    fingerprint,
    keyring_for,
    load_public_key,
)
from govlib.evidence.sealed import LiveAnchor, live_anchor, retained_entries, sealed_audit_max
from govlib.store.database import Store, StoreError
from govlib.store.schema import triggers_sql
from govlib.store.snapshot import PageCheck, quick_check, read_snapshot

__all__ = [
    "CHAIN_BYTES_SQL",
    "CHAIN_SQL",
    "Problem",
    "VerifiedPoint",
    "VerifyResult",
    "VerifyError",
    "verify_store",
]

#: The fast chain pass: the stored bytes only (no decode/encode per entry, no JSON parsing).
CHAIN_BYTES_SQL = (
    "SELECT seq, CAST(body AS BLOB), CAST(prev_mac AS BLOB), CAST(mac AS BLOB) "
    "FROM worm_log ORDER BY seq"
)
#: The exact chain pass, run when the fast one fails: body fields read by SQLite.
CHAIN_SQL = (
    "SELECT seq, CAST(body AS BLOB), prev_mac, mac, json_extract(body, '$.seq'), "
    "json_extract(body, '$.prev_mac'), json_extract(body, '$.key_id') FROM worm_log ORDER BY seq"
)
_VERDICT_SQL = (
    "SELECT seq, json_extract(body, '$.detail.audit_id'), json_extract(body, '$.detail.verdict'), "
    "json_extract(body, '$.detail.by'), json_extract(body, '$.detail.at') FROM worm_log "
    "WHERE action IN ('verdict_stamped', 'verdict_corrected') ORDER BY seq"
)
_AFTER = " WHERE seq > ? ORDER BY seq"
#: (raw public key, signed body, signature) of every checkpoint signature verified valid in this
#: process: a page view re-checks the signed heads against the log, not the Ed25519 maths.
_VALID_SIGNATURES: set[tuple[bytes, str, str]] = set()
_Lines = list[tuple[int, Checkpoint | str]]
_READABLE = ("ts", "run_id", "node", "action", "rule", "outcome", "detail", "key_id")


class VerifyError(GovlibError):
    """Verification cannot start (a named checkpoint file is missing, ...)."""


@dataclass(frozen=True)
class Problem:
    """One thing found wrong: the WORM seq it is anchored to (None when none is) and why."""

    seq: int | None
    reason: str


@dataclass(frozen=True)
class VerifiedPoint:
    """Where a successful verification ended: enough to verify only what came after it.

    ``seq`` and ``mac`` are the newest entry verified; ``live_entries`` how many live entries the
    log held up to it; ``schema`` SQLite's schema cookie then; ``anchor`` the sealed boundary
    (seq, MAC); ``batches`` per digest table ``(max id covered, rows up to it)``.
    """

    seq: int
    mac: str
    live_entries: int
    schema: int
    anchor: tuple[int, str]
    batches: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify_store`; ``summary`` is the one line the CLI prints.

    Example:
        >>> verify_store(Store(memory=True)).summary
        'Chain verified: 0 entries; no signed checkpoint yet (the chain alone was checked)'
    """

    ok: bool
    summary: str
    bad_seq: int | None
    reason: str | None
    entries: int
    last_checkpoint_seq: int | None
    last_checkpoint_at: str | None
    checkpoints_checked: int
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()
    #: Where this verification ended (when ok): pass it as ``since`` to verify only what follows.
    point: VerifiedPoint | None = None
    #: The seq verified earlier this verification started after (None: everything was verified).
    verified_from: int | None = None

    def describe(self) -> str:
        """The summary, then every problem and note on its own line."""
        lines = [f"  seq {p.seq}: {p.reason}" if p.seq else f"  {p.reason}" for p in self.problems]
        return "\n".join([self.summary, *lines, *(f"  note: {n}" for n in self.notes)])


def verify_store(
    store: Store,
    *,
    checkpoints: str | os.PathLike[str] | None = None,
    pubkey: str | os.PathLike[str] | None = None,
    integrity_check: bool = True,
    archives: bool = False,
    since: VerifiedPoint | None = None,
) -> VerifyResult:
    """Verify the chain, checkpoints, batch digests and verdicts of a store.

    Parameters
    ----------
    store
        The store to check (a file store is read through its own read-only connection).
    checkpoints
        Export file (must exist when given; default ``$GOVLIB_CHECKPOINT_FILE`` or
        ``DIR/checkpoints.jsonl`` when present).
    pubkey
        Pinned public key PEM; default ``checkpoint_pubkey.pem`` beside that file, else in DIR.
    integrity_check
        Also run SQLite's ``PRAGMA quick_check`` (pages no other check reads).
    archives
        Also verify every sealed segment under ``DIR/archive/`` (file hashes, manifest
        signatures, the MAC chain across segment boundaries, the rows each segment holds):
        :func:`govlib.evidence.archive.archive_problems`.
    since
        A point an earlier successful verification of this store returned (``result.point``):
        the entries and batch digests up to it are not verified again, after checking that the
        remembered entry is still there with the same MAC (see the module docstring). Ignored
        (a full verification) when the schema cookie or the sealed boundary changed since.

    Returns
    -------
    VerifyResult (a corrupt SQLite file gives ``ok=False`` with the reason, not an exception).

    Example:
        >>> from govlib.evidence import worm
        >>> store = Store(memory=True)
        >>> _ = worm.append(store, "note")
        >>> verify_store(store).ok
        True
    """
    cp_path = Path(checkpoints) if checkpoints is not None else cps.default_export_path(store)
    if checkpoints is not None and cp_path is not None and not cp_path.is_file():
        expected = "expected a file written by govlib (default DIR/checkpoints.jsonl)"
        raise VerifyError(f"{cp_path}: checkpoint file not found; {expected}")
    public, pub_label = _pinned_key(store, pubkey, cp_path)  # read before any key ring
    try:
        file_lines = cps.read_checkpoint_file(cp_path) if cp_path and cp_path.is_file() else []
    except OSError as exc:
        raise VerifyError(f"{cp_path}: cannot read the checkpoint file ({exc.strerror})") from None
    if checkpoints is not None and not file_lines:
        # A file named on purpose pins nothing when it holds no checkpoint: say so, never "ok".
        raise VerifyError(f"{cp_path}: the checkpoint file holds no checkpoint line")
    # HMAC keys as they are on disk now (verify writes nothing); a memory store's own ring
    hmac_keys = _hmac_keys(store)
    pages = PageCheck(store.path) if integrity_check and store.path is not None else None
    check = _Verifier(public, pub_label, integrity_check and pages is None, since)
    try:
        if pages is not None:
            pages.start()
        with read_snapshot(store) as conn:
            check.run(conn, hmac_keys, file_lines, str(cp_path))
            if archives:
                check.archives(store, hmac_keys)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # text bytes can be garbage too
        check.problems = [Problem(None, f"the store file is unreadable or corrupt ({exc})")]
    except StoreError as exc:  # the read snapshot could not open the file: already worded
        check.problems = [Problem(None, str(exc))]
    finally:
        if pages is not None:
            pages.join()
    if pages is not None and pages.problem:
        found = Problem(None, pages.problem)
        if check.problems[:1] != [found]:  # both connections may find the file unreadable
            check.problems.insert(0, found)
    return check.result()


def _hmac_keys(store: Store) -> dict[str, bytes]:
    """HMAC keys as they are on disk now (verify writes nothing); a memory store's own ring.

    A store killed before its first key was written has an empty log: nothing to check, so no
    key is needed. A log with entries and no key cannot be verified and says so.
    """
    if store.data_dir is None:
        return dict(keyring_for(store).hmac_keys)
    try:
        return dict(KeyRing.load(store.data_dir, create=False).hmac_keys)
    except KeyMaterialError:
        if not store.query_one("SELECT 1 FROM worm_log LIMIT 1"):
            return {}
        raise


def _pinned_key(
    store: Store, pubkey: str | os.PathLike[str] | None, cp_path: Path | None
) -> tuple[Ed25519PublicKey | None, str]:
    """The pinned public key and where it came from (never a key stored in the database)."""
    if pubkey is not None:
        return load_public_key(pubkey), str(pubkey)
    candidates = [cp_path.parent / PUBKEY_FILE] if cp_path is not None else []
    if store.data_dir is not None:
        candidates.append(store.data_dir / PUBKEY_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return load_public_key(candidate), str(candidate)
    if store.data_dir is None and keyring_for(store).signing_key is not None:
        return keyring_for(store).public_key, "the in-memory key ring"
    return None, " or ".join(str(c) for c in candidates) or "(none)"


class _Verifier:
    """The checks over one read snapshot; problems and notes accumulate."""

    conn: sqlite3.Connection

    def __init__(
        self,
        public: Ed25519PublicKey | None,
        pub_label: str,
        integrity: bool,
        since: VerifiedPoint | None = None,
    ) -> None:
        self.public, self.pub_label, self.integrity_check = public, pub_label, integrity
        self._public_raw = b"" if public is None else public.public_bytes_raw()
        self.since = since
        self.point: VerifiedPoint | None = None
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self.checked: set[str] = set()
        self.last: Checkpoint | None = None
        self.size = self.max_seq = 0
        self._valid: dict[tuple[str, str], bool] = {}
        self.anchor = LiveAnchor()
        self.archives_checked: int | None = None

    def add(self, seq: int | None, reason: str) -> None:
        self.problems.append(Problem(seq, reason))

    def result(self) -> VerifyResult:
        """The outcome; the summary names the first problem by seq."""
        last, entries = self.last, self.size
        common: dict[str, Any] = {
            "entries": entries,
            "last_checkpoint_seq": last.head_seq if last else None,
            "last_checkpoint_at": last.time if last else None,
            "checkpoints_checked": len(self.checked),
            "notes": tuple(self.notes),
            "verified_from": None if self.since is None else self.since.seq,
        }
        if not self.problems:
            summary = f"Chain verified: {entries} entries"
            if last is None:
                summary += "; no signed checkpoint yet (the chain alone was checked)"
            else:
                summary += f", last signed checkpoint at seq {last.head_seq}, time {last.time}"
            summary += self._sealed_clause()
            if self.since is not None:
                summary += (
                    f"; entries up to seq {self.since.seq} were verified earlier "
                    "(`govlib verify` checks them all again)"
                )
            return VerifyResult(True, summary, None, None, point=self.point, **common)
        first = min(self.problems, key=lambda p: (p.seq is None, p.seq or 0))
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        where = "Verification failed" if first.seq is None else f"Chain broken at seq {first.seq}"
        summary = f"{where}: {first.reason}{more}"
        problems = tuple(self.problems)
        return VerifyResult(False, summary, first.seq, first.reason, problems=problems, **common)

    def _sealed_clause(self) -> str:
        """How the sealed prefix was covered (empty when nothing is sealed)."""
        a = self.anchor
        if not a.sealed:
            return ""
        where = f"entries 1–{a.last_seq:,} sealed in {a.segments} segment(s) under archive/"
        if self.archives_checked is None:
            return f"; {where}, live chain checked from their head (run --archives to check them)"
        return f"; {where}, verified"

    def archives(self, store: Store, keys: dict[str, bytes]) -> None:
        """``--archives``: every sealed segment, its boundaries and the retained copies."""
        found = archive_problems(store, self.conn, keys, self.public, self.anchor)
        for seq, reason in found.problems:
            self.add(seq, reason)
        self.notes.extend(found.notes)
        self.archives_checked = found.segments

    def run(
        self, conn: sqlite3.Connection, keys: dict[str, bytes], lines: _Lines, label: str
    ) -> None:
        self.conn = conn
        self._keys = keys
        if self.integrity_check:  # a memory store; a file store's runs in a PageCheck thread
            first = quick_check(conn)
            if first != "ok":
                self.add(None, f"SQLite integrity check failed: {first}")
        self.schema()
        size, max_seq = conn.execute(
            "SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM worm_log"
        ).fetchone()
        # A sealed prefix: the live chain starts after the boundary its newest segment_sealed
        # entry names (that entry is MAC-checked with the rest of the live chain).
        self.anchor = anchor = live_anchor(conn)
        self.size, self.max_seq = int(size) + anchor.last_seq, int(max_seq)
        schema = int(conn.execute("PRAGMA schema_version").fetchone()[0])
        if self.since is not None and not self._since_usable(schema):
            self.since = None  # the guards or the sealed boundary changed: verify everything
        if self.since is not None:
            self._remembered_entry(self.since)
        head = self.chain(keys)
        self.checkpoints(lines, label)
        marks = [self.batches(table) for table in DIGEST_COLUMNS]
        self.verdicts()
        self.bindings()
        for seq, reason in retained_entries(conn, keys)[1]:
            self.add(seq, reason)
        if not self.problems and head is not None:
            live = int(size)
            anchored = (anchor.last_seq, anchor.last_mac)
            self.point = VerifiedPoint(head[0], head[1], live, schema, anchored, tuple(marks))

    def _since_usable(self, schema: int) -> bool:
        """Whether the remembered point still applies (same schema cookie, same boundary)."""
        point = self.since
        assert point is not None
        same_anchor = point.anchor == (self.anchor.last_seq, self.anchor.last_mac)
        return point.schema == schema and same_anchor and point.seq >= self.anchor.last_seq

    def _remembered_entry(self, point: VerifiedPoint) -> None:
        """The entry verified last time must still be there, with its MAC, after as many."""
        row = self.conn.execute("SELECT mac FROM worm_log WHERE seq = ?", (point.seq,)).fetchone()
        (n,) = self.conn.execute(
            "SELECT COUNT(*) FROM worm_log WHERE seq <= ?", (point.seq,)
        ).fetchone()
        if point.seq > self.anchor.last_seq and (row is None or row[0] != point.mac):
            now = "is gone" if row is None else f"now has MAC {str(row[0])[:16]}…"
            msg = f"entry {point.seq} verified earlier (MAC {point.mac[:16]}…) "
            self.add(point.seq, msg + f"{now}: the log was rewritten")
        elif int(n) != point.live_entries:
            msg = f"the log held {point.live_entries} entries up to seq {point.seq} when verified "
            self.add(point.seq, msg + f"earlier, {n} now (entries removed or added)")

    def chain(self, keys: dict[str, bytes]) -> tuple[int, str] | None:
        """MACs and links of the live chain (after ``since`` when given); the head (seq, MAC)."""
        anchor, since = self.anchor, self.since
        if since is not None and since.seq > anchor.last_seq:
            start = {"start_seq": since.seq + 1, "start_prev_mac": since.mac}
            fast, exact = (
                sql.replace(" ORDER BY seq", _AFTER) for sql in (CHAIN_BYTES_SQL, CHAIN_SQL)
            )
            after: tuple[int, ...] = (since.seq,)
        else:
            start = {"start_seq": anchor.first_seq, "start_prev_mac": anchor.last_mac}
            fast, exact, after = CHAIN_BYTES_SQL, CHAIN_SQL, ()
        cur = self.conn.cursor()
        cur.row_factory = None
        cur.execute(fast, after)
        intact, n, head_mac = chain_intact(iter(lambda: cur.fetchmany(256), []), keys, **start)
        if not intact:
            broken, _, _ = first_chain_problem(cur.execute(exact, after), keys, **start)
            if broken is not None:
                self.add(broken.seq, broken.reason)
            return None
        return start["start_seq"] - 1 + n, head_mac

    def schema(self) -> None:
        """The readable worm_log columns must still be generated from ``body``."""
        row = self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type='table' AND name='worm_log'"
        )
        (sql,) = row.fetchone() or ("",)
        info = self.conn.execute("PRAGMA table_xinfo(worm_log)")  # cid, name, ..., hidden
        hidden = {name: how for _cid, name, *_, how in info}
        for col in _READABLE:
            pattern = rf"\b{col}\b[^,]*GENERATED ALWAYS AS \(json_extract\(body, '\$\.{col}'\)\)"
            if hidden.get(col) not in (2, 3) or not re.search(pattern, sql):
                self.add(None, f"worm_log.{col} is no longer generated from the MAC'd body")
        expected = set(re.findall(r"CREATE TRIGGER IF NOT EXISTS (\w+)", triggers_sql()))
        triggers = self.conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        present = {name for (name,) in triggers}
        if expected - present:
            self.notes.append(f"append-only guard triggers missing: {sorted(expected - present)}")

    def checkpoints(self, file_lines: _Lines, label: str) -> None:
        """Signature, extension and presence checks over DB rows and file lines."""
        items: list[tuple[str, Checkpoint, str, bool]] = []
        rows = self.conn.execute(
            "SELECT id, seq, log_size, head_mac, created_at, key_id, body, signature "
            "FROM worm_checkpoints ORDER BY id"
        ).fetchall()
        in_db = set()
        for rid, seq, log_size, head_mac, created_at, key_id, body, sig in rows:
            where = f"worm_checkpoints row {rid}"
            try:
                cp = Checkpoint.from_fields(json.loads(body), signature=sig, id=rid)
            except (ValueError, TypeError, cps.CheckpointFormatError) as exc:
                self.add(seq, f"{where}: not a checkpoint ({exc})")
                continue
            columns = (seq, log_size, head_mac, created_at, key_id)
            if columns != (cp.head_seq, cp.log_size, cp.head_mac, cp.time, cp.key_id):
                self.add(cp.head_seq, f"{where}: its columns disagree with its signed body")
            in_db.add(sig)
            items.append((where, cp, body, False))
        if rows and not file_lines:
            self.notes.append(
                f"no checkpoint file at {label}: only the store's checkpoints checked"
            )
        for number, entry in file_lines:
            if isinstance(entry, str):
                self.add(None, f"{label} line {number}: not a checkpoint ({entry})")
            else:
                items.append((f"{label} line {number}", entry, entry.body, True))
        if items and self.public is None:
            msg = f"cannot check {len(items)} signed checkpoint(s): no pinned public key at "
            self.add(None, msg + f"{self.pub_label} (pass --pubkey FILE)")
            return
        for where, cp, body, from_file in items:
            if self.checkpoint(where, cp, body) and from_file and cp.signature not in in_db:
                msg = f"{where}: signed {cp.describe()} has no row in worm_checkpoints "
                self.add(cp.head_seq, msg + "(rows deleted, or the store is an older copy)")

    def checkpoint(self, where: str, cp: Checkpoint, body: str) -> bool:
        """Check one checkpoint; False when its signature is not valid."""
        assert self.public is not None
        valid = self._valid.get((body, cp.signature))
        if valid is None:  # a row and its file line are the same checkpoint: verify once
            known = (self._public_raw, body, cp.signature)
            valid = known in _VALID_SIGNATURES or cps.signature_valid(
                self.public, body, cp.signature
            )
            if valid:  # pure maths: the same body, signature and key verify the same next time
                _VALID_SIGNATURES.add(known)
            self._valid[(body, cp.signature)] = valid
        if not valid:
            pinned = fingerprint(self.public)
            who = "" if cp.key_id == pinned else f"; it names key {cp.key_id}, pinned is {pinned}"
            msg = f"{where}: forged or altered {cp.describe()}: the signature does not verify "
            self.add(cp.head_seq, msg + f"under the pinned public key {self.pub_label}{who}")
            return False
        self.checked.add(cp.signature)
        if cp.log_size > self.size or cp.head_seq > self.max_seq:
            msg = f"log truncated: {where} signed {cp.log_size} entries up to seq {cp.head_seq} "
            self.add(self.max_seq + 1, msg + f"({cp.time}); the log now ends at seq {self.max_seq}")
            return True
        row = self.conn.execute("SELECT mac FROM worm_log WHERE seq = ?", (cp.head_seq,))
        (mac,) = row.fetchone() or (None,)
        if mac is None and cp.head_seq <= self.anchor.last_seq:
            # sealed: `verify --archives` compares it with the segment's entry
            mac = self.anchor.last_mac if cp.head_seq == self.anchor.last_seq else cp.head_mac
        if mac != cp.head_mac:
            msg = f"entry {cp.head_seq} is not the one signed in {where} (time {cp.time}): "
            self.add(cp.head_seq, msg + "the log was rewritten after it was signed")
        elif self.last is None or (cp.head_seq, cp.time) > (self.last.head_seq, self.last.time):
            self.last = cp
        return True

    def batches(self, table: str) -> tuple[str, int, int]:
        """Recompute the batch digests of ``table`` (after ``since``); each row in one batch.

        Returns the table's mark for the next incremental verification.
        """
        since = self.since
        mark = next(((r, n) for t, r, n in since.batches if t == table), None) if since else None
        after_seq = since.seq if since is not None and mark is not None else 0
        problems, covered = batch_digest_check(
            self.conn, table, after_seq=after_seq, covered=mark if after_seq else None
        )
        for seq, reason in problems:
            self.add(seq, reason)
        return (table, *covered)

    def bindings(self) -> None:
        """Every governed row is proven by the newest WORM entry that binds it, and back."""
        marks = ", ".join("?" for _ in BINDING_ACTIONS)
        # json_each in SQLite's C code: far cheaper than parsing every detail in Python
        found = self.conn.execute(
            "SELECT w.seq, json_extract(b.value, '$.table'), json_extract(b.value, '$.key'), "
            "json_extract(b.value, '$.sha256'), json_type(b.value, '$.worm_seq'), "
            "json_extract(b.value, '$.worm_seq') "
            f"FROM worm_log w, json_each(w.body, '$.detail.bound') b WHERE w.action IN ({marks}) "
            "ORDER BY w.seq",
            BINDING_ACTIONS,
        ).fetchall()
        found += self._retained_bindings()
        if not found:
            if any(self._count(t.name) for t in GOVERNED):
                self.notes.append(
                    "governed rows not yet bound: this store was written by an older govlib "
                    "(its rows are bound when it is next written to)"
                )
            return
        latest = {
            (str(table), str(key)): Binding(
                str(table), str(key), str(sha), seq, seq if kind is None else names
            )
            for seq, table, key, sha, kind, names in found
        }
        for table in GOVERNED:
            for reason in binding_problems(table, self._rows(table), latest):
                self.add(None, reason)

    def _retained_bindings(self) -> list[tuple[Any, ...]]:
        """Bindings of the retained copies of sealed entries, for the live rows listed with them."""
        keys = dict(self._keys)
        copies, _bad = retained_entries(self.conn, keys, actions=BINDING_ACTIONS)
        out: list[tuple[Any, ...]] = []
        for entry in copies:
            for b in entry.detail().get("bound") or []:
                names = b.get("worm_seq", None) if isinstance(b, dict) else None
                kind = None if not isinstance(b, dict) or "worm_seq" not in b else "integer"
                out.append((entry.seq, b.get("table"), b.get("key"), b.get("sha256"), kind, names))
        return out

    def _count(self, table: str) -> int:
        if not self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone():
            return 0  # a table newer than this (read-only, older) store
        (n,) = self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return int(n)

    def _rows(self, table: GovernedTable) -> list[RowDigest]:
        columns = [name for _cid, name, *_ in self.conn.execute(f"PRAGMA table_info({table.name})")]
        if not columns:  # a table newer than this (read-only, older) store: no rows to prove
            return []
        return row_digests(self.conn.execute(canonical_row_sql(table, columns)))

    def verdicts(self) -> None:
        """Each verdict triple equals the latest WORM verdict entry for its row, and back."""
        latest = {
            audit_id: (seq, verdict, by, at)
            for seq, audit_id, verdict, by, at in self.conn.execute(_VERDICT_SQL)
        }
        stamped = self.conn.execute(
            "SELECT id, human_verdict, verdict_by, verdict_at FROM audit_log WHERE "
            "human_verdict IS NOT NULL OR verdict_by IS NOT NULL OR verdict_at IS NOT NULL"
        ).fetchall()
        for audit_id, verdict, by, at in stamped:
            entry = latest.get(audit_id)
            row = f"audit_log row {audit_id}: verdict ({verdict}, {by}, {at})"
            if entry is None:
                self.add(None, f"{row} has no WORM verdict entry (set outside the verdict API)")
            elif (verdict, by, at) != entry[1:]:
                seq, *theirs = entry
                shown = f"({', '.join(map(str, theirs))})"
                self.add(seq, f"{row} differs from the latest WORM verdict entry {shown}")
        seen = {audit_id for audit_id, *_ in stamped}
        sealed_max = sealed_audit_max(self.conn)[0]  # rows sealed with their verdict triple
        for audit_id, (seq, verdict, by, at) in latest.items():
            if audit_id not in seen and not (isinstance(audit_id, int) and audit_id <= sealed_max):
                msg = f"audit_log row {audit_id}: WORM verdict ({verdict}, {by}, {at}) "
                self.add(seq, msg + "is missing from the row")
