"""``govlib report``: the self-contained HTML evidence report (unit level; the browser test prints it)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from govlib.cli.main import cli
from govlib.cli.status import store_status
from govlib.errors import GovlibError
from govlib.report.contents import (
    ReportError,
    data_row_counts,
    parse_period,
    read_report_data,
    report_data,
    report_hash,
    write_report,
)
from govlib.report.page import SECTIONS
from govlib.store.database import Store

SECTION_TITLES = [title for _, title in SECTIONS]


@pytest.fixture(scope="module")
def report(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of the demo store and the report the CLI writes for it (default path)."""
    data_dir = tmp_path_factory.mktemp("report") / "data"
    shutil.copytree(demo_template, data_dir)
    out = CliRunner().invoke(cli, ["report", "--data-dir", str(data_dir)])
    assert out.exit_code == 0, out.output
    assert f"Report written: {data_dir / 'report.html'}" in out.output
    return data_dir, (data_dir / "report.html").read_text(encoding="utf-8")


class _Refs(HTMLParser):
    """Every tag name and every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.loads: list[tuple[str, str, str]] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            if name in ("src", "href", "xlink:href", "srcset", "data", "action", "poster"):
                self.loads.append((tag, name, value or ""))


def test_title_page_and_every_section_are_there(report):
    _, html = report
    data, claimed, _ = read_report_data(html)
    title = html[: html.index('<section class="report-section"')]
    assert "AI governance evidence report" in title
    assert f'<p class="hash" id="manifest-hash">{claimed}</p>' in title
    start, end = data["report"]["start"], data["report"]["end"]
    assert f"30 days: {start[:10]} {start[11:19]} UTC" in title
    assert f"{end[:10]} {end[11:19]} UTC" in title
    parser = _Refs()
    parser.feed(html)
    for anchor, heading in SECTIONS:
        assert anchor in parser.ids
        assert re.search(rf'id="{anchor}"><h2>\d\. {heading}</h2>', html), heading
    assert "@media print" in html and "break-before:page" in html


def test_manifest_counts_match_govlib_status(report):
    data_dir, html = report
    status = store_status(data_dir)["counts"]
    shown = {
        t: int(n.replace(",", ""))
        for t, n in re.findall(
            r'<tr data-table="(\w+)"><td><code>\w+</code></td>'
            r'<td class="num">([\d,]+)</td>',
            html,
        )
    }
    assert shown == status
    data, _, _ = read_report_data(html)
    assert data["store_counts"] == status
    # the demo's whole history lies inside 30 days: the period figures cover every row
    assert sum(t["count"] for t in data["spc"]) == status["audit_log"]
    assert data["costs"]["period"]["calls"] == status["token_ledger"]
    assert len(data["governance"]["kill_switch_events"]) == status["kill_switch_events"]
    assert len(data["governance"]["tools"]) == status["tool_registry"]
    assert len(data["governance"]["rules"]) == status["governance_rules"]


def test_no_external_reference_of_any_kind(report):
    _, html = report
    assert not re.search(r"https?://", html)
    assert "src=" not in html and "@import" not in html and "url(" not in html
    parser = _Refs()
    parser.feed(html)
    assert "link" not in parser.tags and "img" not in parser.tags and "iframe" not in parser.tags
    assert all(value.startswith("#") for _, _, value in parser.loads), parser.loads
    scripts = re.findall(r"<script([^>]*)>", html)
    assert len(scripts) == 1 and scripts[0].startswith(' type="application/json" id="report-data"')
    assert "default-src 'none'" in html  # a browser would refuse any fetch anyway
    assert html.count("<svg") >= 1 + len(read_report_data(html)[0]["spc"])  # chart + sparklines


def test_manifest_hash_covers_the_embedded_data_and_is_reproducible(report):
    data_dir, html = report
    data, claimed, recomputed = read_report_data(html)
    assert claimed == recomputed
    assert html.count(claimed) == 3  # title page, manifest, data element
    listed = html[html.index('data-role="data-rows"') :]
    rows = re.findall(
        r"<tr><td><code>([\w.]+)</code></td><td class=\"num\">(\d+)</td></tr>", listed
    )
    assert {k: int(v) for k, v in rows} == data_row_counts(data)
    with Store(data_dir, readonly=True) as store:
        assert report_hash(report_data(store, period="30d")) == claimed  # no clock inside
    assert data["verification"]["ok"] is True
    assert data["verification"]["last_checkpoint_seq"] == data["verification"]["chain_head"]["seq"]


def test_a_shorter_period_shows_less(report):
    data_dir, html = report
    full, _, _ = read_report_data(html)
    with Store(data_dir, readonly=True) as store:
        day = report_data(store, period="1d")
    start = day["report"]["start"]
    assert day["report"]["end"] == full["report"]["end"] and start > full["report"]["start"]
    events = day["governance"]["kill_switch_events"]
    assert events and all(e["at"] >= start for e in events)
    assert len(events) < len(full["governance"]["kill_switch_events"])
    assert sum(t["count"] for t in day["spc"]) < sum(t["count"] for t in full["spc"])
    assert all(d["day"] >= start[:10] for d in day["costs"]["by_day"])
    assert day["store_counts"] == full["store_counts"]  # the manifest counts the whole store


@pytest.mark.parametrize("period", ["abc", "-3d", "0d", "30", "3.5d", "", " d", "30D", None])
def test_bad_period_is_refused_naming_the_value(period):
    with pytest.raises(ReportError) as err:
        parse_period(period)  # type: ignore[arg-type]
    assert isinstance(err.value, GovlibError)
    assert repr(period) in str(err.value) and "<N>d" in str(err.value)


def test_cli_bad_period_exits_2_with_the_message(demo_template, tmp_path):
    out = CliRunner().invoke(
        cli,
        [
            "report",
            "--data-dir",
            str(demo_template),
            "--period",
            "-3d",
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert out.exit_code == 2
    assert "period: '-3d'" in out.output and "<N>d" in out.output
    assert not (tmp_path / "r.html").exists()


def test_memory_store_needs_an_output_file(tmp_path):
    with pytest.raises(ReportError, match="out: None"):
        write_report(Store(memory=True))
    path = write_report(Store(memory=True), period="7d", out=tmp_path / "empty.html")
    data, claimed, recomputed = read_report_data(path.read_text())
    assert claimed == recomputed and data["store_counts"]["audit_log"] == 0
    assert data["report"]["end_basis"].startswith("generation time")


def test_a_tampered_store_is_reported_broken_at_its_seq(demo_dir, tmp_path):
    con = sqlite3.connect(demo_dir / "govlib.sqlite")
    seq = con.execute(
        "SELECT seq FROM worm_log WHERE action = 'kill_switch_triggered' ORDER BY seq LIMIT 1"
    ).fetchone()[0]
    con.execute("DROP TRIGGER worm_log_no_update")
    body = con.execute("SELECT body FROM worm_log WHERE seq = ?", (seq,)).fetchone()[0]
    edited = json.dumps(
        json.loads(body) | {"outcome": "reset"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    con.execute("UPDATE worm_log SET body = ? WHERE seq = ?", (edited, seq))
    con.commit()
    con.close()
    with Store(demo_dir, create=False) as store:
        path = write_report(store, out=tmp_path / "tampered.html")
    data, _, _ = read_report_data(path.read_text())
    ver = data["verification"]
    assert ver["ok"] is False and ver["bad_seq"] == seq
    assert f"Chain broken at seq {seq}" in path.read_text()
    assert "BROKEN" in path.read_text()
