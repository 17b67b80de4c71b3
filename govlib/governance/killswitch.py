"""The kill-switch: armed or triggered, every change a row plus a WORM entry in one transaction.

While it is triggered every governed tool call and workflow step is refused (see
:class:`govlib.governance.governor.Governor`); it is reset by a named person with a reason.

Bounds (:mod:`govlib.bounds`): ``by`` at most 256 characters, ``reason`` at most 2,000, ``rule``
200, ``run_id`` 256; the event's time (the clock's now) from 2000-01-01 to now +
``max_clock_skew_s``. Beyond them the change is refused (:class:`~govlib.bounds.BoundsError`)
and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govlib import bounds
from govlib.clock import now_iso
from govlib.errors import GovlibError
from govlib.evidence.binder import append_bound, binding_seq, proven_rows
from govlib.evidence.people import person_name, pseudonymise
from govlib.store.database import Store

__all__ = ["GovernanceError", "KillSwitch", "KillSwitchState", "checked_name"]


class GovernanceError(GovlibError):
    """A governance request that cannot be done (e.g. resetting an armed kill-switch)."""


def checked_name(field: str, value: Any, kind: str | None = None) -> str:
    """``value`` stripped, when it is non-empty text (a person's name, a reason, a tool name)
    within the :mod:`govlib.bounds` length of ``kind`` (default ``field``).

    Example:
        >>> checked_name("by", "  Dana Ortiz ")
        'Dana Ortiz'
    """
    if not isinstance(value, str) or not value.strip():
        raise GovernanceError(f"{field}: {bounds.shown(value)}; expected a non-empty name or text")
    return bounds.checked_text(field, value.strip(), kind=kind, optional=False)  # type: ignore[return-value]


# --- kill-switch --------------------------------------------------------------------------------
@dataclass(frozen=True)
class KillSwitchState:
    """The kill-switch as of its latest ``kill_switch_events`` row (none: armed).

    Example:
        >>> KillSwitch(Store(memory=True)).state().describe()
        'Kill-switch armed (never triggered): governed calls run.'
    """

    state: str
    by: str | None = None
    at: str | None = None
    reason: str | None = None
    rule: str | None = None
    run_id: str | None = None
    worm_seq: int | None = None

    @property
    def armed(self) -> bool:
        """True when governed calls may run."""
        return self.state == "armed"

    def describe(self) -> str:
        """One plain-language line for people."""
        if self.armed and self.by is None:
            return "Kill-switch armed (never triggered): governed calls run."
        if self.armed:
            return f"Kill-switch armed: reset by {self.by} at {self.at} ({self.reason})."
        run = f" in run {self.run_id}" if self.run_id else ""
        return (
            f"Kill-switch TRIGGERED by {self.by} at {self.at}{run}: {self.reason}. Every governed "
            "call is refused until `govlib killswitch reset --by NAME --reason TEXT`."
        )


class KillSwitch:
    """Armed / triggered switch; trigger and reset are rows plus WORM entries, one transaction.

    Example:
        >>> ks = KillSwitch(Store(memory=True))
        >>> ks.trigger("Dana Ortiz", "incident 42").armed, ks.reset("Dana Ortiz", "fixed").armed
        (False, True)
    """

    def __init__(self, store: Store, clock: Any | None = None) -> None:
        self.store = store
        self.clock = clock

    def state(self, *, proven: bool = True) -> KillSwitchState:
        """The current state (latest event; no events = armed), read from proven rows only.

        Every event row must be proven by the WORM entry that binds it: an inserted, edited or
        deleted event raises :class:`~govlib.evidence.bindings.BindingError` naming the row, so
        a decision that reads the state fails closed. ``proven=False`` reads the rows as they
        are, for a page that shows them beside the verification result.
        """
        if proven:
            rows = proven_rows(self.store, "kill_switch_events")
        else:
            rows = [dict(r) for r in self.store.query("SELECT * FROM kill_switch_events")]
        if not rows:
            return KillSwitchState("armed")
        row = max(rows, key=lambda r: r["id"])
        state = "triggered" if row["state"] == "triggered" else "armed"
        return KillSwitchState(
            state,
            by=person_name(self.store, row["by"]),
            **{f: row[f] for f in ("at", "reason", "rule", "run_id", "worm_seq")},
        )

    def _event(
        self, state: str, by: str, reason: str, rule: str | None, run_id: str | None
    ) -> None:
        at = now_iso(self.clock)
        if self.clock is not None:
            bounds.checked_time("at", at, skew_s=bounds.skew_seconds(self.store.data_dir))
        action = "kill_switch_triggered" if state == "triggered" else "kill_switch_reset"
        with self.store.transaction():
            # The row and the chained body hold the pseudonym; the name is only in ``people``.
            by = pseudonymise(self.store, by)
            detail = {"by": by, "reason": reason}
            seq = binding_seq(self.store)
            event_id = self.store.insert(
                "kill_switch_events",
                {"state": state, "by": by, "reason": reason, "rule": rule, "run_id": run_id}
                | {"at": at, "worm_seq": seq},
            )
            append_bound(
                self.store,
                action,
                [("kill_switch_events", event_id)],
                run_id=run_id,
                rule=rule,
                outcome=state,
                detail=detail,
                ts=at,
            )

    def trigger(
        self, by: str, reason: str, rule: str | None = None, run_id: str | None = None
    ) -> KillSwitchState:
        """Trigger it (already triggered: nothing written, the current state returned)."""
        by, reason = checked_name("by", by), checked_name("reason", reason)
        bounds.checked_text("rule", rule)
        bounds.checked_text("run_id", run_id)
        with self.store.transaction():
            if self.state().armed:
                self._event("triggered", by, reason, rule, run_id)
        return self.state()

    def reset(self, by: str, reason: str) -> KillSwitchState:
        """Reset a triggered switch, by a named person with a reason (armed: refused)."""
        by, reason = checked_name("by", by), checked_name("reason", reason)
        with self.store.transaction():
            current = self.state()
            if current.armed:
                raise GovernanceError(
                    "kill-switch: reset refused: it is armed, not triggered; expected a "
                    f"triggered switch ({current.describe()})"
                )
            self._event("reset", by, reason, None, None)
        return self.state()
