"""The one base class of govlib's own errors (the CLI turns them into exit code 2, no traceback)."""

from __future__ import annotations

__all__ = ["GovlibError", "GovernanceRefused"]


class GovlibError(Exception):
    """A problem govlib can explain: the message names the field or path, the value and what was expected."""


class GovernanceRefused(GovlibError):
    """A governed call or step was refused (kill-switch, registry, a deny rule); nothing executed."""

    def __init__(self, message: str, *, reason: str = "refused", rule: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.rule = rule
