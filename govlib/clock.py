"""Injectable time: what "now" is and which latency a tool call records.

Live capture uses :class:`SystemClock` (wall time, measured latency). Seeded histories use
:class:`SimClock`: time only moves when told to, and each call's latency is drawn from a model, so
the same seed gives the same rows byte for byte.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from govlib.errors import GovlibError

__all__ = [
    "Clock",
    "ClockError",
    "SystemClock",
    "SimClock",
    "as_utc",
    "iso",
    "now_iso",
    "utc_now_iso",
]


def utc_now_iso() -> str:
    """Now, as ISO-8601 UTC with microseconds and a ``Z`` (the format of every ``*_at`` column)."""
    return iso(datetime.now(UTC))


def now_iso(clock: Clock | None = None) -> str:
    """``clock``'s now as ISO-8601 UTC; without a clock, the real time (:func:`utc_now_iso`).

    Example:
        >>> now_iso(SimClock(datetime(2026, 1, 2, tzinfo=UTC)))
        '2026-01-02T00:00:00.000000Z'
    """
    return iso(clock.now()) if clock is not None else utc_now_iso()


def iso(moment: datetime) -> str:
    """A datetime as ISO-8601 UTC with microseconds and a trailing ``Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ClockError(GovlibError):
    """A clock was given an unusable value (start time, latency, step)."""


@runtime_checkable
class Clock(Protocol):
    """What the emitter, ledger and governance ask of a clock.

    Example:
        >>> isinstance(SystemClock(), Clock)
        True
    """

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def latency_ms(self, tool: str, measured_ms: float) -> float:
        """The latency to record for a call of ``tool`` that measured ``measured_ms``."""
        ...


class SystemClock:
    """Wall-clock time; the recorded latency is the measured one.

    Example:
        >>> SystemClock().latency_ms("lookup", 1.5)
        1.5
    """

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)

    def latency_ms(self, tool: str, measured_ms: float) -> float:
        """The measured latency, unchanged."""
        return measured_ms

    def iso(self) -> str:
        """Now as ISO-8601 UTC (``2026-11-23T10:02:03.123456Z``)."""
        return iso(self.now())

    def __repr__(self) -> str:
        return "SystemClock()"


def as_utc(value: datetime | str, field: str) -> datetime:
    """A datetime or ISO-8601 text as an aware UTC datetime (naive means UTC).

    Raises ClockError naming ``field`` and the value when it is neither.

    Example:
        >>> as_utc("2026-01-31T10:00:00+01:00", "at").isoformat()
        '2026-01-31T09:00:00+00:00'
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ClockError(
                f"{field}: {value!r}; expected an ISO-8601 time such as '2026-01-31T09:00:00Z'"
            ) from None
    if not isinstance(value, datetime):
        raise ClockError(f"{field}: {value!r}; expected a datetime or an ISO-8601 string")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _checked_ms(value: object, tool: str) -> float:
    try:
        ms = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ms = math.nan
    if not math.isfinite(ms) or ms < 0:
        raise ClockError(
            f"latency_model({tool!r}): returned {value!r}; expected a finite number of "
            "milliseconds >= 0"
        )
    return ms


class SimClock:
    """A simulated clock for reproducible histories.

    Parameters
    ----------
    start : datetime or str
        The first "now" (naive datetimes are taken as UTC; ISO strings accepted).
    latency_model : callable, optional
        ``latency_model(tool_name) -> milliseconds``. :meth:`latency_ms` samples it, advances the
        clock by the sample and returns it. Without a model the measured latency is recorded (and
        still advances the clock), which is not reproducible; seeded histories pass a model.

    Example:
        >>> clock = SimClock("2026-01-01T09:00:00Z", lambda tool: 250.0)
        >>> clock.latency_ms("lookup", 0.01)
        250.0
        >>> clock.iso()
        '2026-01-01T09:00:00.250000Z'
    """

    def __init__(
        self,
        start: datetime | str,
        latency_model: Callable[[str], float] | None = None,
    ) -> None:
        self._now = as_utc(start, "start")
        self._model = latency_model
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The simulated current time (UTC)."""
        return self._now

    def iso(self) -> str:
        """The simulated time as ISO-8601 UTC with microseconds and ``Z``."""
        return iso(self._now)

    def advance(self, seconds: float) -> datetime:
        """Move time forward by ``seconds`` (>= 0) and return the new now.

        Example:
            >>> SimClock("2026-01-01T00:00:00Z").advance(90).isoformat()
            '2026-01-01T00:01:30+00:00'
        """
        try:
            step = float(seconds)
        except (TypeError, ValueError):
            step = math.nan
        if not math.isfinite(step) or step < 0:
            raise ClockError(f"seconds: {seconds!r}; expected a finite number >= 0")
        with self._lock:
            self._now += timedelta(seconds=step)
            return self._now

    def set(self, moment: datetime | str) -> datetime:
        """Jump to ``moment`` (e.g. the start of the next simulated working day).

        Example:
            >>> SimClock("2026-01-01T00:00:00Z").set("2026-01-02T08:00:00Z").day
            2
        """
        with self._lock:
            self._now = as_utc(moment, "moment")
            return self._now

    def latency_ms(self, tool: str, measured_ms: float) -> float:
        """Sample the latency model for ``tool``, advance time by it and return it (ms)."""
        ms = _checked_ms(self._model(tool), tool) if self._model else float(measured_ms)
        with self._lock:
            self._now += timedelta(milliseconds=ms)
        return ms

    def __repr__(self) -> str:
        return f"SimClock({self.iso()!r})"
