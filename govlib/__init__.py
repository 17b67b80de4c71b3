"""govlib: AI-governance evidence that non-engineers can read.

The public names below load lazily, so ``import govlib`` stays fast (no pandas, DuckDB or Voila
until used) and a notebook needs one import: ``govlib.ui.spog.app()``.

Example:
    >>> import govlib
    >>> store = govlib.Store(memory=True)
    >>> govlib.control_limits([1.0, 2.0, 3.0]).center
    2.0
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    # stores and settings
    "Store": "govlib.store",
    "StoreError": "govlib.store",
    "GovlibError": "govlib.errors",
    "GovernanceRefused": "govlib.errors",
    "SETTINGS": "govlib.settings",
    "Settings": "govlib.settings",
    "load_settings": "govlib.settings",
    # capture
    "Emitter": "govlib.audit",
    "tool": "govlib.audit",
    "audited": "govlib.audit",
    "workflow": "govlib.context",
    "node": "govlib.context",
    "stamp_verdict": "govlib.verdicts",
    "correct_verdict": "govlib.verdicts",
    "Ledger": "govlib.ledger",
    "KillSwitch": "govlib.governance",
    "ToolRegistry": "govlib.governance",
    "Governor": "govlib.governance",
    "load_rules": "govlib.governance",
    "sign_checkpoint": "govlib.checkpoints",
    "verify_store": "govlib.verify",
    # read path and statistics
    "connect": "govlib.analytics",
    "export_lake": "govlib.export",
    "control_limits": "govlib.spc",
    "western_electric": "govlib.spc",
    "p_chart_limits": "govlib.spc",
    "tool_stats": "govlib.stats",
    "workflow_stats": "govlib.stats",
    "tool_series": "govlib.stats",
}

#: Submodules reachable as attributes after ``import govlib``.
_SUBMODULES = (
    "analytics", "audit", "chain", "charts", "checkpoints", "claimsflow", "cli", "clock", "context",
    "datadir", "demo", "digests", "errors", "export", "governance", "hashing", "keys", "killswitch",
    "ledger", "otel", "pricing", "registry", "report", "rules", "schema", "serve", "settings", "spc",
    "stats", "status", "store", "ui", "verdicts", "verify", "worm",
)  # fmt: skip

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"govlib.{name}")
    raise AttributeError(f"module 'govlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))
