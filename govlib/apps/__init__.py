"""The Voilà apps: the executive page (:mod:`govlib.apps.executive`) and the SPC dashboard
(:mod:`govlib.apps.spc`), with their shared widgets (:mod:`govlib.apps.widgets`).

Apps call :mod:`govlib.analysis` functions for their data and :mod:`govlib.present` for their
look; they never run SQL. Imported by nothing but the notebooks and the CLI's ``serve``.
"""
