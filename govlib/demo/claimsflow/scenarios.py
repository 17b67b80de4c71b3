"""Entry points: set a store up for ClaimsFlow, run one claim, run a named live scenario.

``govlib run clean`` / ``govlib run fraud`` call :func:`run_scenario`. Live runs use the real
clock, so tool latencies are measured, not simulated.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from govlib.clock import Clock, SystemClock
from govlib.demo.claimsflow.catalog import TOOLS
from govlib.demo.claimsflow.claims import SCENARIOS, scenario_claim
from govlib.demo.claimsflow.engine import ClaimsEngine, RunResult
from govlib.demo.claimsflow.simulation import LatencyModel
from govlib.demo.claimsflow.workflows import WORKFLOWS, ensure_workflows
from govlib.governance.governor import ToolRegistry
from govlib.store.database import Store

__all__ = [
    "SETUP_BY",
    "fresh_claim_id",
    "is_set_up",
    "register_claimsflow",
    "run_claim",
    "run_scenario",
]

#: Recorded as ``updated_by`` of the tools ClaimsFlow registers.
SETUP_BY = "claimsflow setup"


def register_claimsflow(store: Store, *, clock: Clock | None = None) -> list[str]:
    """Write the workflow graphs and register the ClaimsFlow tools that are not registered yet.

    All of it is one transaction: a process killed half-way leaves no partial set-up behind.
    A tool already in the registry is left alone (a person may have disabled it on purpose).
    The rules are saved by the engine's :class:`~govlib.governance.governor.Governor`. Returns the names
    registered now.

    Example:
        >>> register_claimsflow(Store(memory=True))[:2]
        ['claim_intake', 'document_extraction']
    """
    registry = ToolRegistry(store, clock)
    added = []
    with store.transaction():
        ensure_workflows(store)
        for name, spec in TOOLS.items():
            if registry.get(name) is None:
                schema = dict(spec.schema)
                registry.register(
                    name, spec.description, schema, risk_tier=spec.risk_tier, by=SETUP_BY
                )
                added.append(name)
    return added


def is_set_up(store: Store) -> bool:
    """True when ClaimsFlow was set up here: every workflow is stored and every ClaimsFlow tool
    was registered at some time (a tool a person removed since stays removed).

    A store whose set-up was cut short (by an older govlib, which committed tool by tool) is not
    set up: the next run finishes the job instead of being refused forever.

    Example:
        >>> is_set_up(Store(memory=True))
        False
    """
    have = {r["id"] for r in store.query("SELECT id FROM workflows")}
    if not set(WORKFLOWS) <= have:
        return False
    missing = set(TOOLS) - {r["name"] for r in store.query("SELECT name FROM tool_registry")}
    if not missing:
        return True
    ever = store.query(
        "SELECT DISTINCT json_extract(detail, '$.tool') AS tool FROM worm_log "
        "WHERE action = 'tool_registered'"
    )
    return missing <= {r["tool"] for r in ever}


def run_claim(
    store: Store,
    claim: Mapping[str, Any],
    *,
    engine: ClaimsEngine | None = None,
    composition_id: str | None = None,
    **engine_options: Any,
) -> RunResult:
    """Run one claim (a dict, see :mod:`govlib.demo.claimsflow.claims`) through its workflow.

    ``engine`` reuses a :class:`ClaimsEngine`; otherwise one is built from ``engine_options``
    (``clock``, ``models``, ``tenant``...). A store used by ClaimsFlow for the first time is set
    up with :func:`register_claimsflow`; after that the tool registry belongs to people (a tool
    they removed stays removed and its calls are refused).

    Example:
        >>> from datetime import date
        >>> store = Store(memory=True)
        >>> run_claim(store, scenario_claim("clean", date(2026, 11, 23))).summary
        'Claim CLM-1043 paid USD 4,200.00'
    """
    if engine is None:
        if not is_set_up(store):
            register_claimsflow(store, clock=engine_options.get("clock"))
        engine = ClaimsEngine(store, **engine_options)
    return engine.run(claim, composition_id=composition_id)


def fresh_claim_id(store: Store, claim_id: str) -> str:
    """``claim_id`` when no run in the store has it yet, else the next number up no run has
    (``CLM-1043`` -> ``CLM-1044``): each live claim is a new claim, never a second payout of one.

    Example:
        >>> store = Store(memory=True)
        >>> fresh_claim_id(store, "CLM-1043")
        'CLM-1043'
        >>> _ = run_scenario(store, "clean")
        >>> fresh_claim_id(store, "CLM-1043"), fresh_claim_id(store, "CLM-1042")
        ('CLM-1044', 'CLM-1042')
    """
    match = re.fullmatch(r"(.*?)(\d+)", claim_id)
    if match is None:
        raise ValueError(f"claim_id: {claim_id!r}; expected text ending in a number (CLM-1043)")
    prefix, digits = match.groups()
    sql = "SELECT subject FROM workflow_runs WHERE substr(subject, 1, ?) = ?"
    used = {r[0] for r in store.query(sql, (len(prefix), prefix))}
    number = int(digits)
    while f"{prefix}{number:0{len(digits)}d}" in used:
        number += 1
    return f"{prefix}{number:0{len(digits)}d}"


def run_scenario(store: Store, name: str, **changes: Any) -> RunResult:
    """Run the live ``clean`` or ``fraud`` scenario claim, reported today (real clock).

    ``changes`` alter the scenario claim (see :func:`~govlib.demo.claimsflow.claims.scenario_claim`).
    Each run is a new claim: the scenario's claim id, or the next one up that no run has
    (:func:`fresh_claim_id`), so running ``clean`` twice gives two claims.

    Example:
        >>> store = Store(memory=True)
        >>> run_scenario(store, "fraud").status, run_scenario(store, "clean").status
        ('blocked', 'refused')
    """
    base = changes.get("claim_id") or SCENARIOS.get(name, {}).get("claim_id")
    if base:  # an unknown scenario is refused below, naming the known ones
        changes["claim_id"] = fresh_claim_id(store, str(base))
    claim = scenario_claim(name, datetime.now(UTC).date(), **changes)
    return run_claim(store, claim, service_time=live_service_time())


def live_service_time() -> Callable[[str], float]:
    """Service time (ms) of the remote systems the demo tools stand in for, as they are now.

    The local tools answer in microseconds; the services they represent (a document-extraction
    model, a policy database...) do not. A live run waits a draw from the same latency model as
    the history, in the process state of today (the injected drift and speed-up included), so live
    calls are measured for real and sit where the history says they should.

    Example:
        >>> 0 < live_service_time()("policy_lookup") < 10_000
        True
    """
    model = LatencyModel(random.Random(), as_of=datetime.now(UTC))
    model.clock = SystemClock()  # type: ignore[assignment]
    return model
