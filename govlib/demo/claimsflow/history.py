"""The seeded multi-week history: the same ClaimsFlow code, a simulated clock, injected changes.

:func:`generate_history` runs claims arriving over ``days`` days ending at ``as_of`` through
:class:`~govlib.demo.claimsflow.engine.ClaimsEngine` with a :class:`~govlib.clock.SimClock` whose
latency model is :class:`~govlib.demo.claimsflow.simulation.LatencyModel` (lognormal per tool cut at
+-2.8 sigma, coefficient of variation ~0.3), and a :class:`~govlib.demo.claimsflow.simulation.FaultModel` for tool
errors (retried once by the engine). It is a discrete-event
simulation: claim arrivals, kill-switch resets and human verdicts are events in time order; events
after ``as_of`` do not happen. Everything random comes from ``seed``; nothing from the wall clock.

Injected process changes, relative to ``as_of`` (what the SPC dashboard should catch):

- ``policy_lookup``: latency drift, ramping linearly from x1 to x3 over the last 4 days;
- ``document_extraction``: suddenly ~5x faster for the last 2.5 days (suspected no-op answers;
  reviewers reject more of them);
- ``claim_history``: errors jump from 0.15% to 15% for the last 3 days;
- ``fraud_scoring``: about 2% of its calls send a flag as ``true`` where the schema says ``0/1``
  (the score is the same; ``schema_valid`` is 0: the dashboard's "Schema valid" pill).

Every other tool stays in control. A fraud claim trips the kill-switch; the on-call person of the
week resets it 25-110 minutes later; claims arriving meanwhile are refused and recorded.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from govlib.capture.verdicts import correct_verdict, stamp_verdict
from govlib.clock import SimClock, iso
from govlib.demo.claimsflow.claims import CLAIM_KINDS, random_claim
from govlib.demo.claimsflow.engine import ClaimsEngine
from govlib.demo.claimsflow.refdata import reference_data
from govlib.demo.claimsflow.scenarios import register_claimsflow
from govlib.demo.claimsflow.simulation import (
    INJECTED,
    ArgumentQuirks,
    FaultModel,
    LatencyModel,
    Quota,
    arrivals,
    model_seconds,
    stream,
)
from govlib.errors import GovlibError
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.store.database import Store

__all__ = [
    "REVIEWERS",
    "ON_CALL",
    "REVIEW_SHARE",
    "HistoryError",
    "HistorySummary",
    "parse_as_of",
    "default_as_of",
    "generate_history",
]

REVIEWERS = ("Priya Nair", "Tom Becker", "Grace Liu", "Omar Haddad")
ON_CALL = ("Dana Ortiz", "Sam Patel", "Lee Okafor")
REVIEW_SHARE = 0.08


class HistoryError(GovlibError):
    """A history parameter is unusable; the message names it, its value and what is expected."""


def default_as_of(now: datetime | None = None) -> datetime:
    """The start of the current hour (UTC).

    Example:
        >>> default_as_of(datetime(2026, 11, 23, 14, 37, tzinfo=UTC)).isoformat()
        '2026-11-23T14:00:00+00:00'
    """
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def parse_as_of(value: str | date | datetime | None) -> datetime:
    """``--as-of``: None (start of this hour), an ISO date (midnight UTC) or date/time (UTC).

    Raises
    ------
    HistoryError
        Naming the value and the expected forms.

    Example:
        >>> parse_as_of("2026-11-20").isoformat()
        '2026-11-20T00:00:00+00:00'
    """
    if value is None:
        return default_as_of()
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise HistoryError(
                f"as_of: {value!r}; expected an ISO date or date/time in UTC, e.g. 2026-11-20 "
                "or 2026-11-20T14:00:00Z"
            ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class HistorySummary:
    """What the history produced: runs by status, kill-switch trips and resets, verdicts.

    Example:
        >>> HistorySummary(start=datetime(2026, 1, 1, tzinfo=UTC), as_of=datetime(2026, 1, 2,
        ...     tzinfo=UTC)).runs
        0
    """

    start: datetime
    as_of: datetime
    runs: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    trips: int = 0
    resets: int = 0
    verdicts: int = 0
    corrections: int = 0


def generate_history(
    store: Store,
    *,
    days: int = 30,
    as_of: str | date | datetime | None = None,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> HistorySummary:
    """Run ``days`` days of seeded ClaimsFlow history ending at ``as_of`` into ``store``.

    One transaction per simulated day (nested writes join it). ``progress(done, total)`` is
    called after each day.

    Raises
    ------
    HistoryError
        ``days`` outside 0..365 or an unreadable ``as_of``.

    Example:
        >>> s = generate_history(Store(memory=True), days=1, as_of="2026-11-20", seed=7)
        >>> s.runs > 10
        True
    """
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365:
        raise HistoryError(f"days: {days!r}; expected a whole number of days from 0 to 365")
    end = parse_as_of(as_of)
    start = end - timedelta(days=days)
    summary = HistorySummary(start=start, as_of=end)
    latency = LatencyModel(stream(seed, "latency"), as_of=end)
    clock = SimClock(start - timedelta(hours=1), latency)
    latency.clock = clock
    register_claimsflow(store, clock=clock)
    engine = ClaimsEngine(
        store,
        clock=clock,
        faults=FaultModel(stream(seed, "faults"), as_of=end, clock=clock),
        model_seconds=model_seconds(stream(seed, "model")),
        batch_audit=True,
        arguments=ArgumentQuirks(stream(seed, "arguments")),
    )
    sim = _Simulation(store, engine, clock, seed, start, end, summary)
    sim.run(days, progress)
    return summary


class _Simulation:
    """The event loop: claim arrivals, kill-switch resets, verdicts and corrections."""

    def __init__(
        self,
        store: Store,
        engine: ClaimsEngine,
        clock: SimClock,
        seed: int,
        start: datetime,
        end: datetime,
        summary: HistorySummary,
    ) -> None:
        self.store, self.engine, self.clock = store, engine, clock
        self.start, self.end, self.summary = start, end, summary
        self.claims = stream(seed, "claims")
        self.ids = stream(seed, "run-ids")
        self.people = stream(seed, "people")
        self.reviews = stream(seed, "reviews")
        self.events: list[tuple[datetime, int, str, Any]] = []
        self._n = 0
        self.ref = reference_data()
        quiet = end - timedelta(hours=3)  # no fraud trip left unreset at as_of
        kinds = Quota(stream(seed, "kinds"))
        for i, moment in enumerate(arrivals(stream(seed, "arrivals"), start, end)):
            kind = next(
                (k for k, p in CLAIM_KINDS.items() if k != "clean" and kinds.hit(k, p)), "clean"
            )
            kind = "clean" if kind == "fraud" and moment >= quiet else kind
            self._push(moment, "claim", (i, kind))

    def _push(self, when: datetime, kind: str, payload: Any) -> None:
        if when < self.end:
            heapq.heappush(self.events, (when, self._n, kind, payload))
            self._n += 1

    def run(self, days: int, progress: Callable[[int, int], None] | None) -> None:
        day_end = self.start + timedelta(days=1)
        done = 0
        while self.events:
            with self.store.transaction():
                while self.events and self.events[0][0] < day_end:
                    when, _, kind, payload = heapq.heappop(self.events)
                    self.clock.set(max(when, self.clock.now()))
                    getattr(self, f"_on_{kind}")(payload)
            done = min(days, done + 1)
            day_end += timedelta(days=1)
            if progress is not None:
                progress(done, days)
        if progress is not None:
            progress(days, days)
        self.clock.set(max(self.end - timedelta(seconds=1), self.clock.now()))
        sign_checkpoint(self.store, at=iso(self.clock.now()))

    # --- events ---------------------------------------------------------------------------------
    def _on_claim(self, payload: tuple[int, str]) -> None:
        number, kind = payload
        claim = random_claim(
            self.claims,
            self.ref,
            claim_id=f"CLM-{20001 + number}",
            reported=self.clock.now().date(),
            kind=kind,
        )
        was_armed = self.engine.kill_switch.state().armed
        result = self.engine.run(claim, composition_id=f"run-{self.ids.getrandbits(48):012x}")
        s = self.summary
        s.runs += 1
        s.statuses[result.status] = s.statuses.get(result.status, 0) + 1
        if was_armed and not self.engine.kill_switch.state().armed:
            s.trips += 1
            delay = timedelta(minutes=self.people.uniform(25, 110))
            self._push(self.clock.now() + delay, "reset", result.subject)
        self._schedule_verdicts(result.composition_id)

    def _on_reset(self, subject: str) -> None:
        week = self.clock.now().isocalendar().week
        by = ON_CALL[week % len(ON_CALL)]
        reason = (
            f"Reviewed claim {subject}: referred to the special investigations unit; "
            "other claims may resume"
        )
        if not self.engine.kill_switch.state().armed:
            self.engine.kill_switch.reset(by, reason)
            self.summary.resets += 1

    def _schedule_verdicts(self, run_id: str) -> None:
        rows = self.store.query(
            "SELECT id, tool_name, success FROM audit_log WHERE composition_id = ? ORDER BY id",
            (run_id,),
        )
        rng = self.reviews
        for audit_id, tool, success in rows:
            if rng.random() >= REVIEW_SHARE:
                continue
            speed_up_from = self.end - timedelta(days=INJECTED["document_extraction"][1])
            sped_up = tool == "document_extraction" and self.clock.now() >= speed_up_from
            reject_p = 1.0 if not success else (0.35 if sped_up else 0.025)
            verdict = "reject" if rng.random() < reject_p else "accept"
            by = rng.choice(REVIEWERS)
            when = self.clock.now() + timedelta(hours=rng.uniform(0.5, 10))
            self._push(when, "verdict", (audit_id, verdict, by))
            correct_p = 0.08 if verdict == "reject" else 0.012
            if success and rng.random() < correct_p:
                other = rng.choice([r for r in REVIEWERS if r != by])
                later = when + timedelta(hours=rng.uniform(1, 24))
                self._push(later, "correction", (audit_id, verdict, other))

    def _on_verdict(self, payload: tuple[int, str, str]) -> None:
        audit_id, verdict, by = payload
        stamp_verdict(audit_id, verdict, by, store=self.store, at=iso(self.clock.now()))
        self.summary.verdicts += 1

    def _on_correction(self, payload: tuple[int, str, str]) -> None:
        audit_id, previous, by = payload
        verdict = "accept" if previous == "reject" else "reject"
        reason = (
            "Re-checked against the source documents: the output was right"
            if verdict == "accept"
            else "Second review found the output wrong"
        )
        correct_verdict(audit_id, verdict, by, reason, store=self.store, at=iso(self.clock.now()))
        self.summary.corrections += 1
