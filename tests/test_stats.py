"""govlib.analysis.stats on small fixed DuckDB tables with hand-computed expected values."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from govlib.analysis import spc, stats
from govlib.settings import Settings

ST = Settings()

AUDIT = """CREATE TABLE audit_log(id INTEGER, tenant_id VARCHAR, tool_name VARCHAR, actor VARCHAR,
 composition_id VARCHAR, success INTEGER, schema_valid INTEGER, latency_ms INTEGER,
 output_hash VARCHAR, error VARCHAR, human_verdict VARCHAR, verdict_by VARCHAR,
 verdict_at VARCHAR, created_at VARCHAR)"""
RUNS = """CREATE TABLE workflow_runs(composition_id VARCHAR, workflow_id VARCHAR, tenant_id VARCHAR,
 subject VARCHAR, started_at VARCHAR, ended_at VARCHAR, status VARCHAR, stopped_at_node VARCHAR,
 summary VARCHAR)"""
FLOWS = "CREATE TABLE workflows(id VARCHAR, name VARCHAR, description VARCHAR, graph VARCHAR)"

# id, tenant, tool, run, success, schema_valid, latency, verdict, created_at
CALLS = [
    (1, "a", "ocr", "r1", 1, 1, 100, "accept", "2026-11-23T10:00:00.000000Z"),
    (2, "a", "ocr", "r1", 1, 1, 200, "accept", "2026-11-23T10:00:01.000000Z"),
    (3, "a", "ocr", "r1", 1, 0, 300, "reject", "2026-11-23T10:00:02.000000Z"),
    (5, "a", "ocr", "r2", 0, 1, 400, None, "2026-11-23T10:01:00.000000Z"),  # a created_at tie:
    (4, "a", "ocr", "r2", 1, 1, 1000, None, "2026-11-23T10:01:00.000000Z"),  # id 4 comes first
    (6, "b", "llm", None, 1, 1, 10, None, "2026-11-23T09:00:00.000000Z"),
    (7, "b", "llm", None, 1, 1, 20, None, "2026-11-23T11:00:00.000000Z"),
    (8, "b", "llm", None, 1, 1, None, None, "2026-11-23T12:00:00.000000Z"),
]
OCR_MS = [100, 200, 300, 1000, 400]  # ocr latencies in (created_at, id) order
WORKFLOW_RUNS = [  # composition_id, workflow_id, tenant, started_at, ended_at, status
    ("r1", "w1", "a", "2026-11-23T10:00:00.000000Z", "2026-11-23T10:00:02.000000Z", "completed"),
    ("r2", "w1", "a", "2026-11-23T10:01:00.000000Z", "2026-11-23T10:01:03.500000Z", "completed"),
    ("r3", "w1", "a", "2026-11-23T10:02:00.000000Z", None, "running"),
    ("r4", "w2", "b", "2026-11-23T09:00:00.000000Z", "2026-11-23T09:00:00.500000Z", "completed"),
]


def make_con(calls=CALLS, runs=WORKFLOW_RUNS) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(AUDIT)
    con.execute(RUNS)
    con.execute(FLOWS)
    cols = ["id", "tenant_id", "tool_name", "composition_id", "success", "schema_valid"]
    frame = pd.DataFrame(calls, columns=[*cols, "latency_ms", "human_verdict", "created_at"])
    frame = frame.astype({"latency_ms": "Int64"})  # keeps NULL latencies NULL
    con.execute("INSERT INTO audit_log BY NAME SELECT * FROM frame")
    if runs:
        con.executemany(
            "INSERT INTO workflow_runs (composition_id, workflow_id, tenant_id, started_at,"
            " ended_at, status) VALUES (?, ?, ?, ?, ?, ?)",
            runs,
        )
    con.executemany(
        "INSERT INTO workflows (id, name) VALUES (?, ?)",
        [("w1", "claims"), ("w2", "triage"), ("w3", "unused")],
    )
    return con


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return make_con()


def log_limits(ms: list[float]) -> tuple[float, float]:
    logs = np.log(ms)
    return float(np.mean(logs)), float(np.mean(np.abs(np.diff(logs))) / 1.128)


def test_tool_stats_exact_values(con):
    df = stats.tool_stats(con, settings=ST)
    assert df["tool_name"].tolist() == ["llm", "ocr"]
    ocr = df.set_index("tool_name").loc["ocr"]
    assert (ocr["count"], ocr["accept_count"], ocr["reject_count"]) == (5, 2, 1)
    assert ocr["success_rate"] == pytest.approx(0.8) and ocr["schema_valid_rate"] == 0.8
    assert ocr["accept_rate"] == pytest.approx(2 / 3)
    assert (ocr["p50"], ocr["p95"], ocr["avg"], ocr["max"]) == (300, pytest.approx(880), 400, 1000)
    assert (ocr["p50_all"], ocr["p95_all"], ocr["avg_all"], ocr["max_all"]) == (
        300, pytest.approx(880), 400, 1000,
    )  # fmt: skip
    assert ocr["window_calls"] == 5
    assert (ocr["success_pill"], ocr["accept_pill"]) == ("red", "red")
    assert ocr["schema_valid_pill"] == "red"
    center, sigma = log_limits(OCR_MS)
    assert ocr["center"] == pytest.approx(center) and ocr["sigma"] == pytest.approx(sigma)
    assert ocr["lcl"] == pytest.approx(center - 3 * sigma)
    assert ocr["ucl_ms"] == pytest.approx(math.exp(center + 3 * sigma))
    assert ocr["center_ms"] == pytest.approx(math.exp(center))  # geometric mean
    assert ocr["sparkline"] == OCR_MS  # (created_at, id) order
    assert ocr["anomaly_count"] == 0 and ocr[list(spc.RULES)].tolist() == [0, 0, 0, 0]
    assert ocr["sampling"] == "100%" and "only 5 calls" in ocr["sampling_reason"]
    assert ocr["drift"] == "watch" and ocr["drift_signals"] == ["success: newest 5 at 80.0%"]


def test_tool_without_reviews_and_with_a_null_latency(con):
    llm = stats.tool_stats(con, settings=ST).set_index("tool_name").loc["llm"]
    assert llm["count"] == 3 and llm["success_rate"] == 1.0
    assert llm["accept_rate"] is None and llm["accept_pill"] is None
    assert (llm["p50"], llm["p95"], llm["avg"], llm["max"]) == (15, 19.5, 15, 20)
    assert llm["sparkline"] == [10, 20]
    assert llm["success_pill"] == "green" and llm["drift"] == "stable"


def test_tenant_and_since_filters(con):
    a = stats.tool_stats(con, tenant="a", settings=ST)
    assert a["tool_name"].tolist() == ["ocr"]
    later = stats.tool_stats(con, since="2026-11-23T10:00:30Z", settings=ST).set_index("tool_name")
    assert later.loc["ocr", "count"] == 2 and later.loc["llm", "count"] == 2
    moment = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert stats.tool_stats(con, since=moment, settings=ST)["count"].tolist() == [2]
    assert stats.tool_stats(con, tenant="nobody", settings=ST).empty


def test_since_on_a_timestamp_column():
    con = make_con()
    con.execute(
        "ALTER TABLE audit_log ALTER created_at TYPE TIMESTAMP USING CAST(created_at AS TIMESTAMP)"
    )
    later = stats.tool_stats(con, since="2026-11-23T10:00:30Z", settings=ST).set_index("tool_name")
    assert later["count"].to_dict() == {"llm": 2, "ocr": 2}
    assert later.loc["ocr", "sparkline"] == [1000, 400]


def test_user_values_are_parameters_not_sql(con):
    evil = "a' OR '1'='1"
    assert stats.tool_stats(con, tenant=evil, settings=ST).empty
    assert stats.tool_series(con, evil, settings=ST).empty


def test_empty_tables_give_empty_frames_with_all_columns():
    con = make_con(calls=[], runs=[])
    tools = stats.tool_stats(con, settings=ST)
    assert tools.empty and {"tool_name", "sparkline", "drift_signals", "rule_4"} <= set(tools)
    flows = stats.workflow_stats(con, settings=ST)
    assert flows.empty and {"workflow_name", "completion_rate", "duration_center"} <= set(flows)


def test_workflow_stats_exact_values(con):
    df = stats.workflow_stats(con, settings=ST).set_index("workflow_name")
    assert df.index.tolist() == ["claims", "triage"]  # "unused" has no runs
    claims = df.loc["claims"]
    assert (claims["run_count"], claims["count"], claims["accept_count"]) == (3, 5, 2)
    assert claims["completion_rate"] == pytest.approx(1 / 3)  # r2 had a failed call, r3 runs
    assert claims["success_rate"] == pytest.approx(0.8) and claims["p95"] == pytest.approx(880)
    assert claims["duration_sparkline"] == [2000.0, 3500.0]
    assert (claims["duration_p50"], claims["duration_max"]) == (2750.0, 3500.0)
    assert claims["duration_window_calls"] == 2 and claims["duration_flagged_calls"] == 0
    assert (
        claims["sampling"] == "100%" and "completion 33.3% is red" not in claims["sampling_reason"]
    )  # 5 calls: fewer than sampling_min_calls decides first
    center, sigma = log_limits([2000, 3500])
    assert claims["duration_center"] == pytest.approx(center)
    assert claims["duration_sigma"] == pytest.approx(sigma)
    triage = df.loc["triage"]
    assert (triage["run_count"], triage["completion_rate"], triage["count"]) == (1, 1.0, 0)
    assert triage["accept_rate"] is None and math.isnan(triage["success_rate"])
    assert triage["sampling"] == "100%" and triage["duration_sparkline"] == [500.0]
    assert math.isnan(triage["duration_sigma"])  # one run: sigma undefined
    assert stats.workflow_stats(con, tenant="b", settings=ST)["workflow_name"].tolist() == [
        "triage"
    ]


def test_windowed_figures_flagged_calls_and_completion_exact(con):
    """p50/p95/avg/max cover the newest spc_stats_window calls, the period's in *_all."""
    df = stats.tool_stats(con, settings=Settings(spc_stats_window=3)).set_index("tool_name")
    ocr = df.loc["ocr"]
    assert ocr["window_calls"] == 3  # newest 3 by (created_at, id): 300, 1000, 400
    assert (ocr["p50"], ocr["p95"], ocr["max"]) == (400, pytest.approx(940), 1000)
    assert ocr["avg"] == pytest.approx(1700 / 3)
    assert (ocr["p50_all"], ocr["avg_all"], ocr["max_all"]) == (300, 400, 1000)
    assert ocr["completion_rate"] == 0.5  # r1 completed; r2 holds a failed call
    assert df.loc["llm", "completion_rate"] is None  # no runs
    assert df.loc["llm", "window_calls"] == 2  # the call without a latency is not charted
    # three slow calls among steady ones: rules 1 and 2 fire on the same calls, and rule 4 on
    # the (log) mean's low side: 38 rule fires on 36 calls
    ms = [100.0, 110.0] * 20 + [3000.0] * 3 + [100.0, 110.0] * 2
    calls = [
        (i, "a", "t", None, 1, 1, m, None, f"2026-11-23T10:{i // 60:02d}:{i % 60:02d}.000000Z")
        for i, m in enumerate(ms)
    ]
    row = stats.tool_stats(make_con(calls=calls, runs=[]), settings=ST).iloc[0]
    logs = np.log(ms)
    lim = spc.control_limits(logs)
    flags = spc.western_electric(logs, center=lim.center, sigma=lim.sigma).to_numpy()
    assert flags.sum(axis=0).tolist() == [3, 2, 0, 33]
    assert (flags.sum(), flags.any(axis=1).sum()) == (38, 36)  # the case the rename is about
    assert row["rule_fires"] == row["anomaly_count"] == flags.sum()
    assert row["flagged_calls"] == flags.any(axis=1).sum()


def test_tool_series_window(con):
    s = stats.tool_series(con, "ocr", settings=ST)
    assert s["id"].tolist() == [1, 2, 3, 4, 5]
    assert s["latency_ms"].tolist() == OCR_MS
    center, sigma = log_limits(OCR_MS)
    np.testing.assert_allclose(s["log_latency"], np.log(OCR_MS))
    assert s.attrs["center"] == pytest.approx(center) and s.attrs["sigma"] == pytest.approx(sigma)
    assert s.attrs["ucl_ms"] == pytest.approx(math.exp(center + 3 * sigma))
    assert s["zone"].tolist() == spc.zone(s["log_latency"], center, sigma).tolist()
    assert s["center_ms"].iloc[0] == pytest.approx(math.exp(center))
    assert not s["any_rule"].any()
    assert stats.tool_series(con, "ocr", 2, settings=ST)["id"].tolist() == [4, 5]
    assert stats.tool_series(con, "ocr", tenant="b", settings=ST).empty


def test_workflow_series(con):
    s = stats.workflow_series(con, "claims", settings=ST)
    assert s["composition_id"].tolist() == ["r1", "r2"]  # r3 has not ended
    assert s["duration_ms"].tolist() == [2000.0, 3500.0]
    assert {"zone", "any_rule", "lcl_ms", "log_duration", *spc.RULES} <= set(s)


def busy_calls(n_busy: int, n_rare: int, rare_id: int = 10_000, seed: int = 5) -> list[tuple]:
    """A busy tool with a level shift and spikes, and a rare tool whose calls are all old (their
    ids from ``rare_id``: below the busy ids, or above them as if backfilled)."""
    rng = np.random.default_rng(seed)
    lat = np.round(np.exp(rng.normal(5, 0.3, n_busy))).astype(int)
    lat[-12:] *= 3  # a shift among the newest calls
    lat[-40] = 50_000
    calls = [
        (100 + i, "a", "busy", None, int(rng.random() > 0.02), 1, int(lat[i]), None,
         f"2026-11-23T12:{i // 60:02d}:{i % 60:02d}.000000Z")
        for i in range(n_busy)
    ]  # fmt: skip
    calls += [
        (rare_id + i, "a", "rare", None, 1, 1, 100 + i, None, f"2026-11-22T00:00:{i:02d}.000000Z")
        for i in range(n_rare)
    ]
    return calls


def expected_window(calls: list[tuple], tool: str, st: Settings) -> pd.DataFrame:
    df = pd.DataFrame(calls, columns=["id", "t", "tool", "run", "ok", "sv", "ms", "v", "at"])
    return df[df["tool"] == tool].sort_values(["at", "id"]).tail(st.spc_window + st.spc_recent)


@pytest.mark.parametrize(
    "window, recent, rare, rare_id",
    [(500, 60, 45, 10_000), (40, 8, 45, 1), (40, 8, 45, 10_000), (20, 5, 0, 1)],
)
def test_windows_rules_and_ladder_match_spc_on_the_newest_calls(window, recent, rare, rare_id):
    """Small windows take the cut-off path: (40, 8, low ids) leaves the rare tool short so it is
    fetched again; high ids mislead the id-based guess; (20, 5) cuts through the busy tool."""
    st_ = Settings(spc_window=window, spc_recent=recent)
    calls = busy_calls(1500, rare, rare_id)
    df = stats.tool_stats(make_con(calls=calls), settings=st_).set_index("tool_name")
    assert len(df) == 1 + bool(rare)
    for tool in df.index:
        want = expected_window(calls, tool, st_)
        logs = np.log(want["ms"].to_numpy(float)[-window:])
        lim = spc.control_limits(logs)
        flags = spc.western_electric(logs, center=lim.center, sigma=lim.sigma)
        row = df.loc[tool]
        assert row["center"] == pytest.approx(lim.center) and row["sigma"] == pytest.approx(
            lim.sigma
        )
        assert row[list(spc.RULES)].tolist() == flags.sum().tolist()
        assert row["rule_fires"] == row["anomaly_count"] == flags.to_numpy().sum()
        assert row["flagged_calls"] == flags.to_numpy().any(axis=1).sum()
        assert row["recent_fires"] == flags.tail(recent).to_numpy().sum()
        assert row["sparkline"] == want["ms"].tail(recent).tolist()
        badge = spc.drift_badge(want["ok"], want["ms"], settings=st_)
        assert (row["drift"], row["drift_signals"]) == badge
        alarms = spc.ladder_alarms(want["ok"], want["ms"], settings=st_)
        assert row["sampling_alarms"] == alarms
        ladder = spc.sampling_recommendation(
            int(row["count"]), row["success_rate"], drift=badge[0], alarms=alarms,
            schema_valid_rate=row["schema_valid_rate"], settings=st_,
        )  # fmt: skip
        assert (row["sampling"], row["sampling_reason"]) == ladder
    assert df.loc["busy", "drift"] != "stable"
    assert df.loc["busy", "anomaly_count"] > 0


def test_other_sources_go_through_analytics_connect(monkeypatch, con):
    import govlib.analysis.read_path

    seen = []
    monkeypatch.setattr(
        govlib.analysis.read_path,
        "connect",
        lambda src, tables=None: seen.append((src, tables)) or con,
    )
    assert stats.tool_stats("some/data/dir", settings=ST)["tool_name"].tolist() == ["llm", "ocr"]
    assert seen == [("some/data/dir", stats.STATS_TABLES)]  # only the tables it reads


def test_run_duration_window_with_a_cut_off():
    """200 runs and a 10-run window: the started_at cut-off path, checked against pandas."""
    durations = [1000 + 10 * i + (i % 7) * 50 for i in range(200)]
    starts = [f"2026-11-23T10:{i // 60:02d}:{i % 60:02d}.000000Z" for i in range(200)]
    runs = [
        (f"r{i:03d}", "w1", "a", start, _plus_ms(start, d), "completed")
        for i, (start, d) in enumerate(zip(starts, durations, strict=True))
    ]
    st_ = Settings(spc_window=10, spc_recent=3)
    row = stats.workflow_stats(make_con(calls=[], runs=runs), settings=st_).iloc[0]
    assert row["run_count"] == 200 and row["duration_sparkline"] == durations[-3:]
    lim = spc.control_limits(np.log(durations[-10:]))
    assert row["duration_center"] == pytest.approx(lim.center)
    assert row["duration_sigma"] == pytest.approx(lim.sigma)
    series = stats.workflow_series(make_con(calls=[], runs=runs), "claims", 10, settings=st_)
    assert series["duration_ms"].tolist() == durations[-10:]


def _plus_ms(iso: str, ms: int) -> str:
    moment = datetime.fromisoformat(iso) + pd.Timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
