"""Writing mapped OpenTelemetry spans: one transaction per chunk, nothing written twice.

Per chunk, in ONE ``store.transaction()``: tool-call rows with their ``audit_batch`` digest
(:func:`govlib.capture.rows.insert_audit_batch`), ledger receipts with their ``ledger_batch`` digest
(``Ledger.record_many(external=True)``), ``workflows``/``workflow_runs`` rows, evaluators'
verdicts (:func:`govlib.capture.verdicts.record_evaluator_verdict`, apart from human review) and
one ``ingested_spans`` row per thing written. What
``ingested_spans`` already holds (trace id, span id, kind) is counted as already ingested.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from govlib import bounds
from govlib.capture.otel.config import IngestConfig
from govlib.capture.otel.conventions import unmapped_reason
from govlib.capture.otel.decoding import EventRecord, SpanRecord
from govlib.capture.otel.mapping import Evaluation, MappedSpan, evaluations, is_genai
from govlib.capture.otel.spans import SpanContext
from govlib.capture.rows import INSERT_COLUMNS, insert_audit_batch
from govlib.capture.runs import record_run
from govlib.capture.verdicts import record_evaluator_verdict
from govlib.clock import utc_now_iso
from govlib.costs.ledger import Ledger
from govlib.errors import GovlibError
from govlib.store.database import Store

__all__ = ["IngestSummary", "write_late_evaluations", "write_mapped"]

_SHOWN = 20
_WHAT = {"tool": "tool calls", "model": "receipts", "run": "workflow runs"}
_WHAT["evaluation"] = "evaluator verdicts"


@dataclass
class IngestSummary:
    """What an ingest did: new rows, what was already there, what was skipped and why.

    Example:
        >>> IngestSummary().describe().splitlines()[0]
        'Read 0 file(s), 0 line(s), 0 span(s): nothing new.'
    """

    files: int = 0
    lines: int = 0
    spans: int = 0
    new: Counter[str] = field(default_factory=Counter)
    already: Counter[str] = field(default_factory=Counter)
    cost: Counter[str] = field(default_factory=Counter)
    unpriced: Counter[tuple[str, str]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    skipped_evaluations: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    not_mapped: int = 0
    not_mapped_reasons: Counter[str] = field(default_factory=Counter)
    conventions: Counter[str] = field(default_factory=Counter)
    priced_as: Counter[tuple[str, str]] = field(default_factory=Counter)
    unreadable_files: list[str] = field(default_factory=list)

    @property
    def new_total(self) -> int:
        """Tool calls + receipts + workflow runs + verdicts written by this ingest."""
        return sum(self.new.values())

    def describe(self) -> str:
        """Plain lines for the CLI: counts first, then every reason something was left out."""
        head = f"Read {self.files} file(s), {self.lines} line(s), {self.spans} span(s): "
        n = self.new
        if self.new_total:
            head += (
                f"{n['tool_calls']} new tool call(s), {n['receipts']} new receipt(s) "
                f"({self.cost['price_table']} priced, {self.cost['provider']} provider cost, "
                f"{self.cost['unpriced']} unpriced), {n['runs']} new workflow run(s), "
                f"{n['evaluator_verdicts']} new evaluator verdict(s)."
            )
        else:
            head += "nothing new."
        lines = [head]
        if self.already:
            parts = ", ".join(f"{c} {what}" for what, c in sorted(self.already.items()))
            lines.append(f"Already ingested, left as they are: {parts}.")
        if self.conventions:
            parts = ", ".join(f"{name} {c}" for name, c in sorted(self.conventions.items()))
            lines.append(f"AI spans by convention: {parts}.")
        for (model, priced), count in sorted(self.priced_as.items()):
            lines.append(f"Priced as {priced} (the table has no {model}): {model} x{count}.")
        for (model, reason), count in sorted(self.unpriced.items()):
            lines.append(f"Unpriced (tokens kept, no cost): {model} x{count}: {reason}.")
        if self.problems:
            lines.append(f"Skipped ({len(self.problems)}), the rest was kept:")
            lines += [f"  {p}" for p in self.problems[:_SHOWN]]
            if len(self.problems) > _SHOWN:
                lines.append(f"  ... and {len(self.problems) - _SHOWN} more")
        for reason, count in sorted(self.skipped_evaluations.items()):
            lines.append(f"Evaluation events without a verdict: {count}: {reason}.")
        for note, count in sorted(self.notes.items()):
            lines.append(f"Note: {count} {note}.")
        if self.not_mapped:
            lines.append(f"Spans with nothing to record: {self.not_mapped}:")
            lines += [f"  {c} {why}" for why, c in sorted(self.not_mapped_reasons.items())]
        return "\n".join(lines)


# --- writing ---------------------------------------------------------------------------------------
def _existing(store: Store, trace_ids: set[str]) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    ids = sorted(trace_ids)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ", ".join("?" * len(part))
        rows = store.query(
            f"SELECT trace_id, span_id, kind FROM ingested_spans WHERE trace_id IN ({marks})",  # noqa: S608 - only ? marks
            part,
        )
        out.update((r["trace_id"], r["span_id"], r["kind"]) for r in rows)
    return out


_TARGETS = {"tool": "audit_log", "model": "token_ledger"}


def _target_id(store: Store, trace_id: str, span_id: str, kind: str) -> int | None:
    """The row an earlier ingest wrote for a span (kind ``tool`` or ``model``), or None."""
    return store.query_one(
        "SELECT target_id FROM ingested_spans WHERE trace_id = ? AND span_id = ? AND kind = ?",
        (trace_id, span_id, kind),
    )


#: One ``ingested_spans`` row before its time: span, span id, kind, target table, target id.
_Mark = tuple[SpanRecord, str, str, str | None, Any]


def write_mapped(
    store: Store, items: list[MappedSpan], summary: IngestSummary, ledger: Ledger
) -> None:
    """Write mapped spans in ONE transaction, skipping what ``ingested_spans`` already holds.

    Counts and reasons go to ``summary``; receipts are written through ``ledger``.

    Example:
        >>> store, summary = Store(memory=True), IngestSummary()
        >>> write_mapped(store, [], summary, Ledger(store))
        >>> summary.new_total
        0
    """
    now = utc_now_iso()
    with store.transaction():
        seen = _Seen(_existing(store, {m.span.trace_id for m in items}), summary)
        _count_contents(items, summary)
        tools = [m for m in items if m.tool and seen.fresh(m, m.span.span_id, "tool")]
        calls = [m for m in items if m.receipt and seen.fresh(m, m.span.span_id, "model")]
        marks = _tool_marks(store, tools, summary)
        marks += _receipt_marks(ledger, calls, summary)
        targets = {
            (span.trace_id, span_id, kind): target for span, span_id, kind, _, target in marks
        }
        marks += _run_marks(store, items, seen, summary)
        marks += _verdict_marks(store, items, seen, targets, summary)
        store.insert_many("ingested_spans", [_ingested_row(mark, now) for mark in marks])


def write_late_evaluations(
    store: Store,
    trace_id: str,
    span_id: str,
    events: list[EventRecord],
    config: IngestConfig,
    summary: IngestSummary,
    *,
    skew_s: float | None = None,
    ledger: Ledger | None = None,
) -> bool:
    """Evaluation events for a span written before (a late OTLP log record); False when the
    store has no tool call or receipt of that span (the events are then left to the caller).

    Example:
        >>> write_late_evaluations(Store(memory=True), "1" * 32, "2" * 16, [], IngestConfig(),
        ...     IngestSummary())
        False
    """
    rows = store.query(
        "SELECT kind FROM ingested_spans WHERE trace_id = ? AND span_id = ? "
        "AND kind IN ('tool', 'model') ORDER BY kind DESC",
        (trace_id, span_id),
    )
    if not rows:
        return False
    span = SpanRecord(trace_id, span_id, None, "", 0, 0, events=tuple(events), source="otlp")
    m = MappedSpan(span, SpanContext(trace_id, None, True, True))
    try:
        m.evaluations = evaluations(span, rows[0]["kind"], config, skew_s=skew_s)
    except bounds.BoundsError as exc:
        summary.problems.append(f"otlp: span {span_id} evaluation skipped: {exc}")
        return True
    write_mapped(store, [m], summary, ledger or Ledger(store))
    return True


class _Seen:
    """What ``ingested_spans`` already holds; asking about a held thing counts it as already."""

    def __init__(self, done: set[tuple[str, str, str]], summary: IngestSummary) -> None:
        self.done, self.summary = done, summary

    def fresh(self, m: MappedSpan, span_id: str, kind: str) -> bool:
        """True when ``(trace, span_id, kind)`` was not ingested before."""
        if (m.span.trace_id, span_id, kind) in self.done:
            self.summary.already[_WHAT[kind.split(":")[0]]] += 1
            return False
        return True


def _ingested_row(mark: _Mark, now: str) -> dict[str, Any]:
    """The ``ingested_spans`` row of one thing written."""
    span, span_id, kind, table, target = mark
    return {"trace_id": span.trace_id, "span_id": span_id, "kind": kind} | {
        "target_table": table,
        "target_id": target,
        "source": span.source,
        "ingested_at": now,
    }


def _count_contents(items: list[MappedSpan], summary: IngestSummary) -> None:
    """Count problems, notes and spans with nothing to record into ``summary``."""
    for m in items:
        summary.problems += [str(p) for p in m.problems]
        if m.note:
            summary.notes[f"{m.convention or 'OTel GenAI'} {m.note}"] += 1
        if not (m.tool or m.receipt or m.run or m.evaluations or m.problems or m.note):
            summary.not_mapped += 1
            summary.not_mapped_reasons[unmapped_reason(m.span)] += 1
            continue
        if m.convention:
            summary.conventions[m.convention] += 1
        if is_genai(m.span) and not m.ctx.complete:
            summary.notes["GenAI span(s) whose parent was not in this ingest (run = trace)"] += 1


def _tool_marks(store: Store, tools: list[MappedSpan], summary: IngestSummary) -> list[_Mark]:
    """Insert the new tool calls (one audit batch with its digest); their marks."""
    if not tools:
        return []
    rows = [tuple(m.tool[c] for c in INSERT_COLUMNS) for m in tools]  # type: ignore[index]
    first, _ = insert_audit_batch(store, rows)
    summary.new["tool_calls"] += len(tools)
    return [
        (m.span, m.span.span_id, "tool", "audit_log", first + offset)
        for offset, m in enumerate(tools)
    ]


def _receipt_marks(ledger: Ledger, calls: list[MappedSpan], summary: IngestSummary) -> list[_Mark]:
    """Record the new receipts (one ledger batch with its digest); their marks."""
    if not calls:
        return []
    receipts = ledger.record_many([m.receipt or {} for m in calls], external=True)
    marks: list[_Mark] = []
    for m, receipt in zip(calls, receipts, strict=True):
        marks.append((m.span, m.span.span_id, "model", "token_ledger", receipt.id))
        summary.cost[receipt.cost_source] += 1
        if receipt.priced_as and receipt.priced_as != receipt.model:
            summary.priced_as[(receipt.model, receipt.priced_as)] += 1
        if receipt.cost_source == "unpriced":
            summary.unpriced[(receipt.model, receipt.unpriced_reason or "")] += 1
    summary.new["receipts"] += len(calls)
    return marks


def _run_marks(
    store: Store, items: list[MappedSpan], seen: _Seen, summary: IngestSummary
) -> list[_Mark]:
    """Write the new workflow runs; their marks."""
    marks: list[_Mark] = []
    for m in items:
        if m.run and seen.fresh(m, m.ctx.composition_id, "run"):
            _write_run(store, m.run)
            marks.append((m.span, m.ctx.composition_id, "run", "workflow_runs", None))
            summary.new["runs"] += 1
    return marks


def _verdict_marks(
    store: Store,
    items: list[MappedSpan],
    seen: _Seen,
    targets: dict[tuple[str, str, str], Any],
    summary: IngestSummary,
) -> list[_Mark]:
    """Record the new evaluations as evaluators' verdicts on their tool or model calls."""
    marks: list[_Mark] = []
    for m in items:
        for ev in m.evaluations:
            if ev.skip_reason:
                summary.skipped_evaluations[ev.skip_reason] += 1
                continue
            kind = ev.kind
            if not seen.fresh(m, m.span.span_id, kind):
                continue
            key = (m.span.trace_id, m.span.span_id, ev.target)
            target_id = targets.get(key) or _target_id(store, *key)
            event_id = _record(store, m, ev, target_id, summary)
            if event_id is not None:
                marks.append((m.span, m.span.span_id, kind, "evaluator_verdicts", event_id))
    return marks


def _write_run(store: Store, run: dict[str, Any]) -> None:
    store.execute(
        "INSERT OR IGNORE INTO workflows(id, name, description) VALUES (?, ?, ?)",
        (run["workflow_id"], run["workflow_name"], "Ingested from OpenTelemetry traces"),
    )
    record_run(store, run)


def _record(
    store: Store, m: MappedSpan, ev: Evaluation, target_id: int | None, summary: IngestSummary
) -> int | None:
    """Record one evaluation; its ``evaluator_verdicts`` id, or None (the reason in ``summary``).

    A refusal is listed in the summary and not recorded as ingested, so it is reported again.
    """
    where = f"{m.span.source}: span {m.span.span_id} evaluation {ev.index}"
    what = "tool call" if ev.target == "tool" else "model call"
    if target_id is None:
        summary.problems.append(f"{where}: its {what} was not recorded; no verdict")
        return None
    store.execute("SAVEPOINT otel_verdict")
    try:
        # an evaluator is a program, not a person: its name is kept as written (no pseudonym)
        made = record_evaluator_verdict(
            store,
            _TARGETS[ev.target],
            target_id,
            ev.verdict or "",
            ev.by,
            at=ev.at,
            label=str(ev.label),
            score=ev.score,
            trace_id=m.span.trace_id,
            span_id=m.span.span_id,
        )
    except GovlibError as exc:
        store.execute("ROLLBACK TO otel_verdict")
        store.execute("RELEASE otel_verdict")
        summary.problems.append(f"{where}: {exc}")
        return None
    store.execute("RELEASE otel_verdict")
    summary.new["evaluator_verdicts"] += 1
    return made.id
