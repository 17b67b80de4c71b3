"""The first paint of an app page: a static HTML copy of its widget tree, in the server's HTML.

Voila renders every output in the browser once its JavaScript (about 5 MB) has loaded; the
widgets' text shows 2.4-3.0 s after the request even with a warm cache. The apps therefore also
display :func:`snapshot_html` of their freshly built widget tree as a ``text/html`` output marked
``govlib-first-paint``; govlib's Voila template writes that output straight into the page (no
JavaScript needed to see it), inside a closed shadow root (its styles and its copies of buttons
stay apart from the live page), and removes it once the live widgets have rendered.

Pure: widgets in, HTML out (nothing is displayed here; see :func:`show_first_paint`).
"""

from __future__ import annotations

import re
from typing import Any

import ipywidgets as widgets
from markupsafe import Markup, escape

__all__ = ["FIRST_PAINT", "LIVE_CLASS", "show_first_paint", "snapshot_html", "verify_ahead"]

#: Output metadata key that tells govlib's Voila template to render the output server-side.
FIRST_PAINT = "govlib-first-paint"
#: Class on the app's live root widget: when it is on screen the first paint is removed.
LIVE_CLASS = "gl-live"


def _classes(widget: widgets.DOMWidget, *extra: str) -> str:
    names = [*extra, *getattr(widget, "_dom_classes", ())]
    return f' class="{escape(" ".join(names))}"' if names else ""


def _layout_style(widget: widgets.Widget) -> str:
    layout = getattr(widget, "layout", None)
    if layout is None:
        return ""
    bits = []
    for name in ("width", "min_width", "max_width", "height", "margin", "padding", "flex"):
        value = getattr(layout, name, None)
        if value:
            bits.append(f"{name.replace('_', '-')}:{value}")
    if getattr(layout, "display", None) == "none" or getattr(layout, "visibility", "") == "hidden":
        bits.append("display:none")
    return ";".join(bits)


def _box(widget: widgets.Box, children: str) -> str:
    direction = "row" if isinstance(widget, widgets.HBox) else "column"
    style = f"display:flex;flex-direction:{direction};gap:4px;min-width:0"
    if isinstance(widget, widgets.GridBox):
        columns = widget.layout.grid_template_columns or "1fr"
        style = f"display:grid;grid-template-columns:{columns};gap:8px"
    extra = _layout_style(widget)
    return f'<div{_classes(widget)} style="{escape(style + (";" + extra if extra else ""))}">{children}</div>'


def _tab(widget: widgets.Tab) -> str:
    titles = list(getattr(widget, "titles", ()) or ())
    selected = widget.selected_index or 0
    heads = "".join(
        f'<span class="glfp-tab{" glfp-tab-on" if i == selected else ""}">{escape(t)}</span>'
        for i, t in enumerate(titles)
    )
    body = snapshot_html(widget.children[selected]) if widget.children else ""
    return f'<div{_classes(widget)}><div class="glfp-tabs">{heads}</div>{body}</div>'


def _control(widget: widgets.Widget) -> str:
    if isinstance(widget, widgets.Button):
        return f"<button disabled{_classes(widget)}>{escape(widget.description)}</button>"
    if isinstance(widget, widgets.Dropdown):
        label = widget.label if widget.label is not None else ""
        return f"<select disabled{_classes(widget)}><option>{escape(label)}</option></select>"
    if isinstance(widget, widgets.Checkbox | widgets.ToggleButton):
        mark = "☑" if widget.value else "☐"
        return f"<span{_classes(widget)}>{mark} {escape(widget.description)}</span>"
    if isinstance(widget, widgets.Text | widgets.Textarea):
        value = escape(widget.value or widget.placeholder or "")
        label = escape(widget.description)
        return f'<label{_classes(widget)}>{label} <input disabled value="{value}"></label>'
    return ""


def snapshot_html(widget: Any) -> str:
    """Static HTML of a widget tree: HTML widgets as they are, boxes as flex/grid ``div``s, the
    selected tab only, controls drawn disabled; anything else (charts, outputs) left out.

    Example:
        >>> box = widgets.VBox([widgets.HTML("<b>ok</b>"), widgets.Button(description="Go")])
        >>> snapshot_html(box)
        '<div style="display:flex;flex-direction:column;gap:4px;min-width:0"><div><b>ok</b></div><button disabled>Go</button></div>'
    """
    if isinstance(widget, widgets.HTML | widgets.HTMLMath | widgets.Label):
        value = widget.value if not isinstance(widget, widgets.Label) else escape(widget.value)
        style = _layout_style(widget)
        attr = f' style="{escape(style)}"' if style else ""
        return f"<div{_classes(widget)}{attr}>{value}</div>"
    if isinstance(widget, widgets.Tab):
        return _tab(widget)
    if isinstance(widget, widgets.Box):
        return _box(widget, "".join(snapshot_html(c) for c in widget.children))
    return _control(widget)


_XMLNS = re.compile(r'\s+xmlns(?::[a-z]+)?="https?://[^"]*"')
_SHELL = Markup(
    "<style>.glfp-tabs{{display:flex;gap:2px;border-bottom:1px solid #d0d7de;margin:0 0 8px}}"
    ".glfp-tab{{padding:6px 12px;color:#57606a}}.glfp-tab-on{{color:#1f2328;"
    "border-bottom:2px solid #0969da}}button[disabled],select[disabled]{{opacity:.7}}"
    ":host{{display:block;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "font-size:13px}}</style>{}"
)


def show_first_paint(widget: widgets.Widget) -> widgets.Widget:
    """Display the first paint of ``widget`` (before the widget itself) and mark the widget as
    the live page; returns the widget. Outside Voila the extra output is harmless.

    Example:
        >>> w = widgets.HTML("x")
        >>> show_first_paint(w) is w and LIVE_CLASS in w._dom_classes  # doctest: +ELLIPSIS
        <IPython.core.display.HTML object>
        True
    """
    from IPython.display import HTML, display

    try:
        html = _SHELL.format(Markup(snapshot_html(widget)))
    except Exception:  # noqa: BLE001 - a first paint is an optimisation, never an error
        html = None
    if html:  # inline SVG needs no xmlns in HTML: the page names no outside address at all
        html = _XMLNS.sub("", str(html))
        display(HTML(html), metadata={FIRST_PAINT: True})
    widget.add_class(LIVE_CLASS)
    return widget


def verify_ahead(data_dir: Any = None) -> None:
    """In a preheated kernel, before the page is requested: verify the store in full now.

    The verification remembers where it ended (:func:`govlib.analysis.trust.verified_state`), so
    the page view itself only verifies what was appended since the kernel warmed up. Any error is
    left for the page to show when it is requested.
    """
    from govlib.analysis.trust import verified_state
    from govlib.store.database import Store
    from govlib.store.datadir import checked_data_dir

    try:
        with Store.open_for_reading(checked_data_dir(data_dir, create=False)) as store:
            verified_state(store)
    except Exception:  # noqa: BLE001, S110 - the page shows the error when it is requested
        pass
