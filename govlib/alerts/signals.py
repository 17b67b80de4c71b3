"""What `govlib watch` looks at: the store's state as :class:`~govlib.alerts.rules.Condition` s.

Every figure comes from the functions the pages use (``tool_stats`` for drift badges, pills and
the sampling ladder; the ledger's ``cost_by_*`` for spend; the kill-switch's own state), so an
alert never disagrees with the page it links to. The chain is checked incrementally: the entries
after the last verified one, from its MAC (:func:`chain_since`), and the anchor entry itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import duckdb
import pandas as pd

from govlib.alerts.rules import Alert, Condition, alert_id
from govlib.analysis import spc
from govlib.analysis.stats import tool_stats
from govlib.clock import iso
from govlib.costs.ledger import cost_by_day, cost_by_model, cost_by_workflow
from govlib.evidence.chain import GENESIS_MAC, first_chain_problem
from govlib.evidence.keys import keyring_for
from govlib.settings import Settings
from govlib.store.database import Store

__all__ = [
    "EXECUTIVE_PAGE",
    "SPC_PAGE",
    "chain_since",
    "kill_switch_events",
    "tool_conditions",
    "backlog_condition",
    "budget_conditions",
    "page_url",
    "ingest_errors",
    "ingest_alert",
    "registry_owners",
]

EXECUTIVE_PAGE = "voila/render/executive_spog.ipynb"
SPC_PAGE = "voila/render/spc_dashboard.ipynb"

#: The sampling ladder, least review first (a move to the right is a rise).
SAMPLING_ORDER = ("exception", "5%", "20%", "50%", "100%")

_CHAIN_ROWS = (
    "SELECT seq, CAST(body AS BLOB), prev_mac, mac, json_extract(body, '$.seq'), "
    "json_extract(body, '$.prev_mac'), json_extract(body, '$.key_id') FROM worm_log "
    "WHERE seq > ? ORDER BY seq"
)


def page_url(settings: Settings, page: str, **query: str) -> str:
    """A link to one page of `govlib serve` under ``base_url``.

    Example:
        >>> page_url(Settings(), SPC_PAGE, tool="ocr scan")
        'http://localhost:8866/voila/render/spc_dashboard.ipynb?tool=ocr%20scan'
    """
    url = settings.base_url.rstrip("/") + "/" + page
    if query:
        url += "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
    return url


def chain_since(store: Store, anchor: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check the chain from the last verified entry: ``{ok, seq, mac, bad_seq, reason}``.

    ``anchor`` is ``{"seq", "mac"}`` of the last entry verified (None: from the start). The
    anchor entry must still carry that MAC; each later entry must link to it and carry a valid
    HMAC. On success the returned ``seq``/``mac`` are the new anchor.

    Example:
        >>> from govlib.evidence import worm
        >>> store = Store(memory=True)
        >>> _ = worm.append(store, "note")
        >>> chain_since(store, None)["ok"], chain_since(store, None)["seq"]
        (True, 1)
    """
    seq, mac = (int(anchor["seq"]), str(anchor["mac"])) if anchor else (0, GENESIS_MAC)
    if seq:
        stored = store.query_one("SELECT mac FROM worm_log WHERE seq = ?", (seq,))
        if stored != mac:
            why = "missing" if stored is None else "changed after it was verified"
            return {"ok": False, "seq": seq, "mac": mac, "bad_seq": seq, "reason": f"entry {why}"}
    keys = dict(keyring_for(store).hmac_keys)
    try:
        rows = store.query(_CHAIN_ROWS, (seq,))
    except sqlite3.DatabaseError as exc:
        return {"ok": False, "seq": seq, "mac": mac, "bad_seq": None, "reason": str(exc)}
    rows_t = [tuple(r) for r in rows]
    problem, checked, head = first_chain_problem(
        rows_t, keys, start_prev_mac=mac, start_seq=seq + 1
    )
    if problem is not None:
        return {
            "ok": False,
            "seq": seq,
            "mac": mac,
            "bad_seq": problem.seq,
            "reason": problem.reason,
        }
    return {"ok": True, "seq": seq + checked, "mac": head, "bad_seq": None, "reason": None}


def kill_switch_events(store: Store, after_id: int) -> list[dict[str, Any]]:
    """Kill-switch events after ``after_id`` with the MAC of the entry that recorded each."""
    rows = store.query(
        "SELECT k.id, k.state, k.by, k.reason, k.rule, k.run_id, k.at, k.worm_seq, w.mac "
        "FROM kill_switch_events k LEFT JOIN worm_log w ON w.seq = k.worm_seq "
        "WHERE k.id > ? ORDER BY k.id",
        (after_id,),
    )
    return [dict(r) for r in rows]


def _rank(level: Any) -> int:
    return SAMPLING_ORDER.index(level) if level in SAMPLING_ORDER else -1


def _tool_drift(tool: str, row: Mapping[str, Any], url: str, owner: str | None) -> Condition:
    badge = str(row["drift"])
    signals = "; ".join(row.get("drift_signals") or []) or "no signal fired"
    if badge == "stable":
        summary = f"Tool {tool} is stable again: its newest calls look like its history."
    else:
        summary = f"Tool {tool} drift badge is now {badge.upper()}: {signals}."
    return Condition(
        f"drift:{tool}",
        "drift",
        badge,
        badge == "stable",
        summary,
        url,
        {"calls": int(row["count"]), "signals": signals},
        owner,
        on_name=f"drift_{badge}",
        off_name="drift_stable",
    )


def _tool_pills(tool: str, row: Mapping[str, Any], st: Settings, url: str, owner: str | None):
    rates = {
        "success": row.get("success_rate"),
        "schema_valid": row.get("schema_valid_rate"),
        "acceptance": row.get("accept_rate"),
    }
    for name, rate in rates.items():
        if rate is None or rate != rate:  # no reviews yet (NaN)
            continue
        colour = spc.pill(float(rate), st) or "none"
        red = colour == "red"
        summary = (
            f"Tool {tool}: the {name.replace('_', '-')} pill turned RED ({float(rate):.1%})."
            if red
            else f"Tool {tool}: the {name.replace('_', '-')} pill is {colour} again "
            f"({float(rate):.1%})."
        )
        yield Condition(
            f"pill:{tool}:{name}",
            "pill",
            "red" if red else "ok",
            not red,
            summary,
            url,
            {"rate": round(float(rate), 6), "calls": int(row["count"])},
            owner,
            on_name=f"pill_{name}_red",
            off_name=f"pill_{name}_ok",
        )


def _tool_sampling(
    tool: str, row: Mapping[str, Any], before: Any, url: str, owner: str | None
) -> Condition:
    level = str(row["sampling"])
    alerted = (before or {}).get("state")
    rising = alerted is not None and _rank(level) > _rank(alerted)
    return Condition(
        f"sampling:{tool}",
        "sampling",
        level,
        not rising,
        f"Tool {tool}: review sampling rose from {alerted} to {level} "
        f"({row.get('sampling_reason') or 'see the dashboard'}).",
        url,
        {"calls": int(row["count"]), "from": alerted, "to": level},
        owner,
        on_name="sampling_rose",
        off_name="sampling_settled",
    )


_CALLS = (
    "SELECT id, tenant_id, tool_name, composition_id, success, schema_valid, latency_ms, "
    "human_verdict, created_at FROM audit_log"
)


def _calls_connection(store: Store) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection over the live tool calls, read through the store's own connection.

    Not :func:`govlib.analysis.read_path.connect`: that reads SQLite through a second SQLite
    library (ADBC's) and, in a process that also holds a write connection (the watch), closing
    it would drop this process's POSIX locks on the file (SQLite's "two copies of the library
    in one process" hazard). Sealed calls are not watched: drift concerns the newest calls.
    """
    frame = pd.DataFrame.from_records(
        [tuple(r) for r in store.query(_CALLS)],
        columns=[c.strip() for c in _CALLS.split("FROM")[0].removeprefix("SELECT").split(",")],
    )
    con = duckdb.connect(":memory:")
    con.register("calls_frame", frame)
    con.execute("CREATE TABLE audit_log AS SELECT * FROM calls_frame")
    con.unregister("calls_frame")
    return con


def tool_conditions(
    store: Store,
    settings: Settings,
    previous: Mapping[str, Mapping[str, Any]],
    owners: Mapping[str, str] | None = None,
) -> list[Condition]:
    """Drift badge, success/schema-valid/acceptance pills and sampling level of every tool."""
    con = _calls_connection(store)
    try:
        frame = tool_stats(con, settings=settings)
    finally:
        con.close()
    out: list[Condition] = []
    for row in frame.to_dict("records"):
        tool = str(row["tool_name"])
        owner = (owners or {}).get(tool)
        url = page_url(settings, SPC_PAGE, tool=tool)
        out.append(_tool_drift(tool, row, url, owner))
        out.extend(_tool_pills(tool, row, settings, url, owner))
        out.append(_tool_sampling(tool, row, previous.get(f"sampling:{tool}"), url, owner))
    return out


def backlog_condition(store: Store, settings: Settings, now: datetime) -> Condition:
    """Unreviewed calls older than ``alert_backlog_age_h`` against ``alert_backlog_max``."""
    cutoff = iso(now - timedelta(hours=float(settings.alert_backlog_age_h)))
    count = int(
        store.query_one(
            "SELECT COUNT(*) FROM audit_log WHERE human_verdict IS NULL AND created_at < ?",
            (cutoff,),
        )
    )
    over = count > int(settings.alert_backlog_max)
    hours = float(settings.alert_backlog_age_h)
    summary = (
        f"{count} tool calls older than {hours:g} h wait for review "
        f"(more than {settings.alert_backlog_max})."
        if over
        else f"The review backlog is back under {settings.alert_backlog_max} ({count} calls)."
    )
    return Condition(
        "backlog",
        "backlog",
        "over" if over else "within",
        not over,
        summary,
        page_url(settings, SPC_PAGE),
        {"unreviewed": count, "older_than_h": hours},
        on_name="backlog_over",
        off_name="backlog_within",
    )


def _usd(value: float) -> str:
    """Dollars: cents from $1 up, four decimals below (a $0.03 budget shows $0.0315 spent)."""
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"


def _budget(key: str, what: str, spent: float, limit: float, url: str, day: str) -> Condition:
    over = spent > limit
    summary = (
        f"Spend on {day} for {what} is {_usd(spent)}, above the budget of {_usd(limit)}."
        if over
        else f"Spend on {day} for {what} is {_usd(spent)}, within the budget of {_usd(limit)}."
    )
    return Condition(
        f"budget:{key}:{day}",
        "budget",
        "over" if over else "within",
        not over,
        summary,
        url,
        {"day": day, "spent_usd": round(spent, 6), "budget_usd": limit},
        on_name="budget_exceeded",
        off_name="budget_within",
    )


def budget_conditions(store: Store, settings: Settings, now: datetime) -> list[Condition]:
    """Today's (UTC) spend: in all, per workflow and per model, against the budgets set."""
    day = now.strftime("%Y-%m-%d")
    url = page_url(settings, EXECUTIVE_PAGE)
    out: list[Condition] = []
    if float(settings.alert_budget_day_usd) > 0:
        days = cost_by_day(store, since=day)
        spent = float(days.loc[days["day"] == day, "cost_usd"].sum()) if not days.empty else 0.0
        out.append(
            _budget("day", "all workflows", spent, float(settings.alert_budget_day_usd), url, day)
        )
    for kind, limits, frame_of, column in (
        ("workflow", settings.alert_budget_workflow_usd, cost_by_workflow, "workflow_id"),
        ("model", settings.alert_budget_model_usd, cost_by_model, "model"),
    ):
        if not limits:
            continue
        frame = frame_of(store, since=day)
        spent_by = {str(r[column]): float(r["cost_usd"] or 0) for r in frame.to_dict("records")}
        for name, limit in sorted(limits.items()):
            what = f"{kind} {name}"
            out.append(
                _budget(
                    f"{kind}:{name}", what, spent_by.get(str(name), 0.0), float(limit), url, day
                )
            )
    return out


def ingest_errors(store: Store, after_id: int) -> list[dict[str, Any]]:
    """``ingest_errors`` rows after ``after_id`` (what ingestion refused or could not write)."""
    rows = store.query(
        "SELECT id, at, source, requests, spans, reason FROM ingest_errors WHERE id > ? "
        "ORDER BY id",
        (after_id,),
    )
    return [dict(r) for r in rows]


def ingest_alert(rows: list[Mapping[str, Any]], settings: Settings, raised_at: str) -> Alert:
    """One ``ingest`` alert for a batch of ingestion errors: counts and the top reasons.

    Example:
        >>> rows = [{"id": 1, "at": "t1", "source": "collect /v1/traces", "requests": 40,
        ...          "spans": 0, "reason": "HTTP 400 malformed body"}]
        >>> alert = ingest_alert(rows, Settings(), "t2")
        >>> alert.kind, alert.evidence["requests"], alert.evidence["reasons"]
        ('ingest', 40, ['HTTP 400 malformed body (collect /v1/traces)'])
    """
    requests = sum(int(r["requests"]) for r in rows)
    spans = sum(int(r["spans"]) for r in rows)
    tally: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (str(r["reason"]), str(r["source"]))
        tally[key] = tally.get(key, 0) + max(int(r["requests"]), 1)
    top = sorted(tally.items(), key=lambda kv: -kv[1])[:5]
    reasons = "; ".join(f"{n} x {reason} ({source})" for (reason, source), n in top)
    summary = (
        f"Ingestion refused {requests} request(s) ({spans} span(s) not recorded) since "
        f"{rows[0]['at']}: {reasons}."
    )
    first, last = int(rows[0]["id"]), int(rows[-1]["id"])
    return Alert(
        alert_id("ingest", f"errors:{first}-{last}", str(rows[-1]["at"])),
        "ingest",
        "ingest_refused",
        "ingest",
        summary,
        page_url(settings, EXECUTIVE_PAGE),
        {
            "errors": len(rows),
            "requests": requests,
            "spans": spans,
            "first_id": first,
            "last_id": last,
            "reasons": [f"{reason} ({source})" for (reason, source), _ in top],
        },
        raised_at,
    )


def registry_owners(store: Store) -> dict[str, str]:
    """``tool -> owner`` from ``tool_registry.owner`` (empty for a store of schema < 13)."""
    if "owner" not in {r["name"] for r in store.query("PRAGMA table_info(tool_registry)")}:
        return {}  # a read-only store older than the column
    rows = store.query("SELECT name, owner FROM tool_registry WHERE owner IS NOT NULL")
    return {str(r["name"]): str(r["owner"]) for r in rows}
