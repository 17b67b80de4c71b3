"""The statistics over a partitioned lake, by DuckDB on one machine or by Spark on a cluster.

A lake is either a data dir (``DIR/lake/`` written by ``govlib export`` plus the sealed segments of
``DIR/archive/``) or a shared lake that several stores export into (``govlib export --lake``):
``<table>/store_id=<id>/tenant=<t>/day=<d>/*.parquet`` and ``sealed/store_id=<id>/<table>/``.

Each engine only lists files and registers them as the ``raw_*`` relations of :data:`RAW` (missing
columns as NULL or the data dir's store id); the same SQL text (:data:`VIEWS`) then makes the
``audit_log``, ``workflow_runs``, ``workflows`` and ``tool_registry`` views the statistics read,
with every key prefixed by its store id so stores never collide. From there DuckDB runs
:func:`govlib.analysis.stats.tool_stats` itself and Spark runs the same SQL
(:func:`govlib.analysis.stats.shared_sql`) and the same rule pass
(:func:`govlib.analysis.stats.group_frame`, in ``applyInPandas``): one definition, two engines.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from govlib.analysis import stats
from govlib.analysis.export import SEALED_DIRNAME
from govlib.analysis.read_path import PART, read_watermark
from govlib.errors import GovlibError, checked_text
from govlib.evidence.archive import segment_files
from govlib.settings import Settings, load_settings
from govlib.store.database import STORE_FILENAME, read_only_connection
from govlib.store.datadir import read_store_id

__all__ = [
    "ENGINES",
    "FORMATS",
    "RAW",
    "VIEWS",
    "LakeSource",
    "lake_source",
    "duckdb_lake",
    "lake_stats",
    "spark_session",
    "spark_lake_stats",
    "write_stats",
    "read_stats_table",
]

ENGINES = ("duckdb", "spark")
FORMATS = ("table", "csv", "json", "parquet")

_CALLS = {
    "id": "BIGINT",
    "tenant_id": "STRING",
    "tool_name": "STRING",
    "composition_id": "STRING",
    "success": "BIGINT",
    "schema_valid": "BIGINT",
    "latency_ms": "DOUBLE",
    "created_at": "STRING",
    "store_id": "STRING",
}
_RUNS = {
    c: "STRING"
    for c in (
        "composition_id",
        "workflow_id",
        "tenant_id",
        "started_at",
        "ended_at",
        "status",
        "store_id",
    )
}
#: How a column is stored in the lake's files where that differs from how it is read.
_FILE_TYPES = {"latency_ms": "BIGINT"}
#: The relations an engine registers from files: name -> (lake table, columns and types).
RAW: dict[str, tuple[str, dict[str, str]]] = {
    "raw_calls": ("audit_log", _CALLS),
    "raw_verdicts": (
        "audit_verdicts",
        {"id": "BIGINT", "human_verdict": "STRING", "store_id": "STRING"},
    ),
    "raw_sealed_calls": ("sealed:audit_log", {**_CALLS, "human_verdict": "STRING"}),
    "raw_runs": ("workflow_runs", _RUNS),
    "raw_sealed_runs": ("sealed:workflow_runs", _RUNS),
    "raw_workflows": ("workflows", {"id": "STRING", "name": "STRING", "store_id": "STRING"}),
    "raw_tool_registry": (
        "tool_registry",
        {"name": "STRING", "input_schema": "STRING", "store_id": "STRING"},
    ),
}
_CALL_SELECT = """CAST(a.id AS BIGINT) AS id, a.tenant_id, a.tool_name,
 a.store_id || ':' || a.composition_id AS composition_id, a.success, a.schema_valid,
 a.latency_ms, {verdict} AS human_verdict, a.created_at, a.store_id"""
_RUN_SELECT = """r.store_id || ':' || r.composition_id AS composition_id,
 r.store_id || ':' || r.workflow_id AS workflow_id, r.tenant_id, r.started_at, r.ended_at,
 r.status, r.store_id"""
#: The views the statistics read, one SQL text for both engines (``CREATE OR REPLACE TEMPORARY
#: VIEW <name> AS <text>``): keys prefixed by the store id, lake rows with their live verdicts.
VIEWS: dict[str, str] = {
    "audit_log": f"""SELECT {_CALL_SELECT.format(verdict="v.human_verdict")} FROM raw_calls a
 LEFT JOIN raw_verdicts v ON v.store_id = a.store_id AND v.id = a.id
 UNION ALL SELECT {_CALL_SELECT.format(verdict="a.human_verdict")} FROM raw_sealed_calls a""",
    "workflow_runs": f"""SELECT {_RUN_SELECT} FROM raw_runs r
 UNION ALL SELECT {_RUN_SELECT} FROM raw_sealed_runs r""",
    "workflows": "SELECT w.store_id || ':' || w.id AS id, w.name, w.store_id FROM raw_workflows w",
    "tool_registry": "SELECT t.name, t.input_schema, t.store_id FROM raw_tool_registry t",
}


@dataclass(frozen=True)
class LakeSource:
    """Where a lake's files are: per :data:`RAW` table, a list of (file or folder, the store id
    to fill in when the files lack the column, or None)."""

    root: str
    files: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)


def _visible(path: Path, root: Path) -> bool:
    """Not inside a staging or hidden folder (``.store_id=...new``, ``_tmp``)."""
    return not any(p.startswith((".", "_")) for p in path.relative_to(root).parts)


def _parquet_under(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.rglob("*.parquet") if _visible(f, folder))


def lake_source(path: str | os.PathLike[str]) -> LakeSource:
    """The files of a lake: a data dir (its ``lake/`` and sealed segments) or a shared lake
    folder. A ``scheme://`` address (a cluster's object store) is kept as folders for Spark.

    Example:
        >>> import tempfile
        >>> lake_source(tempfile.mkdtemp()).files["raw_calls"]
        []
    """
    text = os.fspath(path)
    if "://" in text:
        base = text.rstrip("/")
        files: dict[str, list[tuple[str, str | None]]] = {}
        for raw, (table, _cols) in RAW.items():
            sealed = table.startswith("sealed:")
            where = f"{base}/{SEALED_DIRNAME}/*/{table[7:]}" if sealed else f"{base}/{table}"
            files[raw] = [(where, None)]
        return LakeSource(base, files)
    base = Path(path)
    if not base.is_dir():
        raise GovlibError(f"--lake: {text!r} is not a folder; expected a data dir or a lake")
    data_dir = (base / "lake").is_dir() or (base / STORE_FILENAME).exists()
    root = base / "lake" if data_dir else base
    store_id = read_store_id(base) if data_dir else None
    marks = read_watermark(base) if data_dir else {}
    files = {}
    for raw, (table, _cols) in RAW.items():
        if table.startswith("sealed:"):
            files[raw] = (
                _data_dir_sealed(base, table[7:], store_id)
                if data_dir
                else [(str(f), None) for f in _shared_sealed(root, table[7:])]
            )
        else:
            found = _parquet_under(root / table)
            if data_dir and table in marks:  # files past the watermark: a crashed export's
                found = [f for f in found if not _past(f, marks[table])]
            files[raw] = [(str(f), store_id) for f in found]
    return LakeSource(str(root), files)


def _past(path: Path, last: int) -> bool:
    m = PART.search(path.name)
    return m is not None and int(m.group(1)) > last


def _shared_sealed(root: Path, table: str) -> list[Path]:
    folder = root / SEALED_DIRNAME
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.glob(f"*/{table}/*.parquet") if _visible(f, folder))


def _data_dir_sealed(base: Path, table: str, store_id: str | None) -> list[tuple[str, str | None]]:
    if not (base / "archive").is_dir() or not (base / STORE_FILENAME).exists():
        return []
    conn, _access, _why = read_only_connection(base / STORE_FILENAME)
    with closing(conn):
        parts = segment_files(base, conn).get(table, [])
    return [(str(p), store_id or "") for p, _digest in parts]


# --- DuckDB ---------------------------------------------------------------------------------------
def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _conformed(columns: dict[str, str], have: set[str], fill: str | None) -> str:
    """The select list giving exactly ``columns`` (missing ones NULL, or the store id)."""
    out = []
    for name, kind in columns.items():
        if name in have:
            value = f"CAST({name} AS {kind})"
            if name == "store_id" and fill:
                value = f"coalesce({value}, {_quote(fill)})"
        elif name == "store_id" and fill is not None:
            value = _quote(fill)
        else:
            value = f"CAST(NULL AS {kind})"
        out.append(f"{value} AS {name}")
    return ", ".join(out)


def _duck_raw(con: duckdb.DuckDBPyConnection, name: str, source: LakeSource) -> None:
    columns = RAW[name][1]
    parts = []
    by_fill: dict[str | None, list[str]] = {}
    for path, fill in source.files.get(name, []):
        by_fill.setdefault(fill, []).append(path)
    for fill, paths in by_fill.items():
        listed = ", ".join(_quote(p) for p in paths)
        scan = f"read_parquet([{listed}], union_by_name=true, hive_partitioning=false)"
        have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
        parts.append(f"SELECT {_conformed(columns, have, fill)} FROM {scan}")
    if not parts:
        parts = [f"SELECT {_conformed(columns, set(), None)} WHERE false"]
    con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {' UNION ALL '.join(parts)}")


def duckdb_lake(path: str | os.PathLike[str] | LakeSource) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the :data:`VIEWS` over a lake.

    Example:
        >>> import tempfile
        >>> con = duckdb_lake(tempfile.mkdtemp())
        >>> con.execute("SELECT count(*) FROM audit_log").fetchone()
        (0,)
    """
    source = path if isinstance(path, LakeSource) else lake_source(path)
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")  # stdout is the CLI's (JSON, CSV)
    for name in RAW:
        _duck_raw(con, name, source)
    for name, text in VIEWS.items():
        con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {text}")
    return con


def lake_stats(
    path: str | os.PathLike[str],
    *,
    engine: str = "duckdb",
    master: str | None = None,
    tenant: str | None = None,
    settings: Settings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(tool_stats, workflow_stats)`` over a lake, computed by DuckDB or Spark.

    Parameters
    ----------
    path : a data dir, a shared lake folder, or (Spark) a ``scheme://`` lake address.
    engine : ``duckdb`` (this machine) or ``spark`` (``master``; default: spark-submit's, or
        ``local[*]``).
    tenant : only this tenant's calls and runs.
    settings : thresholds (default: :func:`govlib.settings.load_settings`).

    Example:
        >>> import tempfile
        >>> tools, flows = lake_stats(tempfile.mkdtemp(), settings=Settings())
        >>> len(tools), list(tools)[:2]
        (0, ['tool_name', 'count'])
    """
    if engine not in ENGINES:
        raise GovlibError(f"--engine: {engine!r}; expected one of {', '.join(ENGINES)}")
    checked_text("tenant", tenant)
    st = settings or load_settings()
    if engine == "spark":
        session = spark_session(master)
        return spark_lake_stats(session, lake_source(path), tenant=tenant, settings=st)
    if master is not None:
        raise GovlibError(f"--master: {master!r}; only --engine spark takes a master")
    con = duckdb_lake(path)
    try:
        tools = stats.tool_stats(con, tenant=tenant, settings=st)
        flows = stats.workflow_stats(con, tenant=tenant, settings=st)
    finally:
        con.close()
    return tools, flows


# --- Spark -----------------------------------------------------------------------------------------
def spark_session(
    master: str | None = None, app_name: str = "govlib-stats", conf: dict[str, str] | None = None
) -> Any:
    """The Spark session the statistics run in (created once per process, then reused).

    ``master``: None leaves it to ``spark-submit --master`` (or Spark's default, ``local[*]``).
    Python workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise; times are UTC;
    ``conf`` adds Spark settings (only a new session takes them).

    Example:
        >>> spark_session("local[1]").conf.get("spark.sql.session.timeZone")  # doctest: +SKIP
        'UTC'
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise GovlibError(
            "--engine spark: pyspark is not installed; expected `pip install 'govlib[spark]'` "
            "(and Java 17: `apt-get install openjdk-17-jre-headless`)"
        ) from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in {**_SPARK_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    if master and master.startswith(
        "local"
    ):  # a few cores: a few shuffle partitions (a cluster sets its own)
        builder = builder.config("spark.sql.shuffle.partitions", str(os.cpu_count() or 2))
    return builder.getOrCreate()


_SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def _spark_raw(spark: Any, name: str, source: LakeSource) -> None:
    from pyspark.sql import functions as F  # noqa: N812 - pyspark's own spelling

    columns = RAW[name][1]
    frames = []
    by_fill: dict[str | None, list[str]] = {}
    for path, fill in source.files.get(name, []):
        by_fill.setdefault(fill, []).append(path)
    # A declared schema: no job to infer one, and a column a file lacks reads as NULL.
    ddl = ", ".join(f"{col} {_FILE_TYPES.get(col, kind)}" for col, kind in columns.items())
    for fill, paths in by_fill.items():
        try:
            df = spark.read.schema(ddl).option("recursiveFileLookup", "true").parquet(*paths)
        except Exception as exc:  # noqa: BLE001 - an absent folder of an object store
            if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
                continue
            raise
        cols = []
        for col, kind in columns.items():
            value = F.col(col).cast(kind)
            if col == "store_id" and fill is not None:
                value = F.coalesce(value, F.lit(fill))
            cols.append(value.alias(col))
        frames.append(df.select(*cols))
    if not frames:
        ddl = ", ".join(f"{col} {kind}" for col, kind in columns.items())
        frames = [spark.createDataFrame([], ddl)]
    out = frames[0]
    for more in frames[1:]:
        out = out.unionByName(more)
    out.createOrReplaceTempView(name)


def register_spark_lake(spark: Any, source: LakeSource) -> None:
    """Register a lake's :data:`RAW` relations and :data:`VIEWS` in a Spark session; the views
    are cached (read once for the queries of the two tables)."""
    for name in VIEWS:
        if spark.catalog.tableExists(name):
            spark.catalog.uncacheTable(name)
    for name in RAW:
        _spark_raw(spark, name, source)
    for name, text in VIEWS.items():
        spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {text}")
        spark.sql(f"CACHE LAZY TABLE {name}")


def spark_lake_stats(
    spark: Any, source: LakeSource, *, tenant: str | None = None, settings: Settings | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(tool_stats, workflow_stats)`` over a lake computed by Spark: the aggregations are
    :func:`govlib.analysis.stats.shared_sql` in Spark's spelling, the rule pass runs per group
    in ``applyInPandas`` through :func:`govlib.analysis.stats.group_frame`.

    Example:
        >>> spark_lake_stats(spark_session(), lake_source("lake"))  # doctest: +SKIP
    """
    st = settings or load_settings()
    register_spark_lake(spark, source)
    params = [*stats.tenant_params(tenant), True, None]
    tools = stats.tool_frame(_spark_groups(spark, "tool", params, st))
    runs = pd.DataFrame(
        [
            tuple(r)
            for r in spark.sql(stats.shared_sql("runs", dialect="spark"), args=params).collect()
        ],
        columns=["name", "run_count", "completion_rate", "finished"],
    ).astype({"name": str})
    calls = _spark_groups(spark, "workflow", params, st, also=runs["name"])
    runs = runs.sort_values("name").reset_index(drop=True)
    done, durations = _spark_run_series(spark, params, list(runs["name"]), st)
    return tools, stats.workflow_frame(calls, runs, done, durations, st)


def _spark_run_series(
    spark: Any, params: list[Any], names: list[str], st: Settings
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per workflow of ``names``: whether each of its newest finished runs completed (1/0) and
    their durations (ms), oldest first, from the shared ``ranked`` SQL over the ``run`` source."""
    need = stats.series_need(st)
    ranked = spark.sql(stats.shared_sql("ranked", "run", "spark"), args=[*params, need, need])
    oks: dict[str, list[tuple[Any, ...]]] = {}
    pairs: dict[str, list[tuple[Any, ...]]] = {}
    for r in ranked.select("grp", "rs", "success", "ry", "y.s", "y.e").collect():
        if r[1] is not None and r[1] <= need:
            oks.setdefault(r[0], []).append((r[1], r[2]))
        if r[3] is not None and r[3] <= need:
            pairs.setdefault(r[0], []).append((r[3], r[4], r[5]))
    done = [  # oldest first: highest rank first
        np.array([s for _, s in sorted(oks.get(g, []), reverse=True)], dtype=float) for g in names
    ]
    durations = [
        stats.durations_ms([{"s": s, "e": e} for _, s, e in sorted(pairs.get(g, []), reverse=True)])
        for g in names
    ]
    return done, durations


def _spark_tool_facts(spark: Any, params: list[Any]) -> tuple[dict[str, float], set[str]]:
    """What :func:`stats.group_frame` takes for tools: completion rate per tool (the shared
    ``tool_completion`` SQL) and the names declaring a schema (``schema_declared``, when the
    lake has a tool registry)."""
    text = stats.shared_sql("tool_completion", dialect="spark")
    completion = {r[0]: r[1] for r in spark.sql(text, args=params).collect()}
    declared: set[str] = set()
    if spark.catalog.tableExists("tool_registry"):
        text = stats.shared_sql("schema_declared", dialect="spark")
        declared = {r[0] for r in spark.sql(text).collect()}
    return completion, declared


def _frame_schema(st: Settings, facts: dict[str, Any]) -> tuple[str, list[str]]:
    """The Spark schema of one :func:`stats.group_frame` row (with ``facts``: the tools'
    ``completion`` and ``declared``) and its non-numeric columns (sent as JSON text: lists,
    None and text survive the trip exactly)."""
    one = np.array([1.0, 0.0, 1.0])
    sample = stats.group_frame(
        [stats.GroupRow("x", 3, 1.0, 1.0, 1, 0, [1.0, 1.0], 1.0, 1.0, 3, 3)],
        [one],
        [one],
        st,
        **facts,
    )
    fields, as_json = [], []
    for col, dtype in sample.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            kind = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "bigint"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "double"
        else:
            kind = "string"
            as_json.append(str(col))
        fields.append(f"`{col}` {kind}")
    return ", ".join(fields), as_json


def _encoded(frame: pd.DataFrame, as_json: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for col in as_json:
        out[col] = [json.dumps(_plain(v)) for v in frame[col]]
    return out


def _spark_groups(
    spark: Any, kind: str, params: list[Any], st: Settings, also: Any = ()
) -> pd.DataFrame:
    """:func:`stats.group_frame` of every group of ``kind``: counts by the shared ``agg`` SQL,
    the newest rows by the ``ranked`` SQL, the rule pass per group in ``applyInPandas``."""
    rows = spark.sql(stats.shared_sql("agg", kind, "spark"), args=params).collect()
    groups = stats.complete_groups([stats.GroupRow(*tuple(r)) for r in rows], also)
    by_name = {g.name: g for g in groups}
    need = stats.series_need(st)
    facts: dict[str, Any] = {}
    if kind == "tool":
        completion, declared = _spark_tool_facts(spark, params)
        facts = {"completion": completion, "declared": declared}
    schema, as_json = _frame_schema(st, facts)

    def rule_pass(pdf: pd.DataFrame) -> pd.DataFrame:
        ok = pdf[pdf["rs"] <= need].sort_values("rs", ascending=False)["success"]
        lat = pdf[pdf["ry"] <= need].sort_values("ry", ascending=False)["y"]
        group = by_name[str(pdf["grp"].iloc[0])]
        frame = stats.group_frame([group], [ok.to_numpy(float)], [lat.to_numpy(float)], st, **facts)
        return _encoded(frame, as_json)

    ranked = spark.sql(stats.shared_sql("ranked", kind, "spark"), args=[*params, need, need])
    done = ranked.groupBy("grp").applyInPandas(rule_pass, schema).toPandas()
    for col in as_json:
        done[col] = pd.Series([json.loads(v) for v in done[col]], dtype=object)
    rest = [g for g in groups if g.name not in set(done["name"])]
    empty = [np.zeros(0)] * len(rest)
    frames = [done] + ([stats.group_frame(rest, empty, empty, st, **facts)] if rest else [])
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else done
    order = {g.name: i for i, g in enumerate(groups)}
    return df.sort_values("name", key=lambda c: c.map(order)).reset_index(drop=True)


# --- output ---------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars and arrays as Python, NaN as None."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and value != value:
        return None
    return value


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def write_stats(
    tools: pd.DataFrame,
    flows: pd.DataFrame,
    fmt: str,
    out: str | os.PathLike[str] | None = None,
) -> str:
    """The two tables as ``table``/``csv``/``json`` text, or (``parquet``, and any format with
    ``out``) written to ``out``: Parquet makes a folder with ``tools.parquet`` and
    ``workflows.parquet`` (what the ``stats_table`` setting points the dashboards at).

    Example:
        >>> tools = pd.DataFrame({"tool_name": ["ocr"], "count": [3]})
        >>> write_stats(tools, tools.iloc[:0], "json")
        '{"tools": [{"tool_name": "ocr", "count": 3}], "workflows": []}'
    """
    if fmt not in FORMATS:
        raise GovlibError(f"--format: {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise GovlibError("--out: missing; --format parquet writes a folder, give its path")
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        for name, df in (("tools", tools), ("workflows", flows)):
            table = pa.Table.from_pylist(_records(df))
            pq.write_table(table, folder / f"{name}.parquet")
        return f"Wrote {len(tools)} tools and {len(flows)} workflows to {folder}"
    if fmt == "json":
        text = json.dumps({"tools": _records(tools), "workflows": _records(flows)})
    elif fmt == "csv":
        text = "\n".join(
            [
                f"# {name}\n" + df.to_csv(index=False)
                for name, df in (("tools", tools), ("workflows", flows))
            ]
        )
    else:
        text = _table_text(tools, flows)
    if out is not None:
        Path(out).write_text(text + "\n", encoding="utf-8")
        return f"Wrote {len(tools)} tools and {len(flows)} workflows to {out}"
    return text


def _table_text(tools: pd.DataFrame, flows: pd.DataFrame) -> str:
    """Both tables as text: every column holding one value per row (lists such as sparklines
    are left to the other formats)."""

    def scalar(df: pd.DataFrame) -> pd.DataFrame:
        lists = [c for c in df.columns if df[c].map(lambda v: isinstance(v, list)).any()]
        return df.drop(columns=lists)

    shown = {"Tools": scalar(tools), "Workflows": scalar(flows)}
    return "\n\n".join(
        f"{title}\n{df.to_string(index=False, line_width=200)}" for title, df in shown.items()
    )


def read_stats_table(path: str | os.PathLike[str], kind: str) -> pd.DataFrame:
    """A stats table computed elsewhere (``govlib stats --format parquet --out PATH``): ``kind``
    is ``tools`` or ``workflows``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> tools = pd.DataFrame({"tool_name": ["ocr"], "count": [3]})
        >>> _ = write_stats(tools, tools, "parquet", folder)
        >>> read_stats_table(folder, "tools")["count"].tolist()
        [3]
    """
    if kind not in ("tools", "workflows"):
        raise GovlibError(f"kind: {kind!r}; expected tools or workflows")
    file = Path(path) / f"{kind}.parquet"
    if not file.is_file():
        raise GovlibError(
            f"stats_table: {os.fspath(path)!r} has no {kind}.parquet; expected a folder written "
            "by `govlib stats --format parquet --out PATH`"
        )
    return pd.DataFrame(pq.read_table(file).to_pylist())  # lists stay lists, nulls None
