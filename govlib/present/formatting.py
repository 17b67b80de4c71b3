"""Text of numbers, rates, money, durations, times and names: one function per kind of value.

Every function takes whatever a store row, a DataFrame cell or a JSON report field holds (None,
NaN, numpy scalars, strings of numbers) and returns plain text; a missing or non-finite value is
:data:`DASH`. Pure and fast: no pandas, no locale.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DASH",
    "finite",
    "humanize",
    "milliseconds",
    "money",
    "priced_money",
    "number",
    "percent",
    "plural",
    "timestamp",
]

#: Shown for a missing value (None, NaN, infinity, text that is not a number).
DASH = "—"


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, NaN, infinity, non-numbers).

    Example:
        >>> finite("2.5"), finite(float("nan")), finite(None), finite("x")
        (2.5, None, None, None)
    """
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def number(value: Any, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals.

    Example:
        >>> number(12873), number(2.345, 2), number(None)
        ('12,873', '2.35', '—')
    """
    v = finite(value)
    return DASH if v is None else f"{v:,.{digits}f}"


def percent(value: Any, digits: int = 1) -> str:
    """A rate (0..1) as a percentage with ``digits`` decimals.

    Example:
        >>> percent(0.99694), percent(1.0, 0), percent(None)
        ('99.7%', '100%', '—')
    """
    v = finite(value)
    return DASH if v is None else f"{100 * v:.{digits}f}%"


def money(value: Any, digits: int = 4) -> str:
    """An amount in US dollars with ``digits`` decimals (tiny per-call costs stay visible).

    Example:
        >>> money(0.583412), money(1234.5, 2), money(-0.01, 2), money(None)
        ('$0.5834', '$1,234.50', '-$0.01', '—')
    """
    v = finite(value)
    if v is None:
        return DASH
    text = f"${abs(v):,.{digits}f}"
    return "-" + text if v < 0 and text.strip("$0.,") else text


def priced_money(value: Any, calls: Any = None, unpriced: Any = None, digits: int = 4) -> str:
    """A cost that says when receipts behind it are unpriced (never "$0" for unknown).

    ``calls``: receipts summed; ``unpriced``: how many of them have no cost. All unpriced reads
    "unpriced"; some: the priced sum and "+ N unpriced".

    Example:
        >>> priced_money(None, 3, 3), priced_money(0.5, 3, 1), priced_money(0.5, 3, 0)
        ('unpriced', '$0.5000 + 1 unpriced', '$0.5000')
    """
    count = int(finite(unpriced) or 0)
    if count and calls is not None and count >= int(finite(calls) or 0):
        return "unpriced"
    text = money(value or 0.0, digits)
    return f"{text} + {count} unpriced" if count else text


def plural(count: Any, word: str, many: str | None = None) -> str:
    """A count and its noun in the right number: ``1 stored receipt``, ``1,603 stored receipts``.

    ``many``: the plural when it is not ``word + "s"`` (``plural(2, "entry", "entries")``). A
    missing count reads :data:`DASH` with the plural.

    Example:
        >>> plural(1, "stored receipt"), plural(1603, "stored receipt"), plural(0, "tool")
        ('1 stored receipt', '1,603 stored receipts', '0 tools')
        >>> plural(2, "entry", "entries"), plural(None, "run")
        ('2 entries', '— runs')
    """
    v = finite(count)
    noun = word if v is not None and v == 1 else (many or f"{word}s")
    return f"{number(v)} {noun}"


def milliseconds(value: Any) -> str:
    """A duration in milliseconds: whole from 10 ms up, one decimal below.

    Example:
        >>> milliseconds(1263.5), milliseconds(3.25), milliseconds(None)
        ('1,264 ms', '3.2 ms', '—')
    """
    v = finite(value)
    if v is None:
        return DASH
    return f"{v:,.0f} ms" if abs(v) >= 10 else f"{v:.1f} ms"


def _moment(ts: Any) -> datetime | None:
    if isinstance(ts, datetime):
        moment = ts
    else:
        try:
            moment = datetime.fromisoformat(str(ts).strip())
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def timestamp(ts: Any, *, date: bool = True, seconds: bool = True, zone: bool = True) -> str:
    """A stored time (ISO-8601 text or a datetime) in UTC: ``2026-11-23 11:40:12 UTC``.

    ``date=False`` leaves out the day, ``seconds=False`` the seconds, ``zone=False`` the
    ``UTC``. Text that is not a time is returned as it is; None or empty text: :data:`DASH`.

    Example:
        >>> timestamp("2026-11-23T11:40:12.120670Z")
        '2026-11-23 11:40:12 UTC'
        >>> timestamp("2026-11-23T11:40:12Z", date=False), timestamp("2026-11-23T11:40:12Z",
        ...     seconds=False, zone=False)
        ('11:40:12 UTC', '2026-11-23 11:40')
    """
    if ts is None or ts == "":
        return DASH
    moment = _moment(ts)
    if moment is None:
        return str(ts)
    shape = ("%Y-%m-%d " if date else "") + ("%H:%M:%S" if seconds else "%H:%M")
    return moment.strftime(shape) + (" UTC" if zone else "")


def humanize(name: Any) -> str:
    """An identifier in words: ``fraud_scoring`` -> ``fraud scoring`` (None: empty).

    Example:
        >>> humanize("fraud_scoring"), humanize("claims-auto"), humanize(None)
        ('fraud scoring', 'claims auto', '')
    """
    return "" if not name else str(name).replace("_", " ").replace("-", " ").strip()
