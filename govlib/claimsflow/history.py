"""The seeded multi-week history: the same ClaimsFlow code, a simulated clock, injected changes.

:func:`generate_history` runs claims arriving over ``days`` days ending at ``as_of`` through
:class:`~govlib.claimsflow.engine.ClaimsEngine` with a :class:`~govlib.clock.SimClock` whose
latency model is :class:`LatencyModel` (lognormal per tool, coefficient of variation ~0.31), and a
:class:`FaultModel` for tool errors (retried once by the engine). It is a discrete-event
simulation: claim arrivals, kill-switch resets and human verdicts are events in time order; events
after ``as_of`` do not happen. Everything random comes from ``seed``; nothing from the wall clock.

Injected process changes, relative to ``as_of`` (what the SPC dashboard should catch):

- ``policy_lookup``: latency drift, ramping linearly from x1 to x3 over the last 4 days;
- ``document_extraction``: suddenly ~5x faster for the last 2.5 days (suspected no-op answers;
  reviewers reject more of them);
- ``claim_history``: errors jump from 0.15% to 15% for the last 3 days.

Every other tool stays in control. A fraud claim trips the kill-switch; the on-call person of the
week resets it 25-110 minutes later; claims arriving meanwhile are refused and recorded.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from govlib.claimsflow.claims import CLAIM_KINDS, random_claim
from govlib.claimsflow.engine import ClaimsEngine
from govlib.claimsflow.models import ModelReply
from govlib.claimsflow.refdata import reference_data
from govlib.claimsflow.scenarios import register_claimsflow
from govlib.clock import SimClock
from govlib.errors import GovlibError
from govlib.store import Store, iso

__all__ = [
    "LATENCY_MEDIAN_MS",
    "LATENCY_SIGMA",
    "BASE_ERROR_RATE",
    "INJECTED",
    "REVIEWERS",
    "ON_CALL",
    "HistoryError",
    "HistorySummary",
    "LatencyModel",
    "FaultModel",
    "parse_as_of",
    "default_as_of",
    "generate_history",
]

#: Median latency (ms) of each tool in the simulated production deployment.
LATENCY_MEDIAN_MS: dict[str, float] = {
    "claim_intake": 40.0,
    "document_extraction": 850.0,
    "policy_lookup": 120.0,
    "claim_history": 210.0,
    "fraud_scoring": 65.0,
    "payout_calculator": 20.0,
    "issue_payout": 340.0,
}
#: Sigma of log latency: CV = sqrt(exp(0.3**2) - 1) ~ 0.31 for every tool.
LATENCY_SIGMA = 0.3
BASE_ERROR_RATE = 0.0015
#: The injected process changes: tool -> (kind, days before as_of it starts, size).
INJECTED: dict[str, tuple[str, float, float]] = {
    "policy_lookup": ("latency_drift", 4.0, 3.0),
    "document_extraction": ("speed_up", 2.5, 0.2),
    "claim_history": ("error_rate", 3.0, 0.15),
}
REVIEWERS = ("Priya Nair", "Tom Becker", "Grace Liu", "Omar Haddad")
ON_CALL = ("Dana Ortiz", "Sam Patel", "Lee Okafor")
CLAIMS_PER_DAY = 36.0
REVIEW_SHARE = 0.08
#: Relative claim arrival rate per UTC hour (business hours peak).
_HOURLY = (
    (0.15,) * 6 + (0.5, 1.0, 1.6, 1.9, 1.9, 1.7, 1.5, 1.7, 1.8, 1.7, 1.5, 1.2, 0.9, 0.7)
    + (0.5, 0.35, 0.25, 0.2)
)  # fmt: skip
_ERRORS = {
    "claim_history": "claim history service returned HTTP 503 (upstream timeout)",
}


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


def _stream(seed: int, name: str) -> random.Random:
    """An independent seeded stream per purpose (changing one never shifts another)."""
    return random.Random(f"{seed}:{name}")


class LatencyModel:
    """``model(tool) -> ms``: lognormal around the tool's median, with the injected changes.

    Reads the time of the :class:`~govlib.clock.SimClock` it is attached to (``.clock``).

    Example:
        >>> m = LatencyModel(random.Random(1), as_of=datetime(2026, 1, 31, tzinfo=UTC))
        >>> m.clock = SimClock("2026-01-01T09:00:00Z", m)
        >>> 10 < m("policy_lookup") < 1000
        True
    """

    def __init__(self, rng: random.Random, *, as_of: datetime) -> None:
        self.rng, self.as_of = rng, as_of
        self.clock: SimClock | None = None

    def factor(self, tool: str, now: datetime) -> float:
        """The injected latency multiplier of ``tool`` at ``now`` (1.0 when in control)."""
        kind, days, size = INJECTED.get(tool, ("", 0.0, 1.0))
        before = (self.as_of - now).total_seconds() / 86400
        if kind == "latency_drift" and before < days:
            return 1.0 + (size - 1.0) * min(1.0, (days - before) / days)
        if kind == "speed_up" and before < days:
            return size
        return 1.0

    def __call__(self, tool: str) -> float:
        median = LATENCY_MEDIAN_MS.get(tool, 100.0)
        if self.clock is not None:
            median *= self.factor(tool, self.clock.now())
        return self.rng.lognormvariate(math.log(median), LATENCY_SIGMA)


class _Quota:
    """Rates met closely without a fixed rhythm: each kind accumulates its rate per draw and
    fires when the sum passes a threshold drawn from U(0.5, 1.5) (systematic sampling with
    jitter), so a seed cannot hand out three times the intended fraud claims or errors."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.acc: dict[str, float] = {}
        self.next: dict[str, float] = {}

    def hit(self, key: str, rate: float) -> bool:
        if key not in self.acc:
            self.acc[key], self.next[key] = self.rng.random(), self.rng.uniform(0.5, 1.5)
        self.acc[key] += rate
        if self.acc[key] < self.next[key]:
            return False
        self.acc[key] -= self.next[key]
        self.next[key] = self.rng.uniform(0.5, 1.5)
        return True


class FaultModel:
    """``faults(tool) -> error message or None``: the simulated service errors.

    Errors come at the tool's rate (:class:`_Quota`); during the injected outage a failed call is
    followed by another failure with probability 0.35 (so some retries fail too).

    Example:
        >>> f = FaultModel(random.Random(1), as_of=datetime(2026, 1, 31, tzinfo=UTC),
        ...     clock=SimClock("2026-01-30T12:00:00Z"))
        >>> f.rate("claim_history"), f.rate("policy_lookup")
        (0.15, 0.0015)
        >>> sum(f("claim_history") is not None for _ in range(1000)) > 150
        True
    """

    BURST = 0.35

    def __init__(self, rng: random.Random, *, as_of: datetime, clock: SimClock) -> None:
        self.rng, self.as_of, self.clock = rng, as_of, clock
        self.quota = _Quota(rng)
        self.burst: set[str] = set()

    def rate(self, tool: str) -> float:
        """The error rate of ``tool`` now."""
        kind, days, size = INJECTED.get(tool, ("", 0.0, 0.0))
        before = (self.as_of - self.clock.now()).total_seconds() / 86400
        return size if kind == "error_rate" and before < days else BASE_ERROR_RATE

    def __call__(self, tool: str) -> str | None:
        rate = self.rate(tool)
        message = _ERRORS.get(tool, f"{tool} service returned HTTP 503")
        if tool in self.burst:
            self.burst.discard(tool)
            if self.rng.random() < self.BURST:
                return message
        if not self.quota.hit(tool, rate):
            return None
        if rate > BASE_ERROR_RATE:
            self.burst.add(tool)
        return message


@dataclass
class HistorySummary:
    """What the history produced."""

    start: datetime
    as_of: datetime
    runs: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    trips: int = 0
    resets: int = 0
    verdicts: int = 0
    corrections: int = 0


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _arrivals(rng: random.Random, start: datetime, end: datetime) -> list[datetime]:
    """Claim arrival times (a Poisson process with an hourly and weekday profile)."""
    hourly_mean = CLAIMS_PER_DAY / sum(_HOURLY)
    out: list[datetime] = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        weekday = 0.55 if hour.weekday() >= 5 else 1.0
        for _ in range(_poisson(rng, hourly_mean * _HOURLY[hour.hour] * weekday)):
            moment = hour + timedelta(seconds=rng.uniform(0, 3600))
            if start <= moment < end:
                out.append(moment)
        hour += timedelta(hours=1)
    return sorted(out)


def _model_seconds(rng: random.Random) -> Callable[[ModelReply], float]:
    def seconds(reply: ModelReply) -> float:
        u = reply.usage
        base = 0.35 + u.input_tokens / 6000 + u.output_tokens / 90
        return base * rng.lognormvariate(0, 0.25)

    return seconds


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
    latency = LatencyModel(_stream(seed, "latency"), as_of=end)
    clock = SimClock(start - timedelta(hours=1), latency)
    latency.clock = clock
    register_claimsflow(store, clock=clock)
    engine = ClaimsEngine(
        store,
        clock=clock,
        faults=FaultModel(_stream(seed, "faults"), as_of=end, clock=clock),
        model_seconds=_model_seconds(_stream(seed, "model")),
        batch_audit=True,
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
        self.claims = _stream(seed, "claims")
        self.ids = _stream(seed, "run-ids")
        self.people = _stream(seed, "people")
        self.reviews = _stream(seed, "reviews")
        self.events: list[tuple[datetime, int, str, Any]] = []
        self._n = 0
        self.ref = reference_data()
        quiet = end - timedelta(hours=3)  # no fraud trip left unreset at as_of
        kinds = _Quota(_stream(seed, "kinds"))
        for i, moment in enumerate(_arrivals(_stream(seed, "arrivals"), start, end)):
            kind = next((k for k, p in CLAIM_KINDS.items() if k != "clean" and kinds.hit(k, p)),
                        "clean")
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
        self.clock.set(max(self.end - timedelta(seconds=1), self.clock.now()))
        from govlib.checkpoints import sign_checkpoint

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
            "SELECT id, tool_name, success, created_at FROM audit_log WHERE composition_id = ? "
            "ORDER BY id",
            (run_id,),
        )
        rng = self.reviews
        for audit_id, tool, success, _created in rows:
            if rng.random() >= REVIEW_SHARE:
                continue
            sped_up = (
                tool == "document_extraction"
                and self.engine.clock.now() >= self.end - timedelta(days=INJECTED[tool][1])
            )
            reject_p = 1.0 if not success else (0.35 if sped_up else 0.025)
            verdict = "reject" if rng.random() < reject_p else "accept"
            by = rng.choice(REVIEWERS)
            when = self.clock.now() + timedelta(hours=rng.uniform(0.5, 10))
            self._push(when, "verdict", (audit_id, verdict, by))
            correct_p = 0.08 if verdict == "reject" and success else 0.007
            if rng.random() < correct_p:
                other = rng.choice([r for r in REVIEWERS if r != by])
                later = when + timedelta(hours=rng.uniform(1, 24))
                self._push(later, "correction", (audit_id, verdict, other))

    def _on_verdict(self, payload: tuple[int, str, str]) -> None:
        from govlib.verdicts import stamp_verdict

        audit_id, verdict, by = payload
        stamp_verdict(audit_id, verdict, by, store=self.store, at=iso(self.clock.now()))
        self.summary.verdicts += 1

    def _on_correction(self, payload: tuple[int, str, str]) -> None:
        from govlib.verdicts import correct_verdict

        audit_id, previous, by = payload
        verdict = "accept" if previous == "reject" else "reject"
        reason = (
            "Re-checked against the source documents: the output was right"
            if verdict == "accept"
            else "Second review found the output wrong"
        )
        correct_verdict(audit_id, verdict, by, reason, store=self.store, at=iso(self.clock.now()))
        self.summary.corrections += 1
