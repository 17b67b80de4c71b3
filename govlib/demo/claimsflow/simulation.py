"""The simulated world of the seeded history: tool latencies, service errors, claim arrivals.

Pure given their random streams: :class:`LatencyModel` (lognormal per tool, with the injected
drift and speed-up), :class:`FaultModel` (service errors, with the injected outage),
:func:`arrivals` (a Poisson process with an hourly and weekday profile), :func:`model_seconds`.
Injected process changes (:data:`INJECTED`) are relative to the history's end ``as_of``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from govlib.clock import SimClock
from govlib.demo.claimsflow.models import ModelReply

__all__ = [
    "ArgumentQuirks",
    "QUIRK_RATE",
    "LATENCY_MEDIAN_MS",
    "LATENCY_SIGMA",
    "LATENCY_CUT_SIGMAS",
    "BASE_ERROR_RATE",
    "INJECTED",
    "CLAIMS_PER_DAY",
    "LatencyModel",
    "FaultModel",
    "Quota",
    "stream",
    "arrivals",
    "model_seconds",
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
#: Log latency is cut at +-2.8 sigma: a service's timeout and its network round trip bound it,
#: so an in-control tool never shows a 3-sigma point by chance alone.
LATENCY_CUT_SIGMAS = 2.8
BASE_ERROR_RATE = 0.0015
#: Share of ``fraud_scoring`` calls whose arguments break its schema (:class:`ArgumentQuirks`).
QUIRK_RATE = 0.02
#: The injected process changes: tool -> (kind, days before as_of it starts, size).
INJECTED: dict[str, tuple[str, float, float]] = {
    "policy_lookup": ("latency_drift", 4.0, 3.0),
    "document_extraction": ("speed_up", 2.5, 0.2),
    "claim_history": ("error_rate", 3.0, 0.15),
}
CLAIMS_PER_DAY = 36.0
#: Relative claim arrival rate per UTC hour (business hours peak).
_HOURLY = (
    (0.15,) * 6
    + (0.5, 1.0, 1.6, 1.9, 1.9, 1.7, 1.5, 1.7, 1.8, 1.7, 1.5, 1.2, 0.9, 0.7)
    + (0.5, 0.35, 0.25, 0.2)
)
_ERRORS = {
    "claim_history": "claim history service returned HTTP 503 (upstream timeout)",
}


def stream(seed: int, name: str) -> random.Random:
    """An independent seeded stream per purpose (changing one never shifts another).

    Example:
        >>> stream(7, "claims").random() == stream(7, "claims").random()
        True
    """
    return random.Random(f"{seed}:{name}")


class LatencyModel:
    """``model(tool) -> ms``: lognormal around the tool's median (cut at
    :data:`LATENCY_CUT_SIGMAS`), with the injected changes.

    Reads the time of the :class:`~govlib.clock.SimClock` it is attached to (``.clock``).

    Example:
        >>> m = LatencyModel(random.Random(1), as_of=datetime.fromisoformat("2026-01-31T00:00:00+00:00"))
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
        z = self.rng.gauss(0.0, 1.0)
        while abs(z) > LATENCY_CUT_SIGMAS:
            z = self.rng.gauss(0.0, 1.0)
        return math.exp(math.log(median) + LATENCY_SIGMA * z)


class Quota:
    """Rates met closely without a fixed rhythm: each kind accumulates its rate per draw and
    fires when the sum passes a threshold drawn from U(0.5, 1.5) (systematic sampling with
    jitter), so a seed cannot hand out three times the intended fraud claims or errors.

    Example:
        >>> q = Quota(random.Random(1))
        >>> 90 <= sum(q.hit("fraud", 0.01) for _ in range(10_000)) <= 110
        True
    """

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


class ArgumentQuirks:
    """``quirks(tool, args) -> args``: the upstream agent's occasional schema slips.

    About :data:`QUIRK_RATE` of ``fraud_scoring`` calls get ``document_mismatch`` as a JSON
    boolean instead of the schema's ``0``/``1`` (the score is the same; ``schema_valid`` is 0),
    so the SPC dashboard's "Schema valid" pill has something to show. Other tools are untouched.

    Example:
        >>> q = ArgumentQuirks(random.Random(1))
        >>> sum(q("fraud_scoring", {"document_mismatch": 0})["document_mismatch"] is False
        ...     for _ in range(1000))
        20
    """

    TOOL, FIELD = "fraud_scoring", "document_mismatch"

    def __init__(self, rng: random.Random) -> None:
        self.quota = Quota(rng)

    def __call__(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        if tool != self.TOOL or self.FIELD not in args or not self.quota.hit(tool, QUIRK_RATE):
            return args
        return {**args, self.FIELD: bool(args[self.FIELD])}


class FaultModel:
    """``faults(tool) -> error message or None``: the simulated service errors.

    Errors come at the tool's rate (:class:`_Quota`); during the injected outage a failed call is
    followed by another failure with probability 0.35 (so some retries fail too).

    Example:
        >>> f = FaultModel(random.Random(1), as_of=datetime.fromisoformat("2026-01-31T00:00:00+00:00"),
        ...     clock=SimClock("2026-01-30T12:00:00Z"))
        >>> f.rate("claim_history"), f.rate("policy_lookup")
        (0.15, 0.0015)
        >>> sum(f("claim_history") is not None for _ in range(1000)) > 150
        True
    """

    BURST = 0.35

    def __init__(self, rng: random.Random, *, as_of: datetime, clock: SimClock) -> None:
        self.rng, self.as_of, self.clock = rng, as_of, clock
        self.quota = Quota(rng)
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


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def arrivals(rng: random.Random, start: datetime, end: datetime) -> list[datetime]:
    """Claim arrival times in ``[start, end)`` (a Poisson process, hourly and weekday profile).

    Example:
        >>> start = datetime.fromisoformat("2026-11-16T00:00:00+00:00")  # a Monday
        >>> 20 < len(arrivals(random.Random(1), start, start + timedelta(days=1))) < 55
        True
    """
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


def model_seconds(rng: random.Random) -> Callable[[ModelReply], float]:
    """``seconds(reply)``: simulated time of a model call, from its token counts (lognormal noise).

    Example:
        >>> from govlib.demo.claimsflow.models import EstimatingModelClient
        >>> reply = EstimatingModelClient("claude-haiku-4-5").complete("x" * 4000, task="t")
        >>> 0.2 < model_seconds(random.Random(1))(reply) < 2.0
        True
    """

    def seconds(reply: ModelReply) -> float:
        u = reply.usage
        base = 0.35 + u.input_tokens / 6000 + u.output_tokens / 90
        return base * rng.lognormvariate(0, 0.25)

    return seconds
