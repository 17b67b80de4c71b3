"""The Jinja2 environment of govlib's HTML: templates in ``govlib/present/templates``.

Autoescape is on for every template (whatever its file name), undefined names raise, and the
presentation vocabulary is available in every template as globals: :mod:`~govlib.present.html`
(``attrs``, ``bdi``, ``display_text``, ``breakable``, ``plain``), :mod:`~govlib.present.formatting` (``number``,
``percent``, ``money``, ``milliseconds``, ``timestamp``, ``humanize``) and
:mod:`~govlib.present.pills` (``pill``, ``badge``, ``level_of``, ``palette_css``). Tables are the
macros of ``macros.html.j2``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from govlib.present import formatting, html, pills

__all__ = ["TEMPLATES", "compile_templates", "environment", "render", "source"]

#: Folder of the templates (package data of ``govlib``).
TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def environment() -> Environment:
    """The shared, cached environment (autoescape on, strict undefined, trimmed blocks).

    Example:
        >>> environment().autoescape
        True
    """
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # package data: no stat() per render
    )
    for module in (formatting, html, pills):
        env.globals.update({name: getattr(module, name) for name in module.__all__})
    return env


def render(name: str, /, **context: Any) -> Markup:
    """Render the template ``name`` (a path under :data:`TEMPLATES`) as safe HTML.

    Example:
        >>> render("table.html.j2", heads=["tool"], rows=[["<ocr>"]], numeric=(), css=None,
        ...        empty="", attributes={})
        Markup('<table><thead><tr><th>tool</th></tr></thead><tbody><tr><td>&lt;ocr&gt;</td></tr></tbody></table>')
    """
    return Markup(environment().get_template(name).render(**context))


def compile_templates(folders: tuple[str, ...] = ()) -> int:
    """Compile the templates under ``folders`` (all when empty) into the shared environment.

    A preheated page kernel calls it while it waits for its visitor: compiling costs about
    0.15 s per page, which the visitor would otherwise wait for. Returns how many were compiled.

    Example:
        >>> compile_templates(("spc",)) > 0
        True
    """
    env = environment()
    names = [
        n
        for n in env.list_templates(extensions=["j2"])
        if not folders or n.split("/", 1)[0] in folders or "/" not in n
    ]
    for name in names:
        env.get_template(name)
    return len(names)


def source(name: str) -> str:
    """The text of a static file under :data:`TEMPLATES` (a stylesheet), unrendered.

    Example:
        >>> "@media print" in source("report/report.css")
        True
    """
    return (TEMPLATES / name).read_text(encoding="utf-8")
