"""The executive single pane of glass (notebook ``executive_spog.ipynb``): governance state,
audit trail and cost ledger of one workflow run, for the CRO, the CFO and compliance.

Example:
    >>> from govlib.apps.executive import app  # doctest: +SKIP
    >>> app("data")  # doctest: +SKIP
"""

from govlib.apps.executive.page import app

__all__ = ["app"]
