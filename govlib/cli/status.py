"""``govlib status``: what is in a data dir, read without changing anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from govlib.analysis.lifecycle import sealed_ranges
from govlib.analysis.read_path import read_watermark
from govlib.errors import GovlibError
from govlib.evidence.people import person_name
from govlib.store.database import STORE_FILENAME, Store

__all__ = ["store_status", "format_status"]


def _emitter_stats(data_dir: Path) -> dict[str, Any]:
    try:
        from govlib.capture.emitter import read_emitter_stats
    except ImportError:  # the emitter is optional for a read-only look
        return {}
    try:
        return dict(read_emitter_stats(data_dir))
    except (OSError, ValueError):
        return {"error": "counters unreadable: drops may have happened"}


def store_status(data_dir: str | Path) -> dict[str, Any]:
    """Counts per table, chain head, last checkpoint, kill-switch state, emitter counters.

    A missing, unreadable or corrupt store is reported in ``error`` (never repaired).

    Example:
        >>> store_status("data")["counts"]["audit_log"]  # doctest: +SKIP
        12873
    """
    base = Path(data_dir)
    info: dict[str, Any] = {"data_dir": str(base), "store": str(base / STORE_FILENAME)}
    info["emitter"] = _emitter_stats(base)
    info["lake_watermark"] = read_watermark(base)
    if not (base / STORE_FILENAME).exists():
        info["error"] = f"{base / STORE_FILENAME}: no govlib store here (run `govlib demo`)"
        return info
    try:
        store = Store.open_for_reading(base)
    except GovlibError as exc:
        info["error"] = str(exc)
        return info
    info.update(store_access(store))
    try:
        problem = store.integrity_problem()
        if problem:
            info["error"] = f"{store.path}: the store is corrupt ({problem}); nothing was changed"
            return info
        info["counts"] = store.counts()
        head = store.query("SELECT seq, mac, ts FROM worm_log ORDER BY seq DESC LIMIT 1")
        info["chain_head"] = (
            {"seq": head[0]["seq"], "mac": head[0]["mac"][:12], "ts": head[0]["ts"]}
            if head
            else None
        )
        cp = store.query("SELECT seq, created_at FROM worm_checkpoints ORDER BY id DESC LIMIT 1")
        info["last_checkpoint"] = dict(cp[0]) if cp else None
        info["sealed"] = [r["text"] for r in sealed_ranges(store)]  # DIR/archive/ segments
        ks = store.query(
            "SELECT state, by, reason, rule, at FROM kill_switch_events ORDER BY id DESC LIMIT 1"
        )
        ks = [dict(r) | {"by": person_name(store, r["by"])} for r in ks]
        if not ks or ks[0]["state"] == "reset":
            info["kill_switch"] = {"state": "armed", **({"last_reset": dict(ks[0])} if ks else {})}
        else:
            info["kill_switch"] = {"state": "triggered", **dict(ks[0])}
    except Exception as exc:  # noqa: BLE001 - a damaged file must give a message, not a traceback
        info["error"] = f"{store.path}: cannot read the store ({exc})"
    finally:
        store.close()
    return info


def store_access(store: Store) -> dict[str, Any]:
    """How the store was opened, for ``status``: ``access`` and, for a read-only copy read
    immutable, the one-line ``access_note`` to show.

    Example:
        >>> store_access(Store(memory=True))
        {'access': 'read-write', 'access_note': None}
    """
    return {"access": store.access, "access_note": store.access_note}


def format_status(info: dict[str, Any]) -> str:
    """Human-readable lines for :func:`store_status`."""
    lines = [f"Data dir: {info['data_dir']}"]
    if info.get("access_note"):
        lines.append(f"Note: {info['access_note']}")
    if info.get("error"):
        lines.append(f"ERROR: {info['error']}")
    for table, n in (info.get("counts") or {}).items():
        lines.append(f"  {table:<20} {n:>10,}")
    head = info.get("chain_head")
    if "counts" in info:
        lines.append(
            f"Chain head: seq {head['seq']} mac {head['mac']}… at {head['ts']}"
            if head
            else "Chain head: empty log"
        )
        cp = info.get("last_checkpoint")
        lines.append(
            f"Last signed checkpoint: seq {cp['seq']} at {cp['created_at']}"
            if cp
            else "Last signed checkpoint: none yet"
        )
        ks = info.get("kill_switch") or {}
        if ks.get("state") == "triggered":
            lines.append(
                f"Kill-switch: TRIGGERED at {ks.get('at')} by {ks.get('by')} — {ks.get('reason')}"
            )
        elif ks:
            lines.append("Kill-switch: ARMED")
    lines.append(f"Emitter counters: {_emitter_line(info.get('emitter') or {})}")
    for text in info.get("sealed") or []:
        lines.append(f"Sealed: {text}")
    wm = info.get("lake_watermark") or {}
    lines.append(
        "Lake watermark: "
        + (", ".join(f"{t}<={k}" for t, k in wm.items()) if wm else "not exported yet")
    )
    return "\n".join(lines)


def _emitter_line(em: dict[str, Any]) -> str:
    """The background emitters' counters in one line (what was written, what was lost and why)."""
    if "error" in em:
        return str(em["error"])
    if not em.get("processes") and not em.get("unreadable"):
        return "none recorded (no background emitter wrote here; synchronous writes never drop)"
    if em.get("unreadable"):
        text = (
            f"counters unreadable: drops may have happened ({em['unreadable']} counter file(s) "
            "damaged or left half-written, e.g. by a full disk); read: "
        )
        return text + _counts_text(em)
    return _counts_text(em)


def _counts_text(em: dict[str, Any]) -> str:
    text = (
        f"written={em.get('written', 0)} of enqueued={em.get('enqueued', 0)} in "
        f"batches={em.get('batches', 0)}; dropped={em.get('dropped', 0)} "
        f"(dropped_overflow={em.get('dropped_overflow', 0)}, "
        f"dropped_rows={em.get('dropped_rows', 0)}); sink_errors={em.get('sink_errors', 0)}; "
        f"from {em.get('processes', 0)} process file(s)"
    )
    if em.get("last_error"):
        text += f"; last error at {em.get('last_error_at')}: {em['last_error']}"
    return text
