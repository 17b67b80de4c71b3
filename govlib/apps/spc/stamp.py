"""Verdict capture of the SPC dashboard: the one place it writes.

:class:`Stamper` calls :func:`govlib.capture.verdicts.stamp_verdict` /
:func:`~govlib.capture.verdicts.correct_verdict` with the name in the shared "Reviewing as" field, refuses
to stamp without a name, collects refusals (already stamped differently, unknown call) as readable
sentences instead of raising, and tells its listeners which calls changed so every table, pill and
recommendation updates in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import ipywidgets as widgets
from markupsafe import Markup

from govlib.analysis.review import CallFilter, audit_row, query_calls
from govlib.capture.verdicts import VerdictConflict, correct_verdict, stamp_verdict
from govlib.errors import GovlibError
from govlib.governance.users import AccessDenied, User, require
from govlib.present.templating import render
from govlib.store.database import Store

#: One verdict change: (call id, previous verdict or None, new verdict).
Change = tuple[int, str | None, str]

__all__ = ["Change", "NO_NAME", "Stamper", "StampOutcome", "message_html", "refusal"]

NO_NAME = (
    "Enter your name in “Reviewing as” (Tool calls tab) first: every verdict is recorded with the reviewer's "
    "name. Nothing was recorded."
)


def message_html(text: str, *, ok: bool) -> Markup:
    """A status line: green "done" box or red refusal box, always in words.

    Example:
        >>> "Refused" in message_html("Refused: no name", ok=False)
        True
    """
    return render("apps/message.html.j2", text=text, ok=ok)


def refusal(audit_id: int, exc: Exception) -> str:
    """The sentence a reviewer reads when a stamp is refused (the CLI hint becomes the button).

    Example:
        >>> refusal(7, ValueError("audit_id 7: already stamped 'accept' by Ana at T; expected "
        ...     "no verdict yet. To change it, correct it with a reason (govlib stamp ...)"))
        "call #7: already stamped 'accept' by Ana at T. Use “Correct…” on the row to change it."
    """
    text = str(exc)
    prefix = f"audit_id {audit_id}: "
    text = text[len(prefix) :] if text.startswith(prefix) else text
    if "To change it" in text:
        head = text.split("; expected no verdict yet", 1)[0].split(" To change it", 1)[0]
        return f"call #{audit_id}: {head.rstrip('.')}. Use “Correct…” on the row to change it."
    if not isinstance(exc, GovlibError):
        return f"call #{audit_id}: could not record ({type(exc).__name__}: {text})"
    return f"call #{audit_id}: {text}"


@dataclass
class StampOutcome:
    """What a stamping action did: ids recorded, ids already so, refusals (one sentence each).

    Example:
        >>> StampOutcome(stamped=[3]).text("accept")
        '1 call accepted (#3).'
    """

    stamped: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    #: Calls someone else stamped differently first (a lost race): their rows show the winner's.
    lost: list[int] = field(default_factory=list)

    def text(self, verdict: str) -> str:
        """One readable sentence about the action."""
        word = {"accept": "accepted", "reject": "rejected"}.get(verdict, verdict)
        parts = []
        if self.stamped:
            ids = ", ".join(f"#{i}" for i in self.stamped)
            n = len(self.stamped)
            parts.append(f"{n} call{'s' if n != 1 else ''} {word} ({ids}).")
        if self.unchanged:
            ids = ", ".join(f"#{i}" for i in self.unchanged)
            parts.append(f"Already {word}, nothing changed ({ids}).")
        if self.refused:
            parts.append("Refused: " + " ".join(self.refused))
        return " ".join(parts) or "Nothing selected: tick the rows to stamp first."


class Stamper:
    """Stamps verdicts with the reviewer's name and notifies listeners of changed calls.

    Parameters
    ----------
    store : Store
        The read-write store of the data dir.
    reviewer : ipywidgets.Text
        The shared "Reviewing as" field (used only under ``govlib serve --auth none``).
    user : User, optional
        The signed-in person (``--auth tokens`` or ``header``): their name is recorded, and
        their role and tenants are checked before any write (a refusal is recorded).
    signed_in : bool
        True when the server signs people in: then nobody may stamp without ``user``.

    Example:
        >>> st = Stamper(Store(memory=True), widgets.Text())
        >>> st.stamp([1], "accept").refused[0].startswith("Enter your name")
        True
    """

    def __init__(
        self,
        store: Store,
        reviewer: widgets.Text,
        *,
        user: User | None = None,
        signed_in: bool = False,
    ) -> None:
        self.store = store
        self.reviewer = reviewer
        self.user, self.signed_in = user, signed_in or user is not None
        #: Called with ``[(call id, previous verdict or None, new verdict), ...]`` after writes.
        self.listeners: list[Callable[[list[Change]], None]] = []

    @property
    def name(self) -> str:
        """The signed-in person's name, else the reviewer's name as entered (stripped)."""
        if self.signed_in:
            return self.user.name if self.user is not None else ""
        return str(self.reviewer.value or "").strip()

    @property
    def tenants(self) -> tuple[str, ...] | None:
        """The tenants the signed-in person may see (None: every tenant); every tool-call read
        of the page passes them to :func:`~govlib.analysis.review.query_calls`."""
        return self.user.tenants if self.user is not None else None

    @property
    def can_stamp(self) -> bool:
        """Whether ✓ / ✗ are shown: always without sign-in, else only to reviewers."""
        return not self.signed_in or (self.user is not None and self.user.may("stamp"))

    def _refused(self, audit_id: int) -> str | None:
        """Why the person may not write a verdict on ``audit_id`` (None when they may).

        The kernel checks this before any write, whatever the page shows: a forged widget
        message from a person without the role is refused and recorded."""
        if not self.signed_in:
            return None if self.name else NO_NAME
        if self.user is None:
            return f"call #{audit_id}: nobody is signed in on this page. Nothing was recorded."
        try:
            require(self.store, self.user, "stamp", f"audit_log {audit_id}", via="page")
        except AccessDenied as exc:
            return f"call #{audit_id}: refused: {exc}. Nothing was recorded."
        if audit_row(self.store, audit_id, tenants=self.user.tenants) is None:
            return f"call #{audit_id}: no such tool call for you. Nothing was recorded."
        return None

    def _notify(self, changes: list[Change]) -> None:
        for fn in list(self.listeners):
            fn(changes)

    def stamp(self, ids: list[int], verdict: str) -> StampOutcome:
        """Stamp ``verdict`` on each call; refusals are collected, never raised."""
        out = StampOutcome()
        if not ids:
            return out
        if not self.signed_in and not self.name:
            out.refused.append(NO_NAME)
            return out
        for audit_id in ids:
            why = self._refused(int(audit_id))
            if why is not None:
                out.refused.append(why)
                continue
            try:
                result = stamp_verdict(int(audit_id), verdict, self.name, store=self.store)
            except VerdictConflict as exc:
                out.refused.append(refusal(int(audit_id), exc))
                out.lost.append(int(audit_id))
            except GovlibError as exc:
                out.refused.append(refusal(int(audit_id), exc))
            except Exception as exc:  # noqa: BLE001 - shown to the reviewer, never swallowed
                out.refused.append(refusal(int(audit_id), exc))
            else:
                (out.stamped if result.changed else out.unchanged).append(int(audit_id))
        changes = [(i, None, verdict) for i in out.stamped] + self._winners(out.lost)
        if changes:
            self._notify(changes)
        return out

    def _winners(self, lost: list[int]) -> list[Change]:
        """The verdicts that won the races in ``lost``, as changes this page has not seen yet
        (its rows, pills and sampling then show them without a refresh)."""
        if not lost:
            return []
        flt = CallFilter(ids=tuple(lost), unreviewed_first=False)
        rows = query_calls(self.store, flt, limit=len(lost)).rows
        return [(int(r["id"]), None, r["human_verdict"]) for r in rows if r["human_verdict"]]

    def correct(self, audit_id: int, verdict: str, reason: str) -> StampOutcome:
        """Change an existing verdict (needs a reason); recorded as a correction."""
        out = StampOutcome()
        why = self._refused(int(audit_id))
        if why is not None:
            out.refused.append(why)
        elif not reason.strip():
            out.refused.append(f"call #{audit_id}: a correction needs a reason. Nothing recorded.")
        else:
            try:
                result = correct_verdict(
                    int(audit_id), verdict, self.name, reason.strip(), store=self.store
                )
            except Exception as exc:  # noqa: BLE001 - GovlibError explains itself; others too
                out.refused.append(refusal(int(audit_id), exc))
            else:
                out.stamped.append(int(audit_id))
                if result.changed:
                    self._notify([(int(audit_id), result.previous_verdict, verdict)])
        return out
