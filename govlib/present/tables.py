"""HTML tables and CSS grids: rows of plain values (escaped) or :class:`~markupsafe.Markup`.

* :func:`table` - a ``<table>``; numeric columns right-aligned (class ``num``); a row may be a
  :class:`Row` (cells and ``<tr>`` attributes), a cell a :class:`Cell` (content and hover title).
* :func:`grid_header` / :func:`grid_row` - the one-line CSS grids of the SPC dashboard, whose
  fixed column widths keep a header widget and each row widget aligned.

The layout lives in the macros of ``templates/tables.html.j2``; templates call them directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from govlib.present.templating import render

__all__ = ["Cell", "Column", "Row", "grid_header", "grid_row", "grid_template", "table"]

#: A grid column: (key, header, CSS width).
Column = tuple[str, str, str]


@dataclass(frozen=True)
class Cell:
    """A table cell with a hover title.

    Example:
        >>> Cell("12 ms", title="p95").title
        'p95'
    """

    content: Any
    title: Any = None


@dataclass(frozen=True)
class Row:
    """A table row with attributes for its ``<tr>`` (``data_seq=3`` -> ``data-seq="3"``).

    Example:
        >>> Row(["a"], {"data_tool": "ocr"}).attrs
        {'data_tool': 'ocr'}
    """

    cells: Sequence[Any]
    attrs: Mapping[str, Any] = field(default_factory=dict)


def table(
    heads: Sequence[Any],
    rows: Iterable[Sequence[Any] | Row],
    *,
    numeric: Iterable[int] = (),
    css: str | None = None,
    empty: str = "None in the period.",
    **attributes: Any,
) -> Markup:
    """A table; columns whose index is in ``numeric`` are right-aligned. No rows: a muted note.

    Keyword ``attributes`` go on ``<table>`` (``data_role="x"`` -> ``data-role="x"``).

    Example:
        >>> table(["tool", "calls"], [[Markup("<code>ocr</code>"), "12"]], numeric={1})
        Markup('<table><thead><tr><th>tool</th><th class="num">calls</th></tr></thead><tbody><tr><td><code>ocr</code></td><td class="num">12</td></tr></tbody></table>')
        >>> table(["tool"], [])
        Markup('<p class="gl-muted">None in the period.</p>')
    """
    return render(
        "table.html.j2",
        heads=list(heads),
        rows=list(rows),
        numeric=set(numeric),
        css=css,
        empty=empty,
        attributes=attributes,
    )


def grid_template(columns: Sequence[Column]) -> str:
    """CSS ``grid-template-columns`` of grid columns.

    Example:
        >>> grid_template((("a", "A", "10px"), ("b", "B", "20px")))
        '10px 20px'
    """
    return " ".join(width for _, _, width in columns)


def grid_header(columns: Sequence[Column], numeric: Iterable[str] = ()) -> Markup:
    """The header line of a grid table (columns whose key is in ``numeric`` right-aligned).

    Example:
        >>> "Tool" in grid_header((("tool", "Tool", "90px"),))
        True
    """
    return render("grid.html.j2", head=True, columns=columns, numeric=set(numeric), cells={})


def grid_row(
    columns: Sequence[Column],
    cells: Mapping[str, Any],
    *,
    numeric: Iterable[str] = (),
    prefix: str = "",
    titles: Mapping[str, Any] | None = None,
    css: str = "",
    **attributes: Any,
) -> Markup:
    """One grid line: a ``<div>`` per column, classed ``{prefix}{key}``; ``titles`` hover texts.

    Example:
        >>> grid_row((("id", "Call", "40px"),), {"id": "#7"}, prefix="c-", data_call_id=7)
        Markup('<div class="spc-grid" data-call-id="7" style="grid-template-columns:40px"><div class="c-id">#7</div></div>')
    """
    return render(
        "grid.html.j2",
        head=False,
        columns=columns,
        cells=cells,
        numeric=set(numeric),
        prefix=prefix,
        titles=titles or {},
        css=css,
        attributes=attributes,
    )
