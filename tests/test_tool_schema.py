"""govlib.capture.arguments: compiled argument validators agree with jsonschema; arguments untouched."""

from __future__ import annotations

import copy
import functools

import pytest
from harness import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, Draft202012Validator

from govlib.capture.arguments import Parameters, ToolSchemaError, compile_schema

SCHEMAS = [
    {
        "type": "object",
        "properties": {
            "claim_id": {"type": "string", "pattern": "^C-[0-9]+$", "maxLength": 8},
            "amount": {"type": "number", "minimum": 0, "exclusiveMaximum": 1000},
            "count": {"type": "integer", "multipleOf": 2},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "mode": {"enum": ["fast", "slow", None]},
        },
        "required": ["claim_id"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        "patternProperties": {"^x_": {"type": "boolean"}},
        "minProperties": 1,
        "maxProperties": 3,
    },
    {
        "definitions": {"pos": {"type": "number", "minimum": 0}},
        "type": "object",
        "properties": {"p": {"$ref": "#/definitions/pos"}, "q": {"not": {"type": "string"}}},
        "dependencies": {"p": ["q"]},
    },
    {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "minItems": 1},
    {"type": "object", "properties": {"n": {"const": 3}, "s": {"minLength": 2}}},
    True,
    False,
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 2000)
    | st.floats(-5, 2000, allow_nan=False)
    | st.sampled_from(["C-1", "C-123456789", "x", "", "fast", "slow", "ab"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["claim_id", "amount", "count", "tags", "mode", "a", "x_1", "p", "q", "n", "s", "z"]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@functools.cache
def compiled(index: int):
    return compile_schema(SCHEMAS[index], "t"), Draft7Validator(SCHEMAS[index]).is_valid


def test_draft7_schemas_get_the_compiled_fast_path():
    for index in range(len(SCHEMAS)):
        assert "_fast_validator" in compiled(index)[0].__qualname__


@pytest.mark.parametrize("index", range(len(SCHEMAS)))
@given(instance=json_values)
@settings(max_examples=examples(150), deadline=None)
def test_compiled_validator_agrees_with_jsonschema_draft7(index, instance):
    fast, reference = compiled(index)
    assert fast(instance) == reference(instance)


def test_validation_never_fills_defaults_into_the_arguments():
    schema = {
        "type": "object",
        "properties": {"opts": {"type": "object", "properties": {"x": {"default": 1}}}},
    }
    args = {"opts": {}}
    before = copy.deepcopy(args)
    assert compile_schema(schema, "t")(args)
    assert args == before


def test_format_is_an_annotation_not_an_assertion():
    is_valid = compile_schema({"type": "string", "format": "email"}, "t")
    assert is_valid("not-an-email") == Draft7Validator({"format": "email"}).is_valid("x")


def test_remote_refs_are_never_fetched_by_the_compiler():
    is_valid = compile_schema({"$ref": "https://example.invalid/schema.json"}, "t")
    assert "_fast_validator" not in is_valid.__qualname__  # jsonschema, which does not fetch


def test_newer_drafts_use_jsonschema():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "integer"}],
    }
    is_valid = compile_schema(schema, "t")
    for value in (["a", 1], ["a", "b"], [1], []):
        assert is_valid(value) == Draft202012Validator(schema).is_valid(value)
    assert is_valid(["a", "b"]) is False


def test_no_schema_is_none_and_bad_schemas_name_the_tool():
    assert compile_schema(None, "t") is None
    with pytest.raises(ToolSchemaError, match="schema of tool 'pay': .*expected a valid"):
        compile_schema({"type": 12}, "pay")
    with pytest.raises(ToolSchemaError, match="schema of tool 'pay': a int"):
        compile_schema(12, "pay")


def test_parameters_bind_positional_star_and_keywords():
    def tool(a, b=2, *rest, c, **kw):
        return a

    p = Parameters.of(tool)
    assert p.positional == ("a", "b") and p.star == "rest"
    assert p.named == frozenset({"a", "b", "c"})
    assert p.instance((1, 2, 3, 4), {"c": 5, "d": 6}) == {
        "a": 1,
        "b": 2,
        "rest": [3, 4],
        "c": 5,
        "d": 6,
    }
    assert Parameters.of(dict).positional == ()  # no readable signature: nothing bound
