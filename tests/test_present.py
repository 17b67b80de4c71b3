"""govlib.present: the one presentation vocabulary (formatting, escaping, pills, tables, templates)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from govlib.present import formatting as fmt
from govlib.present.html import attrs, bdi, breakable, display_text, esc, inline_svg, plain
from govlib.present.pills import LEVEL, LEVELS, PALETTE, SYMBOL, badge, level_of, pill
from govlib.present.tables import Cell, Row, grid_header, grid_row, table
from govlib.present.templating import TEMPLATES, environment, render

MISSING = [None, float("nan"), float("inf"), -float("inf"), "abc", "", object()]


# --- formatting: exact values ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (12873, 0, "12,873"),
        (0, 0, "0"),
        (2.345, 2, "2.35"),
        (-1234.5, 1, "-1,234.5"),
        (np.int64(7), 0, "7"),
        ("42", 0, "42"),
        (True, 0, "1"),
    ],
)
def test_number(value, digits, text):
    assert fmt.number(value, digits) == text


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (0.99694, 1, "99.7%"),
        (1.0, 0, "100%"),
        (0.0, 1, "0.0%"),
        (0.5, 2, "50.00%"),
        (np.float64(0.125), 1, "12.5%"),
    ],
)
def test_percent(value, digits, text):
    assert fmt.percent(value, digits) == text


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (0.583412, 4, "$0.5834"),
        (0.0123456, 6, "$0.012346"),
        (1234.5, 2, "$1,234.50"),
        (-0.01, 2, "-$0.01"),
        (-0.00001, 2, "$0.00"),
        (0, 4, "$0.0000"),
    ],
)
def test_money(value, digits, text):
    assert fmt.money(value, digits) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1263.5, "1,264 ms"),
        (10, "10 ms"),
        (9.96, "10.0 ms"),
        (3.25, "3.2 ms"),
        (0, "0.0 ms"),
        (-12.4, "-12 ms"),
        ("120", "120 ms"),
    ],
)
def test_milliseconds(value, text):
    assert fmt.milliseconds(value) == text


@pytest.mark.parametrize("fn", [fmt.number, fmt.percent, fmt.money, fmt.milliseconds])
@pytest.mark.parametrize("value", MISSING)
def test_missing_values_are_a_dash(fn, value):
    assert fn(value) == fmt.DASH == "—"


@pytest.mark.parametrize(
    ("ts", "kwargs", "text"),
    [
        ("2026-11-23T11:40:12.120670Z", {}, "2026-11-23 11:40:12 UTC"),
        ("2026-11-23T11:40:12.999999Z", {}, "2026-11-23 11:40:12 UTC"),  # truncated, not rounded
        ("2026-11-23T14:02:03.123456Z", {"date": False}, "14:02:03 UTC"),
        ("2026-11-23T14:02:03.123456Z", {"seconds": False}, "2026-11-23 14:02 UTC"),
        ("2026-11-23T14:02:03Z", {"zone": False}, "2026-11-23 14:02:03"),
        ("2026-11-23T14:02:03Z", {"date": False, "zone": False}, "14:02:03"),
        ("2026-11-23 14:02:03+00:00", {}, "2026-11-23 14:02:03 UTC"),
        ("2026-11-23T16:02:03+02:00", {}, "2026-11-23 14:02:03 UTC"),  # converted to UTC
        ("2026-11-23T14:02:03", {}, "2026-11-23 14:02:03 UTC"),  # naive: stored times are UTC
        ("2026-11-23", {}, "2026-11-23 00:00:00 UTC"),
        (datetime(2026, 11, 23, 14, 2, 3, tzinfo=UTC), {}, "2026-11-23 14:02:03 UTC"),
        (None, {}, "—"),
        ("", {}, "—"),
        ("not a time", {}, "not a time"),
    ],
)
def test_timestamp(ts, kwargs, text):
    assert fmt.timestamp(ts, **kwargs) == text


def test_humanize():
    assert fmt.humanize("fraud_scoring") == "fraud scoring"
    assert fmt.humanize("claims-auto_v2") == "claims auto v2"
    assert fmt.humanize(None) == fmt.humanize("") == ""


# --- formatting: properties -------------------------------------------------------------------
amounts = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(amounts, st.integers(min_value=0, max_value=8))
def test_money_round_trips_to_within_half_a_unit(value, digits):
    text = fmt.money(value, digits)
    assert re.fullmatch(r"-?\$\d{1,3}(,\d{3})*(\.\d+)?", text), text
    back = Decimal(text.replace("$", "").replace(",", ""))
    assert abs(back - Decimal(value)) <= Decimal(10) ** -digits / 2 + Decimal("1e-6")
    assert len(text.rpartition(".")[2]) == digits or digits == 0


@given(amounts)
def test_number_round_trips(value):
    assert float(fmt.number(value, 3).replace(",", "")) == pytest.approx(value, abs=5e-4)


@given(st.floats(min_value=0, max_value=1))
def test_percent_stays_between_0_and_100(rate):
    assert 0 <= float(fmt.percent(rate).rstrip("%")) <= 100


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(9998, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_timestamp_of_iso_text_equals_that_of_the_moment(moment):
    text = fmt.timestamp(moment.isoformat())
    assert text == fmt.timestamp(moment) == moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- html ---------------------------------------------------------------------------------------
@given(st.text())
def test_escaping_never_lets_markup_through(text):
    for out in (esc(text), bdi(text), breakable(text), pill(text), badge(text)):
        inner = re.sub(r"</?(bdi|wbr|span|div)\b[^>]*>", "", str(out))
        assert "<" not in inner and ">" not in inner and '"' not in inner


@given(st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), st.text(), max_size=4))
def test_attribute_values_cannot_break_out(values):
    out = attrs(values)
    assert out.count('"') == 2 * len([v for v in values.values()])
    assert "<" not in out and ">" not in out


def test_html_helpers_exact():
    assert esc("<b>") == "&lt;b&gt;" and esc(None) == "" and esc(Markup("<b>")) == "<b>"
    assert bdi("Ana") == "<bdi>Ana</bdi>"
    assert breakable("a_b<c") == "a_<wbr>b&lt;c"
    assert attrs(data_seq=3, class_="x", hidden=True, title=None, off=False) == (
        ' data-seq="3" class="x" hidden'
    )
    assert (
        attrs({"data_table": "t"}, title='say "hi"') == ' data-table="t" title="say &#34;hi&#34;"'
    )
    assert plain("<b>a</b> &amp; b") == "a & b"
    svg = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="x" a="1"/>'
    assert inline_svg(svg) == '<svg a="1"/>'


@given(st.text(), st.integers(min_value=2, max_value=80))
def test_display_text_is_isolated_capped_and_whole_on_hover(text, max_chars):
    out = str(display_text(text, max_chars=max_chars))
    assert out.startswith('<bdi class="gl-text"') and out.endswith("</bdi>")
    shown = Markup(re.sub(r"^<bdi[^>]*>|</bdi>$", "", out)).unescape()
    assert len(shown) <= max_chars
    if len(text) > max_chars:
        assert shown == text[: max_chars - 1] + "\u2026"
        title = re.search(r' title="([^"]*)"', out).group(1)
        assert Markup(title).unescape() == text
    else:
        assert shown == text and " title=" not in out
    inner = re.sub(r"</?bdi\b[^>]*>", "", out)
    assert "<" not in inner and ">" not in inner


def test_display_text_exact():
    rlo = "evil\u202eman"
    assert display_text(rlo) == f'<bdi class="gl-text">{rlo}</bdi>'
    assert display_text("a\nb<c>" * 3, max_chars=4) == (
        '<bdi class="gl-text" title="a\nb&lt;c&gt;a\nb&lt;c&gt;a\nb&lt;c&gt;">a\nb\u2026</bdi>'
    )
    assert display_text(None) == '<bdi class="gl-text"></bdi>'
    with pytest.raises(ValueError, match="max_chars=1"):
        display_text("x", max_chars=1)


# --- pills --------------------------------------------------------------------------------------
def test_every_level_has_a_colour_and_a_symbol_and_every_word_a_known_level():
    assert set(LEVELS) == set(PALETTE) == set(SYMBOL)
    assert set(LEVEL.values()) <= set(LEVELS)
    assert len(set(SYMBOL.values())) == len(SYMBOL)  # shapes differ, not only colours


@pytest.mark.parametrize(
    ("word", "level"),
    [
        ("pass", "ok"),
        ("ARMED", "ok"),
        ("triggered", "bad"),
        ("blocked", "bad"),
        ("review", "warn"),
        ("running", "info"),
        ("skipped", "neutral"),
        ("green", "ok"),
        ("amber", "warn"),
        ("red", "bad"),
        ("stable", "ok"),
        ("watch", "warn"),
        ("drift", "bad"),
        ("high", "bad"),
        ("100%", "warn"),
        ("20%", "info"),
        ("exception", "ok"),
        ("whatever", "neutral"),
        (None, "neutral"),
    ],
)
def test_level_of(word, level):
    assert level_of(word) == level


def test_pill_and_badge_exact():
    assert pill("drift") == '<span class="gl-pill gl-bad" data-level="bad">✖ drift</span>'
    assert pill("99.2%", "ok", title="a<b") == (
        '<span class="gl-pill gl-ok" data-level="ok" title="a&lt;b">✔ 99.2%</span>'
    )
    assert (
        pill("x", "nonsense") == '<span class="gl-pill gl-neutral" data-level="neutral">• x</span>'
    )
    assert pill(None) == '<span class="gl-muted">—</span>'
    assert badge("ARMED", "ok", big=True) == (
        '<div class="gl-badge gl-ok gl-big" data-level="ok">✔ ARMED</div>'
    )


# --- tables and templates -----------------------------------------------------------------------
def test_table_exact():
    html = table(
        ["table", "rows"],
        [
            Row([Markup("<code>audit_log</code>"), "1,024"], {"data_table": "audit_log"}),
            ["<x>", Cell("7", title="seven")],
        ],
        numeric={1},
        data_role="store-counts",
    )
    assert html == (
        '<table data-role="store-counts"><thead><tr><th>table</th><th class="num">rows</th>'
        '</tr></thead><tbody><tr data-table="audit_log"><td><code>audit_log</code></td>'
        '<td class="num">1,024</td></tr><tr><td>&lt;x&gt;</td><td class="num" title="seven">7'
        "</td></tr></tbody></table>"
    )
    assert (
        table(["a"], [], empty="Nothing <here>.") == '<p class="gl-muted">Nothing &lt;here&gt;.</p>'
    )


def test_grid_header_and_row_line_up():
    cols = (("id", "Call", "64px"), ("latency", "Latency", "60px"))
    head = grid_header(cols, ("latency",))
    row = grid_row(
        cols,
        {"id": "#7", "latency": "12 ms"},
        numeric=("latency",),
        prefix="c-",
        titles={"id": "call <7>"},
        css="cells",
        data_call_id=7,
    )
    style = 'style="grid-template-columns:64px 60px"'
    assert style in head and style in row
    assert head.count("<div") == row.count("<div") == 3
    assert '<div class="c-latency num">12 ms</div>' in row
    assert 'title="call &lt;7&gt;"' in row and 'data-call-id="7"' in row


def test_templates_autoescape_and_refuse_undefined_names():
    env = environment()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.from_string("{{ x }}").render(x=Markup("<b>")) == "<b>"
    with pytest.raises(Exception, match="undefined"):
        env.from_string("{{ nope }}").render()
    assert isinstance(render("spc/title.html.j2"), Markup)


def test_templates_carry_no_external_reference():
    for path in TEMPLATES.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            urls = set(re.findall(r"https?://[^\s\"']+", text)) - {"http://www.w3.org/2000/svg"}
            assert not urls, (path, urls)
            assert "url(" not in text and "@import" not in text, path


def test_money_of_tiny_costs_keeps_them_visible():
    assert fmt.money(0.000004, 6) == "$0.000004"
    assert math.isclose(float(fmt.money(0.000004, 6)[1:]), 0.000004)
