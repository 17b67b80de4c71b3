"""Whether a page may call its evidence trusted: a real ``verify`` of the store, as plain facts.

The executive page's chain badge and the SPC dashboard's banner both come from here: green only
when every MAC, link, checkpoint, batch digest, verdict and governed row verified.

A page view verifies incrementally: the process remembers the last point a verification of each
store file reached (:class:`govlib.evidence.verify.VerifiedPoint`) and the next page view verifies
from there (after checking the remembered entry still has its MAC, so a rewritten history is still
caught). ``verified_state(store, full=True)`` and ``govlib verify`` check everything.
"""

from __future__ import annotations

from typing import Any

from govlib.errors import GovlibError
from govlib.evidence.verify import VerifiedPoint, verify_store
from govlib.store.database import Store

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

    Incremental after the first verification of a store file in this process: only what was
    appended since the last point verified is checked again (``full=True`` checks everything and
    also runs SQLite's integrity check). A failed verification forgets the point.

    Example:
        >>> verified_state(Store(memory=True))["ok"]
        True
    """
    key = None if store.path is None else str(store.path.resolve())
    since = None if full or key is None else _VERIFIED.get(key)
    try:
        # the first verification in a process runs the integrity check too; later ones only
        # read what was appended (the remembered point vouches for the pages before it)
        result = verify_store(store, since=since, integrity_check=since is None)
    except GovlibError as exc:  # e.g. no key material: say so, in red, never "verified"
        if key is not None:
            _VERIFIED.pop(key, None)
        return {"ok": False, "error": str(exc), "bad_seq": None, "reason": str(exc)}
    if key is not None:
        if result.ok and result.point is not None:
            _VERIFIED[key] = result.point
        else:
            _VERIFIED.pop(key, None)
    return chain_state(result) | {"incremental": result.verified_from is not None}


def forget_verified(store: Store | None = None) -> None:
    """Forget the remembered verified point of ``store`` (of every store when None)."""
    if store is None:
        _VERIFIED.clear()
    elif store.path is not None:
        _VERIFIED.pop(str(store.path.resolve()), None)
