"""Modules imported on first use, so a page's first paint does not pay for what it never draws.

pandas costs about a second of imports on this class of machine; the executive page's first paint
needs the SPC rule names (``govlib.analysis.spc.RULES``) and the chart builders' small helpers but
no data frame. Modules that use pandas only inside functions import :data:`pd` from here.

Example:
    >>> from govlib.lazy import pd
    >>> pd.DataFrame({"a": [1]}).shape
    (1, 1)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["pd"]

if TYPE_CHECKING:
    import pandas as pd
else:

    class _Pandas:
        """pandas, imported on the first attribute read."""

        def __getattr__(self, name: str) -> object:
            import pandas

            return getattr(pandas, name)

    pd = _Pandas()
