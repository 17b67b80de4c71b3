"""The data lifecycle as pages show it: which ranges of the WORM log are sealed or purged.

:func:`sealed_ranges` gives one line per sealed segment for the Audit Trail ("Entries 1–18,400
sealed on 2026-12-01, manifest verified", with links that open the segment's newest runs) and for
purged ones ("Entries 1–18,400 purged by policy
on 2027-06-01"). The manifest's signature is checked under the pinned public key
(``DIR/checkpoint_pubkey.pem``) and its SHA-256 against the store's record of the segment: cheap
enough for every page view. The files themselves are checked by ``govlib verify --archives``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from govlib.evidence.archive import ARCHIVE_DIRNAME, read_manifest, segments
from govlib.evidence.chain import canonical_json
from govlib.evidence.checkpoints import signature_valid
from govlib.evidence.keys import PUBKEY_FILE, load_public_key
from govlib.evidence.sealed import SEGMENT_PURGED
from govlib.store.database import Store
from govlib.store.snapshot import read_snapshot

__all__ = ["sealed_ranges"]


def sealed_ranges(store: Store) -> list[dict[str, Any]]:
    """One dict per sealed segment, oldest first: ``segment``, ``first_seq``, ``last_seq``,
    ``state`` (``sealed`` / ``purged`` / ``damaged``), ``verified``, ``text`` (the line),
    ``runs`` (the newest runs of a verified segment: ``run_id``, ``subject``, ``started_at``; the
    page opens one with ``?run=<id>``) and ``run_count``.

    Example:
        >>> sealed_ranges(Store(memory=True))
        []
    """
    with read_snapshot(store) as conn:
        segs = segments(conn)
        reasons = {
            name: reason
            for name, reason in conn.execute(
                "SELECT json_extract(detail, '$.segment'), json_extract(detail, '$.reason') "
                "FROM worm_log WHERE action = ?",
                (SEGMENT_PURGED,),
            )
        }
    if not segs:
        return []
    base = store.data_dir / ARCHIVE_DIRNAME if store.data_dir is not None else None
    public = _pinned(store)
    out = []
    for seg in segs:
        span = f"Entries {seg.first_seq:,}–{seg.last_seq:,}"
        item: dict[str, Any] = {
            "segment": seg.name,
            "first_seq": seg.first_seq,
            "last_seq": seg.last_seq,
            "sealed_at": seg.sealed_at,
            "purged_at": seg.purged_at,
        }
        verified = base is not None and _manifest_ok(base / seg.name, seg.manifest_sha256, public)
        if seg.purged_at:
            why = reasons.get(seg.name) or "retention policy"
            state, text = "purged", f"{span} purged by policy on {seg.purged_at[:10]} ({why})"
        elif verified:
            state, text = "sealed", f"{span} sealed on {seg.sealed_at[:10]}, manifest verified"
        else:
            state = "damaged"
            text = (
                f"{span} sealed on {seg.sealed_at[:10]}: its manifest does not verify "
                "(run `govlib verify --archives`)"
            )
        runs, run_count = _segment_runs(base / seg.name) if state == "sealed" and base else ([], 0)
        out.append(
            item
            | {"state": state, "verified": verified, "text": text}
            | {"runs": runs, "run_count": run_count}
        )
    return out


def _segment_runs(folder: Path, limit: int = 5) -> tuple[list[dict[str, Any]], int]:
    """The newest ``limit`` runs sealed in the segment at ``folder``, and how many it holds."""
    import duckdb  # the segment's files are Parquet; imported here, only when something is sealed

    files = [
        folder / name
        for name, info in read_manifest(folder)["manifest"].get("files", {}).items()
        if info.get("table") == "workflow_runs" and info.get("rows")
    ]
    if not files:
        return [], 0
    con = duckdb.connect()
    try:
        rel = f"read_parquet({[str(f) for f in files]!r})"
        count = int(con.execute(f"SELECT COUNT(*) FROM {rel}").fetchone()[0])  # noqa: S608
        rows = con.execute(
            f"SELECT composition_id, subject, started_at FROM {rel} "  # noqa: S608
            "ORDER BY started_at DESC LIMIT ?",
            [limit],
        ).fetchall()
    finally:
        con.close()
    keys = ("run_id", "subject", "started_at")
    return [dict(zip(keys, r, strict=True)) for r in rows], count


def _pinned(store: Store) -> Any:
    if store.data_dir is None or not (store.data_dir / PUBKEY_FILE).is_file():
        return None
    try:
        return load_public_key(store.data_dir / PUBKEY_FILE)
    except Exception:  # noqa: BLE001 - an unreadable key verifies nothing
        return None


def _manifest_ok(folder: Path, expected: str, public: Any) -> bool:
    try:
        doc = read_manifest(folder)
    except (OSError, ValueError):
        return False
    text = canonical_json(doc["manifest"])
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != expected:
        return False
    return public is not None and signature_valid(public, text, str(doc.get("signature", "")))
