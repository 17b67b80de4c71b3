"""``govlib report``: a self-contained HTML evidence report for an audit committee.

Pure core, thin shell: :func:`report_data` gathers every figure the report shows into one
JSON-able dict, :func:`report_hash` is the SHA-256 of its canonical JSON
(:func:`govlib.evidence.chain.canonical_json`), :func:`govlib.report.page.render_report` formats
it, and :func:`write_report` writes the file.

* **Period**: ``<N>d`` = the N days ending at the newest recorded event in the store (tool call,
  WORM entry, receipt or run) no later than now + ``max_clock_skew_s``, so a report of an
  archived store reads the same whenever it is generated and one far-future record (possible
  only in a store written before :mod:`govlib.bounds`) cannot move the period; the title page
  also shows the generation time.
* **Manifest hash**: SHA-256 of the canonical JSON of the report data. The JSON is embedded in the
  HTML (``<script type="application/json" id="report-data">``, ``<``, ``>`` and ``&`` escaped as
  ``\\u003c`` ...) so anyone can recompute it; see :func:`read_report_data`. The generation time,
  file paths and the govlib version are shown but are not part of the hashed data.
* **Row counts per table** are :meth:`govlib.store.database.Store.counts`, the numbers ``govlib status``
  prints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from govlib import __version__, bounds
from govlib.analysis.evaluations import evaluator_verdict_counts
from govlib.analysis.read_path import SealedReader, connect, has_sealed_rows
from govlib.analysis.review import tenant_condition
from govlib.analysis.stats import tool_stats
from govlib.clock import iso, utc_now_iso
from govlib.costs import ledger
from govlib.errors import GovlibError
from govlib.evidence import checkpoints as cps
from govlib.evidence.chain import canonical_json
from govlib.evidence.keys import PUBKEY_FILE, fingerprint, load_public_key
from govlib.evidence.people import people_names
from govlib.evidence.settings_log import recorded_settings
from govlib.evidence.verify import verify_store
from govlib.governance.governor import KillSwitch, ToolRegistry, latest_rule_outcomes
from govlib.report.page import DATA_ELEMENT_ID, render_report
from govlib.settings import SETTINGS, Settings, load_settings
from govlib.store.database import Store

__all__ = [
    "DATA_ELEMENT_ID",
    "ReportError",
    "data_row_counts",
    "parse_period",
    "read_report_data",
    "report_data",
    "report_hash",
    "write_report",
]

_PERIOD = re.compile(r"([1-9][0-9]{0,3})d")
_MAX_PROBLEMS = 50
_GROUPS = ("pills", "spc", "sampling", "drift")  # settings the figures depend on
# Each ? is the latest time a record may carry (now + max_clock_skew_s). The data-lifecycle entries
# (a seal, a purge, an erasure) and the record of alert deliveries are housekeeping, not
# activity: they do not move the window.
_NEWEST = (
    "SELECT MAX(t) FROM (SELECT MAX(created_at) AS t FROM audit_log WHERE created_at <= ? "
    "UNION ALL SELECT MAX(ts) FROM worm_log WHERE ts <= ? "
    "AND action NOT IN ('segment_sealed', 'segment_purged', 'person_erased', 'alert_sent', "
    "'alert_given_up') "
    "UNION ALL SELECT MAX(created_at) FROM token_ledger WHERE created_at <= ? "
    "UNION ALL SELECT MAX(started_at) FROM workflow_runs WHERE started_at <= ? "
    "UNION ALL SELECT MAX(ended_at) FROM workflow_runs WHERE ended_at <= ?)"
)
_SPC_COLS = tuple(
    "tool_name count success_rate success_pill accept_count reject_count accept_rate accept_pill "
    "p50 p95 anomaly_count rule_1 rule_2 rule_3 rule_4 recent_fires drift drift_signals center "
    "sigma center_ms lcl_ms ucl_ms sparkline".split()
)


class ReportError(GovlibError):
    """The report cannot be made as asked; the message names the input and what was expected.

    Example:
        >>> isinstance(ReportError("period: 'x'"), GovlibError)
        True
    """


def parse_period(period: str) -> int:
    """Days in a ``<N>d`` period (N a whole number from 1 to 9999).

    Example:
        >>> parse_period("30d")
        30
    """
    m = _PERIOD.fullmatch(period.strip()) if isinstance(period, str) else None
    if m is None:
        raise ReportError(
            f"period: {period!r}; expected the form <N>d with N a whole number of days >= 1, "
            "e.g. 7d or 30d"
        )
    return int(m.group(1))


def _plain(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars unwrapped, NaN/inf and NA as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return _plain(value.tolist())  # numpy scalars and arrays
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _records(frame: Any, columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """A DataFrame's rows as plain dicts (optionally only ``columns``)."""
    if columns is not None:
        frame = frame[list(columns)]
    return [_plain(r) for r in frame.astype(object).to_dict(orient="records")]


def _whole(value: Any) -> Any:
    """A float sum of whole numbers as an int (non-finite: as it is, shown as missing)."""
    return int(value) if isinstance(value, float) and math.isfinite(value) else value


def _rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [_plain(dict(r)) for r in store.query(sql, params)]


def _of_runs(column: str, tenants: Sequence[str] | None) -> tuple[str, list[str]]:
    """A condition keeping WORM entries (``column``: their run id) of runs of ``tenants``."""
    who, params = tenant_condition("tenant_id", tenants)
    if tenants is None:
        return "1 = 1", []
    return f"{column} IN (SELECT composition_id FROM workflow_runs WHERE {who})", params  # noqa: S608


def _run_of(store: Store, run_id: str, tenants: Sequence[str] | None) -> bool:
    """Whether ``run_id`` is a run of ``tenants`` (every run when None)."""
    if tenants is None:
        return True
    who, params = tenant_condition("tenant_id", tenants)
    sql = f"SELECT COUNT(*) FROM workflow_runs WHERE composition_id = ? AND {who}"  # noqa: S608
    return bool(store.query_one(sql, (run_id, *params)))


def _rule_figures(store: Store, start: str, tenants: Sequence[str] | None) -> list[dict]:
    """Each rule with its latest outcome and its evaluations in the period (of ``tenants``'
    runs only, when given: the rules themselves are governance-wide)."""
    runs, params = _of_runs("run_id", tenants)
    in_period = {
        r["rule"]: (r["n"], r["fired"])
        for r in store.query(
            "SELECT rule, COUNT(*) AS n, SUM(outcome != 'pass') AS fired FROM worm_log "  # noqa: S608
            f"WHERE action = 'rule_evaluated' AND ts >= ? AND {runs} GROUP BY rule",
            (start, *params),
        )
    }
    latest = {}
    if tenants is not None:
        for e in store.query(
            "SELECT rule, outcome, ts, run_id, detail FROM worm_log "  # noqa: S608
            f"WHERE action = 'rule_evaluated' AND {runs} ORDER BY seq",
            params,
        ):
            latest[e["rule"]] = e
    rules = []
    for r in latest_rule_outcomes(store, proven=False):
        if tenants is not None:
            e = latest.get(r["rule"])
            detail = json.loads(e["detail"]) if e and e["detail"] else {}
            r |= {"latest_outcome": e["outcome"] if e else None, "at": e["ts"] if e else None}
            r |= {"run_id": e["run_id"] if e else None, "message": detail.get("message")}
            r |= {"evaluations": None, "fired": None}  # all-time counts: not per tenant
        n, fired = in_period.get(r["rule"], (0, 0))
        rules.append(_plain(r | {"period_evaluations": n, "period_fired": fired or 0}))
    return rules


def _governance(store: Store, start: str, tenants: Sequence[str] | None = None) -> dict[str, Any]:
    ks = KillSwitch(store).state(proven=False)  # the report states verify's verdict on it
    if ks.run_id is not None and not _run_of(store, ks.run_id, tenants):
        ks = dataclasses.replace(ks, run_id=None)  # another tenant's run is not named
    kill_switch = {k: getattr(ks, k) for k in ("state", "by", "at", "reason", "rule", "run_id")}
    kill_switch["describe"] = ks.describe()
    events = _rows(
        store,
        "SELECT id, state, by, reason, rule, run_id, at, worm_seq FROM kill_switch_events "
        "WHERE at >= ? ORDER BY id",
        (start,),
    )
    for event in events:
        if event["run_id"] is not None and not _run_of(store, event["run_id"], tenants):
            event["run_id"] = None
    names = people_names(store, [e["by"] for e in events])
    for event in events:  # a pseudonym shows as the name, or "erased person"
        event["by"] = names.get(event["by"], event["by"])
    rules = _rule_figures(store, start, tenants)
    who, params = tenant_condition("tenant_id", tenants)
    calls = {
        r["tool_name"]: (r["n"], r["ok"])
        for r in store.query(
            "SELECT tool_name, COUNT(*) AS n, SUM(success) AS ok FROM audit_log "  # noqa: S608
            f"WHERE created_at >= ? AND {who} GROUP BY tool_name",
            (start, *params),
        )
    }
    tools = []
    for t in ToolRegistry(store).all(proven=False):
        n, ok = calls.get(t.name, (0, 0))
        tools.append(
            {"name": t.name, "description": t.description, "risk_tier": t.risk_tier}
            | {"enabled": t.enabled, "has_schema": t.schema is not None}
            | {"updated_at": t.updated_at, "updated_by": t.updated_by, "period_calls": n}
            | {"period_success_rate": (ok or 0) / n if n else None}
        )
    runs, of_runs = _of_runs("run_id", tenants)
    named, of_named = tenant_condition("json_extract(detail, '$.tenant')", tenants)
    refusals = _rows(
        store,
        "SELECT json_extract(detail, '$.reason') AS reason, COUNT(*) AS calls, MAX(ts) AS last_at "  # noqa: S608
        f"FROM worm_log WHERE action = 'call_refused' AND ts >= ? AND ({runs} OR {named}) "
        "GROUP BY 1 ORDER BY 1",
        (start, *of_runs, *of_named),
    )
    return {
        "kill_switch": kill_switch,
        "kill_switch_events": events,
        "rules": rules,
        "tools": tools,
        "refusals": refusals,
    }


def _pinned_fingerprint(store: Store) -> str | None:
    """Fingerprint of the public key ``govlib verify`` pins by default (None: none found)."""
    export = cps.default_export_path(store)
    places = [export.parent / PUBKEY_FILE] if export is not None else []
    places += [store.data_dir / PUBKEY_FILE] if store.data_dir is not None else []
    for place in places:
        if place.is_file():
            try:
                return fingerprint(load_public_key(place))
            except GovlibError:
                return None
    return None


def _verification(store: Store) -> dict[str, Any]:
    result = verify_store(store)
    head = store.query("SELECT seq, mac, ts FROM worm_log ORDER BY seq DESC LIMIT 1")
    problems = [{"seq": p.seq, "reason": p.reason} for p in result.problems]
    return {
        "ok": result.ok,
        "summary": result.summary,
        "bad_seq": result.bad_seq,
        "reason": result.reason,
        "entries": result.entries,
        "chain_head": _plain(dict(head[0])) if head else None,
        "last_checkpoint_seq": result.last_checkpoint_seq,
        "last_checkpoint_at": result.last_checkpoint_at,
        "checkpoints_checked": result.checkpoints_checked,
        "checkpoints_in_store": store.count("worm_checkpoints"),
        "public_key": _pinned_fingerprint(store),
        "problems": problems[:_MAX_PROBLEMS],
        "problems_total": len(problems),
        "notes": list(result.notes),
    }


def _spc(
    store: Store, start: str, settings: Settings, tenants: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    con = connect(store)
    try:
        stats = tool_stats(con, since=start, settings=settings, tenants=tenants)
    finally:
        con.close()
    # The report covers its period: its p50 / p95 are the whole period's, not the newest calls'.
    period = {"p50_all": "p50", "p95_all": "p95"}
    stats = stats.drop(columns=list(period.values())).rename(columns=period)
    rows = _records(stats, _SPC_COLS)
    reasons = _records(stats, ("sampling", "sampling_reason"))
    return [r | s for r, s in zip(rows, reasons, strict=True)]


def _costs(store: Store, start: str, tenants: Sequence[str] | None = None) -> dict[str, Any]:
    # Read through the sealed segments too, so a seal does not change the report's cost figures.
    if not has_sealed_rows(store):
        return _cost_figures(store, start, tenants)
    reader = SealedReader(store)
    try:
        return _cost_figures(reader, start, tenants)
    finally:
        reader.close()


def _cost_figures(store: Any, start: str, tenants: Sequence[str] | None = None) -> dict[str, Any]:
    # TOTAL sums in floating point: no "integer overflow", even in a store written before the
    # bounds; the token sums are whole numbers again below.
    who, params = tenant_condition("tenant_id", tenants)
    total = store.query(
        "SELECT COUNT(*) AS calls, TOTAL(input_tokens) AS input_tokens, "  # noqa: S608
        "TOTAL(output_tokens) AS output_tokens, "
        "TOTAL(cache_read_tokens) + TOTAL(cache_write_tokens) AS cache_tokens, "
        "ROUND(TOTAL(cost_usd), 10) AS cost_usd, "
        "COALESCE(SUM(cost_usd IS NULL), 0) AS unpriced_calls FROM token_ledger "
        f"WHERE created_at >= ? AND {who}",
        (start, *params),
    )[0]
    period = dict(total)
    for key in ("input_tokens", "output_tokens", "cache_tokens"):
        period[key] = _whole(period[key])
    versions = store.query(
        "SELECT DISTINCT price_table_version FROM token_ledger "  # noqa: S608
        f"WHERE created_at >= ? AND {who} ORDER BY 1",
        (start, *params),
    )
    return {
        "period": _plain(period),
        "rolling": _plain(ledger.period_totals(store, tenants=tenants)),
        "by_workflow": _records(ledger.cost_by_workflow(store, since=start, tenants=tenants)),
        "by_model": _records(ledger.cost_by_model(store, since=start, tenants=tenants)),
        "by_day": _records(ledger.cost_by_day(store, since=start, tenants=tenants)),
        "price_table_versions": [r[0] for r in versions],
    }


def report_data(
    store: Store,
    *,
    period: str = "30d",
    settings: Settings | None = None,
    tenants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every figure the report shows, as plain JSON types (the data the manifest hash covers).

    Keys: ``report`` (title, period, start, end, tenants), ``governance``, ``verification``,
    ``spc`` (one row per tool, sampling recommendation included; human verdicts only),
    ``evaluators`` (machine evaluators' verdicts per evaluator and tool or model, shown apart),
    ``costs``, ``thresholds`` (the settings the SPC figures depend on), ``store_counts`` (rows
    per table, as ``govlib status`` counts them).

    With ``tenants`` the report is of those tenants: the SPC figures, the evaluators' verdicts,
    the costs, the calls per registered tool, the refusals and the rules' outcomes count only
    their calls, runs and receipts. The kill-switch, the registry and the rules themselves, the
    verification and the store counts are the whole store's (the chain is verified whole).

    Example:
        >>> report_data(Store(memory=True), period="7d")["store_counts"]["audit_log"]
        0
    """
    days = parse_period(period)
    if tenants is not None:
        if isinstance(tenants, str) or not tenants or not all(isinstance(t, str) for t in tenants):
            raise ReportError(f"tenants: {tenants!r:.60}; expected one tenant name or more")
        tenants = sorted(set(tenants))
    st = settings or load_settings(store.data_dir)
    latest = iso(bounds.latest_time(bounds.skew_seconds(store.data_dir)))
    newest = store.query_one(_NEWEST, (latest,) * 5)
    end = newest if isinstance(newest, str) else utc_now_iso()
    try:
        moment = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"store: newest event time {end!r}; expected ISO-8601 UTC") from None
    start = iso(moment - timedelta(days=days))
    return {
        "report": {
            "title": "AI governance evidence report",
            "period": f"{days}d",
            "days": days,
            "start": start,
            "end": end,
            "end_basis": "newest recorded event" if newest else "generation time (empty store)",
            "tenants": tenants,
        },
        "governance": _governance(store, start, tenants),
        "verification": _verification(store),
        "spc": _spc(store, start, st, tenants),
        "evaluators": [
            _plain(r) for r in evaluator_verdict_counts(store, since=start, tenants=tenants)
        ],
        "costs": _costs(store, start, tenants),
        "thresholds": {s.name: getattr(st, s.name) for s in SETTINGS if s.group in _GROUPS},
        "settings_version": recorded_settings(store, st).describe(),
        "store_counts": store.counts(),
    }


def report_hash(data: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the report data: the manifest hash.

    Example:
        >>> report_hash({"a": 1})[:12]
        '015abd7f5cc5'
    """
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def data_row_counts(data: dict[str, Any]) -> dict[str, int]:
    """Rows of every list in the report data, by dotted path (what the manifest prints).

    Example:
        >>> data_row_counts({"spc": [1, 2], "costs": {"by_day": [1]}})
        {'costs.by_day': 1, 'spc': 2}
    """
    out: dict[str, int] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, list):
            out[path] = len(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))

    walk(data, "")
    return dict(sorted(out.items()))


def read_report_data(html_text: str) -> tuple[dict[str, Any], str, str]:
    """The embedded data of a report, the hash it states and the hash recomputed from the data.

    A report is intact when the two hashes are equal.

    Example:
        >>> read_report_data("<p>no data</p>")
        Traceback (most recent call last):
        ...
        govlib.report.contents.ReportError: report: no <script id="report-data"> element; expected a govlib report
    """
    m = re.search(
        rf'<script type="application/json" id="{DATA_ELEMENT_ID}"[^>]*'
        r'data-sha256="([0-9a-f]{64})">(.*?)</script>',
        html_text,
        re.S,
    )
    if m is None:
        raise ReportError(
            f'report: no <script id="{DATA_ELEMENT_ID}"> element; expected a govlib report'
        )
    data = json.loads(m.group(2))
    return data, m.group(1), report_hash(data)


def write_report(
    store: Store,
    *,
    period: str = "30d",
    out: str | os.PathLike[str] | None = None,
    tenants: Sequence[str] | None = None,
) -> Path:
    """Write the HTML evidence report; returns its path (default ``DIR/report.html``); with
    ``tenants``, of those tenants only (see :func:`report_data`).

    Example:
        >>> import tempfile
        >>> path = write_report(Store(memory=True), out=Path(tempfile.mkdtemp()) / "r.html")
        >>> path.read_text().startswith("<!DOCTYPE html>")
        True
    """
    parse_period(period)  # a bad period fails before any work
    if out is None:
        if store.data_dir is None:
            raise ReportError("out: None; an in-memory store needs an output file (--out FILE)")
        out = store.data_dir / "report.html"
    target = Path(out)
    if target.is_dir():
        raise ReportError(f"out: {target} is a folder; expected a file name such as report.html")
    data = report_data(store, period=period, tenants=tenants)
    meta = {
        "generated_at": utc_now_iso(),
        "store": str(store.path) if store.path is not None else "(in-memory store)",
        "govlib_version": __version__,
        "sha256": report_hash(data),
        "data_rows": data_row_counts(data),
    }
    page = render_report(data, meta)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, target)
    return target
