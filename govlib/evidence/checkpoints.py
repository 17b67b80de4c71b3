"""Signed checkpoints of the WORM log: {log_size, head_seq, head_mac, time, key_id} under Ed25519.

A checkpoint's ``body`` is the canonical JSON (see :func:`govlib.evidence.chain.canonical_json`) of those five
fields; ``key_id`` is the fingerprint of the signing key; ``signature`` is the Ed25519 signature of
the body's UTF-8 bytes, as lowercase hex. Each checkpoint is a row in ``worm_checkpoints`` and a line
in an export file (default ``DIR/checkpoints.jsonl``, or ``$GOVLIB_CHECKPOINT_FILE``): the body's
fields plus ``signature``, canonical JSON, one per line. Copy that file and
``checkpoint_pubkey.pem`` off the machine: ``govlib verify`` checks the store against them.

Crash consistency: a line is written (and fsynced) only for a committed row, after the commit. A
row can lack its line for a while (a crash after the commit, or signed inside a caller's
transaction); the next :func:`export_checkpoints` (every :func:`sign_checkpoint` runs one) appends
it. A line never names a checkpoint the store does not have.
"""

from __future__ import annotations

import fcntl
import json
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from govlib.clock import utc_now_iso
from govlib.errors import GovlibError
from govlib.evidence import mirror
from govlib.evidence.chain import canonical_json
from govlib.evidence.head import head
from govlib.evidence.keys import PUBKEY_FILE, fingerprint, keyring_for, public_key_pem
from govlib.settings import load_settings
from govlib.store.database import Store
from govlib.store.datadir import fsync_dir

__all__ = [
    "CHECKPOINT_FIELDS",
    "CHECKPOINT_FILE",
    "Checkpoint",
    "CheckpointFormatError",
    "CheckpointExportError",
    "sign_checkpoint",
    "export_checkpoints",
    "default_export_path",
    "read_checkpoint_file",
    "checkpoint_every",
    "sign_if_due",
    "flush_pending",
]

CHECKPOINT_FILE = "checkpoints.jsonl"
#: The signed fields, in the order they are documented (the body sorts them).
CHECKPOINT_FIELDS: tuple[str, ...] = ("log_size", "head_seq", "head_mac", "time", "key_id")
_INT_FIELDS = ("log_size", "head_seq")


class CheckpointFormatError(GovlibError):
    """A checkpoint line or row is not a well-formed checkpoint."""


class CheckpointExportError(GovlibError):
    """The checkpoint was committed in the store but its export file could not be written."""


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint of the WORM log.

    Example:
        >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        >>> key = Ed25519PrivateKey.generate()
        >>> cp = Checkpoint.signed(key, log_size=3, head_seq=3, head_mac="ab" * 32, time="t")
        >>> cp.signature_valid(key.public_key()), Checkpoint.from_line(cp.line()) == cp
        (True, True)
        >>> cp.body[:32], cp.describe()
        ('{"head_mac":"abababababababababa', 'checkpoint at seq 3 (time t)')
    """

    log_size: int
    head_seq: int
    head_mac: str
    time: str
    key_id: str
    signature: str
    id: int | None = None

    def fields(self) -> dict[str, Any]:
        """The signed fields by name."""
        return {name: getattr(self, name) for name in CHECKPOINT_FIELDS}

    @property
    def body(self) -> str:
        """The canonical JSON that is signed (and stored in ``worm_checkpoints.body``)."""
        return canonical_json(self.fields())

    def line(self) -> str:
        """The export-file line (no newline): the signed fields plus ``signature``."""
        return canonical_json({**self.fields(), "signature": self.signature})

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        """True when ``signature`` is a valid Ed25519 signature of :attr:`body`."""
        return signature_valid(public_key, self.body, self.signature)

    def describe(self) -> str:
        """One readable line, e.g. ``checkpoint at seq 1000 (2026-11-23T10:02:03Z)``."""
        return f"checkpoint at seq {self.head_seq} (time {self.time})"

    @classmethod
    def signed(
        cls, key: Ed25519PrivateKey, *, log_size: int, head_seq: int, head_mac: str, time: str
    ) -> Checkpoint:
        """A checkpoint over these fields, signed with ``key`` (``key_id`` is its fingerprint)."""
        cp = cls(log_size, head_seq, head_mac, time, fingerprint(key.public_key()), "")
        return replace(cp, signature=key.sign(cp.body.encode("utf-8")).hex())

    @classmethod
    def from_fields(cls, doc: Any, *, signature: Any, id: int | None = None) -> Checkpoint:  # noqa: A002
        """Build from a parsed body (exactly the signed fields); raises on a bad shape."""
        if not isinstance(doc, dict) or set(doc) != set(CHECKPOINT_FIELDS):
            got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
            raise CheckpointFormatError(f"fields {got}; expected {sorted(CHECKPOINT_FIELDS)}")
        for name, value in doc.items():
            if name in _INT_FIELDS:
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise CheckpointFormatError(f"{name} {value!r}; expected an integer >= 0")
            elif not isinstance(value, str):
                raise CheckpointFormatError(f"{name} {value!r}; expected a string")
        if not isinstance(signature, str) or not signature:
            raise CheckpointFormatError(f"signature {signature!r}; expected hex text")
        return cls(**doc, signature=signature, id=id)  # doc holds exactly the signed fields

    @classmethod
    def from_line(cls, line: str) -> Checkpoint:
        """Parse one export-file line; raises :class:`CheckpointFormatError` when malformed."""
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CheckpointFormatError(f"not JSON ({exc.msg})") from None
        if not isinstance(doc, dict) or "signature" not in doc:
            raise CheckpointFormatError("no 'signature' field; expected a signed checkpoint")
        return cls.from_fields(doc, signature=doc.pop("signature"))


def signature_valid(public_key: Ed25519PublicKey, body: str, signature: str) -> bool:
    """Whether ``signature`` (hex) is ``public_key``'s Ed25519 signature of ``body``.

    Example:
        >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        >>> k = Ed25519PrivateKey.generate()
        >>> signature_valid(k.public_key(), "{}", k.sign(b"{}").hex())
        True
    """
    try:
        public_key.verify(bytes.fromhex(signature), body.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False
    return True


def read_checkpoint_file(path: str | os.PathLike[str]) -> list[tuple[int, Checkpoint | str]]:
    """``(line number, Checkpoint or why the line is not one)`` per non-empty line.

    A last line without its newline that does not parse is a torn write and is left out.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.jsonl"
        >>> _ = p.write_text("not json\\n")
        >>> read_checkpoint_file(p)
        [(1, 'not JSON (Expecting value)')]
    """
    data = Path(path).read_bytes()
    last = data.count(b"\n") + 1
    return [(n, c) for n, c in _lines(data) if n != last or isinstance(c, Checkpoint)]


def _lines(text: bytes) -> Iterator[tuple[int, Checkpoint | str]]:
    for number, raw in enumerate(text.split(b"\n"), start=1):
        if raw.strip():
            try:
                yield number, Checkpoint.from_line(raw.decode("utf-8"))
            except (CheckpointFormatError, UnicodeDecodeError) as exc:
                yield number, str(exc)


# --- writing ------------------------------------------------------------------------------------
_PENDING: weakref.WeakKeyDictionary[Store, set[Path | None]] = weakref.WeakKeyDictionary()
_SYNCED: weakref.WeakKeyDictionary[Store, dict[Path, tuple[int, int, int]]] = (
    weakref.WeakKeyDictionary()
)
_EVERY: weakref.WeakKeyDictionary[Store, int] = weakref.WeakKeyDictionary()
_PINNED: weakref.WeakKeyDictionary[Store, bool] = weakref.WeakKeyDictionary()


def default_export_path(store: Store) -> Path | None:
    """``$GOVLIB_CHECKPOINT_FILE``, else ``DIR/checkpoints.jsonl``; None for an in-memory store.

    Example:
        >>> default_export_path(Store(memory=True)) is None
        True
    """
    env = os.environ.get("GOVLIB_CHECKPOINT_FILE")
    if env:
        return Path(env)
    return None if store.data_dir is None else store.data_dir / CHECKPOINT_FILE


def checkpoint_every(store: Store) -> int:
    """The ``checkpoint_every`` setting of the store's data dir (read once per store object).

    Example:
        >>> checkpoint_every(Store(memory=True))
        1000
    """
    every = _EVERY.get(store)
    if every is None:
        every = int(load_settings(store.data_dir).checkpoint_every)
        _EVERY[store] = every
    return every


def sign_checkpoint(
    store: Store,
    *,
    export_path: str | os.PathLike[str] | None = None,
    force: bool = False,
    at: str | None = None,
) -> Checkpoint | None:
    """Sign a checkpoint of the current head, store it, then append it to the export file.

    Parameters
    ----------
    store
        The store; its key ring's Ed25519 key signs.
    export_path
        The export file (default :func:`default_export_path`). Lines of earlier checkpoints that
        are missing from it are appended too.
    force
        Sign even when the newest checkpoint already names the head.
    at
        The checkpoint's time (ISO-8601 UTC); default now.

    Returns
    -------
    The new checkpoint, or None when the log is empty or the head is already checkpointed.
    Inside a caller's transaction the file line is written after that transaction, by the next
    append or export.

    Example:
        >>> from govlib.evidence import worm
        >>> store = Store(memory=True)
        >>> _ = worm.append(store, "note")
        >>> sign_checkpoint(store).head_seq
        1
    """
    path = Path(export_path) if export_path is not None else default_export_path(store)
    with store.transaction():
        cp = _insert(store, force=force, at=at)
    if store.in_transaction:
        _PENDING.setdefault(store, set()).add(path)
    elif path is not None:
        try:
            export_checkpoints(store, path)
            mirror_checkpoints(store)
        except OSError as exc:
            saved = f"checkpoint at seq {cp.head_seq}" if cp else "the newest checkpoint"
            raise CheckpointExportError(
                f"{path}: {saved} is saved in the store but the export file could not be written "
                f"({exc.strerror or exc}); the next sign_checkpoint will append it"
            ) from None
    return cp


def _insert(store: Store, *, force: bool, at: str | None) -> Checkpoint | None:
    """Sign and insert a checkpoint row inside the current transaction."""
    key = keyring_for(store).require_signing_key()
    _check_pinned(store)
    head_seq, head_mac = head(store)
    if head_seq == 0:
        return None
    last = store.query_one("SELECT MAX(seq) FROM worm_checkpoints")
    if last is not None and int(last) >= head_seq and not force:
        return None
    # Entries sealed into DIR/archive/ (a prefix of the log) still count: the log's size is
    # the sealed prefix plus the live entries.
    size = int(store.query_one("SELECT COUNT(*) + COALESCE(MIN(seq), 1) - 1 FROM worm_log"))
    when = at or utc_now_iso()
    cp = Checkpoint.signed(key, log_size=size, head_seq=head_seq, head_mac=head_mac, time=when)
    row = dict(seq=head_seq, log_size=size, head_mac=head_mac, created_at=when, key_id=cp.key_id)
    rowid = store.insert("worm_checkpoints", {**row, "body": cp.body, "signature": cp.signature})
    return replace(cp, id=rowid)


def _check_pinned(store: Store) -> None:
    """Refuse to sign with a key other than the one pinned in ``DIR/checkpoint_pubkey.pem``."""
    if store.data_dir is not None and store not in _PINNED:
        keyring_for(store).export_public_key(store.data_dir / PUBKEY_FILE)  # raises when it differs
        _PINNED[store] = True


def sign_if_due(store: Store, seq: int) -> None:
    """Sign a checkpoint row when ``seq`` is a multiple of ``checkpoint_every`` (in-transaction).

    Its time is the head entry's ``ts`` (so a simulated clock gives reproducible checkpoints).
    """
    every = checkpoint_every(store)
    if every > 0 and seq % every == 0:
        ts = store.query_one("SELECT ts FROM worm_log WHERE seq = ?", (seq,))
        if _insert(store, force=False, at=ts if isinstance(ts, str) else None) is not None:
            _PENDING.setdefault(store, set()).add(default_export_path(store))
            # The file line follows as soon as the caller's transaction commits.
            store.call_after_commit(lambda: flush_pending(store))


def flush_pending(store: Store) -> None:
    """Write the file lines of checkpoints signed inside a transaction (after it committed).

    Never raises: a row without its line is allowed; the next export appends it.
    """
    if store.in_transaction:
        return
    paths = _PENDING.pop(store, None)
    for path in paths or ():
        if path is None:
            continue
        try:
            export_checkpoints(store, path)
        except (OSError, GovlibError):
            _PENDING.setdefault(store, set()).add(path)
    mirror_checkpoints(store)


def mirror_checkpoints(store: Store) -> int:
    """Send the committed checkpoints the ``checkpoint_mirror`` lacks; how many (never raises).

    A path mirror gets the same append-only file as the default export (public key beside); a
    URL mirror gets each new line POSTed. A mirror that cannot be reached is logged and counted;
    the next checkpoint catches it up.

    Example:
        >>> mirror_checkpoints(Store(memory=True))
        0
    """
    target = mirror.mirror_target(store)
    if target is None or store.in_transaction:
        return 0
    try:
        if not mirror.is_url(target):
            return export_checkpoints(store, mirror.mirror_file(target))
        rows = store.query(
            "SELECT id, body, signature FROM worm_checkpoints WHERE id > ? ORDER BY id",
            (mirror.sent_id(store),),
        )
        lines = [
            (int(r["id"]), Checkpoint.from_fields(json.loads(r["body"]), signature=r["signature"]))
            for r in rows
        ]
        ring = keyring_for(store)
        pem = public_key_pem(ring.public_key).decode("ascii") if ring.signing_key else ""
        return mirror.post_lines(store, target, [(i, c.line()) for i, c in lines], pem)
    except (OSError, GovlibError, ValueError) as exc:
        mirror.record_failure(store, target, exc)
        return 0


def export_checkpoints(store: Store, path: str | os.PathLike[str] | None = None) -> int:
    """Append the line of every committed checkpoint missing from ``path``; returns how many.

    Lines are written under an exclusive ``flock`` and fsynced; the public key is exported beside
    a non-default file. Must run outside a transaction (only committed rows are exported).

    Example:
        >>> store = Store(memory=True)
        >>> export_checkpoints(store, None)
        0
    """
    target = Path(path) if path is not None else default_export_path(store)
    if target is None:
        return 0
    if store.in_transaction:
        raise CheckpointExportError(
            f"{target}: export_checkpoints inside a transaction; expected it after COMMIT"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    created = not target.exists()
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        written = _sync_locked(store, target, fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(target.parent)
        _export_pubkey_beside(store, target)
    return written


def _sync_locked(store: Store, target: Path, fd: int) -> int:
    st = os.fstat(fd)
    synced = _SYNCED.setdefault(store, {})
    ino, size, max_id = synced.get(target, (-1, 0, 0))
    if ino != st.st_ino or st.st_size < size:
        size, max_id = 0, 0  # unknown or rewritten file: read it all
    text = os.pread(fd, st.st_size - size, size)
    end, prefix = st.st_size, b""
    if text and not text.endswith(b"\n"):  # the last write was cut short (SIGKILL, power cut)
        cut = text.rfind(b"\n") + 1
        if isinstance(next(_lines(text[cut:]), (0, ""))[1], Checkpoint):
            prefix = b"\n"  # a whole line that only lost its newline: keep it
        else:  # a fragment naming nothing: drop it, its row is re-exported below
            end = size + cut
            os.ftruncate(fd, end)
            text = text[:cut]
    seen = {c.signature for _, c in _lines(text) if isinstance(c, Checkpoint)}
    rows = store.query(
        "SELECT id, body, signature FROM worm_checkpoints WHERE id > ? ORDER BY id", (max_id,)
    )
    out = []
    for row in rows:
        if row["signature"] not in seen:
            cp = Checkpoint.from_fields(json.loads(row["body"]), signature=row["signature"])
            out.append(cp.line() + "\n")
            seen.add(cp.signature)
    new_max = max([max_id, *(int(r["id"]) for r in rows)])
    if out or prefix or end != st.st_size:
        blob = prefix + "".join(out).encode("utf-8")
        os.write(fd, blob)
        os.fsync(fd)
        end += len(blob)
    synced[target] = (st.st_ino, end, new_max)
    return len(out)


def _export_pubkey_beside(store: Store, target: Path) -> None:
    if store.data_dir is not None and target.parent.resolve() == store.data_dir.resolve():
        return  # the key ring keeps DIR/checkpoint_pubkey.pem
    ring = keyring_for(store)
    if ring.signing_key is not None:
        ring.export_public_key(target.parent / PUBKEY_FILE)
