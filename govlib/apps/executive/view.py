"""What the executive page says about its data: run labels, the chain sentence, the headline.

Pure: the plain dicts of :func:`govlib.analysis.executive.load_spog` in, the same data with the
readable words added out (:func:`page_view`). Times and names are written by
:mod:`govlib.present.formatting`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from govlib.present.formatting import humanize, timestamp

__all__ = ["chain_text", "headline", "page_view", "run_label"]


def run_label(run: Mapping[str, Any]) -> str:
    """The run selector's label: start, workflow, subject, status.

    Example:
        >>> run_label({"started_at": "2026-11-20T09:00:00Z", "workflow": "Auto claims",
        ...            "subject": "CLM-1", "status": "blocked"})
        '2026-11-20 09:00 UTC · Auto claims · CLM-1 · blocked'
    """
    bits = [timestamp(run.get("started_at"), seconds=False)]
    bits.append(run.get("workflow") or run.get("workflow_id") or "run")
    if run.get("subject"):
        bits.append(run["subject"])
    bits.append(run.get("status"))
    return " · ".join(str(b) for b in bits)


def chain_text(chain: Mapping[str, Any]) -> str:
    """The chain badge's sentence, from a real verification (never assumed).

    Example:
        >>> chain_text({"ok": True, "entries": 12, "last_checkpoint_seq": None})
        'Chain verified: 12 entries, no signed checkpoint yet'
        >>> chain_text({"ok": False, "error": "no HMAC key"})
        'Chain not verified: no HMAC key'
    """
    if chain.get("error"):
        return f"Chain not verified: {chain['error']}"
    if not chain.get("ok"):
        return str(chain.get("summary"))
    if chain.get("last_checkpoint_seq"):
        at = timestamp(chain.get("last_checkpoint_at"), seconds=False)
        cp = f"last signed checkpoint at seq {chain['last_checkpoint_seq']}, time {at}"
    else:
        cp = "no signed checkpoint yet"
    return f"Chain verified: {chain.get('entries')} entries, {cp}"


def _run_sentence(run: Mapping[str, Any]) -> tuple[str, str]:
    status = str(run.get("status"))
    lead = str(run.get("summary") or "").strip()  # ClaimsFlow's own plain-language sentence
    if not lead:
        what = f"Claim {run['subject']}" if run.get("subject") else "The run"
        where = f" at {humanize(run['stopped_at_node'])}" if run.get("stopped_at_node") else ""
        lead = f"{what} {'' if status in ('completed', 'running') else 'was '}{status}{where}"
    lead += "" if lead.endswith(".") else "."
    bad = status in ("blocked", "failed", "refused")
    return lead, {"completed": "ok", "running": "info"}.get(status, "bad" if bad else "warn")


def headline(
    run: Mapping[str, Any] | None, kill_switch: Mapping[str, Any], chain: Mapping[str, Any]
) -> dict[str, str]:
    """One or two plain-language sentences and a level for the strip at the top.

    Example:
        >>> headline(None, {"armed": True}, {"ok": True})["text"]
        'All systems normal. No workflow run recorded yet.'
    """
    level, lead = "ok", "No workflow run recorded yet."
    if run is not None:
        lead, level = _run_sentence(run)
    sentences = [lead]
    if kill_switch.get("problem"):
        level = "bad"
        sentences.append("Kill-switch state cannot be trusted: every governed step is refused.")
    elif not kill_switch.get("armed"):
        level = "bad"
        if "kill-switch" not in lead.lower():
            why = f" by rule {kill_switch['rule']}" if kill_switch.get("rule") else ""
            who = f" by {kill_switch['by']}" if kill_switch.get("by") and not why else ""
            at = timestamp(kill_switch.get("at"), date=False)
            sentences.append(f"Kill-switch triggered{why}{who} at {at}.")
    if not chain.get("ok", True):
        level = "bad"
        sentences.append(f"Audit trail cannot be trusted: {chain_text(chain)}.")
    if level == "ok":
        sentences.insert(0, "All systems normal.")
    return {"text": " ".join(sentences), "level": level}


def page_view(data: Mapping[str, Any]) -> dict[str, Any]:
    """``load_spog`` data with the words added: each run's ``label``, the chain's ``text`` and
    the ``headline``.

    Example:
        >>> from govlib.analysis.executive import load_spog
        >>> from govlib.store.database import Store
        >>> page_view(load_spog(Store(memory=True)))["headline"]["level"]
        'ok'
    """
    chain = dict(data.get("chain", {}))
    chain["text"] = chain_text(chain)
    runs = [dict(r, label=run_label(r)) for r in data.get("runs", [])]
    run = data.get("run")
    run = dict(run, label=run_label(run)) if run else None
    head = headline(run, data.get("kill_switch", {}), chain)
    return dict(data, runs=runs, run=run, chain=chain, headline=head)
