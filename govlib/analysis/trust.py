"""Whether a page may call its evidence trusted: a real ``verify`` of the store, as plain facts.

The executive page's chain badge and the SPC dashboard's banner both come from here: green only
when every MAC, link, checkpoint, batch digest, verdict and governed row verified.

A page view verifies incrementally: the process remembers the last point a verification of each
store file reached (:class:`govlib.evidence.verify.VerifiedPoint`) and the next page view verifies
from there (after checking the remembered entry still has its MAC, so a rewritten history is still
caught). A process that has verified nothing yet (a new Voilà kernel) starts from the point the
data dir's other govlib processes stored, HMAC-signed (:mod:`govlib.evidence.verified_point`),
instead of verifying millions of entries again. ``verified_state(store, full=True)`` and
``govlib verify`` check everything.
"""

from __future__ import annotations

from typing import Any

from govlib.errors import GovlibError
from govlib.evidence import verified_point as stored
from govlib.evidence.keys import KeyRing
from govlib.evidence.verify import VerifiedPoint, verify_store
from govlib.store.database import Store
from govlib.store.datadir import read_store_id

__all__ = ["chain_state", "forget_verified", "verified_state"]

#: The last point verified in this process, per store file (resolved path).
_VERIFIED: dict[str, VerifiedPoint] = {}


def chain_state(result: Any) -> dict[str, Any]:
    """The facts of a real :class:`govlib.evidence.verify.VerifyResult` (never assumed): ``ok``,
    ``entries``, ``bad_seq``, ``reason``, the last checkpoint, ``summary``, ``details`` and
    ``verified_from`` (the seq an incremental verification started after; None: all of it).

    Example:
        >>> from govlib.evidence.verify import verify_store
        >>> state = chain_state(verify_store(Store(memory=True)))
        >>> state["ok"], state["entries"], state["last_checkpoint_seq"]
        (True, 0, None)
    """
    keys = ("entries", "bad_seq", "reason", "last_checkpoint_seq", "last_checkpoint_at", "summary")
    keys += ("verified_from",)
    out = {k: getattr(result, k) for k in keys} | {"details": result.describe()}
    return out | {"ok": bool(result.ok), "error": None}


def verified_state(store: Store, *, full: bool = False) -> dict[str, Any]:
    """A real verification of ``store`` (chain, checkpoints, digests, verdicts, governed rows).

    Incremental after the first verification of a store file in this process, or from the
    point another govlib process of the data dir stored: only what was appended since is checked
    again (``full=True`` checks everything and also runs SQLite's integrity check). A successful
    verification stores its point for the others; a failed one forgets it, here and on disk.

    Example:
        >>> verified_state(Store(memory=True))["ok"]
        True
    """
    key = None if store.path is None else str(store.path.resolve())
    shared = _SharedPoint.of(store)
    since = None
    if not full and key is not None:
        since = _VERIFIED.get(key) or (shared.load() if shared else None)
    try:
        # a full verification runs the integrity check too; an incremental one only reads what
        # was appended (the remembered point vouches for the pages before it)
        result = verify_store(store, since=since, integrity_check=since is None)
    except GovlibError as exc:  # e.g. no key material: say so, in red, never "verified"
        _forget(key, shared)
        return {"ok": False, "error": str(exc), "bad_seq": None, "reason": str(exc)}
    if key is not None and result.ok and result.point is not None:
        _VERIFIED[key] = result.point
        if shared is not None:
            shared.save(result.point, since)
    else:
        _forget(key, shared)
    return chain_state(result) | {"incremental": result.verified_from is not None}


def _forget(key: str | None, shared: _SharedPoint | None) -> None:
    if key is not None:
        _VERIFIED.pop(key, None)
    if shared is not None:
        stored.forget_stored_point(shared.data_dir)


class _SharedPoint:
    """The data dir's stored verified point (:mod:`govlib.evidence.verified_point`), signed with
    the store's current HMAC key."""

    def __init__(self, data_dir: Any, identity: str, ring: KeyRing) -> None:
        self.data_dir, self.identity, self.ring = data_dir, identity, ring

    @classmethod
    def of(cls, store: Store) -> _SharedPoint | None:
        """None for a memory store, or when the keys or the file cannot be read."""
        if store.path is None or store.data_dir is None:
            return None
        identity = stored.store_identity(store.path, read_store_id(store.data_dir))
        if identity is None:
            return None
        try:
            ring = KeyRing.load(store.data_dir, create=False)
        except GovlibError:
            return None
        return cls(store.data_dir, identity, ring)

    def load(self) -> VerifiedPoint | None:
        return stored.load_stored_point(self.data_dir, self.identity, dict(self.ring.hmac_keys))

    def save(self, point: VerifiedPoint, since: VerifiedPoint | None) -> None:
        if since is not None and since.seq == point.seq:
            return  # nothing appended: the stored point already says as much
        ring = self.ring
        record = stored.point_record(point, self.identity, ring.current_id, ring.current_key)
        stored.save_stored_point(self.data_dir, record, full=since is None)


def forget_verified(store: Store | None = None) -> None:
    """Forget the remembered verified point of ``store`` (of every store when None)."""
    if store is None:
        _VERIFIED.clear()
    elif store.path is not None:
        _VERIFIED.pop(str(store.path.resolve()), None)
