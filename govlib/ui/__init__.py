"""Voilà apps (executive SPOG, SPC dashboard) and their shared look (``govlib.ui.common``).

Submodules are imported lazily (``govlib.ui.spog``, ``govlib.ui.spc``) so importing the package
does not pull in Altair or the data layer.
"""

from __future__ import annotations

from govlib.ui.common import badge, build_or_error, error_box, esc, panel, pill, style_widget

__all__ = ["badge", "build_or_error", "error_box", "esc", "panel", "pill", "style_widget"]
