"""The risk officer's SPC dashboard (notebook ``spc_dashboard.ipynb``): control charts,
Western Electric rules, pills, sampling recommendations and ✓/✗ verdicts.

Example:
    >>> from govlib.apps.spc import app  # doctest: +SKIP
    >>> app("data")  # doctest: +SKIP
"""

from govlib.apps.spc.dashboard import app

__all__ = ["app"]
