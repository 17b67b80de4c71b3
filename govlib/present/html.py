"""Safe HTML pieces: escaped text, ``<bdi>``-isolated names, attributes, inline SVG.

Everything returns :class:`markupsafe.Markup` (a ``str``), which the Jinja2 templates of
:mod:`govlib.present.templating` insert as it is while escaping every plain string. So a value is
escaped exactly once, wherever it is shown. These primitives (and the pills) are the only places
that write a tag by hand, each value through :func:`markupsafe.escape`: they run per table cell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "DISPLAY_MAX_CHARS",
    "Markup",
    "attrs",
    "bdi",
    "breakable",
    "display_text",
    "esc",
    "inline_svg",
    "plain",
]

#: How many characters of a stored name or reason a table cell shows before "…" (hover: all).
DISPLAY_MAX_CHARS = 60


def esc(value: Any) -> Markup:
    """``value`` as escaped HTML text (None: empty; Markup is kept as it is).

    Example:
        >>> esc("a < b"), esc(None)
        (Markup('a &lt; b'), Markup(''))
    """
    return Markup("") if value is None else escape(value)


def bdi(value: Any) -> Markup:
    """Text from the data (a name, a reason) isolated for bidirectional layout, escaped.

    Example:
        >>> bdi("<Ana>")
        Markup('<bdi>&lt;Ana&gt;</bdi>')
    """
    return Markup(f"<bdi>{esc(value)}</bdi>")


def display_text(value: Any, max_chars: int = DISPLAY_MAX_CHARS) -> Markup:
    """Untrusted text for display: escaped, ``<bdi>``-isolated and capped, the whole on hover.

    A name or reason from the data can hold a right-to-left override or be thousands of
    characters long; isolated, it cannot reorder the page's own text after it, and capped at
    ``max_chars`` characters (the last one "…") it cannot stretch a table. When the value is cut,
    the ``title`` holds all of it (escaped once, so a hover shows the value, never entities).

    Parameters
    ----------
    value : Any
        The text (None: an empty isolate).
    max_chars : int
        Characters shown at most, the ellipsis included (at least 2).

    Returns
    -------
    Markup
        ``<bdi class="gl-text">…</bdi>``, with ``title`` when the text was cut.

    Example:
        >>> display_text("<Ana>")
        Markup('<bdi class="gl-text">&lt;Ana&gt;</bdi>')
        >>> display_text("abcdefgh", max_chars=5)
        Markup('<bdi class="gl-text" title="abcdefgh">abcd…</bdi>')
    """
    if max_chars < 2:
        raise ValueError(f"max_chars={max_chars!r}: expected an integer of at least 2")
    text = "" if value is None else str(value)
    if len(text) <= max_chars:
        return Markup(f'<bdi class="gl-text">{escape(text)}</bdi>')
    shown = text[: max_chars - 1] + "\u2026"
    return Markup(f'<bdi class="gl-text"{attrs(title=text)}>{escape(shown)}</bdi>')


def breakable(value: Any) -> Markup:
    """Escaped text that may wrap after each ``_`` (long identifiers in narrow columns).

    Example:
        >>> breakable("fraud_scoring")
        Markup('fraud_<wbr>scoring')
    """
    return Markup(str(esc(value)).replace("_", "_<wbr>"))


def attrs(mapping: Mapping[str, Any] | None = None, /, **values: Any) -> Markup:
    """HTML attributes, each with a leading space: ``data_seq=3`` -> `` data-seq="3"``.

    A trailing ``_`` is dropped (``class_``), other ``_`` become ``-``; None and False leave the
    attribute out, True writes it bare. Values are escaped.

    Example:
        >>> attrs(class_="gl-pill", data_seq=3, title=None, open=True)
        Markup(' class="gl-pill" data-seq="3" open')
    """
    out = []
    for key, value in {**(mapping or {}), **values}.items():
        if value is None or value is False:
            continue
        name = escape(key.rstrip("_").replace("_", "-"))
        out.append(f" {name}" if value is True else f' {name}="{escape(value)}"')
    return Markup("".join(out))


def plain(value: Any) -> str:
    """The text of an HTML fragment: tags dropped, entities decoded (for ``title`` hovers).

    Example:
        >>> plain('<b>a</b> &amp; b')
        'a & b'
    """
    return Markup(str(value)).striptags()


def inline_svg(svg: str) -> Markup:
    """An SVG document as inline HTML: no XML prolog, no namespace (URL) attributes.

    Example:
        >>> inline_svg('<svg xmlns="http://www.w3.org/2000/svg" width="1"></svg>')
        Markup('<svg width="1"></svg>')
    """
    svg = re.sub(r"<\?xml[^>]*\?>", "", str(svg))
    return Markup(re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg).strip())
