"""Pure alert rules: a snapshot of conditions and the previous states in, alerts out.

A *condition* is one thing that can be on or off (the kill-switch triggered, the chain broken,
tool ``ocr`` drifting). An alert is raised when a condition *changes* (off -> on, on -> off),
never once per poll: that is the deduplication. A change that flips back within the hold-down
is not raised. Quiet hours hold back every kind but ``kill_switch`` and ``chain``: the change
stays pending and is raised once the quiet hours end (if it still holds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from govlib.errors import GovlibError

__all__ = [
    "ALERT_KINDS",
    "URGENT_KINDS",
    "AlertRuleError",
    "Condition",
    "Alert",
    "evaluate",
    "in_quiet_hours",
    "parse_quiet_hours",
    "alert_id",
]

#: The kinds a destination can subscribe to with ``--on``.
ALERT_KINDS: tuple[str, ...] = (
    "kill_switch",
    "chain",
    "drift",
    "pill",
    "sampling",
    "backlog",
    "budget",
    "ingest",
)

#: Kinds quiet hours never hold back.
URGENT_KINDS: frozenset[str] = frozenset({"kill_switch", "chain"})


class AlertRuleError(GovlibError, ValueError):
    """A rule or setting that cannot be used (the message names the field and value)."""


@dataclass(frozen=True)
class Condition:
    """One condition as observed now.

    ``key`` names it (``kill_switch``, ``drift:ocr``), ``kind`` is one of :data:`ALERT_KINDS`,
    ``state`` a short word (``triggered``/``armed``, ``drift``/``stable``); ``on_name`` and
    ``off_name`` the alert names for a change to an alarming / a normal state.
    """

    key: str
    kind: str
    state: str
    normal: bool
    summary: str
    url: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    owner: str | None = None
    on_name: str = ""
    off_name: str = ""


@dataclass(frozen=True)
class Alert:
    """A raised alert (what the destinations receive)."""

    alert_id: str
    kind: str
    name: str
    key: str
    summary: str
    url: str
    evidence: Mapping[str, Any]
    raised_at: str
    owner: str | None = None

    def as_payload(self) -> dict[str, Any]:
        """The generic webhook body (the stable, documented schema)."""
        return {
            "alert_id": self.alert_id,
            "kind": self.name,
            "category": self.kind,
            "summary": self.summary,
            "url": self.url,
            "evidence": dict(self.evidence),
            "raised_at": self.raised_at,
            "owner": self.owner,
        }


def parse_quiet_hours(text: str) -> tuple[int, int] | None:
    """``"22:00-07:00"`` -> minutes of the day (start, end); ``""`` -> None.

    Example:
        >>> parse_quiet_hours("22:00-07:30")
        (1320, 450)
    """
    if not text.strip():
        return None
    try:
        start, end = (part.strip() for part in text.split("-"))
        return _minutes(start), _minutes(end)
    except (ValueError, TypeError):
        raise AlertRuleError(
            f"alert_quiet_hours: {text!r} is not a time range; expected HH:MM-HH:MM "
            "(e.g. 22:00-07:00) or an empty string"
        ) from None


def _minutes(hhmm: str) -> int:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(hhmm)
    return hours * 60 + minutes


def in_quiet_hours(now: datetime, quiet: tuple[int, int] | None) -> bool:
    """Whether ``now`` (its wall-clock time) falls in the quiet range (which may wrap midnight).

    Example:
        >>> in_quiet_hours(datetime(2026, 1, 1, 23, 0), (1320, 420))
        True
    """
    if quiet is None:
        return False
    start, end = quiet
    minute = now.hour * 60 + now.minute
    return start <= minute < end if start <= end else minute >= start or minute < end


def alert_id(key: str, state: str, since: str) -> str:
    """Stable id of one condition change (the same change always gets the same id)."""
    return hashlib.sha256(f"{key}\x1f{state}\x1f{since}".encode()).hexdigest()[:20]


def evaluate(
    conditions: list[Condition],
    previous: Mapping[str, Mapping[str, Any]],
    now: datetime,
    *,
    quiet: tuple[int, int] | None = None,
    hold_down_s: float = 0.0,
) -> tuple[list[Alert], dict[str, dict[str, Any]]]:
    """Alerts for the conditions that changed, and the states to remember.

    Parameters
    ----------
    conditions
        Every condition observed now.
    previous
        ``key -> {"state", "since", "seen"}`` as returned last time (``state`` is the last
        *alerted* state; ``seen``/``since`` the last observed state and when it began).
    now
        The tick's time (aware or naive UTC; quiet hours use its wall-clock time).
    quiet, hold_down_s
        Quiet hours (:func:`parse_quiet_hours`) and how long a new state must hold before it is
        raised (kill-switch and chain changes are raised at once).

    Returns
    -------
    (alerts, states): the new states replace ``previous`` entirely for the keys observed.

    Example:
        >>> c = Condition("kill_switch", "kill_switch", "triggered", False, "stop",
        ...               on_name="kill_switch_triggered")
        >>> alerts, states = evaluate([c], {}, datetime(2026, 1, 1))
        >>> [a.name for a in alerts], evaluate([c], states, datetime(2026, 1, 1))[0]
        (['kill_switch_triggered'], [])
    """
    stamp = now.isoformat()
    quiet_now = in_quiet_hours(now, quiet)
    alerts: list[Alert] = []
    states: dict[str, dict[str, Any]] = {}
    for cond in conditions:
        before = previous.get(cond.key)
        seen_since = stamp
        if before is not None and before.get("seen") == cond.state:
            seen_since = str(before.get("since") or stamp)
        alerted = before.get("state") if before is not None else None
        state = {"state": alerted, "seen": cond.state, "since": seen_since}
        if _due(cond, alerted, seen_since, now, quiet_now, hold_down_s):
            name = cond.off_name if cond.normal else cond.on_name
            alerts.append(
                Alert(
                    alert_id(cond.key, cond.state, seen_since),
                    cond.kind,
                    name or f"{cond.kind}_{cond.state}",
                    cond.key,
                    cond.summary,
                    cond.url,
                    dict(cond.evidence),
                    stamp,
                    cond.owner,
                )
            )
        if _due(cond, alerted, seen_since, now, quiet_now, hold_down_s) or (
            alerted is None and cond.normal
        ):
            state["state"] = cond.state
        states[cond.key] = state
    return alerts, states


def _due(
    cond: Condition,
    alerted: str | None,
    seen_since: str,
    now: datetime,
    quiet_now: bool,
    hold_down_s: float,
) -> bool:
    """Whether this condition's current state is a change to raise now."""
    if cond.state == alerted or (alerted is None and cond.normal):
        return False  # no change; or first sight of a normal state (nothing happened)
    urgent = cond.kind in URGENT_KINDS
    if quiet_now and not urgent:
        return False
    held = (now - datetime.fromisoformat(seen_since)).total_seconds()
    return urgent or held >= hold_down_s
