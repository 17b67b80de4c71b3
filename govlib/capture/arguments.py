"""A tool's declared argument schema, compiled once, and how call arguments are presented to it.

The arguments of a call are validated as one JSON object: positional arguments bound to their
parameter names, extra positionals as a list under the ``*args`` name, keyword arguments as given.

Compilation: every schema is first checked with :mod:`jsonschema` (clear errors). A schema without
``$schema`` is read as draft-07. Draft-04/06/07 schemas whose ``$ref`` are all local are then
compiled to Python code by ``fastjsonschema`` when it is installed (it ships with nbformat, which
Voila needs): about 1 us per call instead of about 15 us. It runs with ``use_default=False`` (the
arguments are never modified) and ``use_formats=False`` (``format`` is an annotation, as in
jsonschema). Other drafts, remote ``$ref`` and schemas fastjsonschema refuses use jsonschema's
validator, built once. Both accept the same JSON values (a property test compares them); for
non-JSON Python values fastjsonschema is laxer (a tuple counts as an array).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from govlib.errors import GovlibError

__all__ = ["ToolSchemaError", "compile_schema", "Parameters"]

#: Drafts fastjsonschema implements (jsonschema validator class names).
_FAST_DRAFTS = frozenset({"Draft4Validator", "Draft6Validator", "Draft7Validator"})


class ToolSchemaError(GovlibError):
    """A tool's declared argument schema is not a valid JSON Schema."""


def compile_schema(schema: Any, tool_name: str) -> Callable[[Any], bool] | None:
    """A compiled ``is_valid(instance) -> bool`` for a JSON Schema, or None for no schema.

    Parameters
    ----------
    schema : dict, str, bool or None
        A JSON Schema as a mapping, as JSON text (the registry stores it so) or a boolean schema.
        Without ``$schema`` it is read as draft-07.
    tool_name : str
        Named in the error when the schema is bad.

    Raises
    ------
    ToolSchemaError
        Not JSON, not an object/boolean, or not a valid schema.

    Example:
        >>> is_valid = compile_schema({"type": "object", "required": ["x"]}, "t")
        >>> is_valid({"x": 1}), is_valid({})
        (True, False)
    """
    if schema is None:
        return None
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise ToolSchemaError(
                f"schema of tool {tool_name!r}: not valid JSON ({exc}); expected a JSON Schema"
            ) from None
    if not isinstance(schema, (Mapping, bool)):
        raise ToolSchemaError(
            f"schema of tool {tool_name!r}: a {type(schema).__name__}; expected a JSON Schema "
            "object (dict), a JSON string or a boolean"
        )
    from jsonschema import exceptions, validators

    cls = validators.validator_for(schema, default=validators.Draft7Validator)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        raise ToolSchemaError(
            f"schema of tool {tool_name!r}: {exc.message}; expected a valid JSON Schema"
        ) from None
    fast = _fast_validator(schema) if cls.__name__ in _FAST_DRAFTS else None
    return fast if fast is not None else cls(schema).is_valid


def _refs_local(node: Any) -> bool:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return False
        return all(_refs_local(v) for v in node.values())
    if isinstance(node, list):
        return all(_refs_local(v) for v in node)
    return True


def _fast_validator(schema: Any) -> Callable[[Any], bool] | None:
    """fastjsonschema's compiled validator as ``is_valid``, or None when it cannot be used."""
    if not _refs_local(schema):
        return None  # never fetch a remote schema
    try:
        import fastjsonschema
    except ImportError:
        return None
    try:
        validate = fastjsonschema.compile(
            schema if isinstance(schema, bool) else dict(schema),
            handlers={},
            use_default=False,
            use_formats=False,
            detailed_exceptions=True,  # False trips a generator bug on some schemas
        )
    except Exception:  # noqa: BLE001 - anything it cannot compile goes to jsonschema
        return None
    invalid = fastjsonschema.JsonSchemaValueException

    def is_valid(instance: Any) -> bool:
        try:
            validate(instance)
        except invalid:
            return False
        return True

    return is_valid


@dataclass(frozen=True)
class Parameters:
    """The parameter layout of a tool, read once at wrap time.

    Example:
        >>> p = Parameters.of(lambda claim_id, *rest, tenant=None: None)
        >>> p.instance(("C-1", 2), {"tenant": "acme"})
        {'claim_id': 'C-1', 'rest': [2], 'tenant': 'acme'}
    """

    positional: tuple[str, ...]
    star: str | None
    named: frozenset[str]

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> Parameters:
        """Inspect ``fn`` (a callable without a readable signature has no named parameters)."""
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            return cls((), None, frozenset())
        kind = inspect.Parameter
        positional = tuple(
            p.name for p in params if p.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD)
        )
        star = next((p.name for p in params if p.kind is kind.VAR_POSITIONAL), None)
        named = frozenset(
            p.name for p in params if p.kind not in (kind.VAR_POSITIONAL, kind.VAR_KEYWORD)
        )
        return cls(positional, star, named)

    def instance(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments as the object the schema validates."""
        out = dict(zip(self.positional, args, strict=False))
        if self.star is not None and len(args) > len(self.positional):
            out[self.star] = list(args[len(self.positional) :])
        if kwargs:
            out.update(kwargs)
        return out
