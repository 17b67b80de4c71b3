"""What the executive page says about its data: run labels, the chain sentence, the headline.

Pure: the plain dicts of :func:`govlib.analysis.executive.load_spog` in, the same data with the
readable words added out (:func:`page_view`). Times and names are written by
:mod:`govlib.present.formatting`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from govlib.present.formatting import humanize, plural, timestamp

__all__ = [
    "DECISIVE",
    "audit_rows",
    "chain_text",
    "headline",
    "health_view",
    "is_decisive",
    "isolated",
    "page_view",
    "run_label",
]

#: WORM actions that decide a run's story whatever their outcome (kill-switch changes).
DECISIVE = frozenset({"kill_switch_triggered", "kill_switch_reset"})
#: Outcomes that decide it: a rule that stopped the run, a step or run blocked, failed, refused.
_DECISIVE_OUTCOMES = {
    "rule_evaluated": {"trip", "deny"},
    "node_finished": {"blocked", "failed"},
    "run_finished": {"blocked", "failed", "refused"},
}


def isolated(value: Any, max_chars: int = 60) -> str:
    """Untrusted text inside plain text (a headline, a selector's option): capped at
    ``max_chars`` characters ("…" last) and wrapped in Unicode FIRST STRONG ISOLATE / POP
    DIRECTIONAL ISOLATE, so a right-to-left override in it cannot reverse the text after it.

    Example:
        >>> isolated("CLM-1"), isolated("x" * 10, max_chars=4)
        ('\u2068CLM-1\u2069', '\u2068xxx…\u2069')
    """
    text = "" if value is None else str(value)
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return f"\u2068{text}\u2069"


def run_label(run: Mapping[str, Any]) -> str:
    """The run selector's label: start (to the second), workflow, subject, status, run id, so two
    runs of one claim never read alike.

    Example:
        >>> run_label({"started_at": "2026-11-20T09:00:00Z", "workflow": "Auto claims",
        ...            "subject": "CLM-1", "status": "blocked", "run_id": "run-1a2b"}
        ...           ).replace("\u2068", "").replace("\u2069", "")
        '2026-11-20 09:00:00 UTC · Auto claims · CLM-1 · blocked · run-1a2b'
    """
    bits = [timestamp(run.get("started_at"))]
    bits.append(isolated(run.get("workflow") or run.get("workflow_id") or "run", 40))
    if run.get("subject"):
        bits.append(isolated(run["subject"], 40))
    bits.append(run.get("status"))
    if run.get("run_id"):
        bits.append(run["run_id"])
    return " · ".join(str(b) for b in bits)


def is_decisive(entry: Mapping[str, Any]) -> bool:
    """Whether a WORM entry decides the run's story: a kill-switch trigger or reset, a rule that
    tripped or denied, a step or the run blocked, failed or refused.

    Example:
        >>> is_decisive({"action": "kill_switch_reset"}), is_decisive({"action": "node_finished",
        ...     "outcome": "blocked"}), is_decisive({"action": "node_finished", "outcome": "completed"})
        (True, True, False)
    """
    action = entry.get("action")
    return action in DECISIVE or entry.get("outcome") in _DECISIVE_OUTCOMES.get(action, ())


def audit_rows(entries: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The Audit Trail's rows: the decisive entries pinned (newest first), then every entry newest
    first, each marked ``decisive``.

    Example:
        >>> rows = audit_rows([{"seq": 1, "action": "run_started"},
        ...     {"seq": 2, "action": "kill_switch_triggered"}, {"seq": 3, "action": "run_finished",
        ...      "outcome": "completed"}])
        >>> [e["seq"] for e in rows["pinned"]], [e["seq"] for e in rows["timeline"]]
        ([2], [3, 2, 1])
    """
    ordered = sorted(entries, key=lambda e: e["seq"], reverse=True)
    timeline = [dict(e, decisive=is_decisive(e)) for e in ordered]
    return {"pinned": [e for e in timeline if e["decisive"]], "timeline": timeline}


def health_view(health: Mapping[str, Any]) -> dict[str, Any]:
    """The tool-health strip's words: ``5 of 7 tools stable · 2 drifting: a, b`` and a level.

    Example:
        >>> v = health_view({"tools": [{"name": n} for n in "abcdefg"], "stable": list("abcde"),
        ...     "watch": [], "drift": ["f", "g"]})
        >>> v["text"], v["level"]
        ('5 of 7 tools stable · 2 drifting: f, g', 'warn')
        >>> health_view({"tools": [{"name": "a"}], "stable": ["a"], "watch": [], "drift": []})["text"]
        '1 of 1 tool stable'
    """
    if health.get("error"):
        return {"text": f"Tool health could not be read: {health['error']}", "level": "warn"}
    total = len(health.get("tools", ()))
    if not total:
        return {"text": "No tool calls recorded yet.", "level": "neutral"}
    parts = [f"{len(health.get('stable', ()))} of {plural(total, 'tool')} stable"]
    for key, word in (("watch", "on watch"), ("drift", "drifting")):
        if health.get(key):
            parts.append(f"{len(health[key])} {word}: {', '.join(health[key])}")
    level = "warn" if health.get("drift") else ("info" if health.get("watch") else "ok")
    return {"text": " · ".join(parts), "level": level}


def chain_text(chain: Mapping[str, Any]) -> str:
    """The chain badge's sentence, from a real verification (never assumed).

    Example:
        >>> chain_text({"ok": True, "entries": 12, "last_checkpoint_seq": None})
        'Chain verified: 12 entries, no signed checkpoint yet'
        >>> chain_text({"ok": True, "entries": 1, "last_checkpoint_seq": None})
        'Chain verified: 1 entry, no signed checkpoint yet'
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
    n = chain.get("entries")
    return f"Chain verified: {n} {'entry' if n == 1 else 'entries'}, {cp}"


def _run_sentence(run: Mapping[str, Any]) -> tuple[str, str]:
    status = str(run.get("status"))
    lead = str(run.get("summary") or "").strip()  # ClaimsFlow's own plain-language sentence
    if lead:  # it names the claim (untrusted): isolated, so it cannot reorder what follows
        lead = isolated(lead.rstrip("."), 300)
    else:
        what = f"Claim {isolated(run['subject'], 40)}" if run.get("subject") else "The run"
        where = f" at {humanize(run['stopped_at_node'])}" if run.get("stopped_at_node") else ""
        lead = f"{what} {'' if status in ('completed', 'running') else 'was '}{status}{where}"
    lead += "" if lead.endswith(".") else "."
    bad = status in ("blocked", "failed", "refused")
    return lead, {"completed": "ok", "running": "info"}.get(status, "bad" if bad else "warn")


def headline(
    run: Mapping[str, Any] | None,
    kill_switch: Mapping[str, Any],
    chain: Mapping[str, Any],
    health: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """One or two plain-language sentences and a level for the strip at the top.

    "All systems normal" only when the run went through, the kill-switch is armed, the chain
    verifies and no tool drifts or is on watch (``health``: :func:`tool_health`'s data).

    Example:
        >>> headline(None, {"armed": True}, {"ok": True})["text"]
        'All systems normal. No workflow run recorded yet.'
        >>> headline(None, {"armed": True}, {"ok": True}, {"drift": ["ocr"], "watch": []})["text"]
        'No workflow run recorded yet. 1 tool drifting: \u2068ocr\u2069 (see the SPC dashboard).'
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
            why = f" by rule {isolated(kill_switch['rule'], 40)}" if kill_switch.get("rule") else ""
            who = f" by {isolated(kill_switch['by'])}" if kill_switch.get("by") and not why else ""
            at = timestamp(kill_switch.get("at"), date=False)
            sentences.append(f"Kill-switch triggered{why}{who} at {at}.")
    if not chain.get("ok", True):
        level = "bad"
        sentences.append(f"Audit trail cannot be trusted: {chain_text(chain)}.")
    tools, tools_level = _health_sentence(health or {})
    if tools:
        sentences.append(tools)
        level = level if level == "bad" or tools_level is None else _worse(level, tools_level)
    if level == "ok":
        sentences.insert(0, "All systems normal.")
    return {"text": " ".join(sentences), "level": level}


def _health_sentence(health: Mapping[str, Any]) -> tuple[str, str | None]:
    """What the headline says about tool health: drifting, on watch, or unknown."""
    if health.get("error"):
        return "Tool health could not be read.", "warn"
    parts = []
    for key, word in (("drift", "drifting"), ("watch", "on watch")):
        names = health.get(key) or []
        if names:
            shown = ", ".join(isolated(n, 40) for n in names)
            parts.append(f"{plural(len(names), 'tool')} {word}: {shown}")
    if not parts:
        return "", None
    level = "warn" if health.get("drift") else "info"
    return f"{'; '.join(parts)} (see the SPC dashboard).", level


def _worse(a: str, b: str) -> str:
    order = ["ok", "neutral", "info", "warn", "bad"]
    return max(a, b, key=lambda lv: order.index(lv) if lv in order else 1)


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
    health = data.get("health") or {}
    head = headline(run, data.get("kill_switch", {}), chain, health)
    health = dict(health, **health_view(health)) if health else {}
    return dict(data, runs=runs, run=run, chain=chain, headline=head, health=health)
