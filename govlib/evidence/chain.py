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
from binascii import hexlify
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

__all__ = [
    "ENTRY_FIELDS",
    "GENESIS_MAC",
    "canonical_json",
    "entry_body",
    "entry_mac",
    "ChainProblem",
    "first_chain_problem",
    "chain_intact",
    "hmac_sha256",
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
    return _CANONICAL.encode(value)


# One encoder for every call: json.dumps with options builds a new encoder each time.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
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
    if not action or not isinstance(action, str):
        raise ValueError(f"action: {action!r}; expected a name such as 'rule_evaluated'")
    texts = {"ts": ts, "key_id": key_id, "prev_mac": prev_mac}
    optional = {"run_id": run_id, "node": node, "rule": rule, "outcome": outcome}
    for name, value in [*texts.items(), *optional.items()]:
        # Only text here keeps the body's tail flat, which the fast verify pass relies on.
        if not isinstance(value, str) and (value is not None or name in texts):
            expected = "text" if name in texts else "text or None"
            raise ValueError(f"{name}: {value!r} is a {type(value).__name__}; expected {expected}")
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


# --- the fast pass ------------------------------------------------------------------------------
# ``verify`` checks a whole log with :func:`chain_intact`, a batched pass over the stored bytes that
# only answers "intact or not"; when it says not, :func:`first_chain_problem` (exact, per entry,
# fields read by SQLite's json_extract) names the first bad seq. The fast pass reads the fields it
# needs straight out of the canonical bytes: keys are sorted, so the body always ends
# ``,"key_id":K,"node":N,"outcome":O,"prev_mac":P,"rule":R,"run_id":U,"seq":S,"ts":T}``, and
# :func:`entry_body` only lets strings, null and an int into those fields. A JSON string cannot
# hold a bare ``"``, so the last ``,"prev_mac":"`` of a body is the top-level one, the first
# ``,"seq":`` after it is the top-level seq, and the last ``,"key_id":"`` before it is the key id.
_PREV = b',"prev_mac":"'
_KID = b',"key_id":"'
_prev_tag = b',"prev_mac":"%s","rule":'.__mod__
_seq_tag = b',"seq":%d,"ts":'.__mod__
_kid_tag = b',"key_id":"%s","node":'.__mod__


def hmac_sha256(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 under one key, as a function of the message (RFC 2104, pads hashed once).

    Identical to ``hmac.digest(key, msg, "sha256")``; with OpenSSL 3 the one-shot call spends most
    of its time setting up, so hashing the key pads once makes each MAC about 2.5x cheaper.

    Example:
        >>> hmac_sha256(b"k")(b"msg") == hmac.digest(b"k", b"msg", "sha256")
        True
    """
    if len(key) > 64:  # SHA-256's block size: longer keys are hashed first (RFC 2104)
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key)).copy
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key)).copy

    def mac(message: bytes) -> bytes:
        i = inner()
        i.update(message)
        o = outer()
        o.update(i.digest())
        return o.digest()

    return mac


def chain_intact(
    chunks: Iterable[Sequence[tuple[int, bytes, bytes, bytes]]],
    keys: Mapping[str, bytes],
    *,
    start_prev_mac: str = GENESIS_MAC,
    start_seq: int = 1,
    mac_for: Callable[[bytes], Callable[[bytes], bytes]] | None = None,
) -> tuple[bool, int, str]:
    """Whether stored rows form an intact chain: the fast check ``verify`` runs first.

    Checks what :func:`first_chain_problem` checks (seq gapless, the stored and the signed seq and
    ``prev_mac`` agree with the chain, the key id is known, every MAC) a chunk at a time, without
    naming what is wrong: on False, ask :func:`first_chain_problem`.

    Parameters
    ----------
    chunks
        Rows ``(seq, body, prev_mac, mac)`` in seq order, in chunks (``cursor.fetchmany``), with
        ``body``, ``prev_mac`` and ``mac`` as bytes (``CAST(... AS BLOB)``).
    keys
        HMAC keys by key id.
    start_prev_mac, start_seq
        Where the rows start.
    mac_for
        Key -> MAC function (raw digest); default :func:`hmac_sha256`. The benchmark passes the
        standard library's one-shot HMAC to compare like with like.

    Returns
    -------
    (intact, entries checked before the first bad chunk, head MAC)

    Example:
        >>> body = entry_body(seq=1, ts="t", action="a", key_id="k", prev_mac=GENESIS_MAC)
        >>> row = (1, body.encode(), GENESIS_MAC.encode(), entry_mac(b"key", body).encode())
        >>> chain_intact([[row]], {"k": b"key"})[:2]
        (True, 1)
    """
    mac_for = mac_for or hmac_sha256
    macs_by_key = {k.encode(): mac_for(v) for k, v in keys.items()}
    prev, seq, checked = start_prev_mac.encode(), start_seq, 0
    for chunk in chunks:
        try:
            intact = _chunk_intact(chunk, prev, seq, macs_by_key)
        except (TypeError, ValueError, AttributeError):  # a NULL or a number where bytes belong
            intact = False
        if not intact:
            return False, checked, prev.decode()
        prev, seq, checked = chunk[-1][3], seq + len(chunk), checked + len(chunk)
    return True, checked, prev.decode()


def _chunk_intact(
    chunk: Sequence[tuple[int, bytes, bytes, bytes]],
    prev: bytes,
    seq: int,
    macs_by_key: Mapping[bytes, Callable[[bytes], bytes]],
) -> bool:
    """One chunk of :func:`chain_intact`, starting at ``seq`` after the MAC ``prev``."""
    rfind, startswith, find = bytes.rfind, bytes.startswith, bytes.find
    n = len(chunk)
    seqs, bodies, prev_macs, macs = zip(*chunk, strict=True)
    links = (prev, *macs[:-1])
    if seqs != tuple(range(seq, seq + n)) or prev_macs != links:
        return False
    at = list(map(rfind, bodies, repeat(_PREV, n)))
    if not all(map(startswith, bodies, map(_prev_tag, links), at)):
        return False
    if -1 in map(find, bodies, map(_seq_tag, seqs), at):
        return False
    key_ids = _key_ids(bodies, list(map(rfind, bodies, repeat(_KID, n), repeat(0, n), at)))
    if key_ids is None:
        return False
    for key_id, start, stop in key_ids:
        mac = macs_by_key.get(key_id)
        if mac is None or tuple(map(hexlify, map(mac, bodies[start:stop]))) != macs[start:stop]:
            return False
    return True


def _key_ids(bodies: Sequence[bytes], kid_at: list[int]) -> list[tuple[bytes, int, int]] | None:
    """Runs of one key id in a chunk as (key id, start, stop); None when a body has none."""
    first = bodies[0]
    end = first.find(b'"', kid_at[0] + len(_KID))
    key_id = first[kid_at[0] + len(_KID) : end]
    n = len(bodies)
    if kid_at[0] >= 0 and all(map(bytes.startswith, bodies, repeat(_kid_tag(key_id), n), kid_at)):
        return [(key_id, 0, n)]  # the usual case: one key for the whole chunk
    runs: list[tuple[bytes, int, int]] = []
    # a key rotation inside this chunk: one run per key id
    for i, (body, at) in enumerate(zip(bodies, kid_at, strict=True)):
        end = body.find(b'"', at + len(_KID))
        if at < 0 or end < 0 or not body.startswith(b'","node":', end):
            return None
        key_id = body[at + len(_KID) : end]
        if runs and runs[-1][0] == key_id:
            runs[-1] = (key_id, runs[-1][1], i + 1)
        else:
            runs.append((key_id, i, i + 1))
    return runs
