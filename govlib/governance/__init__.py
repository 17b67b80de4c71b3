"""Governance in force: the kill-switch, the tool registry, rules as data and the Governor.

Every change is a row plus a WORM entry in one transaction; decisions fail closed. Imports the
store, evidence and the core; imported by capture, analysis and the products.
"""

from govlib.governance.governor import (
    Governor,
    latest_rule_outcomes,
    load_rules,
    save_rules,
    stored_rules,
)
from govlib.governance.killswitch import GovernanceError, KillSwitch, KillSwitchState
from govlib.governance.registry import RISK_TIERS, ToolRegistry, ToolSpec
from govlib.governance.rules import Rule, RuleDefinitionError, RuleOutcome

__all__ = [
    "RISK_TIERS",
    "GovernanceError",
    "Governor",
    "KillSwitch",
    "KillSwitchState",
    "Rule",
    "RuleDefinitionError",
    "RuleOutcome",
    "ToolRegistry",
    "ToolSpec",
    "latest_rule_outcomes",
    "load_rules",
    "save_rules",
    "stored_rules",
]
