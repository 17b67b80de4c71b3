"""govlib.analysis.spc: limits, Western Electric rules, p charts, Wilson bound, pills, ladder, drift badge."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from harness import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from govlib.analysis import spc
from govlib.settings import Settings

SIGMAS = [0.0, 1.0, 0.5, math.nan]


def naive_rules(x: list[float], c: float, s: float) -> np.ndarray:
    """Point-by-point reference implementation of the spec (slow, obviously right)."""
    n, out = len(x), np.zeros((4, len(x)), dtype=bool)
    ok = s > 0  # False for NaN too
    for i in range(n):
        up = [x[i] > c + k * s for k in (0, 1, 2, 3)]
        lo = [x[i] < c - k * s for k in (0, 1, 2, 3)]
        out[0, i] = ok and (up[3] or lo[3])
        if ok and i >= 2:
            w = x[i - 2 : i + 1]
            out[1, i] = (up[2] and sum(v > c + 2 * s for v in w) >= 2) or (
                lo[2] and sum(v < c - 2 * s for v in w) >= 2
            )
        if ok and i >= 4:
            w = x[i - 4 : i + 1]
            out[2, i] = (up[1] and sum(v > c + s for v in w) >= 4) or (
                lo[1] and sum(v < c - s for v in w) >= 4
            )
        if i >= 7:
            w = x[i - 7 : i + 1]
            out[3, i] = all(v > c for v in w) or all(v < c for v in w)
    return out


def fired(values: list[float], rule: str, center: float = 0.0, sigma: float = 1.0) -> list[int]:
    df = spc.western_electric(values, center=center, sigma=sigma)
    return [int(i) for i in np.flatnonzero(df[rule].to_numpy())]


# --- control limits ---------------------------------------------------------------------------


def test_limits_mr_exact():
    lim = spc.control_limits([10, 12, 11, 13])
    sigma = (2 + 1 + 2) / 3 / 1.128
    assert lim.center == 11.5
    assert lim.sigma == pytest.approx(sigma, rel=1e-15)
    assert (lim.lcl, lim.ucl) == pytest.approx((11.5 - 3 * sigma, 11.5 + 3 * sigma), rel=1e-15)


def test_limits_sd_uses_ddof_1_without_bias_correction():
    lim = spc.control_limits([1, 2, 3, 4], method="sd")
    assert lim.sigma == pytest.approx(math.sqrt(5 / 3), rel=1e-15)
    assert lim.center == 2.5


def test_limits_baseline_n_uses_only_the_first_values():
    lim = spc.control_limits([1, 2, 3, 100, -50], baseline_n=3)
    assert lim.center == 2.0
    assert lim.sigma == pytest.approx(1 / 1.128)


def test_negative_lcl_is_not_clamped():
    assert spc.control_limits([0, 10, 0, 10]).lcl < 0


@pytest.mark.parametrize("method", ["mr", "sd"])
def test_one_baseline_point_gives_nan_sigma_and_limits(method):
    lim = spc.control_limits([7.0, 1.0, 2.0], method=method, baseline_n=1)
    assert lim.center == 7.0
    assert math.isnan(lim.sigma) and math.isnan(lim.lcl) and math.isnan(lim.ucl)


@pytest.mark.parametrize("method", ["mr", "sd"])
def test_identical_baseline_has_exact_center_and_zero_sigma(method):
    assert np.mean([0.1] * 7) != 0.1  # the float mean would be off
    lim = spc.control_limits([0.1] * 7 + [5.0], method=method, baseline_n=7)
    assert lim == spc.ControlLimits(0.1, 0.0, 0.1, 0.1)
    assert lim.sigma == 0.0 and not math.copysign(1, lim.sigma) < 0


def test_empty_series_gives_nan_limits():
    assert all(math.isnan(v) for v in vars(spc.control_limits([])).values())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nonfinite_values_name_the_first_bad_index(bad):
    with pytest.raises(ValueError, match=r"values\[2\]"):
        spc.control_limits([1.0, 2.0, bad, math.nan])
    with pytest.raises(ValueError, match=r"first bad index 2"):
        spc.western_electric([1.0, 2.0, bad], center=0, sigma=1)


def test_pandas_na_counts_as_bad():
    with pytest.raises(ValueError, match=r"values\[1\]"):
        spc.control_limits(pd.Series([1, None, 3], dtype="Int64"))


@pytest.mark.parametrize("kwargs", [{"method": "range"}, {"baseline_n": 0}, {"baseline_n": 1.5}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        spc.control_limits([1, 2, 3], **kwargs)


# --- Western Electric rules --------------------------------------------------------------------


def test_rule_1_is_strict_on_both_sides():
    values = [3.0, 3.0000001, -3.0, -3.1, 0.0]
    assert fired(values, "rule_1") == [1, 3]


def test_rule_2_two_of_three_beyond_2_sigma_with_the_point_itself():
    assert fired([0, 2.5, 2.5], "rule_2") == [2]
    assert fired([2.5, 0, 2.5], "rule_2") == [2]
    assert fired([2.5, 2.5, 0], "rule_2") == []  # the point itself must be beyond
    assert fired([2.5, 2.5], "rule_2") == []  # only complete windows count
    assert fired([-2.5, 0.0, -2.1], "rule_2") == [2]
    assert fired([2.5, 0, -2.5], "rule_2") == []  # one each side is not two on one side
    assert fired([2.0, 2.0, 2.0], "rule_2") == []  # on the boundary is the inner zone
    assert fired([3.5, 0, 2.5], "rule_2") == [2]  # beyond 3 counts as beyond 2


def test_rules_slide_and_overlap_without_reset():
    assert fired([2.5] * 5, "rule_2") == [2, 3, 4]
    assert fired([1.5] * 7, "rule_3") == [4, 5, 6]


def test_rule_3_four_of_five_beyond_1_sigma():
    assert fired([1.5, 1.5, 0, 1.5, 1.5], "rule_3") == [4]
    assert fired([1.0, 1.5, 1.5, 1.5, 1.5], "rule_3") == [4]  # 1.0 is on the boundary
    assert fired([1.0, 1.0, 1.5, 1.5, 1.5], "rule_3") == []
    assert fired([1.5, 1.5, 1.5, 1.5, 0], "rule_3") == []
    assert fired([-1.5, -1.5, -1.5, 0, -1.5], "rule_3") == [4]
    assert fired([1.5, 1.5, -1.5, -1.5, 1.5], "rule_3") == []


@pytest.mark.parametrize("sign", [1, -1])
def test_rule_4_runs_of_7_8_9(sign):
    assert fired([sign * 0.1] * 7, "rule_4") == []
    assert fired([sign * 0.1] * 8, "rule_4") == [7]
    assert fired([sign * 0.1] * 9, "rule_4") == [7, 8]
    assert fired([-sign * 0.5] + [sign * 0.1] * 9, "rule_4") == [8, 9]
    assert fired([sign * 0.1] * 7 + [-sign * 0.1] + [sign * 0.1] * 8, "rule_4") == [15]


def test_rule_4_center_ties_break_the_run():
    assert fired([0.1] * 4 + [0.0] + [0.1] * 4, "rule_4") == []
    assert fired([5.0] * 20, "rule_4", center=5.0) == []


def test_a_point_can_fire_several_rules():
    row = spc.western_electric([1.5] * 7 + [3.5], center=0, sigma=1).iloc[-1]
    assert row.tolist() == [True, False, True, True]


@pytest.mark.parametrize("sigma", [0.0, math.nan])
def test_zero_or_nan_sigma_only_rule_4(sigma):
    df = spc.western_electric([6.0] * 8 + [100.0, -100.0], center=5.0, sigma=sigma)
    assert df[["rule_1", "rule_2", "rule_3"]].to_numpy().sum() == 0
    assert df["rule_4"].tolist() == [False] * 7 + [True, True, False]


@pytest.mark.parametrize("n", [0, 1, 2, 4, 7])
def test_short_series_do_not_fire_incomplete_windows(n):
    df = spc.western_electric([9.0] * n, center=0, sigma=1)
    assert list(df.columns) == ["rule_1", "rule_2", "rule_3", "rule_4"] and len(df) == n
    assert df["rule_1"].sum() == n
    assert df["rule_2"].sum() == max(0, n - 2) and df["rule_3"].sum() == max(0, n - 4)
    assert df["rule_4"].sum() == 0


def test_constant_series_never_fires():
    x = [4.2] * 30
    lim = spc.control_limits(x)
    assert not spc.western_electric(x, center=lim.center, sigma=lim.sigma).to_numpy().any()


def test_series_index_is_kept_and_negative_sigma_raises():
    s = pd.Series([0.0, 4.0], index=["a", "b"])
    assert spc.western_electric(s, center=0, sigma=1)["rule_1"].to_dict() == {"a": False, "b": True}
    with pytest.raises(ValueError):
        spc.western_electric([1.0], center=0, sigma=-1)


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(st.integers(-4, 4), max_size=40),
    st.sampled_from(SIGMAS),
    st.sampled_from([0.0, 0.5, -1.0]),
)
def test_rules_match_the_reference(values, sigma, center):
    x = [float(v) for v in values]
    got = spc.western_electric(x, center=center, sigma=sigma).to_numpy().T
    assert (got == naive_rules(x, center, sigma)).all()


@settings(max_examples=examples(150), deadline=None)
@given(st.data())
def test_rows_form_matches_one_series_at_a_time(data):
    width = data.draw(st.integers(1, 30))
    rows = data.draw(st.lists(st.lists(st.integers(-6, 6), max_size=width), min_size=1, max_size=5))
    matrix = np.full((len(rows), width), 99.0)  # padding that would fire if it were looked at
    for i, r in enumerate(rows):
        matrix[i, width - len(r) :] = r
    lengths = [len(r) for r in rows]
    center, sigma = spc.control_limits_rows(matrix, lengths)
    flags = spc.western_electric_rows(matrix, center=center, sigma=sigma, lengths=lengths)
    for i, r in enumerate(rows):
        lim = spc.control_limits(r)
        np.testing.assert_allclose([center[i], sigma[i]], [lim.center, lim.sigma], rtol=1e-12)
        one = spc.western_electric(r, center=center[i], sigma=sigma[i]).to_numpy().T
        assert (flags[:, i, width - len(r) :] == one).all()
        assert not flags[:, i, : width - len(r)].any()


# --- properties ----------------------------------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False).filter(
    lambda v: v == 0 or abs(v) > 1e-100
)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(finite, min_size=2, max_size=80), st.sampled_from(["mr", "sd"]))
def test_lcl_le_center_le_ucl(values, method):
    lim = spc.control_limits(values, method=method)
    assert lim.lcl <= lim.center <= lim.ucl


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=2, max_size=100), st.integers(-(10**6), 10**6))
def test_integer_shift_shifts_limits_and_keeps_flags(values, k):
    a = spc.control_limits(values)
    b = spc.control_limits([v + k for v in values])
    assert b.sigma == a.sigma
    assert b.center == pytest.approx(a.center + k, abs=1e-9)
    fa = spc.western_electric(values, center=a.center, sigma=a.sigma)
    fb = spc.western_electric([v + k for v in values], center=b.center, sigma=b.sigma)
    assert fa.equals(fb)


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(finite, min_size=2, max_size=100), st.integers(-20, 20), st.sampled_from(["mr", "sd"])
)
def test_power_of_two_scaling_keeps_flags(values, k, method):
    scale = 2.0**k
    a = spc.control_limits(values, method=method)
    b = spc.control_limits([v * scale for v in values], method=method)
    assert (b.center, b.sigma) == (a.center * scale, a.sigma * scale)
    fa = spc.western_electric(values, center=a.center, sigma=a.sigma)
    fb = spc.western_electric([v * scale for v in values], center=b.center, sigma=b.sigma)
    assert fa.equals(fb)


# --- zone, p chart, Wilson, pill -----------------------------------------------------------------


def test_zone():
    assert spc.zone([0, 0.5, 1, 1.5, 2, 2.5, 3.5, -1, -2.5], 0, 1).tolist() == [
        0, 1, 1, 2, 2, 3, 3, -1, -3,
    ]  # fmt: skip
    assert spc.zone([4, 5, 6], 5, 0).tolist() == [-1, 0, 1]


def test_p_chart_exact():
    df = spc.p_chart_limits([99, 98, 80, 50], [100, 100, 100, 50])
    pbar = 327 / 350
    sig = [math.sqrt(pbar * (1 - pbar) / n) for n in (100, 100, 100, 50)]
    assert df["center"].tolist() == [pbar] * 4
    np.testing.assert_allclose(df["sigma"], sig, rtol=1e-15)
    np.testing.assert_allclose(df["lcl"], [pbar - 3 * s for s in sig], rtol=1e-12)
    np.testing.assert_allclose(df["ucl"], [min(1.0, pbar + 3 * s) for s in sig], rtol=1e-12)
    assert df["ucl"].iloc[3] == 1.0  # clipped
    assert df["p"].tolist() == [0.99, 0.98, 0.8, 1.0]
    assert df["rule_1"].tolist() == [False, False, True, False]


def test_p_chart_rule_4_and_empty_periods():
    s = [99] * 8 + [97] * 8
    df = spc.p_chart_limits(s, [100] * 16)
    assert np.flatnonzero(df["rule_4"]).tolist() == [7, 15]
    gap = spc.p_chart_limits([99] * 4 + [0] + [99] * 4 + [97] * 9, [100] * 4 + [0] + [100] * 13)
    assert math.isnan(gap["p"][4]) and math.isnan(gap["lcl"][4])
    assert not gap.loc[:8, list(spc.RULES)].to_numpy().any()


def test_p_chart_all_successes_has_zero_sigma_and_no_fires():
    df = spc.p_chart_limits([10] * 9, [10] * 9)
    assert df["sigma"].tolist() == [0.0] * 9 and not df[list(spc.RULES)].to_numpy().any()


@pytest.mark.parametrize("s, n", [([5], [4]), ([-1], [4]), ([1, 2], [3])])
def test_p_chart_rejects_bad_counts(s, n):
    with pytest.raises(ValueError):
        spc.p_chart_limits(s, n)


def test_wilson_lower_bound():
    z = 1.6448536269514722
    assert spc.wilson_lower_bound(5, 5) == pytest.approx(1 / (1 + z * z / 5))
    assert round(spc.wilson_lower_bound(5, 5), 4) == 0.6489
    assert spc.wilson_lower_bound(0, 10) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(spc.wilson_lower_bound(0, 0))
    assert spc.wilson_lower_bound(51, 51) < 0.95 <= spc.wilson_lower_bound(52, 52)
    p, n = 0.9, 200  # the textbook form
    want = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
        1 + z * z / n
    )
    assert spc.wilson_lower_bound(180, 200) == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(spc.wilson_lower_bound([5, 180], [5, 200]), [0.6489, want], 1e-4)
    with pytest.raises(ValueError):
        spc.wilson_lower_bound(6, 5)


def test_pill_boundaries_and_settings():
    assert [spc.pill(r) for r in (1.0, 0.99, 0.9899, 0.95, 0.9499, 0.0)] == [
        "green", "green", "amber", "amber", "red", "red",
    ]  # fmt: skip
    assert spc.pill(None) is None and spc.pill(math.nan) is None
    assert spc.pill(297 / 300) == "green"
    assert spc.pill(0.97, Settings(pill_green_min=0.97)) == "green"


# --- sampling ladder -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, level, text",
    [
        ((29, 1.0, 100, 0), {}, "100%", "only 29 calls (< 30)"),
        ((1000, 0.94, 100, 0), {}, "100%", "success 94.0% is red"),
        ((1000, 1.0, 100, 0), {"drift": "drift"}, "100%", "drift"),
        ((1000, 1.0, 4, 1), {}, "100%", "acceptance 80.0% of 5 reviews is red"),
        ((1000, 1.0, 3, 1), {}, "20%", "below 20% needs >= 5 reviews"),  # 4 reviews: not red yet
        ((30, 1.0), {}, "50%", "20% needs >= 100 calls"),
        ((1000, 0.985), {}, "50%", "20% needs success >= 99.0%"),
        ((1000, 1.0, 100, 0), {"recent_fires": 9}, "exception", "no alarm among the newest"),
        ((1000, 1.0, 100, 0), {"alarms": ["latency: x"]}, "100%", "alarm: latency: x"),
        ((1000, 1.0, 100, 0), {"schema_valid_rate": 0.94}, "100%", "schema valid 94.0% is red"),
        ((1000, 1.0, 100, 0), {"completion_rate": 0.926}, "100%", "completion 92.6% is red"),
        ((1000, 1.0, 100, 0), {"schema_valid_rate": 0.985}, "50%", "schema valid >= 99.0%"),
        ((1000, 1.0, 100, 0), {"completion_rate": 0.97}, "50%", "completion >= 98.0% (has 97.0%)"),
        (
            (1000, 1.0, 100, 0),
            {"schema_valid_rate": None, "completion_rate": None},
            "exception",
            "",
        ),
        ((1000, 1.0, 100, 0), {"completion_rate": float("nan")}, "exception", ""),
        ((100, 0.99), {}, "20%", "has 0)"),
        ((1000, 1.0, 9, 1), {}, "100%", "acceptance 90.0% of 10 reviews is red"),
        ((1000, 1.0, 3, 0), {}, "20%", "has 3 at 100.0%"),
        ((200, 1.0, 5, 0), {}, "5%", "Wilson 95% lower bound 0.6489"),
        ((5000, 1.0, 5, 0), {}, "5%", "5/5 reviews accepted, Wilson 95% lower bound 0.6489"),
        ((499, 1.0, 60, 0), {}, "5%", "Wilson 95% lower bound 0.9569"),
        ((500, 1.0, 60, 0), {}, "exception", "Wilson 95% lower bound 0.9569"),
        ((500, 1.0, 52, 0), {"drift": "watch"}, "exception", "52/52"),
        ((500, 1.0, 51, 0), {}, "5%", "51/51 reviews accepted, Wilson 95% lower bound 0.9496"),
    ],
)
def test_sampling_ladder(args, kwargs, level, text):
    got, reason = spc.sampling_recommendation(*args, **kwargs)
    assert got == level
    assert text in reason


def test_sampling_thresholds_come_from_settings():
    st_ = Settings(sampling_min_calls=10, sampling_20_min_calls=12)
    assert spc.sampling_recommendation(12, 1.0, settings=st_)[0] == "20%"
    assert spc.sampling_recommendation(12, 1.0)[0] == "100%"
    assert spc.sampling_recommendation(50, None)[0] == "100%"


# --- drift badge ---------------------------------------------------------------------------------


def lognormal(rng: np.random.Generator, n: int, sigma: float = 0.4) -> np.ndarray:
    return np.round(np.exp(rng.normal(5.0, sigma, n)))


def test_drift_success_drop_is_strict():
    st_ = Settings(spc_recent=50)
    lat = [100.0] * 550
    exactly_2pp = [1] * 500 + [1] * 49 + [0]
    assert spc.drift_badge(exactly_2pp, lat, settings=st_) == ("stable", [])
    badge, signals = spc.drift_badge([1] * 500 + [1] * 48 + [0, 0], lat, settings=st_)
    assert badge == "watch" and signals[0].startswith("success: newest 50 at 96.0% vs 100.0%")


def test_drift_success_pill_red_without_baseline():
    assert spc.drift_badge([1] * 27 + [0] * 3, [100.0] * 30)[1] == ["success: newest 30 at 90.0%"]


def test_drift_p95_both_directions_and_rules():
    rng = np.random.default_rng(7)
    base = lognormal(rng, 500)
    for factor in (2.5, 0.3):
        badge, signals = spc.drift_badge([1] * 560, np.r_[base, lognormal(rng, 60) * factor])
        assert badge == "drift"
        assert [s.split(":")[0] for s in signals] == ["p95", "rules"]


def test_drift_rules_signal_alone_on_two_outliers():
    rng = np.random.default_rng(3)
    lat = lognormal(rng, 560)
    lat[-30], lat[-10] = 1e6, 2e6  # two rule-1 fires; p95 of 60 points ignores the top two
    badge, signals = spc.drift_badge([1] * 560, lat)
    assert badge == "watch" and len(signals) == 1
    assert signals[0].startswith("rules: ") and signals[0].endswith(", 2 of rule 1")
    lat[-30] = lat[-31]  # one rule-1 fire alone is noise
    assert spc.drift_badge([1] * 560, lat)[0] == "stable"


def test_drift_is_silent_without_baseline_latencies():
    assert spc.drift_badge([1] * 61, [100.0] * 60 + [1e6]) == ("stable", [])


@pytest.mark.parametrize("sigma", [0.25, 0.5])
def test_badge_is_stable_on_in_control_lognormal_latency(sigma):
    """>= 95% stable over seeded trials of 560 in-control calls (measured: ~98%)."""
    rng = np.random.default_rng(2026)
    trials = 400
    stable = sum(
        spc.drift_badge(np.ones(560), lognormal(rng, 560, sigma))[0] == "stable"
        for _ in range(trials)
    )
    assert stable / trials >= 0.95


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.floats(0.2, 0.6), st.floats(1.0, 8.0))
def test_badge_stability_holds_for_any_seed_and_scale(seed, sigma, mu):
    rng = np.random.default_rng(seed)
    runs = [spc.drift_badge(np.ones(560), np.exp(rng.normal(mu, sigma, 560)))[0] for _ in range(80)]
    assert runs.count("stable") >= 0.85 * len(runs)  # 80 trials: room for noise around ~98%


@pytest.mark.parametrize("change", ["slower", "faster", "failing"])
def test_injected_changes_are_not_stable(change):
    rng = np.random.default_rng(11)
    lat, ok = lognormal(rng, 560), np.ones(560)
    if change == "slower":
        lat[-60:] *= 1.8
    elif change == "faster":
        lat[-60:] *= 0.4
    else:
        ok[-60:][::10] = 0
    assert spc.drift_badge(ok, lat)[0] != "stable"
