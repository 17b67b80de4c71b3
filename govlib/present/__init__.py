"""Presentation vocabulary: one way to escape, format, colour, tabulate and chart a figure.

Shared by the evidence report (:mod:`govlib.report`) and the Voilà apps (:mod:`govlib.apps`):

* :mod:`~govlib.present.html` - escaping, ``<bdi>`` names, attributes, inline SVG (Markup out).
* :mod:`~govlib.present.formatting` - numbers, percentages, money, milliseconds, times, names.
* :mod:`~govlib.present.pills` - levels, palette and symbols; pills and badges with text labels.
* :mod:`~govlib.present.tables` - HTML tables and the CSS-grid rows of the SPC dashboard.
* :mod:`~govlib.present.charts` - Altair control charts, inline SVG sparklines and cost charts.
* :mod:`~govlib.present.templating` - the Jinja2 environment over ``present/templates``.

Pure: values in, strings or chart values out. Imports the core and :mod:`govlib.analysis` (for
rule names); imported by report and apps, never the other way round.
"""
