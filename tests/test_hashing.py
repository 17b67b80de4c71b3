"""govlib.capture.fingerprint: djb2 (NumPy closed form vs the loop), stable stringify, output_hash."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from decimal import Decimal

import numpy as np
import pytest
from harness import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from govlib.capture.fingerprint import (
    _CHUNK,
    _TINY,
    HashingError,
    djb2,
    djb2_loop,
    output_hash,
    stable_stringify,
)
from govlib.errors import GovlibError

# --- djb2 ----------------------------------------------------------------------------------------


def naive(data: bytes) -> int:
    h = 5381
    for b in data:
        h = (h * 33 + b) % 2**32
    return h


def test_djb2_known_values():
    assert djb2(b"") == 5381
    assert djb2(b"a") == 5381 * 33 + 97
    assert djb2("hello") == 261238937
    assert djb2("é") == naive("é".encode())  # str hashed as UTF-8


@given(st.binary(max_size=3000))
@settings(max_examples=examples(400), deadline=None)
def test_djb2_equals_the_naive_loop(data):
    assert djb2(data) == naive(data) == djb2_loop(data)


@given(st.text(max_size=500))
@settings(deadline=None)
def test_djb2_of_text_is_djb2_of_its_utf8(text):
    assert djb2(text) == naive(text.encode("utf-8"))


@pytest.mark.parametrize(
    "n", [_TINY - 1, _TINY, _TINY + 1, _CHUNK - 1, _CHUNK, _CHUNK + 1, 2 * _CHUNK + 17]
)
def test_djb2_at_every_path_boundary(n):
    data = bytes((i * 131 + 7) % 256 for i in range(n))
    assert djb2(data) == naive(data)
    assert djb2(bytearray(data)) == djb2(memoryview(data)) == naive(data)


def test_djb2_worst_case_bytes_wrap_exactly():
    data = b"\xff" * (_CHUNK + 3)
    assert djb2(data) == naive(data)
    assert 0 <= djb2(data) < 2**32


# --- stable stringify ----------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(json_values)
@settings(deadline=None)
def test_json_values_stringify_as_sorted_compact_json(value):
    text = stable_stringify(value)
    assert text == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert json.loads(text) == value


@given(st.dictionaries(st.text(), st.integers(), max_size=8))
def test_key_order_does_not_change_the_string(d):
    reordered = dict(reversed(list(d.items())))
    assert stable_stringify(d) == stable_stringify(reordered)
    assert output_hash(d) == output_hash(reordered)


def test_exact_forms():
    assert stable_stringify({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert stable_stringify((1, "x")) == '[1,"x"]'
    assert stable_stringify("ü") == '"ü"'  # UTF-8, not \\u escapes


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: float


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), '"NaN"'),
        (float("inf"), '"Infinity"'),
        (float("-inf"), '"-Infinity"'),
        ([1.0, float("nan")], '[1.0,"NaN"]'),
        (dt.datetime(2026, 1, 2, 3, 4, 5), '"2026-01-02T03:04:05"'),
        (dt.datetime(2026, 1, 2, tzinfo=dt.UTC), '"2026-01-02T00:00:00+00:00"'),
        (dt.date(2026, 1, 2), '"2026-01-02"'),
        (dt.time(9, 30), '"09:30:00"'),
        (b"\x00\xff", '"00ff"'),
        (bytearray(b"\x01"), '"01"'),
        ({3, 1, 2}, "[1,2,3]"),
        (frozenset({"b", "a"}), '["a","b"]'),
        ({1, "a"}, '["a",1]'),  # mixed set: ordered by each element's stable string
        (Decimal("1.10"), '"1.10"'),
        (Colour.RED, '"red"'),
        (Point(1, 2.5), '{"x":1,"y":2.5}'),
        (np.int64(7), "7"),
        (np.float32(0.5), "0.5"),
        (np.array([[1, 2], [3, 4]]), "[[1,2],[3,4]]"),
        (np.float64("nan"), '"NaN"'),
        (complex(1, 2), '"(1+2j)"'),
        ({10: "a", 2: "b"}, '{"2":"b","10":"a"}'),  # comparable keys: Python's order
        ({1: "a", "b": 2, None: 3}, '{"1":"a","b":2,"null":3}'),  # mixed: by string form
        ({True: 1, "x": 2}, '{"true":1,"x":2}'),
        ({(1, 2): "t"}, '{"[1,2]":"t"}'),
        ({"a": float("nan"), "b": {1: float("inf")}}, '{"a":"NaN","b":{"1":"Infinity"}}'),
    ],
)
def test_documented_non_json_rules(value, expected):
    assert stable_stringify(value) == expected


def test_other_objects_use_str():
    class Thing:
        def __str__(self) -> str:
            return "thing-1"

    assert stable_stringify({"t": Thing()}) == '{"t":"thing-1"}'


def test_cycles_are_written_not_fatal():
    a: list = [1]
    a.append(a)
    assert stable_stringify(a) == '[1,"[circular]"]'
    d: dict = {"k": 1}
    d["self"] = d
    assert stable_stringify(d) == '{"k":1,"self":"[circular]"}'
    assert len(output_hash(d)) == 8


def test_too_deep_is_a_clear_error():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(HashingError, match="recursion limit") as info:
        stable_stringify(deep)
    assert isinstance(info.value, GovlibError)


# --- output_hash ---------------------------------------------------------------------------------
def test_output_hash_is_8_lowercase_hex_of_djb2_of_the_stable_string():
    value = {"ok": True, "items": [1, 2.5, None], "name": "Zoë"}
    expected = f"{naive(stable_stringify(value).encode('utf-8')):08x}"
    assert output_hash(value) == expected
    assert output_hash({"ok": True}) == "92d000f5"
    assert output_hash(None) == f"{naive(b'null'):08x}"


@given(json_values)
@settings(deadline=None)
def test_output_hash_matches_definition(value):
    h = output_hash(value)
    assert len(h) == 8 and h == h.lower()
    assert int(h, 16) == naive(stable_stringify(value).encode("utf-8"))
