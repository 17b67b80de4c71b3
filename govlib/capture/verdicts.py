"""Verdicts: human reviews of tool calls (signal 4), and machine evaluators' verdicts kept apart.

Every verdict carries its source (:data:`HUMAN` or ``evaluator:<name>``). Human verdicts live in
``verdict_events`` and the ``audit_log`` verdict triple, and only they count toward the sampling
gate and the accept rate. An evaluator's verdict (an OTel ``gen_ai.evaluation.result``) is an
``evaluator_verdicts`` row on a tool call or a model call, bound to its ``evaluator_verdict`` WORM
entry (:func:`record_evaluator_verdict`): a machine's opinion never cuts human review.

A stamp or a correction writes, in ONE ``store.transaction()``:

1. the WORM entry (``verdict_stamped`` / ``verdict_corrected``, detail ``{audit_id, output_hash,
   verdict, previous, previous_by, previous_at, by, at, reason}``, ``ts`` = ``at``, ``run_id`` =
   the call's ``composition_id``, ``outcome`` = the verdict);
2. the append-only ``verdict_events`` row (kind, previous triple, by, at, reason, ``worm_seq``);
3. the ``audit_log`` verdict triple (``human_verdict``, ``verdict_by``, ``verdict_at``), which the
   schema only lets change when a matching ``verdict_events`` row exists.

Rules: the verdict is ``accept`` or ``reject``; the same verdict again is a no-op (nothing written,
``changed=False``); a different verdict on a stamped call is refused with who stamped what and
when (use :func:`correct_verdict`, which needs a reason); an unknown id is refused.

Bounds (:mod:`govlib.bounds`): ``by`` at most 256 characters, a correction's ``reason`` at most
2,000, ``at`` from 2000-01-01 to now + ``max_clock_skew_s``; beyond them the request is refused
with :class:`~govlib.bounds.BoundsError` and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from govlib import bounds
from govlib.clock import ClockError, as_utc, iso, utc_now_iso
from govlib.errors import GovlibError
from govlib.evidence.binder import append_bound, binding_seq
from govlib.evidence.people import person_name, pseudonymise
from govlib.store.database import Store
from govlib.store.datadir import checked_data_dir

__all__ = [
    "HUMAN",
    "VERDICTS",
    "EvaluatorVerdict",
    "evaluator_source",
    "record_evaluator_verdict",
    "VerdictError",
    "VerdictConflict",
    "VerdictResult",
    "stamp_verdict",
    "correct_verdict",
]

VERDICTS: tuple[str, ...] = ("accept", "reject")
#: The source of a reviewer's verdict; an evaluator's is ``evaluator:<name>``.
HUMAN = "human"
EVALUATOR_PREFIX = "evaluator:"
#: Where an evaluator's verdict may point: a tool call or a model call (receipt).
EVALUATED_TABLES: tuple[str, ...] = ("audit_log", "token_ledger")
_ACTIONS = {"stamp": "verdict_stamped", "correct": "verdict_corrected"}


class VerdictError(GovlibError):
    """A verdict request was refused (bad verdict, empty name or reason, unknown call)."""


class VerdictConflict(VerdictError):
    """The call already carries a different verdict; changing it needs a correction."""


@dataclass(frozen=True)
class VerdictResult:
    """What a stamp or correction did.

    Example:
        >>> r = VerdictResult(7, "accept", "Ana", "2026-01-01T09:00:00.000000Z", True, "stamp")
        >>> r.describe()
        'Tool call 7: accept stamped by Ana at 2026-01-01T09:00:00.000000Z.'
    """

    audit_id: int
    verdict: str
    by: str
    at: str
    changed: bool
    kind: str
    previous_verdict: str | None = None
    previous_by: str | None = None
    previous_at: str | None = None
    reason: str | None = None
    worm_seq: int | None = None
    event_id: int | None = None

    def describe(self) -> str:
        """One plain sentence for the CLI and the apps."""
        if not self.changed:
            return (
                f"Tool call {self.audit_id} already has {self.verdict} by {self.by} at "
                f"{self.at}; nothing changed."
            )
        if self.kind == "correct":
            return (
                f"Tool call {self.audit_id}: verdict corrected from {self.previous_verdict} "
                f"({self.previous_by}, {self.previous_at}) to {self.verdict} by {self.by} at "
                f"{self.at}; reason: {self.reason}."
            )
        return f"Tool call {self.audit_id}: {self.verdict} stamped by {self.by} at {self.at}."


# --- checks (pure) ---------------------------------------------------------------------------------
def _check_id(audit_id: Any) -> int:
    if isinstance(audit_id, bool) or not isinstance(audit_id, int) or not 1 <= audit_id < 2**63:
        raise VerdictError(
            f"audit_id: {bounds.shown(audit_id)}; expected a positive integer id of a tool call"
        )
    return audit_id


def _check_verdict(verdict: Any) -> str:
    if verdict not in VERDICTS:
        raise VerdictError(
            f"verdict: {bounds.shown(verdict)}; expected one of {', '.join(VERDICTS)}"
        )
    return str(verdict)


def _check_text(field: str, value: Any, expected: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise VerdictError(f"{field}: {bounds.shown(value)}; expected {expected}")
    return bounds.checked_text(field, value.strip(), optional=False)  # type: ignore[return-value]


def _check_at(at: datetime | str | None) -> str:
    if at is None:
        return utc_now_iso()
    try:
        return iso(as_utc(at, "at"))
    except ClockError as exc:
        raise VerdictError(str(exc)) from None


# --- the write (one transaction) -----------------------------------------------------------------
def _apply(
    store: Store,
    kind: str,
    audit_id: int,
    verdict: str,
    by: str,
    at: str,
    reason: str | None,
    person: bool = True,
) -> VerdictResult:
    bounds.checked_time("at", at, skew_s=bounds.skew_seconds(store.data_dir))
    with store.transaction():
        rows = store.query(
            "SELECT human_verdict, verdict_by, verdict_at, output_hash, composition_id "
            "FROM audit_log WHERE id = ?",
            (audit_id,),
        )
        if not rows:
            raise VerdictError(
                f"audit_id: {audit_id}; no tool call with this id in audit_log "
                "(expected an id shown by the apps; a call still queued is written within "
                "a second)"
            )
        row = rows[0]
        current, current_by, current_at = row["human_verdict"], row["verdict_by"], row["verdict_at"]
        digest, composition_id = row["output_hash"], row["composition_id"]
        shown_by = person_name(store, current_by)
        if current == verdict:
            return VerdictResult(audit_id, verdict, shown_by, current_at, False, kind)
        if kind == "stamp" and current is not None:
            raise VerdictConflict(
                f"audit_id {audit_id}: already stamped {current!r} by {shown_by} at "
                f"{current_at}; expected no verdict yet. To change it, correct it with a reason "
                f"(govlib stamp {audit_id} {verdict} --by NAME --correct --reason TEXT)"
            )
        if kind == "correct" and current is None:
            raise VerdictError(
                f"audit_id {audit_id}: has no verdict to correct; expected a stamped call "
                f"(stamp it instead: govlib stamp {audit_id} {verdict} --by NAME)"
            )
        # The row, the chained body and audit_log hold the pseudonym; the name is only in people.
        # An evaluator is a program, not a person: its name is kept as written.
        recorded_by = pseudonymise(store, by) if person else by
        seq = binding_seq(store)
        event_id = store.insert(
            "verdict_events",
            {
                "audit_id": audit_id,
                "verdict": verdict,
                "previous_verdict": current,
                "previous_by": current_by,
                "previous_at": current_at,
                "kind": kind,
                "verdict_by": recorded_by,
                "verdict_at": at,
                "reason": reason,
                "worm_seq": seq,
            },
        )
        entry = append_bound(
            store,
            _ACTIONS[kind],
            [("verdict_events", event_id)],
            ts=at,
            run_id=composition_id,
            outcome=verdict,
            detail={
                "audit_id": audit_id,
                "output_hash": digest,
                "verdict": verdict,
                "previous": current,
                "previous_by": current_by,
                "previous_at": current_at,
                "by": recorded_by,
                "at": at,
                "reason": reason,
                "source": HUMAN,
            },
        )
        store.execute(
            "UPDATE audit_log SET human_verdict = ?, verdict_by = ?, verdict_at = ? WHERE id = ?",
            (verdict, recorded_by, at, audit_id),
        )
    return VerdictResult(
        audit_id,
        verdict,
        by,
        at,
        True,
        kind,
        previous_verdict=current,
        previous_by=shown_by,
        previous_at=current_at,
        reason=reason,
        worm_seq=entry.seq,
        event_id=event_id,
    )


def _run(kind: str, store: Store | None, *args: Any) -> VerdictResult:
    if store is not None:
        return _apply(store, kind, *args)
    with Store(checked_data_dir(create=False), create=False) as own:
        return _apply(own, kind, *args)


def stamp_verdict(
    audit_id: int,
    verdict: str,
    by: str,
    *,
    store: Store | None = None,
    at: datetime | str | None = None,
    person: bool = True,
) -> VerdictResult:
    """Stamp a human verdict on one tool call.

    Parameters
    ----------
    audit_id : int
        ``audit_log.id`` of the call.
    verdict : {"accept", "reject"}
    by : str
        The reviewer's name (non-empty).
    store : Store, optional
        Default: the store of the default data dir.
    at : datetime or str, optional
        When (default now), stored as ISO-8601 UTC.
    person : bool, default True
        ``by`` names a person, stored as a keyed pseudonym (erasable by ``govlib purge
        --person``); False for an automated evaluator, whose name is stored as written.

    Raises
    ------
    VerdictError
        Bad verdict, empty ``by``, unknown id.
    VerdictConflict
        The call already has the other verdict (names who stamped it and when).
    BoundsError
        ``by`` longer than 256 characters, ``at`` before 2000 or in the future.

    Example:
        >>> from govlib.capture.rows import insert_audit_batch
        >>> s = Store(memory=True)
        >>> _ = insert_audit_batch(s, [("t", "lookup", None, None, 1, 1, 3, "0000abcd", None, 0)])
        >>> stamp_verdict(1, "accept", "Ana", store=s, at="2026-01-01T09:00:00Z").describe()
        'Tool call 1: accept stamped by Ana at 2026-01-01T09:00:00.000000Z.'
        >>> stamp_verdict(1, "accept", "Bo", store=s).changed
        False
    """
    args = (
        _check_id(audit_id),
        _check_verdict(verdict),
        _check_text("by", by, "the reviewer's name"),
        _check_at(at),
        None,
        person,
    )
    return _run("stamp", store, *args)


def correct_verdict(
    audit_id: int,
    verdict: str,
    by: str,
    reason: str,
    *,
    store: Store | None = None,
    at: datetime | str | None = None,
) -> VerdictResult:
    """Replace a stamped verdict, with a reason; the old triple stays in ``verdict_events``.

    The same verdict as the current one is a no-op (``changed=False``); a call without a verdict
    is refused (stamp it instead).

    Example:
        >>> from govlib.capture.rows import insert_audit_batch
        >>> s = Store(memory=True)
        >>> _ = insert_audit_batch(s, [("t", "lookup", None, None, 1, 1, 3, "0000abcd", None, 0)])
        >>> _ = stamp_verdict(1, "accept", "Ana", store=s, at="2026-01-01T09:00:00Z")
        >>> r = correct_verdict(1, "reject", "Bo", "wrong claim", store=s, at="2026-01-02T09:00:00Z")
        >>> r.previous_verdict, r.verdict, r.changed
        ('accept', 'reject', True)
    """
    args = (
        _check_id(audit_id),
        _check_verdict(verdict),
        _check_text("by", by, "the reviewer's name"),
        _check_at(at),
        _check_text("reason", reason, "a non-empty reason for the correction"),
    )
    return _run("correct", store, *args)


# --- machine evaluators ----------------------------------------------------------------------------
@dataclass(frozen=True)
class EvaluatorVerdict:
    """An evaluator's verdict as recorded (``evaluator_verdicts`` row and its WORM entry)."""

    id: int
    source: str
    target_table: str
    target_id: int
    verdict: str
    at: str
    worm_seq: int


def evaluator_source(name: Any) -> str:
    """The ``source`` of an evaluator's verdict: ``evaluator:<name>`` (name stripped, bounded).

    Example:
        >>> evaluator_source(" relevance ")
        'evaluator:relevance'
    """
    if not isinstance(name, str) or not name.strip():
        raise VerdictError(
            f"evaluator: {bounds.shown(name)}; expected the evaluator's name "
            "(gen_ai.evaluation.name)"
        )
    return EVALUATOR_PREFIX + str(bounds.checked_text("evaluator", name.strip(), kind="by"))


def _target_run(store: Store, table: str, target_id: int) -> tuple[str | None, str | None]:
    """(run id, output hash) of the evaluated row; VerdictError when there is no such row."""
    if table == "audit_log":
        sql = "SELECT composition_id AS run, output_hash FROM audit_log WHERE id = ?"
    else:
        sql = "SELECT run_id AS run, NULL AS output_hash FROM token_ledger WHERE id = ?"
    rows = store.query(sql, (target_id,))
    if not rows:
        raise VerdictError(f"target_id: {target_id}; no row with this id in {table}")
    return rows[0]["run"], rows[0]["output_hash"]


def record_evaluator_verdict(
    store: Store,
    target_table: str,
    target_id: int,
    verdict: str,
    evaluator: str,
    *,
    at: datetime | str | None = None,
    label: str | None = None,
    score: float | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
) -> EvaluatorVerdict:
    """Record a machine evaluator's verdict on a tool call or a model call, apart from reviews.

    One transaction: the ``evaluator_verdicts`` row and the ``evaluator_verdict`` WORM entry that
    binds it (detail ``{source, target_table, target_id, verdict, label, score, at}``). The
    ``audit_log`` verdict triple, the sampling gate and the accept rate are not touched.

    Parameters
    ----------
    store : Store
    target_table : {"audit_log", "token_ledger"}
        A tool call or a model call (receipt).
    target_id : int
        Its id.
    verdict : {"accept", "reject"}
    evaluator : str
        The evaluator's name; the source is ``evaluator:<name>``.
    at : datetime or str, optional
        When the evaluation was made (default now).
    label, score : optional
        The evaluator's own label and score, kept as given.
    trace_id, span_id : str, optional
        The span evaluated (OTel).

    Raises
    ------
    VerdictError
        Bad table, id, verdict or name; no such row.

    Example:
        >>> from govlib.capture.rows import insert_audit_batch
        >>> s = Store(memory=True)
        >>> _ = insert_audit_batch(s, [("t", "lookup", None, None, 1, 1, 3, "0000abcd", None, 0)])
        >>> v = record_evaluator_verdict(s, "audit_log", 1, "reject", "judge", label="fail",
        ...     at="2026-01-01T09:00:00Z")
        >>> v.source, v.verdict, s.query_one("SELECT human_verdict FROM audit_log")
        ('evaluator:judge', 'reject', None)
    """
    if target_table not in EVALUATED_TABLES:
        raise VerdictError(
            f"target_table: {bounds.shown(target_table)}; expected one of "
            f"{', '.join(EVALUATED_TABLES)}"
        )
    target_id = _check_id(target_id)
    verdict = _check_verdict(verdict)
    source = evaluator_source(evaluator)
    when = _check_at(at)
    bounds.checked_time("at", when, skew_s=bounds.skew_seconds(store.data_dir))
    label = None if label is None else bounds.checked_text("label", str(label), kind="by")
    score = score if isinstance(score, int | float) and not isinstance(score, bool) else None
    with store.transaction():
        run_id, digest = _target_run(store, target_table, target_id)
        seq = binding_seq(store)
        row_id = store.insert(
            "evaluator_verdicts",
            {
                "source": source,
                "target_table": target_table,
                "target_id": target_id,
                "verdict": verdict,
                "label": label,
                "score": score,
                "evaluated_at": when,
                "trace_id": trace_id,
                "span_id": span_id,
                "worm_seq": seq,
            },
        )
        detail = {"source": source, "target_table": target_table, "target_id": target_id}
        detail |= {"verdict": verdict, "label": label, "score": score, "at": when}
        if digest is not None:
            detail["output_hash"] = digest
        entry = append_bound(
            store,
            "evaluator_verdict",
            [("evaluator_verdicts", row_id)],
            ts=when,
            run_id=run_id,
            outcome=verdict,
            detail=detail,
        )
    return EvaluatorVerdict(row_id, source, target_table, target_id, verdict, when, entry.seq)
