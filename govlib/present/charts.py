"""Chart values for the SPC dashboard, built by small pure functions.

* :func:`control_chart` - the interactive individuals chart of one tool's newest calls (Altair,
  shown through ``alt.JupyterChart`` offline): zones shaded, centre and limits drawn and labelled,
  latency on a log axis in milliseconds, rule-1 points red triangles, other rule points amber
  diamonds, tooltips, and a point-selection parameter named :data:`PICK` (the call's ``id``).
* :func:`run_duration_chart` - the same chart for a workflow's run durations.
* :func:`sparkline_svg` - a small inline SVG for the stats table: sigma bands behind the line
  (+/-1 sigma green, +/-2 sigma amber, +/-3 sigma red), a thin grey mean line and a dashed red UCL.
  Its elements carry stable class names (:data:`SPARK_CLASSES`) so tests can find them.

Limits are those of :func:`govlib.analysis.spc.control_limits` computed on ``log(value)`` (natural log):
bands are drawn back in milliseconds, so the centre line is the geometric mean and is labelled so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # altair costs ~1.5 s to import; the stats table does not need it
    import altair as alt

__all__ = [
    "PICK", "SPARK_CLASSES", "LimitsLike", "chart_frame", "control_chart", "run_duration_chart",
    "sparkline_svg", "zone_bounds",
]  # fmt: skip

#: Name of the point-selection parameter of the control charts (selects one call by ``id``).
PICK = "pick"
#: Class names of the sparkline's SVG elements, by role.
SPARK_CLASSES = {
    "band_3": "spark-band-3", "band_2": "spark-band-2", "band_1": "spark-band-1",
    "mean": "spark-mean", "ucl": "spark-ucl", "line": "spark-line", "rule_1": "spark-rule1",
}  # fmt: skip
RULES = ("rule_1", "rule_2", "rule_3", "rule_4")
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


def zone_bounds(limits: LimitsLike, *, log: bool = True) -> dict[str, float]:
    """Centre and the +/-1, 2, 3 sigma bounds in display units (ms when ``log``).

    Returns an empty dict when the limits are undefined (one point, NaN sigma).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> b = zone_bounds(NS(center=0.0, sigma=1.0))
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
            "when": times.dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(),
            "value": np.maximum(pd.to_numeric(df[value]).to_numpy(dtype=float), floor),
            "rules": [", ".join(names[row]) or "none" for row in flags],
            "status": status,
        }
    )


def _fmt_ms(v: float) -> str:
    return f"{v:,.0f} ms" if v >= 10 else f"{v:.1f} ms"


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
            {"y": bounds["plus_3"], "label": f"UCL {_fmt_ms(bounds['plus_3'])}", "kind": "UCL"},
            {
                "y": bounds["center"],
                "label": f"{centre} {_fmt_ms(bounds['center'])}",
                "kind": "centre",
            },
            {"y": bounds["minus_3"], "label": f"LCL {_fmt_ms(bounds['minus_3'])}", "kind": "LCL"},
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


def control_chart(
    df: pd.DataFrame,
    limits: LimitsLike,
    *,
    value: str = "latency_ms",
    time: str = "created_at",
    id_field: str = "id",
    value_title: str = "latency (ms, log scale)",
    title: str = "",
    width: int = 720,
    height: int = 220,
    log: bool = True,
) -> alt.LayerChart:
    """Interactive individuals control chart of ``df`` (one row per call, oldest first).

    Parameters
    ----------
    df : DataFrame
        ``id``, ``created_at``, ``latency_ms`` and the boolean ``rule_1`` .. ``rule_4`` columns.
    limits : ControlLimits
        ``center`` and ``sigma`` of ``log(value)`` (or of ``value`` when ``log=False``).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> df = pd.DataFrame({"id": [1, 2], "created_at": ["2026-01-01T00:00:00Z",
        ...     "2026-01-01T00:01:00Z"], "latency_ms": [100, 120], "rule_1": [False, True]})
        >>> ch = control_chart(df, NS(center=math.log(110), sigma=0.1))
        >>> ch.to_dict()["width"], ch.to_dict()["params"][0]["name"]
        (720, 'pick')
    """
    import altair as alt

    frame = chart_frame(df, value=value, time=time, id_field=id_field)
    bounds = zone_bounds(limits, log=log)
    t0 = frame["time"].iloc[0] if len(frame) else "1970-01-01T00:00:00Z"
    t1 = frame["time"].iloc[-1] if len(frame) else "1970-01-01T00:00:01Z"
    x_enc = alt.X("time:T", title="time (UTC)", scale=alt.Scale(type="utc", domain=[t0, t1]))
    y_scale = _y_scale(frame["value"], bounds, log=log)
    layers: list[alt.Chart] = []
    if bounds:
        zones = _zone_rows(bounds)
        zones["t0"], zones["t1"] = t0, t1
        layers.append(
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
        rule = alt.Chart(_line_rows(bounds, log=log)).encode(y=alt.Y("y:Q", scale=y_scale))
        layers.append(
            rule.mark_rule(strokeWidth=1.5).encode(
                strokeDash=alt.condition(
                    alt.datum.kind == "centre", alt.value([1, 0]), alt.value([6, 3])
                ),
                color=alt.condition(alt.datum.kind == "centre", alt.value(_GREY), alt.value(_RED)),
                tooltip=[alt.Tooltip("label:N", title="line")],
            )
        )
        layers.append(
            rule.mark_text(align="left", dx=6, fontSize=10, x=width).encode(
                text="label:N", color=alt.value("#333")
            )
        )
    pick = alt.selection_point(name=PICK, fields=["id"], on="click", clear="dblclick")
    base = alt.Chart(frame).encode(
        x=x_enc,
        y=alt.Y("value:Q", scale=y_scale, title=value_title),
        tooltip=[
            alt.Tooltip("when:N", title="time (UTC)"),
            alt.Tooltip("value:Q", title=value_title.split(" (")[0], format=",.1f"),
            alt.Tooltip("rules:N", title="rules fired"),
            alt.Tooltip("id:Q", title="call id" if id_field == "id" else id_field),
        ],
    )
    layers.append(base.mark_line(color="#90a4ae", strokeWidth=1))
    layers.append(
        base.mark_point(filled=True, opacity=0.9)
        .encode(
            color=alt.Color(
                "status:N",
                legend=alt.Legend(title="point", orient="bottom"),
                scale=alt.Scale(domain=_STATUS, range=["#455a64", _AMBER, _RED]),
            ),
            shape=alt.Shape(
                "status:N",
                legend=None,
                scale=alt.Scale(domain=_STATUS, range=["circle", "diamond", "triangle-up"]),
            ),
            size=alt.condition(pick, alt.value(200), alt.value(40), empty=False),
            stroke=alt.condition(pick, alt.value("#000"), alt.value("#fff"), empty=False),
            strokeWidth=alt.condition(pick, alt.value(2), alt.value(0.5), empty=False),
        )
        .add_params(pick)
    )
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
) -> alt.LayerChart:
    """Control chart of a workflow's run durations (one row per run, oldest first).

    ``df`` needs ``value`` and ``time`` columns and the rule flags; runs are selected by
    ``id_field`` (an integer; default: the run's position in ``df``).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> df = pd.DataFrame({"started_at": ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"],
        ...                    "duration_ms": [1000, 1500]})
        >>> run_duration_chart(df, NS(center=7.1, sigma=0.2)).to_dict()["height"]
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
    )


def sparkline_svg(
    values: Sequence[float] | np.ndarray | pd.Series,
    limits: LimitsLike,
    *,
    width: int = 150,
    height: int = 34,
    rule_1: Sequence[bool] | np.ndarray | None = None,
    floor: float = 1.0,
    label: str = "latency",
) -> str:
    """Small inline SVG of the newest latencies over their sigma bands (log scale).

    Bands are drawn widest first (+/-3 sigma red, +/-2 sigma amber, +/-1 sigma green), then the
    thin grey mean (geometric mean) line, the dashed red UCL, the latency line and red dots on
    rule-1 points. Class names: :data:`SPARK_CLASSES`.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> svg = sparkline_svg([90, 110, 100], NS(center=math.log(100), sigma=0.1))
        >>> all(c in svg for c in ("spark-band-3", "spark-mean", "spark-ucl"))
        True
    """
    vals = np.maximum(np.asarray(values, dtype=float), floor)
    vals = vals[np.isfinite(vals)]
    c, s = float(limits.center), float(limits.sigma)
    have_limits = math.isfinite(c) and math.isfinite(s)
    aria = escape(f"{label} sparkline of the newest {len(vals)} calls")
    head = (
        f'<svg class="govlib-sparkline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{aria}">'
        f"<title>{aria}</title>"
    )
    if len(vals) == 0:
        return (
            head + f'<text x="4" y="{height / 2 + 4:.0f}" font-size="10" fill="{_GREY}">'
            "no calls</text></svg>"
        )
    logs = np.log(vals)
    lo, hi = float(logs.min()), float(logs.max())
    if have_limits:
        lo, hi = min(lo, c - 3.3 * s), max(hi, c + 3.3 * s)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 2.0

    def y(v: float) -> float:
        return pad + (hi - v) / (hi - lo) * (height - 2 * pad)

    n = len(vals)
    xs = np.linspace(pad, width - pad, n) if n > 1 else np.array([width / 2])
    parts = [head]
    if have_limits:
        for k, colour in ((3, _RED), (2, _AMBER), (1, _GREEN)):
            top, bottom = y(c + k * s), y(c - k * s)
            parts.append(
                f'<rect class="{SPARK_CLASSES[f"band_{k}"]}" x="0" y="{top:.2f}" width="{width}" '
                f'height="{max(bottom - top, 0.5):.2f}" fill="{colour}" fill-opacity="0.18">'
                f"<title>+/-{k} sigma band</title></rect>"
            )
        parts.append(
            f'<line class="{SPARK_CLASSES["mean"]}" x1="0" x2="{width}" y1="{y(c):.2f}" '
            f'y2="{y(c):.2f}" stroke="{_GREY}" stroke-width="0.75">'
            f"<title>geometric mean {_fmt_ms(math.exp(c))}</title></line>"
        )
        parts.append(
            f'<line class="{SPARK_CLASSES["ucl"]}" x1="0" x2="{width}" y1="{y(c + 3 * s):.2f}" '
            f'y2="{y(c + 3 * s):.2f}" stroke="{_RED}" stroke-width="1" stroke-dasharray="3,2">'
            f"<title>UCL (3 sigma) {_fmt_ms(math.exp(c + 3 * s))}</title></line>"
        )
    points = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, logs, strict=True))
    parts.append(
        f'<polyline class="{SPARK_CLASSES["line"]}" points="{points}" fill="none" '
        f'stroke="#37474f" stroke-width="1"/>'
    )
    if rule_1 is not None:
        flags = np.asarray(rule_1, dtype=bool)[-n:]
        for x, v, hit in zip(xs[-len(flags) :], logs[-len(flags) :], flags, strict=True):
            if hit:
                parts.append(
                    f'<circle class="{SPARK_CLASSES["rule_1"]}" cx="{x:.1f}" cy="{y(v):.1f}" '
                    f'r="2" fill="{_RED}"><title>rule 1 fired</title></circle>'
                )
    parts.append("</svg>")
    return "".join(parts)
