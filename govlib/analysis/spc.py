"""SPC for tool calls: individuals and p charts, Western Electric rules, pills, sampling ladder,
drift badge. Pure: array-likes in, numpy/pandas out, no I/O; thresholds from :class:`Settings`.
"Beyond k sigma" is strict (a point on a boundary is in the inner zone, one on the centre is on
neither side); NaN/inf in values raise ValueError naming the first bad index."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from govlib.lazy import pd  # pandas on first use: a first paint draws no data frame
from govlib.settings import Settings

__all__ = [
    "D2",
    "RULES",
    "ControlLimits",
    "control_limits",
    "control_limits_rows",
    "western_electric",
    "western_electric_rows",
    "zone",
    "p_chart_limits",
    "wilson_lower_bound",
    "pill",
    "sampling_recommendation",
    "ladder_alarms",
    "failure_alarm_count",
    "drift_badge",
]

D2 = 1.128  # tabulated d2 for moving ranges of two points
RULES: tuple[str, ...] = ("rule_1", "rule_2", "rule_3", "rule_4")
_F = NDArray[np.float64]


@dataclass(frozen=True)
class ControlLimits:
    """Centre line, sigma and 3-sigma limits of an individuals chart (NaN where undefined)."""

    center: float
    sigma: float
    lcl: float
    ucl: float


def _array(values: ArrayLike, what: str = "values") -> _F:
    """``values`` as a finite 1-D float array (pandas NA counts as NaN)."""
    pandas = isinstance(values, pd.Series | pd.Index)
    try:
        x = values.to_numpy(float, na_value=np.nan) if pandas else np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: {values!r:.60} is not a series of numbers ({exc})") from None
    if x.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D series, got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{what}[{i}] is {x[i]}: NaN/inf not allowed (first bad index {i})")
    return x


def _rows(values: ArrayLike, lengths: ArrayLike | None) -> tuple[_F, NDArray[np.int64]]:
    """A right-aligned 2-D batch as floats with NaN left of each row's values, and row starts."""
    x = np.array(values, dtype=float)  # a copy: the padding is overwritten
    if x.ndim != 2:
        raise ValueError(f"values: expected a 2-D array (series x points), got shape {x.shape}")
    n = x.shape[1]
    lens = np.full(x.shape[0], n) if lengths is None else np.asarray(lengths, dtype=np.int64)
    if lens.shape != (x.shape[0],) or (lens < 0).any() or (lens > n).any():
        raise ValueError(f"lengths: expected {x.shape[0]} counts in [0, {n}]")
    real = np.arange(n) >= (start := (n - lens)[:, None])
    bad = real & ~np.isfinite(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"values[{r}, {c}] is {x[r, c]}: NaN/inf not allowed (first bad index)")
    x[~real] = np.nan
    return x, start


def control_limits_rows(
    values: ArrayLike, lengths: ArrayLike | None = None, *, method: str = "mr"
) -> tuple[_F, _F]:
    """Centre and sigma of many series at once, each row its own baseline (batch form of
    :func:`control_limits`; lcl/ucl = center -/+ 3 sigma).

    ``values`` has shape (series, points); row ``i`` holds its ``lengths[i]`` values
    right-aligned, oldest first, and entries left of them are ignored (pad with NaN).

    Example:
        >>> c, s = control_limits_rows([[np.nan, 1.0, 3.0], [2.0, 2.0, 2.0]], [2, 3])
        >>> c.tolist(), s.round(4).tolist()
        ([2.0, 2.0], [1.773, 0.0])
    """
    if method not in ("mr", "sd"):
        raise ValueError(f"method must be 'mr' or 'sd', got {method!r}")
    x, _ = _rows(values, lengths)
    rows, cols = x.shape
    if cols == 0:
        return np.full(rows, np.nan), np.full(rows, np.nan)
    real = ~np.isnan(x)
    n = real.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        center = np.nansum(x, axis=1) / n
        if method == "mr":
            mr = np.abs(np.diff(x, axis=1))
            sigma = np.nansum(mr, axis=1) / (~np.isnan(mr)).sum(axis=1) / D2
        else:
            sigma = np.sqrt(np.nansum((x - center[:, None]) ** 2, axis=1) / (n - 1))
    same = np.where(real, x, -np.inf).max(axis=1) == np.where(real, x, np.inf).min(axis=1)
    first = x[np.arange(rows), np.minimum(cols - n, cols - 1)]  # identical: the value itself
    center = np.where(same, first, center)
    sigma = np.where(n < 2, np.nan, np.where(same, 0.0, sigma))
    return center, sigma


def control_limits(
    values: ArrayLike, *, method: str = "mr", baseline_n: int | None = None
) -> ControlLimits:
    """Individuals-chart limits from the first ``baseline_n`` values (default: all).

    ``center`` is the arithmetic mean (exactly the value when all are identical). ``sigma`` is the
    mean moving range / d2 = 1.128 (``method="mr"``) or the sample SD, ddof=1 (``"sd"``).
    ``lcl``/``ucl`` = center -/+ 3 sigma, never clamped. One baseline point: sigma and limits are
    NaN; identical baseline: sigma is exactly 0.0 and lcl = ucl = center.

    Example:
        >>> lim = control_limits([10, 12, 11, 13])
        >>> lim.center, round(lim.sigma, 4), round(lim.lcl, 4), round(lim.ucl, 4)
        (11.5, 1.4775, 7.0674, 15.9326)
    """
    x = _array(values)
    if baseline_n is not None:
        if (
            isinstance(baseline_n, bool)
            or not isinstance(baseline_n, int | np.integer)
            or (baseline_n < 1)
        ):
            raise ValueError(f"baseline_n must be an int >= 1 or None, got {baseline_n!r}")
        x = x[:baseline_n]
    c, s = control_limits_rows(x[None, :], method=method)
    center, sigma = float(c[0]), float(s[0])
    return ControlLimits(center, sigma, center - 3 * sigma, center + 3 * sigma)


def _window_count(b: NDArray[np.bool_], w: int) -> NDArray[np.uint8]:
    """How many of the ``w`` points ending at each point are set (0 before a complete window)."""
    n = b.shape[-1]
    out = np.zeros(b.shape, dtype=np.uint8)
    if n >= w:
        acc = out[..., w - 1 :]
        for j in range(w):  # one slice per window offset, not per point
            acc += b[..., w - 1 - j : n - j]
    return out


def _flags(x: _F, center: Any, sigma: Any, start: NDArray[np.int64] | None) -> NDArray[np.bool_]:
    """Rules 1-4 as a (4, rows, points) bool array. NaN points are on no side and beyond nothing;
    ``center``/``sigma`` broadcast against ``x``; a window counts only from ``start`` on."""
    out = np.zeros((4, *x.shape), dtype=bool)
    sig = np.asarray(sigma, dtype=float)
    if (ok := np.isfinite(sig) & (sig > 0)).any():  # sigma 0 or NaN: rules 1-3 fire nowhere
        s = np.where(ok, sig, np.nan)
        up = [x > center + k * s for k in (1, 2, 3)]
        lo = [x < center - k * s for k in (1, 2, 3)]
        out[0] = up[2] | lo[2]
        out[1] = (up[1] & (_window_count(up[1], 3) >= 2)) | (lo[1] & (_window_count(lo[1], 3) >= 2))
        out[2] = (up[0] & (_window_count(up[0], 5) >= 4)) | (lo[0] & (_window_count(lo[0], 5) >= 4))
    out[3] = (_window_count(x > center, 8) == 8) | (_window_count(x < center, 8) == 8)
    if start is not None and np.any(start):
        cols = np.arange(x.shape[-1])
        for k, w in ((1, 3), (2, 5), (3, 8)):
            out[k] &= cols >= start + (w - 1)
    return out


def _check_limits(center: Any, sigma: Any) -> tuple[_F, _F]:
    c, s = np.asarray(center, dtype=float), np.asarray(sigma, dtype=float)
    if np.isinf(c).any() or np.isinf(s).any() or (s < 0).any():
        raise ValueError(f"need finite center(s) and sigma(s) >= 0, got {center}, {sigma}")
    return c, s


def western_electric(values: ArrayLike, *, center: float, sigma: float) -> pd.DataFrame:
    """Western Electric rules 1-4 for each point (two-sided, overlapping windows, no resets).

    rule_1: beyond 3 sigma. rule_2: beyond 2 sigma and 2 of the 3 points ending here beyond 2
    sigma on that side. rule_3: the same with 1 sigma and 4 of 5. rule_4: this point and the 7
    before it strictly on the same side of the centre. sigma 0 or NaN: rules 1-3 never fire.
    Returns bool columns rule_1..rule_4, one row per value (a Series keeps its index).

    Example:
        >>> western_electric([0, 0, 3.5, 2.5, 0], center=0, sigma=1).sum().tolist()
        [1, 1, 0, 0]
    """
    x = _array(values)
    center, sigma = _check_limits(center, sigma)
    flags = _flags(x[None, :], center, sigma, None)[:, 0, :]
    index = values.index if isinstance(values, pd.Series) else None
    return pd.DataFrame(flags.T, columns=list(RULES), index=index)


def western_electric_rows(
    values: ArrayLike, *, center: ArrayLike, sigma: ArrayLike, lengths: ArrayLike | None = None
) -> NDArray[np.bool_]:
    """Rules 1-4 for many right-aligned series at once (one 2-D pass; see
    :func:`control_limits_rows` for the layout). Returns bool ``(4, series, points)``; padding
    never fires and windows only count once complete within a row's own values.

    Example:
        >>> f = western_electric_rows([[9.0, 0, 4], [0, 0, 4]], center=[0, 0], sigma=[1, 1],
        ...                           lengths=[2, 3])
        >>> f[0].tolist()
        [[False, False, True], [False, False, True]]
    """
    x, start = _rows(values, lengths)
    c, s = _check_limits(center, sigma)
    return _flags(x, c.reshape(-1, 1), s.reshape(-1, 1), start)


def zone(values: ArrayLike, center: float, sigma: float) -> NDArray[np.int8]:
    """Signed zone of each point: 0 on the centre line, +/-1 within 1 sigma (zone C), +/-2 beyond
    1 sigma (B), +/-3 beyond 2 sigma (A, or beyond the limits: see rule_1); sign = side.
    With sigma 0 or NaN only the side is known (+/-1).

    Example:
        >>> zone([0, 0.5, -1, 1.5, 2.5, -9], 0, 1).tolist()
        [0, 1, -1, 2, 3, -3]
    """
    x = _array(values)
    center, sigma = _check_limits(center, sigma)
    z = (x > center).astype(np.int8) - (x < center)
    if sigma > 0:
        for k in (1, 2):
            z += (x > center + k * sigma).astype(np.int8) - (x < center - k * sigma)
    return z


def p_chart_limits(successes: ArrayLike, totals: ArrayLike) -> pd.DataFrame:
    """Binomial (p) chart per period: ``p = successes/totals``, centre ``pbar`` = pooled rate,
    ``sigma = sqrt(pbar(1-pbar)/total)``, limits ``pbar -/+ 3 sigma`` clipped to [0, 1], and rules
    1-4 on p against the per-period sigma. A period with total 0 has p/sigma/limits NaN and fires
    nothing (it also breaks runs).

    Example:
        >>> df = p_chart_limits([99, 98, 80], [100, 100, 100])
        >>> df["rule_1"].tolist(), round(float(df["center"][0]), 4)
        ([False, False, True], 0.9233)
    """
    s, n = _array(successes, "successes"), _array(totals, "totals")
    if s.shape != n.shape:
        raise ValueError(f"successes and totals differ in length ({s.size} vs {n.size})")
    bad = (n < 0) | (s < 0) | (s > n)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"period {i}: need 0 <= successes <= totals, got {s[i]} of {n[i]}")
    pbar = float(s.sum() / n.sum()) if n.sum() > 0 else math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, s / n, np.nan)
        sigma = np.where(n > 0, np.sqrt(pbar * (1 - pbar) / n), np.nan)
    flags = _flags(p[None, :], pbar, sigma[None, :], None)[:, 0, :]
    df = pd.DataFrame({"successes": s, "totals": n, "p": p, "center": pbar, "sigma": sigma})
    df["lcl"] = np.clip(pbar - 3 * sigma, 0.0, 1.0)
    df["ucl"] = np.clip(pbar + 3 * sigma, 0.0, 1.0)
    df[list(RULES)] = flags.T
    return df.set_index(successes.index) if isinstance(successes, pd.Series) else df


def wilson_lower_bound(successes: Any, n: Any, confidence: float = 0.95) -> Any:
    """One-sided Wilson lower confidence bound of a proportion (NaN when ``n`` is 0).

    Example:
        >>> round(wilson_lower_bound(5, 5), 4), round(wilson_lower_bound(60, 60), 4)
        (0.6489, 0.9569)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    s, m = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    if np.any(~np.isfinite(s) | ~np.isfinite(m) | (s < 0) | (s > m)):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    z = NormalDist().inv_cdf(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / m
        centre = p + z * z / (2 * m)
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m))
        lb = np.where(m > 0, np.clip((centre - half) / (1 + z * z / m), 0.0, 1.0), np.nan)
    return float(lb) if lb.ndim == 0 else lb


def pill(rate: float | None, settings: Settings | None = None) -> str | None:
    """``"green"`` (>= pill_green_min), ``"amber"`` (>= pill_amber_min), ``"red"``; None: no rate.

    Example:
        >>> pill(0.99), pill(0.985), pill(0.5), pill(None)
        ('green', 'amber', 'red', None)
    """
    st = settings or Settings()
    if rate is None or pd.isna(rate):
        return None
    if rate >= st.pill_green_min:
        return "green"
    return "amber" if rate >= st.pill_amber_min else "red"


def sampling_recommendation(
    count: int,
    success_rate: float | None,
    accept_count: int = 0,
    reject_count: int = 0,
    *,
    recent_fires: int = 0,
    drift: str = "stable",
    alarms: Any = (),
    schema_valid_rate: float | None = None,
    completion_rate: float | None = None,
    settings: Settings | None = None,
) -> tuple[str, str]:
    """Review-sampling level (``100%``, ``50%``, ``20%``, ``5%``, ``exception``) and its reason.

    Structural signals decide how fast sampling ramps down: calls, the success, schema-valid and
    workflow-completion rates (each red: 100%; below ``pill_green_min``,
    ``sampling_schema_valid_min`` or ``sampling_completion_min``: not below 50%), the ``drift``
    badge (drift: 100%) and the ``alarms`` of :func:`ladder_alarms` (any: 100%). Verdicts decide
    how low it goes (>= ``sampling_min_reviews`` at >= ``sampling_min_accept`` for 5%, the
    Wilson lower bound for exception). A single rule fire (``recent_fires``, kept for callers)
    no longer moves the level: with four rules an in-control tool fires somewhere among 60
    calls about half the time, so the level would flap; see ``docs/spc.md``.

    Example:
        >>> sampling_recommendation(12, 1.0)
        ('100%', 'only 12 calls (< 30): review every call')
        >>> sampling_recommendation(1000, 1.0, 60, 0, completion_rate=0.926)[0]
        '100%'
    """
    del recent_fires  # accepted for callers of the seed's signature; see the docstring
    st = settings or Settings()
    reviews = accept_count + reject_count
    accept = accept_count / reviews if reviews else None
    rates = _ladder_rates(success_rate, schema_valid_rate, completion_rate)
    full = _full_review_reason(count, rates, accept, reviews, drift, list(alarms or ()), st)
    if full is not None or success_rate is None:
        return "100%", f"{full}: review every call"
    why = f"{count} calls, success {success_rate:.1%}"
    if block := _not_20_reasons(count, rates, st):
        return "50%", f"{why}; not lower: {'; '.join(block)}"
    why += ", no alarm among the newest calls"
    if reviews < st.sampling_min_reviews or accept is None or accept < st.sampling_min_accept:
        return "20%", _stays_at_20_reason(why, reviews, accept, st)
    return _reviewed_level(why, count, accept_count, reviews, st)


def _ladder_rates(
    success: float | None, schema_valid: float | None, completion: float | None
) -> dict[str, float]:
    """The known rates the ladder reads, by name (unknown schema/completion rates left out)."""
    rates = {"success": success, "schema valid": schema_valid, "completion": completion}
    return {k: float(v) for k, v in rates.items() if v is not None and not pd.isna(v)}


def _full_review_reason(
    count: int,
    rates: dict[str, float],
    accept: float | None,
    reviews: int,
    drift: str,
    alarms: list[str],
    st: Settings,
) -> str | None:
    """Why every call needs review (too few calls, a rate unknown or red, drift, an alarm,
    acceptance red), or None."""
    if count < st.sampling_min_calls:
        return f"only {count} calls (< {st.sampling_min_calls})"
    if "success" not in rates:
        return "success rate unknown"
    for name, rate in rates.items():
        if pill(rate, st) == "red":
            return f"{name} {rate:.1%} is red (< {st.pill_amber_min:.1%})"
    if drift == "drift":
        return "drift badge says drift"
    if alarms:
        return "alarm: " + "; ".join(alarms)
    if reviews >= st.sampling_red_accept_min_reviews and pill(accept, st) == "red":
        return f"acceptance {accept or 0.0:.1%} of {reviews} reviews is red"
    return None


def _not_20_reasons(count: int, rates: dict[str, float], st: Settings) -> list[str]:
    """What keeps sampling at 50% (empty: it may go down to 20%)."""
    floors = {
        "success": st.pill_green_min,
        "schema valid": st.sampling_schema_valid_min,
        "completion": st.sampling_completion_min,
    }
    block = [f"20% needs >= {st.sampling_20_min_calls} calls"] * (count < st.sampling_20_min_calls)
    block += [
        f"20% needs {name} >= {floors[name]:.1%} (has {rate:.1%})"
        for name, rate in rates.items()
        if rate < floors[name]
    ]
    return block


def _stays_at_20_reason(why: str, reviews: int, accept: float | None, st: Settings) -> str:
    """The reason of a 20% level: too few reviews, or acceptance too low, to go lower."""
    return (
        f"{why}; below 20% needs >= {st.sampling_min_reviews} reviews at >= "
        f"{st.sampling_min_accept:.1%} acceptance (has {reviews}"
        + (f" at {accept:.1%})" if accept is not None else ")")
    )


def _reviewed_level(
    why: str, count: int, accept_count: int, reviews: int, st: Settings
) -> tuple[str, str]:
    """``exception`` when the Wilson lower bound of acceptance is high enough, else ``5%``."""
    lb = wilson_lower_bound(accept_count, reviews)
    why += (
        f", {accept_count}/{reviews} reviews accepted, Wilson 95% lower bound {lb:.4f}"
        f" (exception needs >= {st.sampling_exception_wilson_lb:g}"
        f" and >= {st.sampling_exception_min_calls} calls)"
    )
    if count >= st.sampling_exception_min_calls and lb >= st.sampling_exception_wilson_lb:
        return "exception", f"review only flagged calls: {why}"
    return "5%", why


def failure_alarm_count(n: int, baseline_failure_rate: float, settings: Settings) -> int:
    """Fewest failures among ``n`` calls that a tool failing at the baseline rate would reach
    with probability at most ``sampling_alarm_p`` (binomial upper tail). The baseline rate is
    floored at ``sampling_alarm_min_failure_rate``, so a tool that never failed is not alarmed
    by one failure.

    Example:
        >>> failure_alarm_count(60, 0.0, Settings()), failure_alarm_count(60, 0.02, Settings())
        (3, 6)
    """
    p = min(1.0, max(float(baseline_failure_rate), settings.sampling_alarm_min_failure_rate))
    tail = 1.0  # P(X >= k), from k = 0 up
    for k in range(n + 1):
        if tail <= settings.sampling_alarm_p:
            return k
        tail -= math.comb(n, k) * p**k * (1 - p) ** (n - k)
    return n + 1


def _upper_tail(n: int, p: float, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return 1.0 - sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(min(k, n + 1)))


def alarm_baseline_rate(failures: int, n: int, settings: Settings) -> float:
    """The baseline failure rate the failure alarm assumes after ``failures`` among ``n`` earlier
    calls: the floor ``sampling_alarm_min_failure_rate`` unless the earlier calls failed more
    often than the floor explains (binomial upper tail at most ``sampling_alarm_baseline_p``),
    then their own rate.

    A steady tool at the floor's rate shows more failures than the floor in about half of its
    baselines by chance alone; taking that noisy estimate would raise the alarm's count (3 to 4
    for 60 calls) and miss a real drop to 90% success one time in seven instead of one in
    twenty. A tool that really fails more often is still judged by its own rate.

    Example:
        >>> st = Settings()
        >>> alarm_baseline_rate(4, 500, st), alarm_baseline_rate(10, 500, st)
        (0.005, 0.02)
    """
    floor = settings.sampling_alarm_min_failure_rate
    if n <= 0 or failures <= 0:
        return floor
    if _upper_tail(n, floor, failures) > settings.sampling_alarm_baseline_p:
        return floor
    return max(floor, failures / n)


def ladder_alarms(
    success: ArrayLike, latency_ms: ArrayLike, *, settings: Settings | None = None
) -> list[str]:
    """The alarms that send a tool straight to 100% review: signals with a known, small false-
    alarm rate over the newest ``spc_recent`` calls, against the up to ``spc_window`` before.

    ``latency``: with limits on log latency from the earlier calls only, the newest hold >=
    ``sampling_alarm_rule1_fires`` rule-1 fires or >= ``sampling_alarm_total_fires`` fires of
    any rule. ``failures``: the newest hold at least :func:`failure_alarm_count` failures (the
    baseline rate from :func:`alarm_baseline_rate` of the earlier calls). Both series oldest first, as for
    :func:`drift_badge`; each needs >= ``sampling_min_calls`` earlier values.

    Example:
        >>> ladder_alarms([1] * 500 + [0] * 5 + [1] * 55, [100, 120] * 280)
        ['failures: 5 of the newest 60 (alarm at >= 3)']
    """
    st = settings or Settings()
    r, w = st.spc_recent, st.spc_window
    ok, lat = _array(success, "success"), _array(latency_ms, "latency_ms")
    alarms: list[str] = []
    s_new, s_old = ok[-r:], ok[max(0, ok.size - r - w) : max(0, ok.size - r)]
    if s_new.size and s_old.size >= st.sampling_min_calls:
        failures = int(s_new.size - s_new.sum())
        base_failures = int(round(s_old.size - float(s_old.sum())))
        at = failure_alarm_count(s_new.size, alarm_baseline_rate(base_failures, s_old.size, st), st)
        if failures >= at:
            alarms.append(f"failures: {failures} of the newest {s_new.size} (alarm at >= {at})")
    lat = np.maximum(lat, st.spc_min_latency_ms)
    l_new, l_old = lat[-r:], lat[max(0, lat.size - r - w) : max(0, lat.size - r)]
    if l_new.size and l_old.size >= st.sampling_min_calls:
        logs = np.log(np.concatenate([l_old, l_new]))
        lim = control_limits(logs[: l_old.size])
        fires = _flags(logs[None, :], lim.center, lim.sigma, None)[:, 0, l_old.size :].sum(axis=1)
        if (
            fires[0] >= st.sampling_alarm_rule1_fires
            or fires.sum() >= st.sampling_alarm_total_fires
        ):
            alarms.append(
                f"latency: {fires[0]} rule-1 and {fires.sum()} rule fires in the newest "
                f"{l_new.size} against the limits of the {l_old.size} before"
            )
    return alarms


def drift_badge(
    success: ArrayLike, latency_ms: ArrayLike, *, settings: Settings | None = None
) -> tuple[str, list[str]]:
    """Drift badge ``stable``/``watch``/``drift`` and the signals that fired.

    Both series are one tool's newest calls, oldest first (0/1 outcomes; latencies in ms). The
    newest ``spc_recent`` (60) are compared with the up to ``spc_window`` (500) before them.
    ``success``: a drop of more than ``drift_success_drop_pp`` points, or the newest calls'
    success pill red. ``p95``: newest p95 above ``drift_p95_ratio_high`` x or below
    ``drift_p95_ratio_low`` x the baseline p95. ``rules``: on log latency, with limits (method
    "mr") from the baseline *only* (phase I / phase II: a shift cannot widen its own limits), the
    newest points hold >= ``drift_rule1_fires`` rule-1 or >= ``drift_total_fires`` fires in all.
    p95 and rules need >= 2 baseline latencies. None fired: stable; one: watch; more: drift.

    Example:
        >>> drift_badge([1] * 100, [100, 120] * 50)
        ('stable', [])
    """
    st = settings or Settings()
    r, w = st.spc_recent, st.spc_window
    ok, lat = _array(success, "success"), _array(latency_ms, "latency_ms")
    signals: list[str] = []
    s_new, s_old = ok[-r:], ok[max(0, ok.size - r - w) : max(0, ok.size - r)]
    if s_new.size:
        new = float(s_new.mean())
        drop = 100 * (float(s_old.mean()) - new) if s_old.size else -math.inf
        if drop > st.drift_success_drop_pp + 1e-9 or pill(new, st) == "red":
            old = f" vs {float(s_old.mean()):.1%} before" if s_old.size else ""
            signals.append(f"success: newest {s_new.size} at {new:.1%}{old}")
    lat = np.maximum(lat, st.spc_min_latency_ms)
    l_new, l_old = lat[-r:], lat[max(0, lat.size - r - w) : max(0, lat.size - r)]
    if l_new.size and l_old.size >= 2:
        p_new, p_old = np.percentile(l_new, 95), np.percentile(l_old, 95)
        ratio = p_new / p_old
        if ratio > st.drift_p95_ratio_high or ratio < st.drift_p95_ratio_low:
            signals.append(f"p95: newest {p_new:.0f} ms vs {p_old:.0f} ms before ({ratio:.2f}x)")
        logs = np.log(np.concatenate([l_old, l_new]))
        lim = control_limits(logs[: l_old.size])
        fires = _flags(logs[None, :], lim.center, lim.sigma, None)[:, 0, l_old.size :].sum(axis=1)
        if fires[0] >= st.drift_rule1_fires or fires.sum() >= st.drift_total_fires:
            signals.append(f"rules: {fires.sum()} fires in the newest, {fires[0]} of rule 1")
    return ("stable", "watch", "drift")[min(len(signals), 2)], signals
