"""Shared widgets of the govlib Voilà apps: the stylesheet, panels, error boxes.

The look itself (palette, pills, badges, formatting, templates) is :mod:`govlib.present`; this
module only wraps it in ``ipywidgets``:

- ``style_widget(*sheets)``: an ``ipywidgets.HTML`` carrying the ``<style>`` for every ``gl-*``
  class (and the app's own sheets, e.g. ``"spog"``).
- ``error_box(message)``: a readable, red-bordered box widget (Voilà hides tracebacks).
- ``build_or_error(fn, *args, what=...)``: call a widget builder; on any exception return an
  ``error_box`` naming what failed instead of a blank panel.
- ``panel(title, children)``: a titled, bordered column.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from markupsafe import Markup

from govlib.present.pills import palette_css
from govlib.present.templating import render, source

__all__ = ["build_or_error", "error_box", "html_widget", "panel", "stylesheet", "style_widget"]

#: Inline fallback so an error box reads well even when the page's <style> never arrived.
_ERROR_INLINE = (
    "border:2px solid #dc3545;background:#f8d7da;color:#842029;border-radius:6px;padding:8px 12px"
)


def stylesheet(*sheets: str) -> Markup:
    """A ``<style>`` element: the apps' shared sheet and palette, or the named app sheets.

    Example:
        >>> ".gl-pill.gl-ok" in stylesheet(), ".spc-grid" in stylesheet("spc")
        (True, True)
    """
    if not sheets:
        css = source("apps/apps.css") + palette_css()
    else:
        css = "".join(source(f"apps/{name}.css") for name in sheets)
    return Markup("<style>{}</style>").format(Markup(css))


def style_widget(*sheets: str) -> widgets.HTML:
    """An invisible widget carrying the ``<style>`` for all ``gl-*`` classes (plus the app
    ``sheets``); put it first.

    Example:
        >>> "<style>" in style_widget().value
        True
    """
    value = stylesheet() + Markup("").join(stylesheet(s) for s in sheets)
    return widgets.HTML(str(value), layout=widgets.Layout(height="0px", margin="0"))


def html_widget(value: str = "", css: str = "", **layout: Any) -> widgets.HTML:
    """An ``ipywidgets.HTML`` (full width unless told), with a CSS class.

    Example:
        >>> html_widget("<b>x</b>", "gl-status")._dom_classes
        ('gl-status',)
    """
    w = widgets.HTML(str(value), layout=widgets.Layout(**({"width": "100%"} | layout)))
    if css:
        w.add_class(css)
    return w


def error_box(message: str, *, detail: str | None = None) -> widgets.HTML:
    """A readable error panel: a bold message, optional technical detail folded away.

    Example:
        >>> "Could not load" in error_box("Could not load the run").value
        True
    """
    body = render(
        "apps/error_box.html.j2", message=message, detail=detail, inline_style=_ERROR_INLINE
    )
    box = widgets.HTML(str(body))
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
    head = widgets.HTML(str(Markup('<div class="gl-panel-title">{}</div>').format(title)))
    box = widgets.VBox([head, *children], layout=widgets.Layout(min_width="0"))
    box.add_class("gl-panel")
    if css_class:
        box.add_class(css_class)
    return box
