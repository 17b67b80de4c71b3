"""govlib: AI-governance evidence that non-engineers can read.

The public names below load lazily, so ``import govlib`` stays fast (no pandas, DuckDB or Voila
until used) and a notebook needs one import: ``govlib.apps.executive.app()``.

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
    "Emitter": "govlib.capture.emitter",
    "tool": "govlib.capture.emitter",
    "audited": "govlib.capture.emitter",
    "workflow": "govlib.context",
    "node": "govlib.context",
    "stamp_verdict": "govlib.capture.verdicts",
    "correct_verdict": "govlib.capture.verdicts",
    "Ledger": "govlib.costs.ledger",
    "KillSwitch": "govlib.governance",
    "ToolRegistry": "govlib.governance",
    "Governor": "govlib.governance",
    "load_rules": "govlib.governance",
    "sign_checkpoint": "govlib.evidence.checkpoints",
    "verify_store": "govlib.evidence.verify",
    # read path and statistics
    "connect": "govlib.analysis.read_path",
    "export_lake": "govlib.analysis.export",
    "control_limits": "govlib.analysis.spc",
    "western_electric": "govlib.analysis.spc",
    "p_chart_limits": "govlib.analysis.spc",
    "tool_stats": "govlib.analysis.stats",
    "workflow_stats": "govlib.analysis.stats",
    "tool_series": "govlib.analysis.stats",
}

#: Subpackages (the layers) and core modules reachable as attributes after ``import govlib``.
_SUBMODULES = (
    "analysis",
    "apps",
    "capture",
    "cli",
    "clock",
    "context",
    "costs",
    "demo",
    "errors",
    "evidence",
    "governance",
    "present",
    "report",
    "settings",
    "store",
)

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
