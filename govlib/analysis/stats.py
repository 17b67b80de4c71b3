"""Dashboard statistics per tool and per workflow, aggregated by DuckDB SQL over the read path.

Counts, rates and exact quantiles (``quantile_cont``) run in DuckDB; the newest calls of every group
come back as one ``max_by(..., n)`` list each, and the rules run on all groups as one 2-D array.
Charts are on log(latency) (below ``spc_min_latency_ms`` counts as that), so the centre line in ms
is the geometric mean (``center_ms``); ``avg`` stays the arithmetic mean."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd

from govlib.analysis import read_path, spc
from govlib.errors import GovlibError, checked_text
from govlib.settings import Settings, load_settings

__all__ = [
    "tool_stats",
    "workflow_stats",
    "tool_series",
    "workflow_series",
    "DIALECTS",
    "shared_sql",
    "group_frame",
    "workflow_frame",
    "GroupRow",
    "tool_frame",
    "durations_ms",
    "complete_groups",
    "series_need",
    "tenant_params",
    "allowed_tenants",
]

_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"  # the store's created_at format (sorts as text)
_CALL_COLS = [
    "count",
    "success_rate",
    "schema_valid_rate",
    "accept_count",
    "reject_count",
    "accept_rate",
    "window_calls",
    "p50",
    "p95",
    "avg",
    "max",
    "p50_all",
    "p95_all",
    "avg_all",
    "max_all",
    "success_pill",
    "schema_valid_pill",
    "accept_pill",
]
#: Figures over the newest ``spc_stats_window`` values (``window_calls`` of them) and, with
#: ``_all``, over the whole period.
_WINDOWED = ("p50", "p95", "avg", "max")
_CHART_COLS = [
    "center",
    "sigma",
    "lcl",
    "ucl",
    "center_ms",
    "lcl_ms",
    "ucl_ms",
    "rule_fires",
    "flagged_calls",
    "anomaly_count",  # alias of rule_fires for one release (renamed in 0.x, issue 18)
    *spc.RULES,
    "recent_fires",
    "sparkline",
]
_LADDER_COLS = ["sampling", "sampling_reason", "sampling_alarms", "drift", "drift_signals"]

# --- the DuckDB SQL, built once from constants; user values (tenant, since, tool names) only ever
# travel as ? parameters -----------------------------------------------------------------------------
# Each source: grp, k1/k2 = order key (newest = largest), y = the charted value; filters are
# (no tenant limit OR the tenant is in the JSON list of allowed tenants) AND (since is None OR
# time >= since), all as ? parameters (see :func:`tenant_params`).
_SOURCES = {
    "tool": """SELECT tool_name AS grp, created_at AS k1, id AS k2, success, schema_valid,
 latency_ms AS y, human_verdict FROM audit_log
 WHERE (? OR {in_tenants}(tenant_id)) AND (? OR created_at >= ?)""",
    "workflow": """SELECT w.name AS grp, a.created_at AS k1, a.id AS k2, a.success,
 a.schema_valid, a.latency_ms AS y, a.human_verdict FROM audit_log a
 JOIN workflow_runs r ON r.composition_id = a.composition_id JOIN workflows w ON w.id = r.workflow_id
 WHERE (? OR {in_tenants}(a.tenant_id)) AND (? OR a.created_at >= ?)""",
    "run": """SELECT w.name AS grp, r.started_at AS k1, r.composition_id AS k2,
 CASE WHEN r.status = 'completed' AND b.composition_id IS NULL THEN 1 ELSE 0 END AS success,
 {run_y} AS y
 FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id
 LEFT JOIN (SELECT DISTINCT composition_id FROM audit_log WHERE composition_id IS NOT NULL
 AND success IS DISTINCT FROM 1) b ON b.composition_id = r.composition_id
 WHERE r.ended_at IS NOT NULL AND (? OR {in_tenants}(r.tenant_id)) AND (? OR r.started_at >= ?)""",
}
# Cut-off guesses (unfiltered, cheap: min/max of id come from statistics and the id range prunes)
_TAIL = """SELECT min(created_at), NULL FROM audit_log
 WHERE id > (SELECT max(id) - ? * (max(id) - min(id) + 1) FROM audit_log)"""
_SPAN = {
    "tool": _TAIL,
    "workflow": _TAIL,
    "run": "SELECT min(started_at), max(started_at), ? FROM workflow_runs",
}
_AGG = """WITH t AS ({src}) SELECT grp, count(*), avg(CAST(success AS DOUBLE)),
 avg(CAST(schema_valid AS DOUBLE)), count(*) FILTER (WHERE human_verdict = 'accept'),
 count(*) FILTER (WHERE human_verdict = 'reject'), {quantiles}, avg(y), max(y),
 count(success), count(y) FROM t GROUP BY grp ORDER BY grp"""
_WIN = """WITH t AS ({src}) SELECT grp,
 max_by(success, (k1, k2), ?) FILTER (WHERE success IS NOT NULL),
 max_by(y, (k1, k2), ?) FILTER (WHERE y IS NOT NULL)
 FROM t WHERE (? OR k1 >= ?) AND (? OR list_contains(?::VARCHAR[], grp)) GROUP BY grp"""
# The newest ``need`` rows of every group (rank 1 = newest) with a success value (rs) and with a
# charted value (ry): what an engine without ``max_by(..., n)`` (Spark) runs for the windows.
_RANKED = """WITH t AS ({src}), r AS (SELECT grp, k1, k2, success, y,
 CASE WHEN success IS NULL THEN NULL ELSE row_number() OVER (PARTITION BY grp, success IS NULL
 ORDER BY k1 DESC, k2 DESC) END AS rs,
 CASE WHEN y IS NULL THEN NULL ELSE row_number() OVER (PARTITION BY grp, y IS NULL
 ORDER BY k1 DESC, k2 DESC) END AS ry FROM t) SELECT * FROM r WHERE rs <= ? OR ry <= ?"""
_RUNS = """WITH bad AS (SELECT DISTINCT composition_id FROM audit_log
 WHERE composition_id IS NOT NULL AND success IS DISTINCT FROM 1)
SELECT w.name, count(*), avg(CAST(CASE WHEN r.status = 'completed' AND b.composition_id IS NULL
 THEN 1 ELSE 0 END AS DOUBLE)), count(r.ended_at)
FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id
LEFT JOIN bad b ON b.composition_id = r.composition_id
WHERE (? OR {in_tenants}(r.tenant_id)) AND (? OR r.started_at >= ?) GROUP BY w.name"""
#: Per tool: the completion rate of the runs its calls belong to (as ``_RUNS`` counts it).
_TOOL_COMPLETION = """WITH bad AS (SELECT DISTINCT composition_id FROM audit_log
 WHERE composition_id IS NOT NULL AND success IS DISTINCT FROM 1),
used AS (SELECT DISTINCT tool_name, composition_id FROM audit_log
 WHERE composition_id IS NOT NULL AND (? OR {in_tenants}(tenant_id)) AND (? OR created_at >= ?))
SELECT u.tool_name, avg(CAST(CASE WHEN r.status = 'completed' AND b.composition_id IS NULL
 THEN 1 ELSE 0 END AS DOUBLE))
FROM used u JOIN workflow_runs r ON r.composition_id = u.composition_id
LEFT JOIN bad b ON b.composition_id = r.composition_id GROUP BY u.tool_name"""
#: Tools that declare an argument schema in the registry.
_SCHEMA_DECLARED = """SELECT DISTINCT name FROM tool_registry
 WHERE input_schema IS NOT NULL AND trim(input_schema) NOT IN ('', '{}', 'null')"""
#: The few spellings DuckDB and Spark SQL disagree on; everything else is one text for both.
DIALECTS: dict[str, dict[str, str]] = {
    "duckdb": {
        "quantiles": "quantile_cont(y, [0.5, 0.95])",
        "run_y": "{s: r.started_at, e: r.ended_at}",
        "in_tenants": "list_contains(CAST(CAST(? AS JSON) AS VARCHAR[]), {col})",
    },
    "spark": {
        "quantiles": "percentile(y, array(0.5, 0.95))",
        "run_y": "named_struct('s', r.started_at, 'e', r.ended_at)",
        "in_tenants": "array_contains(from_json(?, 'array<string>'), {col})",
    },
}
_IN_TENANTS = re.compile(r"\{in_tenants\}\(([\w.]+)\)")
_TEMPLATES = {"agg": _AGG, "win": _WIN, "ranked": _RANKED}
#: Queries over no source: name -> text (parameters: the four filter values, or none).
_PLAIN = {
    "runs": _RUNS,
    "tool_completion": _TOOL_COMPLETION,
    "schema_declared": _SCHEMA_DECLARED,
}


def shared_sql(name: str, kind: str | None = None, dialect: str = "duckdb") -> str:
    """The statistics' SQL in one engine's spelling: ``name`` is ``agg``, ``win`` (DuckDB only)
    or ``ranked`` over the ``kind`` source (``tool``, ``workflow``, ``run``), or ``runs``,
    ``tool_completion`` or ``schema_declared``.

    Parameters: the source's four filter values (:func:`tenant_params`, then whether there is
    no ``since`` and its value; ``schema_declared``: none), then (``win``) as in
    :func:`_windows` or (``ranked``) the window length twice.

    Example:
        >>> "percentile(y" in shared_sql("agg", "tool", "spark")
        True
    """
    if name in _PLAIN:
        text = _PLAIN[name]
    else:
        text = _TEMPLATES[name].replace("{src}", _SOURCES[str(kind)])
    spellings = DIALECTS[dialect]
    text = _IN_TENANTS.sub(lambda m: spellings["in_tenants"].format(col=m.group(1)), text)
    for token, spelling in spellings.items():
        text = text.replace("{" + token + "}", spelling)
    return text


_SQL = {(kind, name): shared_sql(name, kind) for kind in _SOURCES for name in ("agg", "win")}
_IN = DIALECTS["duckdb"]["in_tenants"]
_TOOL_SERIES = f"""SELECT id, created_at, latency_ms FROM audit_log
WHERE tool_name = ? AND latency_ms IS NOT NULL AND (? OR {_IN.format(col="tenant_id")})
ORDER BY created_at DESC, id DESC LIMIT ?"""  # noqa: S608 - constant fragments only
_RUN_SERIES = f"""SELECT r.composition_id, r.started_at, r.ended_at, r.status
FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id
WHERE w.name = ? AND r.ended_at IS NOT NULL AND (? OR {_IN.format(col="r.tenant_id")})
ORDER BY r.started_at DESC, r.composition_id DESC LIMIT ?"""  # noqa: S608 - constant fragments


class GroupRow(NamedTuple):
    """One row of the ``agg`` query: a group's counts, rates and latency summary."""

    name: str
    count: int
    success_rate: float | None
    schema_valid_rate: float | None
    accept_count: int
    reject_count: int
    quantiles: list[float] | None  # [p50, p95]
    avg: float | None
    max: float | None
    with_success: int  # rows with a success value
    with_y: int  # rows with a charted value


#: The tables the statistics read (a page's connection opens only these).
STATS_TABLES = ("audit_log", "tool_registry", "workflow_runs", "workflows")


def _connect(con_or_store: Any) -> duckdb.DuckDBPyConnection:
    if isinstance(con_or_store, duckdb.DuckDBPyConnection):
        return con_or_store
    return read_path.connect(con_or_store, tables=STATS_TABLES)


def allowed_tenants(
    tenant: str | None = None, tenants: Sequence[str] | None = None
) -> tuple[str, ...] | None:
    """The tenants whose rows a read may use: ``tenant`` (one chosen in a filter) within
    ``tenants`` (the ones the person looking may see); None when neither limits the read.

    Example:
        >>> allowed_tenants(), allowed_tenants("acme"), allowed_tenants(tenants=["acme", "zeta"])
        (None, ('acme',), ('acme', 'zeta'))
        >>> allowed_tenants("zeta", ["acme"])  # a tenant outside the person's: nothing
        ()
    """
    checked_text("tenant", tenant)
    if tenants is not None:
        if isinstance(tenants, str) or not all(isinstance(t, str) for t in tenants):
            raise GovlibError(f"tenants: {tenants!r:.60}; expected a list of tenant names")
        tenants = tuple(tenants)
    if tenant is None:
        return tenants
    return (tenant,) if tenants is None or tenant in tenants else ()


def tenant_params(tenant: str | None = None, tenants: Sequence[str] | None = None) -> list[Any]:
    """The two ? parameters of a tenant filter in the statistics' SQL: whether no tenant limits
    the read, and the allowed tenants as a JSON list (see :func:`allowed_tenants`).

    Example:
        >>> tenant_params(), tenant_params("acme", ["acme", "zeta"])
        ([True, '[]'], [False, '["acme"]'])
    """
    allowed = allowed_tenants(tenant, tenants)
    return [allowed is None, json.dumps(list(allowed or ()))]


def _filters(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    tenant: str | None,
    since: Any,
    tenants: Sequence[str] | None = None,
) -> list[Any]:
    """Parameters of a source's (tenants, since) filter; ``since`` takes the column's type."""
    who = tenant_params(tenant, tenants)
    if since is not None and not isinstance(since, str | date):
        raise GovlibError(f"since: {since!r:.60}; expected a datetime, a date or an ISO string")
    if isinstance(since, str):
        try:
            since = datetime.fromisoformat(since)
        except ValueError:
            raise GovlibError(f"since: {since!r:.60}; expected an ISO date or time") from None
    if since is None:
        return [*who, True, None]
    if not isinstance(since, datetime):
        since = datetime(since.year, since.month, since.day)
    moment = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
    (data_type,) = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
        [table, column],
    ).fetchone() or ("VARCHAR",)
    kind = str(data_type).upper()
    if kind == "VARCHAR":
        value: Any = moment.strftime(_ISO)
    else:
        value = moment if "TIME ZONE" in kind else moment.replace(tzinfo=None)
    return [*who, False, value]


def _cut(con: duckdb.DuckDBPyConnection, kind: str, frac: float) -> Any:
    """A guessed order key with about ``frac`` of the rows after it (None: no cut-off). Calls:
    the oldest created_at among the newest ``frac`` of ids; runs: ``frac`` of the way back from
    the newest started_at to the oldest (ISO text is parsed and written back as text)."""
    if frac >= 1:
        return None
    lo, hi, *_ = con.execute(_SPAN[kind], [frac]).fetchone()  # type: ignore[misc]
    try:
        if hi is None or not isinstance(hi, str):
            return lo if hi is None else hi - (hi - lo) * frac
        a, b = datetime.fromisoformat(lo), datetime.fromisoformat(hi)
        return (b - (b - a) * frac).strftime(_ISO)
    except (TypeError, ValueError):
        return None


def _windows(
    con: duckdb.DuckDBPyConnection, kind: str, params: list[Any], need: int, counts: dict
) -> dict[str, tuple[list, list]]:
    """Per group: its newest ``need`` success and y values (newest first). ``counts``: group ->
    (success values, y values) in the filtered source. The first query keeps keys after a guessed
    cut-off (:func:`_cut`; DuckDB skips older row groups); groups left short are fetched again 8x
    further back, at last with no cut-off. Any cut-off is exact for a group with ``need`` rows
    after it."""
    out: dict[str, tuple[list, list]] = {g: ([], []) for g in counts}
    frac = 4 * need * len(counts) / max(1, sum(c[1] for c in counts.values()))
    todo: list[str] | None = None  # None: every group
    while todo is None or todo:
        cut = _cut(con, kind, frac)
        args = [*params, need, need, cut is None, cut, todo is None, todo or []]
        for g, s, y in con.execute(_SQL[kind, "win"], args).fetchall():
            out[g] = (s or [], y or [])
        lens = {g: (len(s), len(y)) for g, (s, y) in out.items()}  # never above what is expected
        todo = [g for g, (ns, ny) in counts.items() if lens[g] != (min(need, ns), min(need, ny))]
        if cut is None:
            break
        frac *= 8
    return out


def _chart_columns(series: list[np.ndarray], st: Settings) -> dict[str, Any]:
    """Limits, rule counts and sparkline of each series (oldest first, ms) as one 2-D pass."""
    w, r, n = st.spc_window, st.spc_recent, len(series)
    logs = np.full((n, w), np.nan)
    lengths = np.zeros(n, dtype=np.int64)
    for i, v in enumerate(series):
        v = v[-w:]
        lengths[i] = v.size
        if v.size:
            logs[i, w - v.size :] = np.log(np.maximum(v, st.spc_min_latency_ms))
    center, sigma = spc.control_limits_rows(logs, lengths)
    flags = spc.western_electric_rows(logs, center=center, sigma=sigma, lengths=lengths)
    fires = flags.sum(axis=2)
    lcl, ucl = center - 3 * sigma, center + 3 * sigma
    cols: dict[str, Any] = {"center": center, "sigma": sigma, "lcl": lcl, "ucl": ucl}
    cols |= {"center_ms": np.exp(center), "lcl_ms": np.exp(lcl), "ucl_ms": np.exp(ucl)}
    cols |= {"rule_fires": fires.sum(axis=0), "flagged_calls": flags.any(axis=0).sum(axis=1)}
    cols |= {"anomaly_count": cols["rule_fires"], **dict(zip(spc.RULES, fires, strict=True))}
    cols["recent_fires"] = flags[:, :, w - min(r, w) :].sum(axis=(0, 2))
    cols["sparkline"] = [v[-r:].tolist() for v in series]
    return cols


def _put(df: pd.DataFrame, cols: dict[str, Any], prefix: str = "") -> None:
    for col, vals in cols.items():  # lists (sparklines) go in as one object per row
        df[prefix + col] = pd.Series(list(vals), dtype=object) if col == "sparkline" else vals


def _group_stats(
    con: duckdb.DuckDBPyConnection, kind: str, params: list[Any], st: Settings, also: Any = ()
) -> pd.DataFrame:
    """The call columns, chart columns, sampling and drift of every group of ``kind`` (and of
    the names in ``also``, as groups without calls)."""
    groups = _groups(con, kind, params, also)
    ok, lat = _newest_series(con, kind, params, groups, st)
    if kind != "tool":
        return group_frame(groups, ok, lat, st)
    done = _tool_completion(con, params)
    return group_frame(groups, ok, lat, st, completion=done, declared=_schema_declared(con))


def series_need(st: Settings) -> int:
    """How many newest values of each group the finishing passes read: the chart window and its
    recent part, or the ``spc_stats_window`` of p50..max when that is longer.

    Example:
        >>> series_need(Settings()) >= Settings().spc_stats_window
        True
    """
    return max(st.spc_window + st.spc_recent, st.spc_stats_window)


def group_frame(
    groups: list[GroupRow],
    ok: list[np.ndarray],
    lat: list[np.ndarray],
    st: Settings,
    *,
    completion: dict[str, float] | None = None,
    declared: set[str] | None = None,
) -> pd.DataFrame:
    """The statistics of groups from their ``agg`` rows and newest series (oldest first, up to
    :func:`series_need` values): call columns, the windowed p50..max, the rule pass (limits,
    Western Electric fires, sparkline), drift and sampling. Every engine ends here (Spark per
    group, in ``applyInPandas``).

    Tools pass ``completion`` (tool name -> completion rate of its runs, the
    ``tool_completion`` SQL) and ``declared`` (the ``schema_declared`` SQL's names): they add
    the completion_rate and schema_declared columns, and the ladder reads them.

    Example:
        >>> g = GroupRow("ocr", 3, 1.0, 1.0, 0, 0, [2.0, 2.9], 2.33, 3.0, 3, 3)
        >>> one = np.array([1.0, 1.0, 1.0])
        >>> group_frame([g], [one], [np.array([1.0, 3.0, 3.0])], Settings())["p50"].tolist()
        [3.0]
    """
    df = _call_frame(groups, st)
    _put(df, _window_columns(lat, st))
    _put(df, _chart_columns(lat, st))
    if completion is not None:
        _put(df, _tool_columns(df, completion, declared or set()))
    _put(df, _ladder_columns(df, ok, lat, st))
    return df


def _tool_columns(df: pd.DataFrame, completion: dict[str, float], declared: set[str]) -> dict:
    """completion_rate (None, not NaN, without runs, as accept_rate) and schema_declared (the
    registry declares a schema, or a call broke one) of each tool of ``df``."""
    rates = pd.Series([completion.get(n) for n in df["name"]], dtype=object)
    return {
        "completion_rate": rates,
        "schema_declared": [
            name in declared or (rate is not None and rate < 1)
            for name, rate in zip(df["name"], df["schema_valid_rate"], strict=True)
        ],
    }


def _window_columns(series: list[np.ndarray], st: Settings) -> dict[str, Any]:
    """p50/p95/avg/max over the newest ``spc_stats_window`` values of each series (oldest
    first), as ``quantile_cont`` computes them, and how many values that is."""
    cols: dict[str, list[float]] = {"window_calls": [], **{k: [] for k in _WINDOWED}}
    for v in series:
        v = v[-st.spc_stats_window :]
        cols["window_calls"].append(int(v.size))
        got = (np.percentile(v, [50, 95]).tolist() + [v.mean(), v.max()]) if v.size else []
        for key, value in zip(_WINDOWED, got or [np.nan] * 4, strict=True):
            cols[key].append(float(value))
    return cols


def _schema_declared(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tools whose registry entry declares an argument schema."""
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    if "tool_registry" not in tables:
        return set()
    return {r[0] for r in con.execute(shared_sql("schema_declared")).fetchall()}


def _tool_completion(con: duckdb.DuckDBPyConnection, params: list[Any]) -> dict[str, float]:
    """Tool name -> completion rate of the runs its calls belong to (no runs: left out)."""
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    if "workflow_runs" not in tables:
        return {}
    try:
        return dict(con.execute(shared_sql("tool_completion"), params).fetchall())
    except duckdb.BinderException:  # an audit_log without composition_id: no runs to join
        return {}


def _groups(
    con: duckdb.DuckDBPyConnection, kind: str, params: list[Any], also: Any
) -> list[GroupRow]:
    """The ``agg`` rows of ``kind``, plus an empty group per name of ``also`` not among them,
    by name."""
    groups = [GroupRow(*r) for r in con.execute(_SQL[kind, "agg"], params).fetchall()]
    return complete_groups(groups, also)


def complete_groups(groups: list[GroupRow], also: Any = ()) -> list[GroupRow]:
    """``groups`` plus an empty group per name of ``also`` not among them, by name.

    Example:
        >>> [g.name for g in complete_groups([], ["b", "a"])]
        ['a', 'b']
    """
    seen = {g.name for g in groups}
    extra = sorted({name for name in also if name not in seen})
    return sorted(
        groups + [GroupRow(name, 0, None, None, 0, 0, None, None, None, 0, 0) for name in extra]
    )


def _call_frame(groups: list[GroupRow], st: Settings) -> pd.DataFrame:
    """One row per group: name and the call columns (counts, rates, latency summary, pills)."""
    df = pd.DataFrame(
        {"name": pd.Series([g.name for g in groups], dtype=str), "count": [g.count for g in groups]}
    )
    df["success_rate"] = np.array([g.success_rate for g in groups], dtype=float)
    df["schema_valid_rate"] = np.array([g.schema_valid_rate for g in groups], dtype=float)
    df["accept_count"] = [g.accept_count for g in groups]
    df["reject_count"] = [g.reject_count for g in groups]
    reviews = df["accept_count"] + df["reject_count"]
    rate = [a / t if t else None for a, t in zip(df["accept_count"], reviews, strict=True)]
    df["accept_rate"] = pd.Series(rate, dtype=object)
    for col, vals in (
        ("p50_all", [g.quantiles[0] if g.quantiles else None for g in groups]),
        ("p95_all", [g.quantiles[1] if g.quantiles else None for g in groups]),
        ("avg_all", [g.avg for g in groups]),
        ("max_all", [g.max for g in groups]),
    ):
        df[col] = np.array(vals, dtype=float)
    df["success_pill"] = pd.Series([spc.pill(x, st) for x in df["success_rate"]], dtype=object)
    df["schema_valid_pill"] = pd.Series(
        [spc.pill(x, st) for x in df["schema_valid_rate"]], dtype=object
    )
    df["accept_pill"] = pd.Series([spc.pill(x, st) for x in rate], dtype=object)
    return df


def _newest_series(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    params: list[Any],
    groups: list[GroupRow],
    st: Settings,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per group (in order): its newest success values and charted values, oldest first."""
    need = series_need(st)
    counts = {g.name: (g.with_success, g.with_y) for g in groups}
    wins = _windows(con, kind, params, need, counts)
    ok = [np.array(wins.get(g.name, ([], []))[0][::-1], dtype=float) for g in groups]
    lat = [np.array(wins.get(g.name, ([], []))[1][::-1], dtype=float) for g in groups]
    return ok, lat


def _ladder_columns(
    df: pd.DataFrame, ok: list[np.ndarray], lat: list[np.ndarray], st: Settings
) -> dict[str, Any]:
    """Sampling level and reason, drift badge and signals of each group of ``df``."""
    keep = st.spc_window + st.spc_recent  # what the badge and the alarms read
    ok, lat = [s[-keep:] for s in ok], [y[-keep:] for y in lat]
    badges = [spc.drift_badge(s, y, settings=st) for s, y in zip(ok, lat, strict=True)]
    alarms = [spc.ladder_alarms(s, y, settings=st) for s, y in zip(ok, lat, strict=True)]
    ladder = [
        spc.sampling_recommendation(
            int(row.count),
            row.success_rate,
            int(row.accept_count),
            int(row.reject_count),
            drift=badge,
            alarms=alarm,
            schema_valid_rate=row.schema_valid_rate,
            completion_rate=getattr(row, "completion_rate", None),
            settings=st,
        )
        for row, (badge, _), alarm in zip(df.itertuples(), badges, alarms, strict=True)
    ]
    return {
        "sampling": [lvl for lvl, _ in ladder],
        "sampling_reason": [why for _, why in ladder],
        "sampling_alarms": pd.Series(alarms, dtype=object),
        "drift": [b for b, _ in badges],
        "drift_signals": pd.Series([sig for _, sig in badges], dtype=object),
    }


def tool_stats(
    con_or_store: Any,
    *,
    tenant: str | None = None,
    since: datetime | date | str | None = None,
    settings: Settings | None = None,
    tenants: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per tool: counts, rates, latency quantiles, pills, control chart, drift, sampling.

    Columns: tool_name, count, success_rate, schema_valid_rate, schema_declared (the registry
    declares an argument schema, or a call broke one), completion_rate (of the runs its calls
    belong to; None without runs), accept_count, reject_count, accept_rate (None without
    reviews), window_calls and p50, p95, avg (arithmetic mean), max (ms) over the newest
    ``spc_stats_window`` calls with a latency, p50_all/p95_all/avg_all/max_all over the whole
    period, success_pill, schema_valid_pill, accept_pill, center/sigma/lcl/ucl (log ms, over the
    newest ``spc_window`` calls), center_ms (geometric mean)/lcl_ms/ucl_ms, rule_fires (fires of
    all rules in that window), flagged_calls (calls with at least one fire), anomaly_count
    (alias of rule_fires, kept for one release), rule_1..rule_4, recent_fires (among its newest
    ``spc_recent``), sampling, sampling_reason, sampling_alarms (list of str, see
    :func:`govlib.analysis.spc.ladder_alarms`), drift, drift_signals (list of str) and sparkline
    (newest ``spc_recent`` latencies, ms). See ``docs/data_model.md``.

    Parameters
    ----------
    con_or_store : a DuckDB connection with ``audit_log``, ``workflow_runs`` and ``workflows``,
        or anything :func:`govlib.analysis.read_path.connect` accepts.
    tenant, since : only calls of this tenant / created at or after this moment (naive = UTC).
    settings : thresholds (default: :func:`govlib.settings.load_settings`).
    tenants : only calls of these tenants (the ones the person looking may see): None = every
        tenant, an empty list = none; with ``tenant`` too, that tenant if it is among them.

    Example:
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE TABLE audit_log AS SELECT 't' AS tenant_id, 'ocr' AS "
        ...     "tool_name, i AS id, 1 AS success, 1 AS schema_valid, 100 + i AS latency_ms, "
        ...     "NULL AS human_verdict, '2026-01-01T00:00:' || lpad(i::VARCHAR, 2, '0') "
        ...     "AS created_at FROM range(40) r(i)")
        >>> tool_stats(con, settings=Settings())[["tool_name", "count", "p50", "sampling"]]
          tool_name  count    p50 sampling
        0       ocr     40  119.5      50%
    """
    con, st = _connect(con_or_store), settings or load_settings()
    params = _filters(con, "audit_log", "created_at", tenant, since, tenants)
    return tool_frame(_group_stats(con, "tool", params, st))


def tool_frame(groups: pd.DataFrame) -> pd.DataFrame:
    """The :func:`tool_stats` table (its columns, in order) from :func:`group_frame`'s (called
    with ``completion`` and ``declared``).

    Example:
        >>> g = GroupRow("ocr", 0, None, None, 0, 0, None, None, None, 0, 0)
        >>> z = [np.zeros(0)]
        >>> list(tool_frame(group_frame([g], z, z, Settings(), completion={})))[:5]
        ['tool_name', 'count', 'success_rate', 'schema_valid_rate', 'schema_declared']
    """
    cols = [*_CALL_COLS[:3], "schema_declared", "completion_rate", *_CALL_COLS[3:]]
    return groups.rename(columns={"name": "tool_name"})[
        ["tool_name", *cols, *_CHART_COLS, *_LADDER_COLS]
    ]


def workflow_stats(
    con_or_store: Any,
    *,
    tenant: str | None = None,
    since: datetime | date | str | None = None,
    settings: Settings | None = None,
    tenants: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per workflow name: the :func:`tool_stats` columns over the calls of its runs
    (without schema_declared and completion_rate per tool), plus run_count, completion_rate
    (share of its runs that are ``completed`` and whose calls all have success = 1; running runs
    count as not completed) and ``duration_*`` columns on run duration (ended_at - started_at,
    ms, finished runs ordered by started_at): duration_window_calls, duration_p50/p95/avg/max
    over the newest ``spc_stats_window`` runs and the chart columns. The drift badge, the
    alarms and the sampling level of a workflow read its runs (completed or not, duration),
    with completion_rate as the ladder's completion signal.

    Calls are filtered on ``tenant``/``tenants``/``since`` via ``audit_log``, runs via
    ``workflow_runs`` (tenant_id, started_at). Parameters as in :func:`tool_stats`.

    Example:
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE TABLE workflows AS SELECT 'w1' AS id, 'claims' AS name; "
        ...     "CREATE TABLE workflow_runs AS SELECT 'r1' AS composition_id, 'w1' AS workflow_id, "
        ...     "'t' AS tenant_id, '2026-01-01T00:00:00Z' AS started_at, '2026-01-01T00:00:02Z' "
        ...     "AS ended_at, 'completed' AS status; CREATE TABLE audit_log AS SELECT 't' AS "
        ...     "tenant_id, 'ocr' AS tool_name, 1 AS id, 'r1' AS composition_id, 1 AS success, 1 AS "
        ...     "schema_valid, 5 AS latency_ms, NULL AS human_verdict, '2026-01-01T00:00:01Z' AS "
        ...     "created_at")
        >>> workflow_stats(con, settings=Settings())[["workflow_name", "run_count", "count"]]
          workflow_name  run_count  count
        0        claims          1      1
    """
    con, st = _connect(con_or_store), settings or load_settings()
    run_params = _filters(con, "workflow_runs", "started_at", tenant, since, tenants)
    runs = pd.DataFrame(
        con.execute(shared_sql("runs"), run_params).fetchall(),
        columns=["name", "run_count", "completion_rate", "finished"],
    ).astype({"name": str})
    call_params = _filters(con, "audit_log", "created_at", tenant, since, tenants)
    calls = _group_stats(con, "workflow", call_params, st, also=runs["name"])
    counts = {g: (n, n) for g, n in zip(runs["name"], runs["finished"], strict=True)}
    wins = _windows(con, "run", run_params, series_need(st), counts)
    done = [np.array(wins.get(g, ([], []))[0][::-1], dtype=float) for g in runs["name"]]
    durations = [durations_ms(wins.get(g, ([], []))[1][::-1]) for g in runs["name"]]
    return workflow_frame(calls, runs, done, durations, st)


def workflow_frame(
    calls: pd.DataFrame,
    runs: pd.DataFrame,
    done: list[np.ndarray],
    durations: list[np.ndarray],
    st: Settings,
) -> pd.DataFrame:
    """The :func:`workflow_stats` table from the call statistics of each workflow
    (:func:`group_frame`), its ``runs`` row (name, run_count, completion_rate, finished), and of
    its newest finished runs (up to :func:`series_need`, oldest first, in ``runs`` order) whether
    each completed (1/0, the ``run`` source's success) and its duration (ms).

    Example:
        >>> runs = pd.DataFrame({"name": ["w"], "run_count": [1], "completion_rate": [1.0],
        ...     "finished": [1]})
        >>> calls = group_frame([GroupRow("w", 0, None, None, 0, 0, None, None, None, 0, 0)],
        ...     [np.zeros(0)], [np.zeros(0)], Settings())
        >>> flows = workflow_frame(calls, runs, [np.ones(1)], [np.array([5.0])], Settings())
        >>> flows[["run_count", "duration_p50"]].values.tolist()
        [[1.0, 5.0]]
    """
    runs = runs.copy()
    _put(runs, _window_columns(durations, st), "duration_")
    _put(runs, _chart_columns(durations, st), "duration_")
    df = calls.drop(columns=_LADDER_COLS).merge(
        runs.drop(columns="finished"), on="name", how="left"
    )
    df["run_count"] = df["run_count"].fillna(0).astype(int)
    by_name = dict(zip(runs["name"], zip(done, durations, strict=True), strict=True))
    empty = (np.zeros(0), np.zeros(0))
    pairs = [by_name.get(name, empty) for name in df["name"]]
    _put(df, _ladder_columns(df, [p[0] for p in pairs], [p[1] for p in pairs], st))
    for col in ("drift_signals", "sampling_alarms"):  # a workflow's "success" is completion
        df[col] = pd.Series([[_run_words(x) for x in v] for v in df[col]], dtype=object)
    dur = [c for c in df.columns if c.startswith("duration_")]
    cols = ["workflow_name", "run_count", "completion_rate", *_CALL_COLS, *_CHART_COLS]
    out = df.rename(columns={"name": "workflow_name"})
    return out[[*cols, *_LADDER_COLS, *dur]].reset_index(drop=True)


def _run_words(signal: str) -> str:
    """A drift signal or alarm about runs in the words of runs (completion, duration)."""
    for calls, runs in (
        ("success: newest", "completion: newest"),
        ("failures: ", "incomplete runs: "),
        ("latency: ", "duration: "),
        ("p95: ", "p95 duration: "),
    ):
        if signal.startswith(calls):
            return runs + signal[len(calls) :]
    return signal


def durations_ms(pairs: list[dict[str, Any]]) -> np.ndarray:
    """Milliseconds between ``s`` and ``e`` of each {s, e} pair (ISO text or datetimes).

    Example:
        >>> durations_ms([{"s": "2026-01-01T00:00:00Z", "e": "2026-01-01T00:00:01.5Z"}]).tolist()
        [1500.0]
    """
    if not pairs:
        return np.zeros(0)
    start = pd.to_datetime([p["s"] for p in pairs], utc=True, format="ISO8601")
    end = pd.to_datetime([p["e"] for p in pairs], utc=True, format="ISO8601")
    return np.asarray((end - start).total_seconds() * 1000.0, dtype=float)


def _chart_frame(df: pd.DataFrame, value: str, log: str, st: Settings) -> pd.DataFrame:
    """Add log value, zone, rule flags and limits (columns in ms, attrs in log space and ms)."""
    logs = np.log(np.maximum(df[value].to_numpy(dtype=float), st.spc_min_latency_ms))
    lim = spc.control_limits(logs)
    df[log] = logs
    df["zone"] = spc.zone(logs, lim.center, lim.sigma)
    flags = spc.western_electric(logs, center=lim.center, sigma=lim.sigma)
    for col in spc.RULES:
        df[col] = flags[col].to_numpy()
    df["any_rule"] = flags.to_numpy().any(axis=1)
    bands = {k: float(np.exp(lim.center + k * lim.sigma)) for k in range(-3, 4)}
    df["center_ms"], df["lcl_ms"], df["ucl_ms"] = bands[0], bands[-3], bands[3]
    df.attrs.update(lim.__dict__, center_ms=bands[0], lcl_ms=bands[-3], ucl_ms=bands[3])
    df.attrs["bands_ms"] = bands  # sigma lines -3..3 in ms for zone shading on a log axis
    return df


def tool_series(
    con_or_store: Any,
    tool: str,
    n: int | None = None,
    *,
    tenant: str | None = None,
    settings: Settings | None = None,
    tenants: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The chart window of one tool: its newest ``n`` calls with a latency (default
    ``spc_window``), oldest first, with id, created_at, latency_ms, log_latency, zone, rule_1..4,
    any_rule and center_ms/lcl_ms/ucl_ms; ``attrs`` hold center/sigma/lcl/ucl (log ms),
    the same in ms and ``bands_ms`` (sigma lines -3..3). ``tenant``/``tenants`` as in
    :func:`tool_stats`.

    Example:
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE TABLE audit_log AS SELECT 't' AS tenant_id, 'ocr' AS "
        ...     "tool_name, i AS id, 100 AS latency_ms, i::VARCHAR AS created_at FROM range(3) r(i)")
        >>> tool_series(con, "ocr", settings=Settings())[["id", "latency_ms", "zone", "any_rule"]]
           id  latency_ms  zone  any_rule
        0   0         100     0     False
        1   1         100     0     False
        2   2         100     0     False
    """
    con, st = _connect(con_or_store), settings or load_settings()
    n = st.spc_window if n is None else n
    who = tenant_params(tenant, tenants)
    rows = con.execute(_TOOL_SERIES, [tool, *who, n]).fetchall()[::-1]
    df = pd.DataFrame(rows, columns=["id", "created_at", "latency_ms"])
    return _chart_frame(df, "latency_ms", "log_latency", st)


def workflow_series(
    con_or_store: Any,
    workflow_name: str,
    n: int | None = None,
    *,
    tenant: str | None = None,
    settings: Settings | None = None,
    tenants: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The run-duration chart window of one workflow: its newest ``n`` finished runs (default
    ``spc_window``), oldest first, with composition_id, started_at, ended_at, status,
    duration_ms, log_duration, zone, rule_1..4, any_rule and limits as in :func:`tool_series`
    (``tenant``/``tenants`` too).

    Example:
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE TABLE workflows AS SELECT 'w1' AS id, 'claims' AS name")
        >>> _ = con.execute("CREATE TABLE workflow_runs AS SELECT 'r1' AS composition_id, 'w1' AS "
        ...     "workflow_id, 't' AS tenant_id, '2026-01-01T00:00:00Z' AS started_at, "
        ...     "'2026-01-01T00:00:02.5Z' AS ended_at, 'completed' AS status")
        >>> workflow_series(con, "claims", settings=Settings())["duration_ms"].tolist()
        [2500.0]
    """
    con, st = _connect(con_or_store), settings or load_settings()
    n = st.spc_window if n is None else n
    who = tenant_params(tenant, tenants)
    rows = con.execute(_RUN_SERIES, [workflow_name, *who, n]).fetchall()[::-1]
    df = pd.DataFrame(rows, columns=["composition_id", "started_at", "ended_at", "status"])
    df["duration_ms"] = durations_ms([{"s": r[1], "e": r[2]} for r in rows])
    return _chart_frame(df, "duration_ms", "log_duration", st)
