"""The top-level API is exactly what we mean to export, and every name resolves."""

from __future__ import annotations

import subprocess
import sys

import govlib

EXPECTED = {
    "Store", "StoreError", "GovlibError", "GovernanceRefused", "SETTINGS", "Settings",
    "load_settings", "Emitter", "tool", "audited", "workflow", "node", "stamp_verdict",
    "correct_verdict", "Ledger", "KillSwitch", "ToolRegistry", "Governor", "load_rules",
    "sign_checkpoint", "verify_store", "connect", "export_lake", "control_limits",
    "western_electric", "p_chart_limits", "tool_stats", "workflow_stats", "tool_series",
}  # fmt: skip


def test_all_is_what_we_mean_to_export():
    assert set(govlib.__all__) == EXPECTED
    assert govlib.__all__ == sorted(govlib.__all__)


def test_every_exported_name_resolves():
    for name in govlib.__all__:
        assert getattr(govlib, name) is not None, name


def test_import_is_light():
    code = "import govlib, sys; print(sorted(m for m in ('pandas', 'duckdb', 'voila') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_submodules_are_attributes():
    assert govlib.analysis.spc.control_limits is govlib.control_limits
    assert govlib.apps.__name__ == "govlib.apps"
