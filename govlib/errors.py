"""The one base class of govlib's own errors (the CLI turns them into exit code 2, no traceback)."""

from __future__ import annotations

__all__ = ["GovlibError", "GovernanceRefused", "checked_text"]


class GovlibError(Exception):
    """A problem govlib can explain: the message names the field or path, the value and what was expected."""


class GovernanceRefused(GovlibError):
    """A governed call or step was refused (kill-switch, registry, a deny rule); nothing executed."""

    def __init__(self, message: str, *, reason: str = "refused", rule: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.rule = rule


def checked_text(
    field: str, value: object, *, optional: bool = True, limit: int = 10_000
) -> str | None:
    """``value`` when it is text (or None when ``optional``), else a :class:`GovlibError`.

    Example:
        >>> checked_text("tenant", "acme")
        'acme'
    """
    if value is None and optional:
        return None
    if not isinstance(value, str):
        expected = "text or None" if optional else "text"
        raise GovlibError(f"{field}: {value!r:.80}; expected {expected}")
    if len(value) > limit:
        raise GovlibError(f"{field}: {len(value)} characters; expected at most {limit}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise GovlibError(f"{field}: {value!r:.80}; expected valid UTF-8 text") from None
    return value
