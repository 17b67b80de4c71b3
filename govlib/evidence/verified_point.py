"""The verified point a page view may start from, shared by every govlib process of a data dir.

A page view verifies incrementally from the last :class:`~govlib.evidence.verify.VerifiedPoint`
(see :mod:`govlib.analysis.trust`). Kept in one process only, every new Voilà kernel began with a
full verification: at 3M WORM entries that is ~10 s, and the first page after `govlib serve`
waited 12.75 s for it. So a successful verification also stores its point in
``DIR/cache/verified_point.json`` (mode 0600), and a process that has none of its own starts from
that one.

What makes the stored point safe to start from:

* it carries an HMAC-SHA256 under the store's current HMAC key, over the point and the identity
  of the store file it was verified on (the data dir's store id, the file's device and inode): a
  point written without the key, copied from another store or left from a file since replaced
  is ignored, and the page then verifies everything;
* the incremental verification itself re-checks what the point claims before trusting it (the
  entry at its seq still holds its MAC, as many entries up to it, the same schema cookie and
  sealed boundary) and verifies everything after it;
* a failed verification replaces it by a "failed" mark that only a full verification clears
  (a process still holding a point from before the failure cannot vouch for the history again);
  ``govlib verify`` and the page's "Verify all" never start from it.

Example:
    >>> point = VerifiedPoint(7, "ab" * 32, 7, 3, (0, ""), (("audit_log", 2, 2),))
    >>> record = point_record(point, "s1", "k1", b"k" * 32)
    >>> point_from_record(record, "s1", {"k1": b"k" * 32}) == point
    True
    >>> point_from_record(record | {"seq": 8}, "s1", {"k1": b"k" * 32}) is None
    True
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any

from govlib.evidence.chain import hmac_sha256
from govlib.evidence.keys import exclusive_lock, write_private_file
from govlib.evidence.verify import VerifiedPoint

__all__ = [
    "VERIFIED_POINT_FILE",
    "forget_stored_point",
    "load_stored_point",
    "point_from_record",
    "point_record",
    "save_stored_point",
    "store_identity",
]

#: Where a data dir keeps its shared verified point.
VERIFIED_POINT_FILE = Path("cache") / "verified_point.json"

_FORMAT = 1


def _body(point: VerifiedPoint, store_identity: str) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "store": store_identity,
        "seq": point.seq,
        "mac": point.mac,
        "live_entries": point.live_entries,
        "schema": point.schema,
        "anchor": list(point.anchor),
        "batches": [list(b) for b in point.batches],
    }


def _signature(body: dict[str, Any], key: bytes) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac_sha256(key)(data).hex()


def point_record(
    point: VerifiedPoint, store_identity: str, key_id: str, key: bytes
) -> dict[str, Any]:
    """The JSON record of ``point``: its fields, the store it holds for, and their HMAC.

    Parameters
    ----------
    point
        Where a successful verification ended.
    store_identity
        Names the store file the point was verified on (see :func:`store_identity`).
    key_id, key
        The HMAC key that signs the record (the store's current chain key).

    Example:
        >>> point = VerifiedPoint(1, "00" * 32, 1, 1, (0, ""), ())
        >>> sorted(point_record(point, "s", "k1", b"x" * 32))[:4]
        ['anchor', 'batches', 'format', 'key_id']
    """
    body = _body(point, store_identity)
    return body | {"key_id": key_id, "record_mac": _signature(body, key)}


def point_from_record(
    record: Any, store_identity: str, keys: dict[str, bytes]
) -> VerifiedPoint | None:
    """The point a record holds, or None unless its HMAC checks under ``keys`` and it names
    this store (``store_identity``).

    Example:
        >>> point_from_record({"seq": 1}, "s", {"k1": b"x" * 32}) is None
        True
    """
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        return None
    key = keys.get(str(record.get("key_id")))
    body = {k: v for k, v in record.items() if k not in ("key_id", "record_mac")}
    if key is None or record.get("store") != store_identity:
        return None
    if not hmac.compare_digest(str(record.get("record_mac")), _signature(body, key)):
        return None
    try:
        anchor = (int(body["anchor"][0]), str(body["anchor"][1]))
        batches = tuple((str(t), int(r), int(n)) for t, r, n in body["batches"])
        return VerifiedPoint(
            int(body["seq"]),
            str(body["mac"]),
            int(body["live_entries"]),
            int(body["schema"]),
            anchor,
            batches,
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def store_identity(sqlite_path: Path, store_id: str | None) -> str | None:
    """``store_id:device:inode`` of the store file (None when it cannot be read): a restored or
    replaced file is another store as far as a stored point is concerned.

    Example:
        >>> store_identity(Path("/no/such/govlib.sqlite"), "s") is None
        True
    """
    try:
        st = sqlite_path.stat()
    except OSError:
        return None
    return f"{store_id or '-'}:{st.st_dev}:{st.st_ino}"


def _path(data_dir: Path) -> Path:
    return Path(data_dir) / VERIFIED_POINT_FILE


def _lock_path(data_dir: Path) -> Path:
    """The ``flock`` beside the stored point: a "failed" mark is never overwritten by a process
    that read the file before the mark was written."""
    return _path(data_dir).with_name("verified_point.lock")


def load_stored_point(
    data_dir: Path, identity: str | None, keys: dict[str, bytes]
) -> VerifiedPoint | None:
    """The data dir's stored point, when there is one that checks (else None, never an error).

    Example:
        >>> import tempfile
        >>> load_stored_point(Path(tempfile.mkdtemp()), "s", {}) is None
        True
    """
    if identity is None:
        return None
    return point_from_record(_read(data_dir), identity, keys)


def save_stored_point(data_dir: Path, record: dict[str, Any], *, full: bool) -> bool:
    """Write ``record`` atomically (0600 in a 0700 ``cache/``), unless a verification found the
    store broken since (:func:`forget_stored_point`) and this one was not a full verification:
    a process still holding a point from before must not vouch for the history again.

    False when nothing was written (also for a read-only data dir: the next process then
    verifies in full, as before).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> point = VerifiedPoint(1, "00" * 32, 1, 1, (0, ""), ())
        >>> record = point_record(point, "s", "k1", b"x" * 32)
        >>> save_stored_point(folder, record, full=False)
        True
        >>> forget_stored_point(folder)
        >>> save_stored_point(folder, record, full=False), save_stored_point(folder, record, full=True)
        (False, True)
    """
    try:
        with exclusive_lock(_lock_path(data_dir)):
            if not full and _read(data_dir).get("failed"):
                return False
            write_private_file(_path(data_dir), json.dumps(record).encode())
    except OSError:
        return False
    return True


def forget_stored_point(data_dir: Path) -> None:
    """Replace the stored point by a "failed" mark (after a failed verification): until a full
    verification succeeds, every process verifies from its own point or in full."""
    try:
        with exclusive_lock(_lock_path(data_dir)):
            write_private_file(
                _path(data_dir), json.dumps({"format": _FORMAT, "failed": True}).encode()
            )
    except OSError:
        pass


def _read(data_dir: Path) -> dict[str, Any]:
    try:
        record = json.loads(_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
