"""Beyond one machine: the lake layout, several stores in one lake, and the same statistics from
DuckDB and from Spark (local mode, one JVM for the whole module)."""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from numbers import Integral, Real
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from govlib.analysis import lake, stats
from govlib.analysis.export import export_lake
from govlib.analysis.read_path import connect
from govlib.cli.main import cli
from govlib.demo.fleet import generate_fleet_lake
from govlib.settings import Settings
from govlib.store.database import Store
from govlib.store.datadir import read_store_id

ST = Settings()


# --- every column, generically (whatever tool_stats / workflow_stats return) ---------------------
def _plain(value):
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _same(x, y) -> bool:
    x, y = _plain(x), _plain(y)
    if isinstance(x, list) or isinstance(y, list):
        return (
            isinstance(x, list)
            and isinstance(y, list)
            and len(x) == len(y)
            and all(_same(a, b) for a, b in zip(x, y, strict=True))
        )
    if x is None or y is None:
        return x is None and y is None
    if isinstance(x, bool | str) or isinstance(y, bool | str):
        return x == y
    if isinstance(x, Integral) and isinstance(y, Integral):
        return x == y  # counts and rule fires: identical
    if isinstance(x, Real) and isinstance(y, Real):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return x == y


def assert_same_frames(a: pd.DataFrame, b: pd.DataFrame, what: str) -> int:
    """Every column and every row equal; returns how many cells were compared."""
    assert list(a.columns) == list(b.columns), what
    assert len(a) == len(b) > 0, what
    bad = [
        (what, col, i, _plain(x), _plain(y))
        for col in a.columns
        for i, (x, y) in enumerate(zip(a[col], b[col], strict=True))
        if not _same(x, y)
    ]
    assert not bad, bad[:5]
    return a.size


@pytest.fixture(scope="module")
def fleet_lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fleet") / "lake"
    generate_fleet_lake(root, calls=30_000, stores=3, tenants=3, days=4, sealed_days=1)
    return root


# --- the layout ----------------------------------------------------------------------------------
def _calls(n: int, start: int = 0, tenant: str = "t1") -> list[dict]:
    return [
        {
            "tenant_id": tenant if i % 3 else "t2",
            "tool_name": ["ocr", "lookup"][i % 2],
            "composition_id": None,
            "success": int(i % 17 != 0),
            "schema_valid": 1,
            "latency_ms": 10 + (i * 7) % 50,
            "created_at": f"2026-11-{21 + i % 3:02d}T10:{(i // 60) % 60:02d}:{i % 60:02d}.{start:06d}Z",
        }
        for i in range(start, start + n)
    ]


@pytest.mark.slow
def test_export_layout_store_id_and_shared_lake(tmp_path):
    """Two stores export into one lake: store_id=/tenant=/day= folders, store_id in every row,
    nothing of one store touched by the other; the lake's figures are both stores' together."""
    shared = tmp_path / "fleet"
    stores = []
    for name in ("site-a", "site-b"):
        s = Store(tmp_path / name)
        s.insert_many("audit_log", _calls(120, start=len(stores)))
        result = export_lake(tmp_path / name, shared_lake=shared)
        assert result["store_id"] == read_store_id(tmp_path / name)
        stores.append((s, result["store_id"]))
    ids = [sid for _, sid in stores]
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)
    files = sorted((shared / "audit_log").rglob("*.parquet"))
    layouts = {f.relative_to(shared / "audit_log").parts[:3] for f in files}
    assert {p[0] for p in layouts} == {f"store_id={i}" for i in ids}
    assert all(p[1].startswith("tenant=") and p[2].startswith("day=") for p in layouts)
    con = lake.duckdb_lake(shared)
    rows = con.execute(
        "SELECT store_id, count(*), count(DISTINCT id) FROM audit_log GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == sorted((i, 120, 120) for i in ids)  # the same ids 1..120 in both, apart
    # a second export of one store leaves the other's files as they were
    before = {f: f.stat().st_mtime_ns for f in files if ids[1] in str(f)}
    stores[0][0].insert_many("audit_log", _calls(30, start=500))
    export_lake(tmp_path / "site-a", shared_lake=shared)
    assert {f: f.stat().st_mtime_ns for f in before} == before
    tools, _flows = lake.lake_stats(shared, settings=ST)
    assert int(tools["count"].sum()) == 270


@pytest.mark.slow
def test_duckdb_over_a_data_dirs_lake_matches_the_store(tmp_path):
    """The lake read by the statistics gives the figures of govlib.tool_stats on the store."""
    s = Store(tmp_path)
    s.insert_many("audit_log", _calls(400))
    export_lake(tmp_path)
    s.insert_many("audit_log", _calls(50, start=400))  # not exported yet: the lake lags
    export_lake(tmp_path)
    on_lake, _ = lake.lake_stats(tmp_path, settings=ST)
    on_store = stats.tool_stats(connect(tmp_path), settings=ST)
    assert assert_same_frames(on_lake, on_store, "tools") > 0


@pytest.mark.slow
def test_a_sealed_store_reads_the_same_from_its_data_dir_and_from_a_shared_lake(tmp_path):
    """Lake plus sealed segments of DIR/archive/ give the store's own figures, from the data
    dir and from a shared lake it exported into (live and sealed rows alike)."""
    from govlib.demo.bulk import bulk_history
    from govlib.demo.claimsflow.history import generate_history
    from govlib.evidence.archive import seal_before

    data = tmp_path / "data"
    with Store(data) as store:
        bulk_history(store, first_day="2026-11-10", days=8, calls_per_day=400)
        generate_history(store, days=6, as_of="2026-11-20T10:00:00Z", seed=7)
        seal_before(store, "2026-11-15")
    assert any((data / "archive").iterdir())
    export_lake(data, shared_lake=tmp_path / "fleet")
    assert any((tmp_path / "fleet" / "sealed").rglob("*.parquet"))
    con = connect(data)
    expected = stats.tool_stats(con, settings=ST), stats.workflow_stats(con, settings=ST)
    for where in (data, tmp_path / "fleet"):
        tools, flows = lake.lake_stats(where, settings=ST)
        assert assert_same_frames(tools, expected[0], f"tools {where.name}") > 0
        assert assert_same_frames(flows, expected[1], f"workflows {where.name}") > 0


@pytest.mark.slow
def test_stats_cli_json_has_the_library_columns(fleet_lake):
    result = CliRunner().invoke(cli, ["stats", "--lake", str(fleet_lake), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    tools, flows = lake.lake_stats(fleet_lake)
    assert list(doc) == ["tools", "workflows"]
    assert list(doc["tools"][0]) == list(tools.columns)
    assert list(doc["workflows"][0]) == list(flows.columns)
    assert sum(r["count"] for r in doc["tools"]) == 30_000


def test_stats_cli_refuses_bad_input(fleet_lake, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(cli, ["stats", "--lake", str(fleet_lake), "--engine", "hive"])
    assert bad.exit_code == 2 and "hive" in bad.output
    none = runner.invoke(cli, ["stats", "--lake", str(tmp_path / "nope")])
    assert none.exit_code == 2 and "nope" in none.output
    out = tmp_path / "stats"
    written = runner.invoke(
        cli, ["stats", "--lake", str(fleet_lake), "--format", "parquet", "--out", str(out)]
    )
    assert written.exit_code == 0, written.output
    assert len(lake.read_stats_table(out, "tools")) == 6


def test_dashboard_reads_a_stats_table_computed_elsewhere(fleet_lake, tmp_path):
    from govlib.apps.spc.dashboard import SpcApp

    out = tmp_path / "fleet-stats"
    tools, flows = lake.lake_stats(fleet_lake, settings=ST)
    lake.write_stats(tools, flows, "parquet", out)
    site = tmp_path / "site"
    Store(site).insert_many("audit_log", _calls(20))
    app = SpcApp(site, settings=Settings(stats_table=str(out)))
    shown = app.tool_table.data
    assert sorted(r["name"] for r in shown) == sorted(tools["tool_name"])
    assert sum(r["count"] for r in shown) == 30_000  # the lake's calls, not the site's 20
    assert sorted(r["sparkline"] for r in shown) == sorted(tools["sparkline"])


def test_spark_extra_and_java_are_part_of_the_set_up():
    root = Path(__file__).resolve().parent.parent
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("pyspark") for d in extras["optional-dependencies"]["spark"])
    mk = (root / "Makefile").read_text()
    test_deps = re.search(r"^test:(.*)$", mk, re.M).group(1).split()
    assert {"install-spark", "java"} <= set(test_deps)
    assert "'.[test,spark]'" in mk and "apt-get install -y -qq openjdk-17-jre-headless" in mk


# --- Spark ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark():
    if not os.environ.get("CI"):  # in CI a missing pyspark or Java fails, never skips
        pytest.importorskip("pyspark", reason="pip install 'govlib[spark]' (make test installs it)")
    # One JVM for the module; C1-only JIT and no whole-stage codegen: a small lake, a short run.
    quick = {
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        "spark.sql.codegen.wholeStage": "false",
    }
    return lake.spark_session("local[2]", conf=quick)


def _compare_engines(spark, fleet_lake, tenant):
    d_tools, d_flows = lake.lake_stats(fleet_lake, tenant=tenant, settings=ST)
    source = lake.lake_source(fleet_lake)
    s_tools, s_flows = lake.spark_lake_stats(spark, source, tenant=tenant, settings=ST)
    cells = assert_same_frames(s_tools, d_tools, f"tools tenant={tenant}")
    cells += assert_same_frames(s_flows, d_flows, f"workflows tenant={tenant}")
    assert d_tools[[c for c in d_tools if c.startswith("rule_")]].to_numpy().sum() > 0
    # issue 18's columns are compared on real values, not on empty ones
    assert d_tools["completion_rate"].notna().all() and d_tools["flagged_calls"].sum() > 0
    assert (d_tools["window_calls"] > 0).all() and (d_flows["duration_window_calls"] > 0).all()
    if tenant is None:
        assert d_tools["sampling_alarms"].map(len).sum() > 0
    return cells


@pytest.mark.slow
@pytest.mark.timeout(900)  # a JVM start on a loaded 2-core machine can take a minute
def test_spark_and_duckdb_agree_on_every_column(spark, fleet_lake):
    """Several stores, tenants and days (and sealed rows): identical counts and rule fires,
    floats within 1e-9 relative, for every column of tool_stats and workflow_stats."""
    assert _compare_engines(spark, fleet_lake, None) > 300


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_spark_and_duckdb_agree_for_one_tenant(spark, fleet_lake):
    assert _compare_engines(spark, fleet_lake, "tenant-1") > 300
