"""Content-free fingerprints of tool results: stable stringify, 32-bit djb2, ``output_hash``.

``output_hash(result)`` is the lowercase 8-hex-digit djb2 hash of the UTF-8 bytes of
``stable_stringify(result)``. Equal results give equal hashes across processes and runs, so the
dashboards can tell "same answer again" from "new answer" without storing any payload.

Stable stringify rules (JSON, sorted keys, no spaces, non-ASCII kept as UTF-8):

* ``None``/``bool``/``int``/``str`` as JSON; finite floats as Python's shortest ``repr``
  (``1e+16``, ``0.1``); ``NaN``, ``inf``, ``-inf`` become the strings ``"NaN"``, ``"Infinity"``,
  ``"-Infinity"``.
* lists and tuples are JSON arrays.
* dicts (and other mappings) are JSON objects. Keys become strings the way :mod:`json` does it
  (``1`` -> ``"1"``, ``True`` -> ``"true"``, ``None`` -> ``"null"``, floats by ``repr``; any other
  key is its own stable string, unquoted when that is a JSON string: ``(1, 2)`` -> ``"[1,2]"``). Keys are ordered by Python's ``sorted`` of the
  original keys when they are mutually comparable (strings by code point; ``{10: a, 2: b}``
  writes ``"2"`` first), otherwise by their string forms. A cycle is written as ``"[circular]"``.
* ``datetime``/``date``/``time`` -> ``isoformat()``; ``bytes``/``bytearray``/``memoryview`` ->
  lowercase hex; ``set``/``frozenset`` -> a list ordered by each element's stable string;
  ``Decimal`` -> ``str``; ``Enum`` -> its value; dataclass instances -> ``dataclasses.asdict``;
  NumPy scalars -> ``.item()`` and arrays -> ``.tolist()``; anything else -> ``str(value)`` (an
  object whose ``str`` shows a memory address is therefore not stable across runs).

``djb2`` (``h = 5381; h = (h * 33 + byte) mod 2**32``) runs as a plain loop for tiny inputs and,
for longer ones, in closed form with NumPy: ``h = 5381 * 33**n + sum(b[i] * 33**(n-1-i))`` in
wrapping ``uint32`` arithmetic, which is exact because only the value mod ``2**32`` is kept. The
powers of 33 are a precomputed table; inputs longer than the table are folded chunk by chunk.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from decimal import Decimal
from enum import Enum
from typing import Any

import numpy as np

from govlib.errors import GovlibError

__all__ = ["HashingError", "stable_stringify", "djb2", "djb2_loop", "output_hash"]

_MASK = 0xFFFFFFFF
#: Inputs shorter than this use the plain loop (NumPy's call overhead dominates below it).
_TINY = 40
#: Powers of 33 kept in the table (and the chunk length for longer inputs).
_CHUNK = 1 << 16


class HashingError(GovlibError):
    """A value cannot be stable-stringified (for instance nested deeper than Python can recurse)."""


def _powers(count: int) -> np.ndarray:
    out = np.empty(count + 1, dtype=np.uint32)
    out[0] = 1
    # Doubling fill: out[k:2k] = out[0:k] * 33**k (uint32 wraps = mod 2**32).
    k = 1
    while k <= count:
        end = min(2 * k, count + 1)
        out[k:end] = out[0 : end - k] * out[k - 1] * np.uint32(33)
        k = end
    return out


_POW = _powers(_CHUNK)  # _POW[k] = 33**k mod 2**32, k = 0.._CHUNK
_REV = _POW[_CHUNK - 1 :: -1].copy()  # _REV[j] = 33**(_CHUNK-1-j); tail n = 33**(n-1) .. 33**0


def djb2_loop(data: bytes | bytearray | memoryview | str) -> int:
    """The reference djb2 loop (32-bit); :func:`djb2` must equal it on every input.

    Example:
        >>> djb2_loop(b"a")
        177670
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = 5381
    for b in bytes(data):
        h = (h * 33 + b) & _MASK
    return h


def djb2(data: bytes | bytearray | memoryview | str) -> int:
    """32-bit djb2 of bytes (a ``str`` is hashed as its UTF-8 bytes).

    Parameters
    ----------
    data : bytes, bytearray, memoryview or str
        The input; ``str`` is encoded as UTF-8 first.

    Returns
    -------
    int
        ``h`` in ``0 .. 2**32 - 1`` with ``h = 5381; h = (h * 33 + byte) mod 2**32``.

    Example:
        >>> djb2(b"")
        5381
        >>> djb2("hello")
        261238937
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    n = len(data)
    if n < _TINY:
        h = 5381
        for b in bytes(data):
            h = (h * 33 + b) & _MASK
        return h
    arr = np.frombuffer(data, dtype=np.uint8)
    if n <= _CHUNK:
        return (5381 * int(_POW[n]) + int(np.dot(arr, _REV[_CHUNK - n :]))) & _MASK
    h = 5381
    for start in range(0, n, _CHUNK):
        chunk = arr[start : start + _CHUNK]
        m = len(chunk)
        h = (h * int(_POW[m]) + int(np.dot(chunk, _REV[_CHUNK - m :]))) & _MASK
    return h


# --- stable stringify ----------------------------------------------------------------------------
def _convert(value: Any) -> Any:
    """Turn a non-JSON value into a JSON-able one (the ``default`` hook of the fast path)."""
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=stable_stringify)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict) or hasattr(value, "keys") and hasattr(value, "__getitem__"):
        return {k: value[k] for k in value.keys()}
    return str(value)


_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,  # a cycle overflows the C encoder's recursion -> the slow path
    default=_convert,
)
_encode = _ENCODER.encode
_dumps_str = json.encoder.encode_basestring  # type: ignore[attr-defined]
_FLOAT_WORDS = {math.inf: '"Infinity"', -math.inf: '"-Infinity"'}


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return _float_text(key).strip('"')
    text = _slow(key, set())
    return json.loads(text) if text.startswith('"') else text


def _float_text(value: float) -> str:
    if math.isnan(value):
        return '"NaN"'
    word = _FLOAT_WORDS.get(value)
    return word if word is not None else float.__repr__(value)


def _slow(value: Any, stack: set[int]) -> str:
    """The general serialiser, used when the C encoder refuses a value (NaN, odd keys, cycles)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _dumps_str(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float_text(value)
    is_map = isinstance(value, dict)
    if not is_map and not isinstance(value, (list, tuple)):
        return _slow(_convert(value), stack)
    marker = id(value)
    if marker in stack:
        return '"[circular]"'
    stack.add(marker)
    try:
        if is_map:
            items = list(value.items())
            try:
                items.sort(key=lambda kv: kv[0])
            except TypeError:
                items.sort(key=lambda kv: _key_text(kv[0]))
            parts = [f"{_dumps_str(_key_text(k))}:{_slow(v, stack)}" for k, v in items]
            return "{" + ",".join(parts) + "}"
        return "[" + ",".join(_slow(v, stack) for v in value) + "]"
    finally:
        stack.discard(marker)


def stable_stringify(value: Any) -> str:
    """Deterministic JSON text of any value (sorted keys, no spaces); rules in the module doc.

    Raises
    ------
    HashingError
        The value is nested deeper than Python's recursion limit.

    Example:
        >>> stable_stringify({"b": [1, 2.5, float("nan")], "a": {3, 1}})
        '{"a":[1,3],"b":[1,2.5,"NaN"]}'
    """
    try:
        return _encode(value)
    except (ValueError, TypeError, RecursionError):
        pass
    try:
        return _slow(value, set())
    except RecursionError:
        raise HashingError(
            f"value: a {type(value).__name__} nested deeper than the recursion limit; "
            "expected a result of reasonable depth"
        ) from None


def output_hash(result: Any) -> str:
    """The ``audit_log.output_hash`` of a tool result: djb2 of its stable string, 8 hex digits.

    Example:
        >>> output_hash({"ok": True})
        '92d000f5'
    """
    try:
        text = _encode(result)
    except (ValueError, TypeError, RecursionError):
        text = stable_stringify(result)
    return f"{djb2(text.encode('utf-8')):08x}"
