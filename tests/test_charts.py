"""govlib.present.charts: the control chart spec, the run-duration chart and the inline SVG sparkline."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from govlib.analysis import spc
from govlib.present.charts import (
    PICK,
    SPARK_CLASSES,
    chart_frame,
    control_chart,
    run_duration_chart,
    sparkline_svg,
    zone_bounds,
)

SVG = "{http://www.w3.org/2000/svg}"


def series(n: int = 80, shift_from: int = 70) -> pd.DataFrame:
    """A lognormal latency series whose last points jump (rule 1 fires there)."""
    rng = np.random.default_rng(5)
    lat = np.exp(rng.normal(np.log(100), 0.2, n))
    lat[shift_from:] *= 6
    logs = np.log(lat)
    lim = spc.control_limits(logs[:shift_from])
    flags = spc.western_electric(logs, center=lim.center, sigma=lim.sigma)
    times = pd.date_range("2026-11-01", periods=n, freq="min", tz="UTC")
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "created_at": times.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "latency_ms": lat,
        }
    )
    for col in spc.RULES:
        df[col] = flags[col].to_numpy()
    df.attrs.update(center=lim.center, sigma=lim.sigma)
    return df


def layers_by_mark(spec: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for layer in spec["layer"]:
        mark = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        out.setdefault(mark, []).append(layer)
    return out


def data_of(spec: dict, layer: dict) -> list[dict]:
    data = layer.get("data") or spec["data"]  # one dataset is lifted to the top
    return spec["datasets"][data["name"]]


def test_control_chart_is_720_by_220_on_a_log_axis_with_a_pick_param() -> None:
    df = series()
    spec = control_chart(df, SimpleNamespace(**df.attrs)).to_dict()
    assert (spec["width"], spec["height"]) == (720, 220)
    assert [p["name"] for p in spec["params"]] == [PICK]
    assert spec["params"][0]["select"] == {
        "type": "point",
        "fields": ["id"],
        "on": "click",
        "clear": "dblclick",
    }
    point = layers_by_mark(spec)["point"][0]
    assert point["encoding"]["y"]["scale"]["type"] == "log"
    tips = {t["title"] for t in point["encoding"]["tooltip"]}
    assert {"time (UTC)", "latency", "rules fired", "call id"} <= tips


def test_rule_1_points_are_red_other_rule_points_amber_and_shapes_differ() -> None:
    df = series()
    spec = control_chart(df, SimpleNamespace(**df.attrs)).to_dict()
    enc = layers_by_mark(spec)["point"][0]["encoding"]
    colours = dict(
        zip(enc["color"]["scale"]["domain"], enc["color"]["scale"]["range"], strict=True)
    )
    assert colours["rule 1 fired"].lower() == "#c62828"
    assert colours["rule 2-4 fired"].lower() == "#ef8f00"
    shapes = enc["shape"]["scale"]["range"]
    assert len(set(shapes)) == 3  # colour is never the only signal
    rows = data_of(spec, layers_by_mark(spec)["point"][0])
    red = {r["id"] for r in rows if r["status"] == "rule 1 fired"}
    assert red == set(df.loc[df["rule_1"], "id"]) and red


def test_zones_are_shaded_and_centre_and_limits_are_drawn_and_labelled() -> None:
    df = series()
    lim = SimpleNamespace(**df.attrs)
    spec = control_chart(df, lim).to_dict()
    marks = layers_by_mark(spec)
    zones = data_of(spec, marks["rect"][0])
    assert {z["zone"] for z in zones} == {"within 1 sigma", "1-2 sigma", "2-3 sigma"}
    assert len(zones) == 6
    lines = {r["kind"]: r for r in data_of(spec, marks["rule"][0])}
    assert set(lines) == {"UCL", "centre", "LCL"}
    assert lines["centre"]["y"] == pytest.approx(math.exp(lim.center))  # geometric mean
    assert "geometric mean" in lines["centre"]["label"]
    assert lines["UCL"]["y"] == pytest.approx(math.exp(lim.center + 3 * lim.sigma))
    assert lines["LCL"]["y"] == pytest.approx(math.exp(lim.center - 3 * lim.sigma))
    assert "text" in marks  # the labels beside the lines


def test_undefined_limits_draw_points_without_zones() -> None:
    df = series(n=1, shift_from=1)
    spec = control_chart(df, SimpleNamespace(center=math.nan, sigma=math.nan)).to_dict()
    assert "rect" not in layers_by_mark(spec)
    assert len(data_of(spec, layers_by_mark(spec)["point"][0])) == 1


def test_chart_frame_floors_latency_and_names_the_rules() -> None:
    df = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "created_at": ["2026-11-01T00:00:00Z"] * 3,
            "latency_ms": [0, 50, 70],
            "rule_1": [True, False, False],
            "rule_2": [True, True, False],
        }
    )
    frame = chart_frame(df)
    assert frame["value"].tolist() == [1.0, 50.0, 70.0]
    assert frame["rules"].tolist() == ["rule 1, rule 2", "rule 2", "none"]
    assert frame["status"].tolist() == ["rule 1 fired", "rule 2-4 fired", "in control"]


def test_run_duration_chart_uses_run_positions_as_ids() -> None:
    df = pd.DataFrame(
        {
            "started_at": ["2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z"],
            "duration_ms": [1200.0, 1500.0],
        }
    )
    spec = run_duration_chart(df, SimpleNamespace(center=7.2, sigma=0.1)).to_dict()
    rows = data_of(spec, layers_by_mark(spec)["point"][0])
    assert [r["id"] for r in rows] == [0, 1]
    assert "run duration" in layers_by_mark(spec)["point"][0]["encoding"]["y"]["title"]


def test_zone_bounds_are_back_transformed() -> None:
    b = zone_bounds(SimpleNamespace(center=math.log(100), sigma=0.5))
    assert b["center"] == pytest.approx(100)
    assert b["plus_2"] == pytest.approx(100 * math.e)
    assert zone_bounds(SimpleNamespace(center=1.0, sigma=math.nan)) == {}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_sparkline_has_three_band_levels_mean_and_dashed_ucl() -> None:
    df = series()
    lim = SimpleNamespace(**df.attrs)
    svg = sparkline_svg(df["latency_ms"].tail(60), lim, rule_1=df["rule_1"].tail(60))
    root = parse(svg)
    bands = [by_class(root, SPARK_CLASSES[f"band_{k}"]) for k in (1, 2, 3)]
    assert [len(b) for b in bands] == [1, 1, 1]
    heights = [float(b[0].get("height")) for b in bands]
    assert heights[0] < heights[1] < heights[2]  # +/-1 inside +/-2 inside +/-3 sigma
    fills = [b[0].get("fill").lower() for b in bands]
    assert fills == ["#2e7d32", "#ef8f00", "#c62828"]  # green, amber, red
    (mean,) = by_class(root, SPARK_CLASSES["mean"])
    (ucl,) = by_class(root, SPARK_CLASSES["ucl"])
    assert mean.get("stroke").lower() == "#757575" and float(mean.get("stroke-width")) < 1
    assert ucl.get("stroke-dasharray") and ucl.get("stroke").lower() == "#c62828"
    assert float(ucl.get("y1")) < float(mean.get("y1"))  # the UCL sits above the mean
    (line,) = by_class(root, SPARK_CLASSES["line"])
    assert len(line.get("points").split()) == 60
    assert len(by_class(root, SPARK_CLASSES["rule_1"])) == int(df["rule_1"].tail(60).sum()) > 0


def test_sparkline_without_data_or_limits_still_renders() -> None:
    empty = parse(sparkline_svg([], SimpleNamespace(center=math.nan, sigma=math.nan)))
    assert "no calls" in "".join(empty.itertext())
    flat = parse(sparkline_svg([5, 5, 5], SimpleNamespace(center=math.nan, sigma=math.nan)))
    assert not by_class(flat, SPARK_CLASSES["band_1"]) and by_class(flat, SPARK_CLASSES["line"])


def test_sparkline_names_itself_for_screen_readers() -> None:
    svg = sparkline_svg([100, 110], SimpleNamespace(center=4.65, sigma=0.1), label="ocr")
    assert re.search(r'aria-label="ocr sparkline of the newest 2 calls"', svg)
