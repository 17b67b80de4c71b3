"""Levels, their palette and symbols, and the pills and badges that show them.

A *level* (``ok``, ``warn``, ``bad``, ``info``, ``neutral``) is a colour and a symbol. A pill or
badge always carries its text and the symbol too, never colour alone. :data:`LEVEL` maps the words
govlib shows (outcomes, statuses, rate colours, drift badges, risk tiers, sampling rates) to levels.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from govlib.present.formatting import DASH
from govlib.present.html import attrs

__all__ = ["LEVEL", "LEVELS", "PALETTE", "SYMBOL", "badge", "level_of", "palette_css", "pill"]

#: Level -> (text colour, background, border). Text contrast >= 4.5:1 on the background.
PALETTE: dict[str, tuple[str, str, str]] = {
    "ok": ("#0f5132", "#d1e7dd", "#198754"),
    "warn": ("#664d03", "#fff3cd", "#b58100"),
    "bad": ("#842029", "#f8d7da", "#dc3545"),
    "info": ("#084298", "#cfe2ff", "#0d6efd"),
    "neutral": ("#41464b", "#e2e3e5", "#6c757d"),
}
LEVELS: tuple[str, ...] = tuple(PALETTE)
#: A shape beside every colour, so the state reads without colour vision.
SYMBOL: dict[str, str] = {"ok": "✔", "warn": "▲", "bad": "✖", "info": "ℹ", "neutral": "•"}

_WORDS = {
    # outcomes of rules and calls, node and run statuses, kill-switch states
    "ok": "pass completed ok allow accept armed reset success enabled",
    "warn": "review",
    "info": "running",
    "neutral": "skipped",
    "bad": "deny trip blocked refused failed triggered reject disabled unregistered",
}
#: Word shown in a pill -> its level.
LEVEL: dict[str, str] = {word: lvl for lvl, words in _WORDS.items() for word in words.split()}
LEVEL |= {"green": "ok", "amber": "warn", "red": "bad"}  # rate pills
LEVEL |= {"stable": "ok", "watch": "warn", "drift": "bad"}  # drift badge
LEVEL |= {"low": "ok", "medium": "warn", "high": "bad"}  # risk tier
LEVEL |= {"100%": "warn", "50%": "warn", "20%": "info", "5%": "ok", "exception": "ok"}  # sampling


def level_of(word: Any, default: str = "neutral") -> str:
    """The level of a word (case-insensitive), ``default`` for words without one.

    Example:
        >>> level_of("blocked"), level_of("ARMED"), level_of(None), level_of("?", "bad")
        ('bad', 'ok', 'neutral', 'bad')
    """
    return LEVEL.get(str(word).lower(), default) if word is not None else default


def _level(level: str | None, text: Any) -> str:
    lvl = level_of(text) if level is None else level
    return lvl if lvl in PALETTE else "neutral"


def pill(text: Any, level: str | None = None, *, title: Any = None) -> Markup:
    """A small rounded label: symbol and text on the level's colour (level from the text when
    not given; unknown levels are neutral). No text: a muted dash.

    Example:
        >>> pill("drift")
        Markup('<span class="gl-pill gl-bad" data-level="bad">✖ drift</span>')
        >>> "title=\\"why\\"" in pill("99.2%", "ok", title="why")
        True
    """
    if text is None:
        return Markup(f'<span class="gl-muted">{DASH}</span>')
    lvl = _level(level, text)
    tip = attrs(title=title or None)
    return Markup(
        f'<span class="gl-pill gl-{lvl}" data-level="{lvl}"{tip}>{SYMBOL[lvl]} {escape(text)}</span>'
    )


def badge(text: Any, level: str | None = None, *, big: bool = False, title: Any = None) -> Markup:
    """A block-level status banner: symbol and text on the level's colour.

    Example:
        >>> badge("ARMED", "ok", big=True)
        Markup('<div class="gl-badge gl-ok gl-big" data-level="ok">✔ ARMED</div>')
    """
    lvl = _level(level, text)
    size, tip = " gl-big" if big else "", attrs(title=title or None)
    return Markup(
        f'<div class="gl-badge gl-{lvl}{size}" data-level="{lvl}"{tip}>{SYMBOL[lvl]} {escape(text)}</div>'
    )


def palette_css() -> Markup:
    """CSS colouring ``.gl-pill``, ``.gl-badge`` and ``.gl-box`` by level (``.gl-ok`` ...).

    Example:
        >>> ".gl-pill.gl-bad" in palette_css()
        True
    """
    rules = [
        f".gl-pill.gl-{name},.gl-badge.gl-{name}{{color:{fg};background:{bg};"
        f"border-color:{border}}}.gl-box.gl-{name}{{border-left-color:{border}}}"
        for name, (fg, bg, border) in PALETTE.items()
    ]
    return Markup("\n".join(rules))
