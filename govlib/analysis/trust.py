"""Whether a page may call its evidence trusted: a real ``verify`` of the store, as plain facts.

The executive page's chain badge and the SPC dashboard's banner both come from here: green only
when every MAC, link, checkpoint, batch digest, verdict and governed row verified.
"""

from __future__ import annotations

from typing import Any

from govlib.errors import GovlibError
from govlib.evidence.verify import verify_store
from govlib.store.database import Store

__all__ = ["chain_state", "verified_state"]


def chain_state(result: Any) -> dict[str, Any]:
    """The facts of a real :class:`govlib.evidence.verify.VerifyResult` (never assumed): ``ok``,
    ``entries``, ``bad_seq``, ``reason``, the last checkpoint, ``summary`` and ``details``.

    Example:
        >>> from govlib.evidence.verify import verify_store
        >>> state = chain_state(verify_store(Store(memory=True)))
        >>> state["ok"], state["entries"], state["last_checkpoint_seq"]
        (True, 0, None)
    """
    keys = ("entries", "bad_seq", "reason", "last_checkpoint_seq", "last_checkpoint_at", "summary")
    out = {k: getattr(result, k) for k in keys} | {"details": result.describe()}
    return out | {"ok": bool(result.ok), "error": None}


def verified_state(store: Store) -> dict[str, Any]:
    """A real verification of ``store`` (chain, checkpoints, digests, verdicts, governed rows).

    Example:
        >>> verified_state(Store(memory=True))["ok"]
        True
    """
    try:
        return chain_state(verify_store(store))
    except GovlibError as exc:  # e.g. no key material: say so, in red, never "verified"
        return {"ok": False, "error": str(exc), "bad_seq": None, "reason": str(exc)}
