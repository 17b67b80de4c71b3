"""ClaimsFlow: a governed insurance-claims agent workflow, the workload behind the dashboards.

- :data:`WORKFLOWS`: the workflow graphs, as data (:mod:`~govlib.demo.claimsflow.workflows`).
- :func:`run_scenario` (``govlib run clean|fraud``), :func:`run_claim`, :class:`RunResult`.
- :func:`generate_history`: the seeded multi-week history (:mod:`~govlib.demo.claimsflow.history`).

Example:
    >>> from govlib.store.database import Store
    >>> run_scenario(Store(memory=True), "clean").status
    'completed'
"""

from __future__ import annotations

from govlib.demo.claimsflow.engine import ClaimsEngine, RunResult
from govlib.demo.claimsflow.history import generate_history
from govlib.demo.claimsflow.scenarios import register_claimsflow, run_claim, run_scenario
from govlib.demo.claimsflow.workflows import WORKFLOWS

__all__ = [
    "WORKFLOWS",
    "ClaimsEngine",
    "RunResult",
    "register_claimsflow",
    "run_claim",
    "run_scenario",
    "generate_history",
]
