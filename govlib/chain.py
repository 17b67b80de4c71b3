"""Chain maths for the WORM log: canonical bytes, MACs and link checks. Pure: values in, values out.

Canonical bytes of an entry = ``json.dumps(entry, sort_keys=True, separators=(",", ":"),
ensure_ascii=False).encode("utf-8")`` over exactly the fields in :data:`ENTRY_FIELDS`. Those bytes are
stored as the record (``worm_log.body``), so verification re-computes each MAC over stored bytes
without re-serialising, and the readable columns are derived from them.

``mac = HMAC-SHA256(key[key_id], canonical_bytes)`` as lowercase hex; ``prev_mac`` of seq 1 is
:data:`GENESIS_MAC`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENTRY_FIELDS",
    "GENESIS_MAC",
    "canonical_json",
    "entry_body",
    "entry_mac",
    "ChainProblem",
    "first_chain_problem",
]

ENTRY_FIELDS: tuple[str, ...] = (
    "seq",
    "ts",
    "run_id",
    "node",
    "action",
    "rule",
    "outcome",
    "detail",
    "key_id",
    "prev_mac",
)

GENESIS_MAC = "0" * 64


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces (the canonical form govlib signs and hashes).

    Example:
        >>> canonical_json({"b": 1, "a": [1, 2]})
        '{"a":[1,2],"b":1}'
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_body(
    *,
    seq: int,
    ts: str,
    action: str,
    key_id: str,
    prev_mac: str,
    run_id: str | None = None,
    node: str | None = None,
    rule: str | None = None,
    outcome: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> str:
    """The canonical text of one WORM entry (the stored ``body``)."""
    if not isinstance(seq, int) or seq < 1:
        raise ValueError(f"seq: {seq!r} is not a positive integer")
    if not action:
        raise ValueError("action: empty; expected a name such as 'rule_evaluated'")
    entry = {
        "seq": seq,
        "ts": ts,
        "run_id": run_id,
        "node": node,
        "action": action,
        "rule": rule,
        "outcome": outcome,
        "detail": dict(detail or {}),
        "key_id": key_id,
        "prev_mac": prev_mac,
    }
    return canonical_json(entry)


def entry_mac(key: bytes, body: str | bytes) -> str:
    """HMAC-SHA256 of the canonical bytes, lowercase hex.

    Example:
        >>> len(entry_mac(b"k", "{}"))
        64
    """
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hmac.digest(key, data, hashlib.sha256).hex()


@dataclass(frozen=True)
class ChainProblem:
    """The first place a chain stops being intact."""

    seq: int
    reason: str


def first_chain_problem(
    rows: Iterable[tuple[int, str | bytes, str, str, int | None, str | None, str | None]],
    keys: Mapping[str, bytes],
    *,
    start_prev_mac: str = GENESIS_MAC,
    start_seq: int = 1,
) -> tuple[ChainProblem | None, int, str]:
    """Check MACs and links over stored rows in seq order.

    Parameters
    ----------
    rows
        ``(seq, body, prev_mac, mac, body_seq, body_prev_mac, body_key_id)`` per entry, where the
        ``body_*`` fields were read out of ``body`` (SQLite's ``json_extract`` does that in C).
        ``body`` may be the stored text or its UTF-8 bytes (``CAST(body AS BLOB)`` saves a
        decode and re-encode per entry).
    keys
        HMAC keys by key id.
    start_prev_mac, start_seq
        Where the rows start (a suffix of the log can be checked from a known entry).

    Returns
    -------
    (problem or None, entries checked, head MAC)

    Example:
        >>> body = entry_body(seq=1, ts="t", action="a", key_id="k", prev_mac=GENESIS_MAC)
        >>> mac = entry_mac(b"key", body)
        >>> first_chain_problem([(1, body, GENESIS_MAC, mac, 1, GENESIS_MAC, "k")], {"k": b"key"})[:2]
        (None, 1)
    """
    expected_seq, prev, n = start_seq, start_prev_mac, 0
    digest, sha = hmac.digest, hashlib.sha256
    last_key_id: object = object()  # never equal to a key id: the first row looks its key up
    key: bytes | None = None
    for seq, body, prev_mac, mac, body_seq, body_prev, key_id in rows:
        # One combined test on the hot path; the slow path below names what is wrong.
        if (
            seq != expected_seq
            or body_seq != seq
            or prev_mac != prev
            or body_prev != prev
            or key_id != last_key_id
        ):
            if seq != expected_seq:
                reason = "entry missing" if seq > expected_seq else "entries out of order"
                return ChainProblem(expected_seq, f"{reason} (found seq {seq})"), n, prev
            if body_seq != seq:
                reason = f"seq column {seq} disagrees with the signed seq {body_seq}"
                return ChainProblem(seq, reason), n, prev
            if prev_mac != prev or body_prev != prev:
                reason = "link broken: prev_mac does not match the previous entry's MAC"
                return ChainProblem(seq, reason), n, prev
            key, last_key_id = keys.get(key_id or ""), key_id
            if key is None:
                return ChainProblem(seq, f"unknown key id {key_id!r}"), n, prev
        # Not a secret comparison (both MACs are public once stored), so plain != is fine.
        if digest(key, body if type(body) is bytes else body.encode(), sha).hex() != mac:  # type: ignore[arg-type]
            return ChainProblem(seq, "MAC mismatch: the entry was altered or forged"), n, prev
        prev, expected_seq, n = mac, seq + 1, n + 1
    return None, n, prev
