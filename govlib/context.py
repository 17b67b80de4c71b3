"""The workflow context of a call: which run (``composition_id``) and which node it belongs to.

The equivalent of an ``X-Workflow-Id`` header for in-process agents, carried in context variables so
it follows threads started with ``contextvars.copy_context()`` and asyncio tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["workflow", "node", "current_composition_id", "current_node"]

_composition: ContextVar[str | None] = ContextVar("govlib_composition_id", default=None)
_node: ContextVar[str | None] = ContextVar("govlib_node", default=None)


@contextmanager
def workflow(composition_id: str) -> Iterator[str]:
    """Calls inside belong to the workflow run ``composition_id``.

    Example:
        >>> with workflow("run-1"):
        ...     current_composition_id()
        'run-1'
    """
    if not composition_id or not isinstance(composition_id, str):
        raise ValueError(f"composition_id: {composition_id!r}; expected a non-empty string")
    token = _composition.set(composition_id)
    try:
        yield composition_id
    finally:
        _composition.reset(token)


@contextmanager
def node(name: str) -> Iterator[str]:
    """Calls inside belong to the workflow node ``name``."""
    token = _node.set(name)
    try:
        yield name
    finally:
        _node.reset(token)


def current_composition_id() -> str | None:
    """The run id of the surrounding :func:`workflow`, or None."""
    return _composition.get()


def current_node() -> str | None:
    """The node of the surrounding :func:`node`, or None."""
    return _node.get()
