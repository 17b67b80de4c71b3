"""Shared look of the govlib Voilà apps: CSS, pills with text labels, error boxes.

Small and stable on purpose: the SPOG and the SPC dashboard both import these names.

- ``style_widget()``: an ``ipywidgets.HTML`` carrying the ``<style>`` for every ``gl-*`` class.
- ``pill(text, level)`` / ``badge(text, level)``: coloured HTML whose *text* always says the state
  (colour is never the only signal); ``level`` is one of ``LEVELS``.
- ``error_box(message)``: a readable, red-bordered box widget (Voilà hides tracebacks).
- ``build_or_error(fn, *args, what=...)``: call a widget builder; on any exception return an
  ``error_box`` naming what failed instead of a blank panel.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

__all__ = [
    "CSS",
    "LEVELS",
    "LEVEL_SYMBOL",
    "badge",
    "build_or_error",
    "error_box",
    "esc",
    "panel",
    "pill",
    "style_widget",
]

#: Level name -> (foreground, background, border). Text contrast >= 4.5:1 on the background.
_PALETTE: dict[str, tuple[str, str, str]] = {
    "ok": ("#0f5132", "#d1e7dd", "#198754"),
    "warn": ("#664d03", "#fff3cd", "#b58100"),
    "bad": ("#842029", "#f8d7da", "#dc3545"),
    "info": ("#084298", "#cfe2ff", "#0d6efd"),
    "neutral": ("#41464b", "#e2e3e5", "#6c757d"),
}
LEVELS: tuple[str, ...] = tuple(_PALETTE)

#: A shape beside every colour, so the state reads without colour vision.
LEVEL_SYMBOL: dict[str, str] = {
    "ok": "✔",
    "warn": "▲",
    "bad": "✖",
    "info": "ℹ",
    "neutral": "•",
}


def _level_css() -> str:
    rules = []
    for name, (fg, bg, border) in _PALETTE.items():
        rules.append(
            f".gl-pill.gl-{name},.gl-badge.gl-{name}{{color:{fg};background:{bg};"
            f"border-color:{border};}}"
        )
    return "\n".join(rules)


CSS = """
.gl-app{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
  color:#212529;font-size:13px;}
.gl-app *{box-sizing:border-box;}
.gl-app .widget-html,.gl-app .widget-box{min-width:0;max-width:100%;}
.gl-app .widget-html{margin-left:0;margin-right:0;}
.gl-app .widget-html>.widget-html-content{line-height:1.4;min-width:0;max-width:100%;
  overflow-x:auto;}
.gl-pill{display:inline-block;padding:1px 8px;border:1px solid;border-radius:10px;
  font-size:12px;font-weight:600;white-space:nowrap;line-height:1.5;}
.gl-badge{display:block;padding:6px 10px;border:2px solid;border-radius:6px;
  font-size:13px;font-weight:600;}
.gl-badge.gl-big{font-size:22px;text-align:center;padding:10px;letter-spacing:1px;}
.gl-error{border:2px solid #dc3545;background:#f8d7da;color:#842029;border-radius:6px;
  padding:8px 12px;font-size:13px;white-space:normal;}
.gl-error b{display:block;margin-bottom:4px;}
.gl-error details{margin-top:6px;font-size:11px;color:#41464b;}
.gl-error pre{white-space:pre-wrap;max-height:160px;overflow:auto;}
.gl-panel{border:1px solid #ced4da;border-radius:8px;padding:8px;background:#fff;
  min-width:0;overflow:hidden;}
.gl-panel-title{font-size:16px;font-weight:700;margin:0 0 6px 0;color:#212529;}
.gl-section{font-size:12px;font-weight:700;text-transform:uppercase;color:#495057;
  margin:8px 0 3px 0;letter-spacing:.5px;}
.gl-muted{color:#6c757d;font-size:11px;}
.gl-table{border-collapse:collapse;width:100%;font-size:12px;}
.gl-table th{text-align:left;background:#f1f3f5;border-bottom:1px solid #ced4da;padding:2px 4px;
  position:sticky;top:0;}
.gl-table td{border-bottom:1px solid #e9ecef;padding:2px 4px;vertical-align:top;
  overflow-wrap:break-word;}
.gl-table td.gl-num,.gl-table th.gl-num{text-align:right;font-variant-numeric:tabular-nums;
  white-space:nowrap;}
.gl-mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11px;}
.gl-scroll{overflow:auto;}
.gl-headline{font-size:16px;font-weight:600;padding:8px 12px;border-radius:6px;border:2px solid;}
""" + _level_css()


def esc(value: Any) -> str:
    """HTML-escape any value (``None`` becomes an empty string).

    Example:
        >>> esc("<b>")
        '&lt;b&gt;'
    """
    return "" if value is None else html.escape(str(value))


def _level(level: str) -> str:
    return level if level in _PALETTE else "neutral"


def pill(text: str, level: str = "neutral", *, title: str | None = None) -> str:
    """A small rounded label: symbol + text on the level's colour.

    Parameters
    ----------
    text : str
        What the state *is* in words (e.g. "pass", "99.2%"); always shown.
    level : str
        One of ``LEVELS``; unknown levels fall back to "neutral".
    title : str, optional
        Hover text.

    Example:
        >>> "blocked" in pill("blocked", "bad")
        True
    """
    lv = _level(level)
    tip = f' title="{esc(title)}"' if title else ""
    return (
        f'<span class="gl-pill gl-{lv}" data-level="{lv}"{tip}>'
        f"{LEVEL_SYMBOL[lv]} {esc(text)}</span>"
    )


def badge(text: str, level: str = "neutral", *, big: bool = False, title: str | None = None) -> str:
    """A block-level status banner: symbol + text on the level's colour.

    Example:
        >>> 'gl-big' in badge("ARMED", "ok", big=True)
        True
    """
    lv = _level(level)
    tip = f' title="{esc(title)}"' if title else ""
    size = " gl-big" if big else ""
    return (
        f'<div class="gl-badge gl-{lv}{size}" data-level="{lv}"{tip}>'
        f"{LEVEL_SYMBOL[lv]} {esc(text)}</div>"
    )


def style_widget() -> widgets.HTML:
    """An invisible widget carrying the ``<style>`` for all ``gl-*`` classes; put it first.

    Example:
        >>> "<style>" in style_widget().value
        True
    """
    return widgets.HTML(f"<style>{CSS}</style>", layout=widgets.Layout(height="0px", margin="0"))


#: Inline fallback so an error box reads well even when the page's <style> never arrived.
_ERROR_INLINE = (
    "border:2px solid #dc3545;background:#f8d7da;color:#842029;border-radius:6px;padding:8px 12px"
)


def error_box(message: str, *, detail: str | None = None) -> widgets.HTML:
    """A readable error panel: a bold message, optional technical detail folded away.

    Example:
        >>> "Could not load" in error_box("Could not load the run").value
        True
    """
    body = f'<div class="gl-error" role="alert" style="{_ERROR_INLINE}"><b>⚠ {esc(message)}</b>'
    if detail:
        body += f"<details><summary>Technical detail</summary><pre>{esc(detail)}</pre></details>"
    body += "</div>"
    box = widgets.HTML(body)
    box.add_class("gl-error-box")
    return box


def build_or_error(
    fn: Callable[..., widgets.Widget], *args: Any, what: str = "this panel", **kwargs: Any
) -> widgets.Widget:
    """Call a widget builder; if it raises, return an ``error_box`` saying what could not be shown.

    The message names ``what`` and the error's own text (govlib errors already explain themselves);
    the traceback sits folded under "Technical detail".

    Example:
        >>> w = build_or_error(lambda: 1 / 0, what="the cost panel")
        >>> "the cost panel" in w.value
        True
    """
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an app must never show a blank panel
        message = f"Could not show {what}: {exc.__class__.__name__}: {exc}"
        return error_box(message, detail=traceback.format_exc(limit=6))


def panel(title: str, children: list[widgets.Widget], *, css_class: str = "") -> widgets.VBox:
    """A titled, bordered column used for each app panel.

    Example:
        >>> panel("Cost Ledger", []).children[0].value
        '<div class="gl-panel-title">Cost Ledger</div>'
    """
    head = widgets.HTML(f'<div class="gl-panel-title">{esc(title)}</div>')
    box = widgets.VBox([head, *children], layout=widgets.Layout(min_width="0"))
    box.add_class("gl-panel")
    if css_class:
        box.add_class(css_class)
    return box
