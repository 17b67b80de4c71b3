"""The sampling ladder does not flap: a simulation over seeded in-control and shifted tools.

Each tool's history goes through the same pure functions :mod:`govlib.analysis.stats` feeds
(:func:`spc.drift_badge`, :func:`spc.ladder_alarms`, :func:`spc.sampling_recommendation`) with
the stats' inputs: the period's success rate (all calls), the newest ``spc_window +
spc_recent`` calls for the badge and the alarms, 40 reviews all accepted.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govlib.analysis import spc
from govlib.settings import Settings

ST = Settings()
W, R = ST.spc_window, ST.spc_recent
REVIEWS = 40
WINDOWS = 40  # successive 60-call windows per simulated tool


def level(ok: np.ndarray, lat: np.ndarray) -> str:
    """The ladder's level after the calls ``ok``/``lat`` (oldest first)."""
    ok_w, lat_w = ok[-(W + R) :], lat[-(W + R) :]
    badge, _ = spc.drift_badge(ok_w, lat_w, settings=ST)
    alarms = spc.ladder_alarms(ok_w, lat_w, settings=ST)
    return spc.sampling_recommendation(
        ok.size, float(ok.mean()), REVIEWS, 0, drift=badge, alarms=alarms, settings=ST
    )[0]


def in_control(rng: np.random.Generator, kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` calls of a steady tool: 99.5% success, Gaussian or lognormal latency (ms)."""
    if kind == "gaussian":
        lat = np.maximum(rng.normal(200.0, 20.0, n), 1.0)
    else:
        lat = np.exp(rng.normal(5.0, 0.8, n))
    return (rng.random(n) >= 0.005).astype(float), lat


def tier_changes(rng: np.random.Generator, kind: str) -> tuple[int, int]:
    """(changes of level between successive 60-call windows, windows compared) for one tool."""
    ok, lat = in_control(rng, kind, W + R + WINDOWS * R)
    levels = [level(ok[:t], lat[:t]) for t in range(W + R, ok.size + 1, R)]
    return sum(a != b for a, b in zip(levels, levels[1:], strict=False)), len(levels) - 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gaussian", "lognormal"])
def test_an_in_control_tool_changes_tier_in_at_most_5_percent_of_windows(kind):
    rng = np.random.default_rng(18)
    changes = windows = 0
    for _ in range(25):
        c, w = tier_changes(rng, kind)
        changes, windows = changes + c, windows + w
    assert windows == 25 * WINDOWS
    assert changes / windows <= 0.05, f"{kind}: {changes} changes in {windows} windows"


def shifted_until_full(rng: np.random.Generator, kind: str, shift: str) -> int | None:
    """Calls after a shift until the level is 100% (None: not within 60 calls)."""
    n0 = W + R + 200
    sd = 0.1 if kind == "gaussian" else 0.8
    logs = (np.log(200.0) if kind == "gaussian" else 5.0) + sd * rng.normal(0.0, 1.0, n0 + R)
    fail = np.full(n0 + R, 0.005)
    if shift == "latency":
        logs[n0:] += 2 * sd  # log-latency mean up by 2 sigma
    else:
        fail[n0:] = 0.10  # success from 99.5% to 90%
    ok, lat = (rng.random(n0 + R) >= fail).astype(float), np.exp(logs)
    for k in range(1, R + 1):
        if level(ok[: n0 + k], lat[: n0 + k]) == "100%":
            return k
    return None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gaussian", "lognormal"])
def test_a_latency_shift_of_2_sigma_reaches_100_percent_within_60_calls(kind):
    rng = np.random.default_rng(1802)
    reached = [shifted_until_full(rng, kind, "latency") for _ in range(40)]
    assert None not in reached
    assert max(reached) <= R


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gaussian", "lognormal"])
def test_a_success_drop_to_90_percent_reaches_100_percent_within_60_calls(kind):
    # 60 calls at 90% success hold fewer than 3 failures 5.3% of the time (binomial), and the
    # alarm needs 3: no rule that keeps the flap rate above under 5% catches every such tool
    # (the ceiling is 94.7%); docs/spc.md gives the rate measured here (91.5% and 92%).
    rng = np.random.default_rng(1803)
    reached = [shifted_until_full(rng, kind, "success") for _ in range(200)]
    caught = sum(k is not None for k in reached)
    assert caught / len(reached) >= 0.90, f"{kind}: {caught} of {len(reached)}"


# --- exact values of the alarms --------------------------------------------------------------


def test_failure_alarm_count_exact():
    # P(X >= 3 | n=60, p=0.005) = 0.0036 <= 0.005 < P(X >= 2) = 0.0370
    assert spc.failure_alarm_count(60, 0.0, ST) == 3
    assert spc.failure_alarm_count(60, 0.005, ST) == 3
    assert spc.failure_alarm_count(60, 0.01, ST) == 4  # P(X>=4)=0.0032, P(X>=3)=0.0224
    assert spc.failure_alarm_count(60, 0.02, ST) == 6
    assert spc.failure_alarm_count(60, 1.0, ST) == 61  # a tool that always fails: never
    assert spc.failure_alarm_count(60, 0.0, Settings(sampling_alarm_p=0.05)) == 2


def test_alarm_baseline_rate_keeps_the_floor_unless_the_baseline_rejects_it():
    # Binomial(500, 0.005): P(X >= 5) = 0.108 > 0.05 >= P(X >= 6) = 0.042
    assert [spc.alarm_baseline_rate(k, 500, ST) for k in (0, 1, 5)] == [0.005] * 3
    assert spc.alarm_baseline_rate(6, 500, ST) == 6 / 500
    assert spc.alarm_baseline_rate(50, 500, ST) == 0.1
    assert spc.alarm_baseline_rate(3, 0, ST) == 0.005
    assert spc.alarm_baseline_rate(1, 40, Settings(sampling_alarm_baseline_p=1.0)) == 1 / 40
    # a steady 99.5% tool whose baseline happened to fail 4 times in 500 keeps the alarm at 3
    four = [1.0] * 496 + [0.0] * 4 + [1.0] * 57 + [0.0] * 3
    assert spc.ladder_alarms(four, [100.0, 120.0] * 280) == [
        "failures: 3 of the newest 60 (alarm at >= 3)"
    ]


def test_ladder_alarms_exact():
    steady = [100.0, 120.0] * 280
    ok = [1.0] * 560
    assert spc.ladder_alarms(ok, steady) == []
    two = [1.0] * 500 + [0.0] * 2 + [1.0] * 58
    assert spc.ladder_alarms(two, steady) == []
    three = [1.0] * 500 + [0.0] * 3 + [1.0] * 57
    assert spc.ladder_alarms(three, steady) == ["failures: 3 of the newest 60 (alarm at >= 3)"]
    slow = [100.0, 120.0] * 250 + [100.0, 120.0] * 27 + [5000.0] * 3 + [100.0, 120.0] * 1 + [110.0]
    got = spc.ladder_alarms(ok, slow[:560])
    assert len(got) == 1 and got[0].startswith("latency: 3 rule-1 and ")
    # fewer than sampling_min_calls earlier calls: no alarm can be judged
    assert spc.ladder_alarms([0.0] * 60 + [1.0] * 29, [100.0] * 89) == []


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=60), st.floats(min_value=0.0, max_value=0.5))
def test_failure_alarm_count_is_the_first_tail_under_p(n, p0):
    k = spc.failure_alarm_count(n, p0, ST)
    p = max(p0, ST.sampling_alarm_min_failure_rate)

    def tail(j: int) -> float:
        from math import comb

        return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(j, n + 1))

    assert k == n + 1 or tail(k) <= ST.sampling_alarm_p + 1e-12
    assert k == 0 or tail(k - 1) > ST.sampling_alarm_p - 1e-12
