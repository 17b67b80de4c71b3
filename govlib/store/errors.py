"""The store's errors, in a module of their own so the store's helpers can raise them too."""

from __future__ import annotations

from govlib.errors import GovlibError

__all__ = ["StoreError", "SchemaVersionError"]


class StoreError(GovlibError):
    """The store cannot be opened or used; the message names the file and the problem."""


class SchemaVersionError(StoreError):
    """The store was written by a newer govlib."""
