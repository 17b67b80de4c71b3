"""Bounds on every value govlib writes: the one table of limits and the checks that enforce it.

Every write boundary (the emitter, the ledger, verdicts, the kill-switch, the tool registry, rules,
workflow runs, OpenTelemetry ingestion) checks its values here, so a stored figure always fits
what the read path sums and shows:

* **token counts**: whole numbers from 0 to :data:`MAX_TOKENS` (10^12 per count of one call);
* **costs**: finite numbers of USD from 0 to :data:`MAX_COST_USD` (10^9 per call);
* **latencies**: whole milliseconds from 0 to :data:`MAX_LATENCY_MS` (30 days);
* **times**: from :data:`EARLIEST` (2000-01-01T00:00:00Z) to now plus the ``max_clock_skew_s``
  setting (default 300 s), so one wrongly dated record cannot move a report period;
* **text**: at most :data:`TEXT_LIMITS` characters per field.

Text that records what happened (a tool call's error, a run summary, a rule's message, the
reason a receipt is unpriced) is truncated with :func:`truncated` so the event is still
recorded; every other value out of bounds is refused with :class:`BoundsError`, whose message
names the field, the value (shortened) and the bound. Imports only the core.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from govlib.errors import GovlibError
from govlib.settings import load_settings

__all__ = [
    "BOUNDS",
    "Bound",
    "BoundsError",
    "EARLIEST",
    "MAX_COST_USD",
    "MAX_LATENCY_MS",
    "MAX_TOKENS",
    "TEXT_LIMITS",
    "TRUNCATED",
    "checked_cost",
    "checked_latency",
    "checked_text",
    "checked_time",
    "checked_tokens",
    "latest_time",
    "shown",
    "skew_seconds",
    "truncated",
]

#: Largest token count of one kind in one receipt.
MAX_TOKENS = 10**12
#: Largest cost of one receipt, USD.
MAX_COST_USD = 1e9
#: Longest latency of one tool call, milliseconds (30 days).
MAX_LATENCY_MS = 30 * 24 * 3600 * 1000
#: Earliest time any record may carry.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: The marker that ends a truncated text; ``{n}`` is the length of the original text.
TRUNCATED = "…[truncated, {n} characters]"

_EARLIEST_NS = int(EARLIEST.timestamp()) * 1_000_000_000
_SHOWN = 40


@dataclass(frozen=True)
class Bound:
    """One bounded field: its limit, the columns it covers and what happens beyond it.

    Example:
        >>> BOUNDS["error"].exceeded
        'truncated'
    """

    field: str
    limit: str
    exceeded: str
    covers: str


def _text_bound(field: str, chars: int, covers: str, exceeded: str = "refused") -> Bound:
    return Bound(field, f"{chars:,} characters", exceeded, covers)


#: Longest text per field, in characters (what each field covers: :data:`BOUNDS`).
TEXT_LIMITS: dict[str, int] = {
    "tenant": 256,
    "actor": 256,
    "tool_name": 256,
    "run_id": 256,
    "node": 256,
    "model": 256,
    "provider": 256,
    "by": 256,
    "reason": 2_000,
    "rule": 200,
    "description": 2_000,
    "schema": 100_000,
    "definition": 100_000,
    "workflow_id": 256,
    "subject": 256,
    "status": 64,
    "detail": 20_000,
    "error": 500,
    "summary": 2_000,
    "message": 2_000,
    "unpriced_reason": 2_000,
}
#: Text fields that are truncated (with :data:`TRUNCATED`) instead of refused.
_TRUNCATED_FIELDS = frozenset(("error", "summary", "message", "unpriced_reason"))

_COVERS = {
    "tenant": "`audit_log.tenant_id`, `token_ledger.tenant_id`, `workflow_runs.tenant_id`",
    "actor": "`audit_log.actor`",
    "tool_name": "`audit_log.tool_name`, `tool_registry.name`, a rule's `scope.tool`",
    "run_id": "`audit_log.composition_id`, `token_ledger.run_id`, `workflow_runs.composition_id`, "
    "`node_runs.run_id`, `kill_switch_events.run_id`",
    "node": "`token_ledger.node`, `node_runs.node`, `workflow_runs.stopped_at_node`, "
    "a rule's `scope.node`",
    "model": "`token_ledger.model`",
    "provider": "`token_ledger.provider`",
    "by": "`verdict_events.verdict_by` (and `audit_log.verdict_by`), `kill_switch_events.by`, "
    "`tool_registry.updated_by`",
    "reason": "`kill_switch_events.reason`, `verdict_events.reason` (a correction's reason)",
    "rule": "`governance_rules.id`, `kill_switch_events.rule`",
    "description": "`tool_registry.description`, `governance_rules.description`",
    "schema": "`tool_registry.input_schema` (canonical JSON)",
    "definition": "`governance_rules.definition` (canonical JSON, the condition included)",
    "workflow_id": "`workflow_runs.workflow_id`, `workflows.id`, `workflows.name`",
    "subject": "`workflow_runs.subject`",
    "status": "`workflow_runs.status`, `node_runs.status`",
    "detail": "`node_runs.detail` (JSON)",
    "error": "`audit_log.error` (a tool call's `ClassName: message`)",
    "summary": "`workflow_runs.summary`",
    "message": "a rule evaluation's message (WORM `detail.message`, a trip's kill-switch "
    "reason), a node's `detail.message`",
    "unpriced_reason": "`token_ledger.unpriced_reason`",
}

#: Every bounded field, as the docs' "Bounds" table lists it.
BOUNDS: dict[str, Bound] = {
    "tokens": Bound(
        "tokens",
        "whole number from 0 to 1,000,000,000,000 (10^12)",
        "refused",
        "`token_ledger.input_tokens`, `output_tokens`, `cache_read_tokens`, "
        "`cache_write_tokens` (each)",
    ),
    "cost_usd": Bound(
        "cost_usd",
        "finite number from 0 to 1,000,000,000 USD (10^9)",
        "refused",
        "`token_ledger.cost_usd` (a provider's figure or the table-priced cost)",
    ),
    "latency_ms": Bound(
        "latency_ms",
        f"whole number from 0 to {MAX_LATENCY_MS:,} (30 days)",
        "refused",
        "`audit_log.latency_ms`",
    ),
    "time": Bound(
        "time",
        "from 2000-01-01T00:00:00Z to now + `max_clock_skew_s` (default 300 s)",
        "refused",
        "every `*_at` column written (`created_at`, `started_at`, `ended_at`, `verdict_at`, "
        "`at`, `updated_at`) and the WORM entries written with them",
    ),
}
BOUNDS |= {
    name: _text_bound(
        name, chars, _COVERS[name], "truncated" if name in _TRUNCATED_FIELDS else "refused"
    )
    for name, chars in TEXT_LIMITS.items()
}


class BoundsError(GovlibError, ValueError):
    """A value is outside its documented bound; the message names the field, the value and the bound.

    ``field``, ``value`` and ``expected`` keep them apart (the OpenTelemetry ingest summary uses
    them to name the span attribute).

    Example:
        >>> str(BoundsError("input_tokens", 2**62, "a whole number from 0 to 10^12"))
        'input_tokens: 4611686018427387904; expected a whole number from 0 to 10^12'
    """

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field, self.value, self.expected = field, value, expected
        super().__init__(f"{field}: {shown(value)}; expected {expected}")


def shown(value: Any) -> str:
    """``value`` for a message: its ``repr`` cut to 40 characters, with the length of long text.

    Example:
        >>> shown("x" * 100)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' (100 characters)"
        >>> shown(2**200)
        'an integer of 201 bits'
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of {value.bit_length()} bits"
    if isinstance(value, str) and len(value) > _SHOWN:
        head = repr(value[: _SHOWN - 4])
        return f"{head[:-1]}…{head[-1]} ({len(value):,} characters)"
    text = repr(value[: _SHOWN * 2] if isinstance(value, str | bytes | list) else value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


# --- text ----------------------------------------------------------------------------------------
def _limit(kind: str) -> int:
    try:
        return TEXT_LIMITS[kind]
    except KeyError:
        msg = f"no text bound named {kind!r}; expected one of {sorted(TEXT_LIMITS)}"
        raise KeyError(msg) from None


def checked_text(
    field: str, value: Any, *, kind: str | None = None, optional: bool = True
) -> str | None:
    """``value`` when it is text within the bound of ``kind`` (default ``field``), else refused.

    None passes when ``optional``. Refuses non-text, text longer than the bound and text that is
    not valid UTF-8 (lone surrogates), with :class:`BoundsError` naming ``field``.

    Example:
        >>> checked_text("tenant", "acme")
        'acme'
        >>> try:
        ...     checked_text("tenant", "x" * 300)
        ... except BoundsError as exc:
        ...     print(exc)
        tenant: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' (300 characters); expected text of at most 256 characters
    """
    limit = _limit(kind or field)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise BoundsError(field, value, "text or None" if optional else "text")
    if len(value) > limit:
        raise BoundsError(field, value, f"text of at most {limit:,} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BoundsError(field, value, "valid UTF-8 text") from None
    return value


def truncated(field: str, value: Any) -> str | None:
    """Text that records what happened, cut to its bound with the marker :data:`TRUNCATED`.

    Text within the bound (and None) is returned as it is; longer text keeps its start and ends
    with ``…[truncated, N characters]`` (N: the original length), the whole exactly at the bound.
    Lone surrogates become U+FFFD so the text can be stored. Non-text is refused.

    Example:
        >>> truncated("error", "ValueError: " + "x" * 1000)[-32:]
        'xxx…[truncated, 1012 characters]'
        >>> len(truncated("error", "y" * 1000))
        500
    """
    limit = _limit(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BoundsError(field, value, "text or None")
    if len(value) > limit:
        marker = TRUNCATED.format(n=len(value))
        value = value[: limit - len(marker)] + marker
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


# --- numbers -------------------------------------------------------------------------------------
def checked_tokens(field: str, value: Any) -> int:
    """A token count: a whole number (not a bool, not a float) from 0 to :data:`MAX_TOKENS`.

    Example:
        >>> checked_tokens("input_tokens", 1200)
        1200
        >>> try:
        ...     checked_tokens("input_tokens", 2**62)
        ... except BoundsError as exc:
        ...     print(exc)
        input_tokens: 4611686018427387904; expected a whole number of tokens from 0 to 1,000,000,000,000
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not 0 <= value <= MAX_TOKENS:
        raise BoundsError(field, value, f"a whole number of tokens from 0 to {MAX_TOKENS:,}")
    return int(value)


def checked_cost(field: str, value: Any) -> float:
    """A cost in USD: a finite real number (not a bool) from 0 to :data:`MAX_COST_USD`.

    Example:
        >>> checked_cost("cost_usd", 0.25)
        0.25
        >>> try:
        ...     checked_cost("cost_usd", 1e308)
        ... except BoundsError as exc:
        ...     print(exc)
        cost_usd: 1e+308; expected a finite number of USD from 0 to 1,000,000,000
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 <= value <= MAX_COST_USD:
        raise BoundsError(field, value, f"a finite number of USD from 0 to {MAX_COST_USD:,.0f}")
    return float(value)


def checked_latency(field: str, value: Any) -> int:
    """A latency: whole milliseconds from 0 to :data:`MAX_LATENCY_MS` (30 days).

    Example:
        >>> checked_latency("latency_ms", 250)
        250
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not 0 <= value <= MAX_LATENCY_MS:
        raise BoundsError(
            field, value, f"whole milliseconds from 0 to {MAX_LATENCY_MS:,} (30 days)"
        )
    return int(value)


# --- time ----------------------------------------------------------------------------------------
_SKEW_CACHE: dict[tuple[Any, ...], float] = {}


def skew_seconds(data_dir: str | os.PathLike[str] | None = None) -> float:
    """The ``max_clock_skew_s`` setting for ``data_dir`` (``govlib.json``, then the environment).

    Cached per data dir while ``govlib.json`` and ``GOVLIB_MAX_CLOCK_SKEW_S`` stay the same.

    Example:
        >>> skew_seconds() >= 0
        True
    """
    config = Path(data_dir) / "govlib.json" if data_dir is not None else None
    try:
        stamp = config.stat().st_mtime_ns if config is not None else None
    except OSError:
        stamp = None
    key = (str(data_dir), stamp, os.environ.get("GOVLIB_MAX_CLOCK_SKEW_S"))
    if key not in _SKEW_CACHE:
        value = float(load_settings(data_dir).max_clock_skew_s)
        if not math.isfinite(value) or value < 0:
            raise BoundsError("max_clock_skew_s", value, "a finite number of seconds >= 0")
        if len(_SKEW_CACHE) > 64:
            _SKEW_CACHE.clear()
        _SKEW_CACHE[key] = value
    return _SKEW_CACHE[key]


def latest_time(skew_s: float | None = None) -> datetime:
    """The latest time a record may carry: now (the real clock) plus the allowed skew.

    Example:
        >>> latest_time(0) <= datetime.now(UTC)
        True
    """
    skew = skew_seconds() if skew_s is None else skew_s
    return datetime.now(UTC) + timedelta(seconds=skew)


def _as_datetime(field: str, value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BoundsError(
                field, value, "an ISO-8601 time such as '2026-01-31T09:00:00Z'"
            ) from None
    if not isinstance(value, datetime):
        raise BoundsError(field, value, "a datetime or an ISO-8601 time")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def checked_time(field: str, value: Any, *, skew_s: float | None = None) -> Any:
    """``value`` (ISO-8601 text, a datetime, or integer nanoseconds since the epoch), unchanged,
    when it lies from :data:`EARLIEST` to :func:`latest_time`; else :class:`BoundsError`.

    ``skew_s``: the allowed clock skew (default :func:`skew_seconds` of no data dir).

    Example:
        >>> checked_time("created_at", "2026-01-31T09:00:00Z")
        '2026-01-31T09:00:00Z'
        >>> try:
        ...     checked_time("created_at", "9999-12-31T00:00:00Z", skew_s=300)
        ... except BoundsError as exc:
        ...     print(str(exc)[:92])
        created_at: '9999-12-31T00:00:00Z'; expected a time from 2000-01-01T00:00:00Z to now + 300 s
    """
    latest = latest_time(skew_s)
    if isinstance(value, int) and not isinstance(value, bool):
        ok = _EARLIEST_NS <= value <= int(latest.timestamp() * 1e9)
    else:
        ok = EARLIEST <= _as_datetime(field, value) <= latest
    if not ok:
        skew = skew_seconds() if skew_s is None else skew_s
        until = latest.strftime("%Y-%m-%dT%H:%M:%SZ")
        raise BoundsError(
            field, value, f"a time from 2000-01-01T00:00:00Z to now + {skew:g} s ({until})"
        )
    return value
