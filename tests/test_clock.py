"""govlib.clock: SystemClock and the reproducible SimClock."""

from __future__ import annotations

import datetime as dt

import pytest

from govlib.clock import Clock, ClockError, SimClock, SystemClock


def test_system_clock_records_measured_latency_and_utc_now():
    clock = SystemClock()
    assert isinstance(clock, Clock)
    assert clock.latency_ms("t", 12.5) == 12.5
    assert clock.now().utcoffset() == dt.timedelta(0)
    assert clock.iso().endswith("Z")


def test_sim_clock_samples_the_model_and_advances():
    samples = iter([100.0, 250.5])
    clock = SimClock("2026-03-01T09:00:00Z", lambda tool: next(samples))
    assert isinstance(clock, Clock)
    assert clock.iso() == "2026-03-01T09:00:00.000000Z"
    assert clock.latency_ms("lookup", 0.001) == 100.0
    assert clock.iso() == "2026-03-01T09:00:00.100000Z"
    assert clock.latency_ms("lookup", 99.0) == 250.5
    assert clock.iso() == "2026-03-01T09:00:00.350500Z"
    clock.advance(60)
    assert clock.now() == dt.datetime(2026, 3, 1, 9, 1, 0, 350500, tzinfo=dt.UTC)
    clock.set(dt.datetime(2026, 3, 2, 8, 0))  # naive = UTC
    assert clock.iso() == "2026-03-02T08:00:00.000000Z"


def test_sim_clock_without_model_uses_the_measured_latency():
    clock = SimClock(dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    assert clock.iso() == "2025-12-31T22:00:00.000000Z"
    assert clock.latency_ms("x", 1.5) == 1.5
    assert clock.iso() == "2025-12-31T22:00:00.001500Z"


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "fast", None])
def test_sim_clock_refuses_a_bad_latency_sample(bad):
    clock = SimClock("2026-01-01T00:00:00Z", lambda tool: bad)
    with pytest.raises(ClockError, match=r"latency_model\('lookup'\)"):
        clock.latency_ms("lookup", 1.0)


@pytest.mark.parametrize("bad", [-1, float("nan"), "soon"])
def test_sim_clock_refuses_a_bad_step(bad):
    with pytest.raises(ClockError, match="seconds"):
        SimClock("2026-01-01T00:00:00Z").advance(bad)


@pytest.mark.parametrize("bad", ["yesterday", 12, None])
def test_sim_clock_refuses_a_bad_start(bad):
    with pytest.raises(ClockError, match="start"):
        SimClock(bad)
