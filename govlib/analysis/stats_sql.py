"""The DuckDB SQL behind :mod:`govlib.analysis.stats`, built once from constants.

User values (tenant, since, tool names) only ever travel as ``?`` parameters.
"""

from __future__ import annotations

__all__ = ["SOURCES", "SPAN", "SQL", "RUNS", "TOOL_SERIES", "RUN_SERIES"]

# Each source: grp, k1/k2 = order key (newest = largest), y = the charted value; filters are
# (tenant is None OR tenant matches) AND (since is None OR time >= since), all as ? parameters.
SOURCES = {
    "tool": """SELECT tool_name AS grp, created_at AS k1, id AS k2, success, schema_valid,
 latency_ms AS y, human_verdict FROM audit_log
 WHERE (? OR tenant_id = ?) AND (? OR created_at >= ?)""",
    "workflow": """SELECT w.name AS grp, a.created_at AS k1, a.id AS k2, a.success,
 a.schema_valid, a.latency_ms AS y, a.human_verdict FROM audit_log a
 JOIN workflow_runs r ON r.composition_id = a.composition_id JOIN workflows w ON w.id = r.workflow_id
 WHERE (? OR a.tenant_id = ?) AND (? OR a.created_at >= ?)""",
    "run": """SELECT w.name AS grp, r.started_at AS k1, r.composition_id AS k2,
 NULL::INT AS success, {s: r.started_at, e: r.ended_at} AS y
 FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id
 WHERE r.ended_at IS NOT NULL AND (? OR r.tenant_id = ?) AND (? OR r.started_at >= ?)""",
}
# Cut-off guesses (unfiltered, cheap: min/max of id come from statistics and the id range prunes)
TAIL = """SELECT min(created_at), NULL FROM audit_log
 WHERE id > (SELECT max(id) - ? * (max(id) - min(id) + 1) FROM audit_log)"""
SPAN = {"tool": TAIL, "workflow": TAIL, "run": "SELECT min(started_at), max(started_at), "
         "? FROM workflow_runs"}  # fmt: skip
AGG = """WITH t AS ({src}) SELECT grp, count(*), avg(CAST(success AS DOUBLE)),
 avg(CAST(schema_valid AS DOUBLE)), count(*) FILTER (WHERE human_verdict = 'accept'),
 count(*) FILTER (WHERE human_verdict = 'reject'), quantile_cont(y, [0.5, 0.95]), avg(y), max(y),
 count(success), count(y) FROM t GROUP BY grp ORDER BY grp"""
WIN = """WITH t AS ({src}) SELECT grp,
 max_by(success, (k1, k2), ?) FILTER (WHERE success IS NOT NULL),
 max_by(y, (k1, k2), ?) FILTER (WHERE y IS NOT NULL)
 FROM t WHERE (? OR k1 >= ?) AND (? OR list_contains(?::VARCHAR[], grp)) GROUP BY grp"""
SQL = {  # built once from the constants above; user values only ever travel as ? parameters
    (kind, name): tmpl.replace("{src}", src)
    for kind in SOURCES
    for name, tmpl, src in (("agg", AGG, SOURCES[kind]), ("win", WIN, SOURCES[kind]))
}
RUNS = """WITH bad AS (SELECT DISTINCT composition_id FROM audit_log
 WHERE composition_id IS NOT NULL AND success IS DISTINCT FROM 1)
SELECT w.name, count(*), avg(CASE WHEN r.status = 'completed' AND b.composition_id IS NULL
 THEN 1.0 ELSE 0.0 END), count(r.ended_at)
FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id
LEFT JOIN bad b ON b.composition_id = r.composition_id
WHERE (? OR r.tenant_id = ?) AND (? OR r.started_at >= ?) GROUP BY w.name"""
TOOL_SERIES = """SELECT id, created_at, latency_ms FROM audit_log
WHERE tool_name = ? AND latency_ms IS NOT NULL AND (? OR tenant_id = ?)
ORDER BY created_at DESC, id DESC LIMIT ?"""
RUN_SERIES = """SELECT r.composition_id, r.started_at, r.ended_at, r.status
FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id
WHERE w.name = ? AND r.ended_at IS NOT NULL AND (? OR r.tenant_id = ?)
ORDER BY r.started_at DESC, r.composition_id DESC LIMIT ?"""
