"""Writing bindings: new governed rows bound as they are written, older stores' rows once.

:func:`append_bound` appends the entry that binds rows just written (with ``worm_seq`` set to
:func:`~govlib.evidence.bindings.next_seq`); before the first binding in a store written by an
older govlib it runs :func:`upgrade_bindings`.


A store written by govlib before schema version 2 holds kill-switch events, runs, node runs,
rules, registry entries and verdict events with no binding. On the first governed write, those
rows that agree with the WORM entries that already describe them (a ``kill_switch_reset`` entry
with the same person, reason and time; the ``run_finished`` entry with the same status and
summary; ...) are bound by one ``bindings_upgraded`` entry per table. A row that no entry
describes (for example a reset forged before the upgrade) is never bound: ``verify`` keeps
reporting it as unproven, and decisions that read it fail closed.

The agreement tests are pure (:func:`agreeing_keys`); :func:`upgrade_bindings` is the shell.
Columns that no earlier entry recorded (a rule's condition, a tool's description) cannot be
checked this way: the upgrade binds them as they are, which ``docs/security.md`` states.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from govlib.evidence import worm
from govlib.evidence.bindings import (
    GOVERNED,
    BindingError,
    GovernedTable,
    binding,
    checked_rows,
    governed,
    has_bindings,
    next_seq,
    store_row_digests,
)
from govlib.store.database import Store

__all__ = [
    "UpgradeReport",
    "agreeing_keys",
    "append_bound",
    "binding_seq",
    "proven_rows",
    "ensure_upgraded",
    "upgrade_bindings",
]

Entry = Mapping[str, Any]  # seq, ts, run_id, node, action, rule, outcome, detail (parsed)


@dataclass
class UpgradeReport:
    """What an upgrade bound and what it left unbound, per table."""

    bound: dict[str, int] = field(default_factory=dict)
    unbound: dict[str, list[str]] = field(default_factory=dict)

    @property
    def upgraded(self) -> bool:
        """True when the upgrade wrote anything."""
        return bool(self.bound or self.unbound)


def _by_seq(entries: Iterable[Entry]) -> dict[int, Entry]:
    return {int(e["seq"]): e for e in entries}


def _detail(entry: Entry) -> Mapping[str, Any]:
    d = entry.get("detail")
    return d if isinstance(d, Mapping) else {}


def _kill_switch_agrees(row: Mapping[str, Any], entries: Mapping[int, Entry]) -> bool:
    e = entries.get(row.get("worm_seq") or -1)
    action = "kill_switch_triggered" if row["state"] == "triggered" else "kill_switch_reset"
    return bool(
        e
        and e["action"] == action
        and _detail(e).get("by") == row["by"]
        and _detail(e).get("reason") == row["reason"]
        and e["ts"] == row["at"]
        and e.get("rule") == row["rule"]
        and e.get("run_id") == row["run_id"]
    )


def _verdict_agrees(row: Mapping[str, Any], entries: Mapping[int, Entry]) -> bool:
    e = entries.get(row.get("worm_seq") or -1)
    action = "verdict_stamped" if row["kind"] == "stamp" else "verdict_corrected"
    d = _detail(e) if e else {}
    return bool(
        e
        and e["action"] == action
        and d.get("audit_id") == row["audit_id"]
        and d.get("verdict") == row["verdict"]
        and d.get("by") == row["verdict_by"]
        and d.get("at") == row["verdict_at"]
        and d.get("previous") == row["previous_verdict"]
    )


def _latest(entries: Iterable[Entry], key: Callable[[Entry], Any]) -> dict[Any, Entry]:
    out: dict[Any, Entry] = {}
    for e in sorted(entries, key=lambda e: int(e["seq"])):
        out[key(e)] = e
    return out


def agreeing_keys(table: str, rows: list[dict[str, Any]], entries: list[Entry]) -> set[str]:
    """Keys of the rows of ``table`` that agree with the entries describing them (pure).

    Example:
        >>> row = {"id": 1, "state": "reset", "by": "Dana", "reason": "ok", "rule": None,
        ...        "run_id": None, "at": "t", "worm_seq": 4}
        >>> e = {"seq": 4, "action": "kill_switch_reset", "ts": "t", "rule": None,
        ...      "run_id": None, "detail": {"by": "Dana", "reason": "ok"}}
        >>> agreeing_keys("kill_switch_events", [row], [e]), agreeing_keys(
        ...     "kill_switch_events", [row | {"by": "Eve"}], [e])
        ({'1'}, set())
    """
    checks: dict[str, Callable[[list[dict[str, Any]], list[Entry]], set[str]]] = {
        "kill_switch_events": lambda rs, es: {
            str(r["id"]) for r in rs if _kill_switch_agrees(r, _by_seq(es))
        },
        "verdict_events": lambda rs, es: {
            str(r["id"]) for r in rs if _verdict_agrees(r, _by_seq(es))
        },
        "workflow_runs": _runs_agreeing,
        "node_runs": _nodes_agreeing,
        "governance_rules": _rules_agreeing,
        "tool_registry": _tools_agreeing,
        "users": lambda rs, es: set(),  # new in schema 9: never written unbound
        "evaluator_verdicts": lambda rs, es: set(),  # bound since they exist (schema 12)
    }
    return checks[table](rows, entries)


def _runs_agreeing(rows: list[dict[str, Any]], entries: list[Entry]) -> set[str]:
    started = {e["run_id"] for e in entries if e["action"] == "run_started"}
    finished = _latest((e for e in entries if e["action"] == "run_finished"), lambda e: e["run_id"])
    out = set()
    for r in rows:
        cid = r["composition_id"]
        if r["status"] == "running":
            ok = cid in started and cid not in finished
        else:
            e = finished.get(cid)
            ok = bool(
                e
                and e["outcome"] == r["status"]
                and _detail(e).get("summary") == r["summary"]
                and e["ts"] == r["ended_at"]
            )
        if ok:
            out.add(str(cid))
    return out


def _nodes_agreeing(rows: list[dict[str, Any]], entries: list[Entry]) -> set[str]:
    done = {
        (e["run_id"], e["node"], e["outcome"], e["ts"])
        for e in entries
        if e["action"] == "node_finished"
    }
    finished_runs = {e["run_id"] for e in entries if e["action"] == "run_finished"}
    out = set()
    for r in rows:
        if r["status"] == "skipped":
            ok = r["run_id"] in finished_runs  # the run's end entry accounts for what it skipped
        else:
            ok = (r["run_id"], r["node"], r["status"], r["ended_at"]) in done
        if ok:
            out.add(str(r["id"]))
    return out


def _rules_agreeing(rows: list[dict[str, Any]], entries: list[Entry]) -> set[str]:
    last_change: dict[str, Entry] = {}
    for e in sorted(entries, key=lambda e: int(e["seq"])):
        if e["action"] == "rules_loaded":
            for rule_id in _detail(e).get("changed") or []:
                last_change[str(rule_id)] = e
    return {
        str(r["id"])
        for r in rows
        if str(r["id"]) in last_change and last_change[str(r["id"])]["ts"] == r["updated_at"]
    }


def _tool_agrees(row: Mapping[str, Any], e: Entry | None) -> bool:
    if e is None or e["ts"] != row["updated_at"]:
        return False
    d = _detail(e)
    if e["action"] == "tool_registered":
        return d.get("enabled") == bool(row["enabled"]) and d.get("risk_tier") == row["risk_tier"]
    return d.get("by") == row["updated_by"] and (e["action"] == "tool_enabled") == bool(
        row["enabled"]
    )


def _tools_agreeing(rows: list[dict[str, Any]], entries: list[Entry]) -> set[str]:
    latest = _latest(entries, lambda e: _detail(e).get("tool"))
    return {str(r["name"]) for r in rows if _tool_agrees(r, latest.get(r["name"]))}


#: The WORM actions that described each table's rows before bindings existed.
_DESCRIBED_BY: dict[str, tuple[str, ...]] = {
    "kill_switch_events": ("kill_switch_triggered", "kill_switch_reset"),
    "verdict_events": ("verdict_stamped", "verdict_corrected"),
    "evaluator_verdicts": ("evaluator_verdict",),
    "workflow_runs": ("run_started", "run_finished"),
    "node_runs": ("node_finished", "run_finished"),
    "governance_rules": ("rules_loaded",),
    "tool_registry": ("tool_registered", "tool_enabled", "tool_disabled"),
    "users": ("user_added", "user_roles_set", "user_revoked"),
}


def _entries(store: Store, actions: tuple[str, ...]) -> list[Entry]:
    marks = ", ".join("?" for _ in actions)
    rows = store.query(
        "SELECT seq, ts, run_id, node, action, rule, outcome, detail FROM worm_log "
        f"WHERE action IN ({marks}) ORDER BY seq",
        actions,
    )
    return [dict(r) | {"detail": json.loads(r["detail"]) if r["detail"] else {}} for r in rows]


def _upgrade_table(store: Store, table: GovernedTable, report: UpgradeReport) -> None:
    rows = [dict(r) for r in store.query(f"SELECT * FROM {table.name}")]
    if not rows:
        return
    agreeing = agreeing_keys(table.name, rows, _entries(store, _DESCRIBED_BY[table.name]))
    bound = []
    for digest in store_row_digests(store, table):
        if digest.key in agreeing:
            bound.append(binding(table.name, digest).as_detail() | {"worm_seq": digest.worm_seq})
        else:
            report.unbound.setdefault(table.name, []).append(digest.key)
    if bound:
        report.bound[table.name] = len(bound)
    unbound = report.unbound.get(table.name, [])
    detail = {"table": table.name, "bound": bound, "unbound": unbound[:1000]}
    worm.append(store, "bindings_upgraded", outcome=f"{len(bound)} bound", detail=detail)


def upgrade_bindings(store: Store) -> UpgradeReport:
    """Bind the governed rows an older govlib wrote, once (a no-op when bindings exist).

    Example:
        >>> upgrade_bindings(Store(memory=True)).upgraded
        False
    """
    report = UpgradeReport()
    with store.transaction():
        if has_bindings(store):
            return report
        for table in GOVERNED:
            _upgrade_table(store, table, report)
    return report


#: Stores already known to be past the upgrade (checked once per process and store).
_UPGRADED: weakref.WeakSet[Store] = weakref.WeakSet()


def ensure_upgraded(store: Store) -> None:
    """Run :func:`upgrade_bindings` once per store and process (cheap after the first call)."""
    if store not in _UPGRADED:
        upgrade_bindings(store)
        _UPGRADED.add(store)


def proven_rows(store: Store, table: str) -> list[dict[str, Any]]:
    """Every row of a governed table, proven by its binding (an older store is bound first).

    What decisions read; see :func:`~govlib.evidence.bindings.checked_rows` for the errors.

    Example:
        >>> proven_rows(Store(memory=True), "tool_registry")
        []
    """
    if not store.readonly:
        ensure_upgraded(store)
    return checked_rows(store, table)


def binding_seq(store: Store) -> int:
    """The seq of the entry that will bind the rows about to be written (``worm_seq``).

    Call it first inside the write transaction: an older store's rows are bound before it.

    Example:
        >>> binding_seq(Store(memory=True))
        1
    """
    ensure_upgraded(store)
    return next_seq(store)


def append_bound(
    store: Store,
    action: str,
    rows: Sequence[tuple[str, Any]],
    **entry: Any,
) -> worm.WormEntry:
    """Append the WORM entry that binds ``rows`` (``(table, key)`` pairs written just before).

    Call it inside the transaction that wrote the rows with ``worm_seq = binding_seq(store)``;
    each row is read back whole, so the digest covers the columns as stored (defaults too).
    ``entry`` takes :func:`govlib.evidence.worm.append`'s keywords (``run_id``, ``detail``, ...).

    Example:
        >>> store = Store(memory=True)
        >>> with store.transaction():
        ...     seq = binding_seq(store)
        ...     rid = store.insert("kill_switch_events", {"state": "triggered", "by": "rule",
        ...         "reason": "r", "at": "2026-01-01T00:00:00Z", "worm_seq": seq})
        ...     e = append_bound(store, "kill_switch_triggered", [("kill_switch_events", rid)])
        >>> (e.seq, e.detail["bound"][0]["table"])
        (1, 'kill_switch_events')
    """
    with store.transaction():
        seq = next_seq(store)
        found = []
        for name, key in rows:
            table = governed(name)
            digests = store_row_digests(store, table, f"WHERE {table.key} = ?", (key,))
            if not digests:
                raise BindingError(f"{name} row {key}: not found; write it before binding it")
            if digests[0].worm_seq != seq:
                raise BindingError(
                    f"{name} row {key}: worm_seq is {digests[0].worm_seq!r}; expected {seq} "
                    "(the seq of the entry that binds it)"
                )
            found.append(binding(table.name, digests[0]).as_detail())
        detail = dict(entry.pop("detail", None) or {})
        detail["bound"] = found
        made = worm.append(store, action, detail=detail, **entry)
    if made.seq != seq:  # pragma: no cover - the transaction holds the write lock
        raise BindingError(f"{action}: entry got seq {made.seq}; expected {seq}")
    return made
