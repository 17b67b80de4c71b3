"""Chart values for the SPC dashboard, built by small pure functions.

* :func:`control_chart` - the interactive individuals chart of one tool's newest calls (Altair,
  shown through ``alt.JupyterChart`` offline): zones shaded, centre and limits drawn and labelled,
  latency on a log axis in milliseconds, rule-1 points red triangles, other rule points amber
  diamonds, tooltips, and a point-selection parameter named :data:`PICK` (the call's ``id``).
* :func:`run_duration_chart` - the same chart for a workflow's run durations.
* :func:`sparkline_svg` - a small inline SVG for the stats table: sigma bands behind the line
  (+/-1 sigma green, +/-2 sigma amber, +/-3 sigma red), a thin grey mean line and a dashed red UCL.
  Its elements carry stable class names (:data:`SPARK_CLASSES`) so tests can find them.
* :func:`daily_cost_svg` - the report's bar chart of stored cost per UTC day (Altair through
  vl-convert, as inline SVG); :func:`step_cost_svg` - the executive page's bars of cost per
  workflow step (an SVG template: no chart engine on the page's cold path).

The control chart is a stack of small layers (:func:`zone_layer`, :func:`limit_layers`,
:func:`point_layers`) over one shared x encoding and y scale.

Limits are those of :func:`govlib.analysis.spc.control_limits` computed on ``log(value)`` (natural log):
bands are drawn back in milliseconds, so the centre line is the geometric mean and is labelled so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from markupsafe import Markup

from govlib.analysis.spc import RULES
from govlib.present.formatting import humanize, milliseconds, priced_money, timestamp
from govlib.present.html import inline_svg
from govlib.present.templating import render

if TYPE_CHECKING:
    import pandas as pd
else:

    class _Pandas:
        """pandas, imported on first use (the executive page's first paint draws no pandas chart: ~1 s saved)."""

        def __getattr__(self, name: str) -> object:
            import pandas

            return getattr(pandas, name)

    pd = _Pandas()

if TYPE_CHECKING:  # altair costs ~1.5 s to import; the stats table does not need it
    import altair as alt

__all__ = [
    "PICK",
    "SPARK_CLASSES",
    "Limits",
    "LimitsLike",
    "chart_frame",
    "control_chart",
    "daily_cost_svg",
    "limit_layers",
    "point_layers",
    "run_duration_chart",
    "sparkline_svg",
    "step_cost_svg",
    "zone_bounds",
    "zone_layer",
]

#: Name of the point-selection parameter of the control charts (selects one call by ``id``).
PICK = "pick"
#: Class names of the sparkline's SVG elements, by role.
SPARK_CLASSES = {
    "band_3": "spark-band-3",
    "band_2": "spark-band-2",
    "band_1": "spark-band-1",
    "mean": "spark-mean",
    "ucl": "spark-ucl",
    "line": "spark-line",
    "rule_1": "spark-rule1",
}
_GREEN, _AMBER, _RED, _GREY = "#2e7d32", "#ef8f00", "#c62828", "#757575"
_ZONE_FILL = {"within 1 sigma": "#c8e6c9", "1-2 sigma": "#ffe0b2", "2-3 sigma": "#ffcdd2"}
_STATUS = ["in control", "rule 2-4 fired", "rule 1 fired"]


class LimitsLike(Protocol):
    """What the charts need of :class:`govlib.analysis.spc.ControlLimits` (log scale).

    Example:
        >>> from govlib.analysis.spc import control_limits
        >>> isinstance(control_limits([1.0, 2.0]).center, float)
        True
    """

    center: float
    sigma: float


@dataclass(frozen=True)
class Limits:
    """Plain limits for the charts: ``center`` and ``sigma`` (of the log values by default).

    Example:
        >>> Limits(center=1.0, sigma=0.5).sigma
        0.5
    """

    center: float
    sigma: float


def zone_bounds(limits: LimitsLike, *, log: bool = True) -> dict[str, float]:
    """Centre and the +/-1, 2, 3 sigma bounds in display units (ms when ``log``).

    Returns an empty dict when the limits are undefined (one point, NaN sigma).

    Example:
        >>> b = zone_bounds(Limits(center=0.0, sigma=1.0))
        >>> round(b["center"], 3), round(b["plus_3"], 2)
        (1.0, 20.09)
    """
    c, s = float(limits.center), float(limits.sigma)
    if not (math.isfinite(c) and math.isfinite(s)):
        return {}
    back = math.exp if log else (lambda v: v)
    out = {"center": back(c)}
    for k in (1, 2, 3):
        out[f"plus_{k}"] = back(c + k * s)
        out[f"minus_{k}"] = back(c - k * s)
    return out


def chart_frame(
    df: pd.DataFrame,
    *,
    value: str = "latency_ms",
    time: str = "created_at",
    id_field: str = "id",
    floor: float = 1.0,
) -> pd.DataFrame:
    """The plotted table: id, time, value (floored for the log axis), rules fired, status.

    ``df`` carries the rule columns ``rule_1`` .. ``rule_4`` (missing ones count as False).

    Example:
        >>> f = chart_frame(pd.DataFrame({"id": [1], "created_at": ["2026-01-01T00:00:00Z"],
        ...                               "latency_ms": [0.2], "rule_1": [True]}))
        >>> float(f.loc[0, "value"]), f.loc[0, "rules"], f.loc[0, "status"]
        (1.0, 'rule 1', 'rule 1 fired')
    """
    n = len(df)
    flags = np.column_stack(
        [
            df[r].fillna(False).astype(bool).to_numpy() if r in df else np.zeros(n, bool)
            for r in RULES
        ]
    ).reshape(n, 4)
    names = np.array([f"rule {i}" for i in range(1, 5)])
    status = np.where(
        flags[:, 0], "rule 1 fired", np.where(flags.any(axis=1), "rule 2-4 fired", "in control")
    )
    times = pd.to_datetime(pd.Series(df[time], dtype=object), utc=True, format="ISO8601")
    return pd.DataFrame(
        {
            "id": pd.Series(df[id_field], dtype=object).astype("int64").to_numpy(),
            "time": times.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_numpy(),
            "when": [timestamp(t, zone=False) for t in times],
            "value": np.maximum(pd.to_numeric(df[value]).to_numpy(dtype=float), floor),
            "rules": [", ".join(names[row]) or "none" for row in flags],
            "status": status,
        }
    )


def _zone_rows(bounds: dict[str, float]) -> pd.DataFrame:
    names = dict(zip((1, 2, 3), _ZONE_FILL, strict=True))
    rows = []
    for k in (1, 2, 3):
        inner_hi = bounds[f"plus_{k - 1}"] if k > 1 else bounds["center"]
        inner_lo = bounds[f"minus_{k - 1}"] if k > 1 else bounds["center"]
        rows.append({"lo": inner_hi, "hi": bounds[f"plus_{k}"], "zone": names[k]})
        rows.append({"lo": bounds[f"minus_{k}"], "hi": inner_lo, "zone": names[k]})
    return pd.DataFrame(rows)


def _line_rows(bounds: dict[str, float], *, log: bool) -> pd.DataFrame:
    centre = "centre (geometric mean)" if log else "centre (mean)"
    return pd.DataFrame(
        [
            {
                "y": bounds["plus_3"],
                "label": f"UCL {milliseconds(bounds['plus_3'])}",
                "kind": "UCL",
            },
            {
                "y": bounds["center"],
                "label": f"{centre} {milliseconds(bounds['center'])}",
                "kind": "centre",
            },
            {
                "y": bounds["minus_3"],
                "label": f"LCL {milliseconds(bounds['minus_3'])}",
                "kind": "LCL",
            },
        ]
    )


def _y_scale(values: pd.Series, bounds: dict[str, float], *, log: bool) -> Any:
    import altair as alt

    seen = [*map(float, values), bounds.get("minus_3", math.nan), bounds.get("plus_3", math.nan)]
    seen = [v for v in seen if math.isfinite(v) and (v > 0 or not log)]
    if not seen:
        return alt.Scale(type="log") if log else alt.Scale(zero=False)
    lo, hi = min(seen), max(seen)
    if log:
        return alt.Scale(type="log", domain=[lo / 1.25, hi * 1.25], nice=False)
    span = (hi - lo) or 1.0
    return alt.Scale(zero=False, domain=[lo - 0.1 * span, hi + 0.1 * span], nice=False)


def _time_axis(frame: pd.DataFrame) -> tuple[Any, str, str]:
    import altair as alt

    t0 = frame["time"].iloc[0] if len(frame) else "1970-01-01T00:00:00Z"
    t1 = frame["time"].iloc[-1] if len(frame) else "1970-01-01T00:00:01Z"
    axis = alt.X("time:T", title="time (UTC)", scale=alt.Scale(type="utc", domain=[t0, t1]))
    return axis, t0, t1


def zone_layer(
    bounds: Mapping[str, float], t0: str, t1: str, y_scale: Any, value_title: str
) -> alt.Chart:
    """The shaded +/-1, 2, 3 sigma zones across the time span ``t0`` .. ``t1``.

    Example:
        >>> import altair as alt
        >>> b = zone_bounds(Limits(center=0.0, sigma=1.0))
        >>> zone_layer(b, "2026-01-01", "2026-01-02", alt.Scale(), "ms").mark.opacity
        0.6
    """
    import altair as alt

    zones = _zone_rows(dict(bounds))
    zones["t0"], zones["t1"] = t0, t1
    return (
        alt.Chart(zones)
        .mark_rect(opacity=0.6)
        .encode(
            x="t0:T",
            x2="t1:T",
            y=alt.Y("lo:Q", scale=y_scale, title=value_title),
            y2="hi:Q",
            color=alt.Color(
                "zone:N",
                legend=alt.Legend(title="zone", orient="bottom"),
                scale=alt.Scale(domain=list(_ZONE_FILL), range=[*_ZONE_FILL.values()]),
            ),
        )
    )


def limit_layers(
    bounds: Mapping[str, float], y_scale: Any, *, log: bool, width: int | str = "width"
) -> list[alt.Chart]:
    """The centre line (solid grey) and the control limits (dashed red), each labelled.

    Example:
        >>> import altair as alt
        >>> b = zone_bounds(Limits(center=0.0, sigma=1.0))
        >>> [layer.mark.type for layer in limit_layers(b, alt.Scale(), log=True, width=100)]
        ['rule', 'text']
    """
    import altair as alt

    centre = alt.datum.kind == "centre"
    rule = alt.Chart(_line_rows(dict(bounds), log=log)).encode(y=alt.Y("y:Q", scale=y_scale))
    lines = rule.mark_rule(strokeWidth=1.5).encode(
        strokeDash=alt.condition(centre, alt.value([1, 0]), alt.value([6, 3])),
        color=alt.condition(centre, alt.value(_GREY), alt.value(_RED)),
        tooltip=[alt.Tooltip("label:N", title="line")],
    )
    # "width": the plot's right edge whatever its size (a fixed or a "container" width)
    at = "width" if isinstance(width, str) else width
    labels = rule.mark_text(align="left", dx=6, fontSize=10, x=at).encode(
        text="label:N", color=alt.value("#333")
    )
    return [lines, labels]


def point_layers(
    frame: pd.DataFrame, x_enc: Any, y_scale: Any, *, value_title: str, id_title: str
) -> list[alt.Chart]:
    """The value line and the points: coloured and shaped by status, with tooltips and the
    :data:`PICK` point selection (clicked point drawn larger with a black ring).

    Example:
        >>> import altair as alt
        >>> f = chart_frame(pd.DataFrame({"id": [1], "created_at": ["2026-01-01T00:00:00Z"],
        ...                               "latency_ms": [5.0]}))
        >>> line, points = point_layers(f, alt.X("time:T"), alt.Scale(), value_title="ms",
        ...                             id_title="call id")
        >>> points.to_dict()["params"][0]["name"]
        'pick'
    """
    import altair as alt

    pick = alt.selection_point(name=PICK, fields=["id"], on="click", clear="dblclick")
    base = alt.Chart(frame).encode(
        x=x_enc,
        y=alt.Y("value:Q", scale=y_scale, title=value_title),
        tooltip=[
            alt.Tooltip("when:N", title="time (UTC)"),
            alt.Tooltip("value:Q", title=value_title.split(" (")[0], format=",.1f"),
            alt.Tooltip("rules:N", title="rules fired"),
            alt.Tooltip("id:Q", title=id_title),
        ],
    )
    status = alt.Scale(domain=_STATUS, range=["#455a64", _AMBER, _RED])
    shapes = alt.Scale(domain=_STATUS, range=["circle", "diamond", "triangle-up"])
    points = (
        base.mark_point(filled=True, opacity=0.9)
        .encode(
            color=alt.Color(
                "status:N", legend=alt.Legend(title="point", orient="bottom"), scale=status
            ),
            shape=alt.Shape("status:N", legend=None, scale=shapes),
            size=alt.condition(pick, alt.value(200), alt.value(40), empty=False),
            stroke=alt.condition(pick, alt.value("#000"), alt.value("#fff"), empty=False),
            strokeWidth=alt.condition(pick, alt.value(2), alt.value(0.5), empty=False),
        )
        .add_params(pick)
    )
    return [base.mark_line(color="#90a4ae", strokeWidth=1), points]


def control_chart(
    df: pd.DataFrame,
    limits: LimitsLike,
    *,
    value: str = "latency_ms",
    time: str = "created_at",
    id_field: str = "id",
    value_title: str = "latency (ms, log scale)",
    title: str = "",
    width: int | str = 720,
    height: int = 220,
    log: bool = True,
) -> alt.LayerChart:
    """Interactive individuals control chart of ``df`` (one row per call, oldest first).
    ``width="container"`` fills the element the chart is drawn in (the apps' drill-down).

    Zones (:func:`zone_layer`) and limit lines (:func:`limit_layers`) when the limits are
    defined, then the points (:func:`point_layers`), over one time axis and one y scale.

    Parameters
    ----------
    df : DataFrame
        ``id``, ``created_at``, ``latency_ms`` and the boolean ``rule_1`` .. ``rule_4`` columns.
    limits : ControlLimits
        ``center`` and ``sigma`` of ``log(value)`` (or of ``value`` when ``log=False``).

    Example:
        >>> df = pd.DataFrame({"id": [1, 2], "created_at": ["2026-01-01T00:00:00Z",
        ...     "2026-01-01T00:01:00Z"], "latency_ms": [100, 120], "rule_1": [False, True]})
        >>> ch = control_chart(df, Limits(center=math.log(110), sigma=0.1))
        >>> ch.to_dict()["width"], ch.to_dict()["params"][0]["name"]
        (720, 'pick')
    """
    import altair as alt

    frame = chart_frame(df, value=value, time=time, id_field=id_field)
    bounds = zone_bounds(limits, log=log)
    x_enc, t0, t1 = _time_axis(frame)
    y_scale = _y_scale(frame["value"], bounds, log=log)
    layers: list[alt.Chart] = []
    if bounds:
        layers.append(zone_layer(bounds, t0, t1, y_scale, value_title))
        layers.extend(limit_layers(bounds, y_scale, log=log, width=width))
    id_title = "call id" if id_field == "id" else id_field
    layers.extend(point_layers(frame, x_enc, y_scale, value_title=value_title, id_title=id_title))
    chart = alt.layer(*layers).properties(width=width, height=height)
    if title:
        chart = chart.properties(title=title)
    return chart.resolve_scale(color="independent")


def run_duration_chart(
    df: pd.DataFrame,
    limits: LimitsLike,
    *,
    value: str = "duration_ms",
    time: str = "started_at",
    id_field: str = "run_index",
    title: str = "",
    log: bool = True,
    width: int | str = 720,
) -> alt.LayerChart:
    """Control chart of a workflow's run durations (one row per run, oldest first).

    ``df`` needs ``value`` and ``time`` columns and the rule flags; runs are selected by
    ``id_field`` (an integer; default: the run's position in ``df``).

    Example:
        >>> df = pd.DataFrame({"started_at": ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"],
        ...                    "duration_ms": [1000, 1500]})
        >>> run_duration_chart(df, Limits(center=7.1, sigma=0.2)).to_dict()["height"]
        220
    """
    data = df.reset_index(drop=True).copy()
    if id_field not in data:
        data[id_field] = np.arange(len(data), dtype="int64")
    return control_chart(
        data,
        limits,
        value=value,
        time=time,
        id_field=id_field,
        value_title="run duration (ms, log scale)" if log else "run duration (ms)",
        title=title,
        log=log,
        width=width,
    )


def _spark_scale(logs: np.ndarray, c: float, s: float, have_limits: bool) -> tuple[float, float]:
    lo, hi = float(logs.min()), float(logs.max())
    if have_limits:
        lo, hi = min(lo, c - 3.3 * s), max(hi, c + 3.3 * s)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def sparkline_svg(
    values: Sequence[float] | np.ndarray | pd.Series,
    limits: LimitsLike,
    *,
    width: int = 150,
    height: int = 34,
    rule_1: Sequence[bool] | np.ndarray | None = None,
    floor: float = 1.0,
    label: str = "latency",
) -> Markup:
    """Small inline SVG of the newest latencies over their sigma bands (log scale).

    Bands are drawn widest first (+/-3 sigma red, +/-2 sigma amber, +/-1 sigma green), then the
    thin grey mean (geometric mean) line, the dashed red UCL, the latency line and red dots on
    rule-1 points. Class names: :data:`SPARK_CLASSES`.

    Example:
        >>> svg = sparkline_svg([90, 110, 100], Limits(center=math.log(100), sigma=0.1))
        >>> all(c in svg for c in ("spark-band-3", "spark-mean", "spark-ucl"))
        True
    """
    vals = np.maximum(np.asarray(values, dtype=float), floor)
    vals = vals[np.isfinite(vals)]
    c, s = float(limits.center), float(limits.sigma)
    have_limits = math.isfinite(c) and math.isfinite(s)
    context: dict[str, Any] = {"width": width, "height": height, "n": len(vals)}
    context |= {"label": label, "classes": SPARK_CLASSES, "grey": _GREY, "red": _RED}
    if len(vals) == 0:
        return render("charts/sparkline.svg.j2", **context, bands=[], lines=[], points="", dots=[])
    logs = np.log(vals)
    lo, hi = _spark_scale(logs, c, s, have_limits)
    pad = 2.0

    def y(v: float) -> float:
        return pad + (hi - v) / (hi - lo) * (height - 2 * pad)

    n = len(vals)
    xs = np.linspace(pad, width - pad, n) if n > 1 else np.array([width / 2])
    bands, lines = [], []
    if have_limits:
        for k, colour in ((3, _RED), (2, _AMBER), (1, _GREEN)):
            top, bottom = y(c + k * s), y(c - k * s)
            bands.append({"k": k, "y": top, "height": max(bottom - top, 0.5), "fill": colour})
        mean = f"geometric mean {milliseconds(math.exp(c))}"
        ucl = f"UCL (3 sigma) {milliseconds(math.exp(c + 3 * s))}"
        lines = [("mean", y(c), mean), ("ucl", y(c + 3 * s), ucl)]
    dots = []
    if rule_1 is not None:
        flags = np.asarray(rule_1, dtype=bool)[-n:]
        for x, v, hit in zip(xs[-len(flags) :], logs[-len(flags) :], flags, strict=True):
            if hit:
                dots.append((x, y(v)))
    points = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, logs, strict=True))
    return render(
        "charts/sparkline.svg.j2", **context, bands=bands, lines=lines, points=points, dots=dots
    )


def daily_cost_svg(
    by_day: list[dict[str, Any]], start: str, end: str, *, width: int = 600, height: int = 170
) -> Markup:
    """Bar chart of stored cost per UTC day from ``start`` to ``end`` (days without receipts
    shown as 0), an Altair spec rendered by vl-convert, as inline SVG.

    Example:
        >>> "<svg" in daily_cost_svg([{"day": "2026-11-20", "cost_usd": 0.5}], "2026-11-19",
        ...                          "2026-11-20")
        True
    """
    if not by_day:
        return Markup('<p class="gl-muted">No receipts in the period.</p>')
    import altair as alt
    import vl_convert

    cost = {r["day"]: r["cost_usd"] or 0.0 for r in by_day}
    days = pd.date_range(start[:10], end[:10], freq="D").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"day": days, "cost_usd": [cost.get(d, 0.0) for d in days]})
    chart = (
        alt.Chart(frame)
        .mark_bar(color="#3b6e8f")
        .encode(
            x=alt.X("day:O", title="UTC day", axis=alt.Axis(labelAngle=-60, labelOverlap=True)),
            y=alt.Y("cost_usd:Q", title="cost (USD, stored receipts)"),
            tooltip=["day:O", alt.Tooltip("cost_usd:Q", format=".4f")],
        )
        .properties(width=width, height=height)
    )
    return inline_svg(vl_convert.vegalite_to_svg(chart.to_dict()))


def step_cost_svg(steps: Sequence[Mapping[str, Any]], *, width: int = 340) -> Markup:
    """A static horizontal bar chart (inline SVG) of the stored cost per workflow step.

    Drawn from a template rather than through vl-convert: its engine start (0.5-1.9 s measured)
    sat on the cold-kernel path of every page load, for four rectangles. Each bar carries its
    value in text and a ``<title>`` (hover); no script, no network reference.

    Example:
        >>> svg = step_cost_svg([{"node": "fraud_scoring", "cost_usd": 0.002}])
        >>> svg.startswith("<svg") and "fraud scoring" in svg and "$0.002000" in svg
        True
    """
    if not steps:
        return Markup('<div class="gl-muted">No cost to chart.</div>')
    label_w, value_w, row_h = 120, 78, 22
    bar_w = max(40, width - label_w - value_w)
    top = max(float(s.get("cost_usd") or 0.0) for s in steps) or 1.0
    bars = []
    for i, s in enumerate(steps):
        usd = float(s.get("cost_usd") or 0.0)
        name = humanize(s["node"])
        bars.append(
            {"node": s["node"], "name": name, "y": i * row_h}
            | {"value": priced_money(usd, s.get("calls"), s.get("unpriced_calls"), 6)}
            | {"width": round(bar_w * usd / top, 1)}
            | {"short": name if len(name) <= 19 else name[:18] + "…"}
        )
    height = row_h * len(steps) + 4
    return render("charts/step_cost.svg.j2", width=width, height=height, label_w=label_w, bars=bars)
