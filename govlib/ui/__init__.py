"""Voilà apps (executive SPOG, SPC dashboard) and their shared look (``govlib.ui.common``).

Submodules are imported lazily (``govlib.ui.spog``, ``govlib.ui.spc``) so importing the package
does not pull in Altair or the data layer.
"""

from __future__ import annotations

from govlib.ui.common import badge, build_or_error, error_box, esc, panel, pill, style_widget

__all__ = ["badge", "build_or_error", "error_box", "esc", "panel", "pill", "style_widget"]

_APPS = ("spog", "spog_data", "spog_html", "spc", "spc_calls", "spc_data", "spc_drill")


def __getattr__(name: str) -> object:
    # `import govlib` then `govlib.ui.spog.app()`: the app modules load on first use.
    if name in _APPS or name.startswith(("spog", "spc")):
        import importlib

        return importlib.import_module(f"govlib.ui.{name}")
    raise AttributeError(f"module 'govlib.ui' has no attribute {name!r}")
