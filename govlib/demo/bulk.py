"""Bulk history for retention tests and benchmarks: many days of tool calls, receipts and entries.

Written through the real writers (``insert_audit_batch`` with its ``audit_batch`` digest,
``Ledger.record_many`` with its ``ledger_batch`` digest, ``worm.append``), a day at a time, each
entry stamped with its day so that sealing by date cuts where expected. Deterministic for a seed.
Call it on an empty store *before* :func:`govlib.demo.claimsflow.history.generate_history` for
later days, so WORM times grow with seq.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from govlib.capture.rows import insert_audit_batch
from govlib.costs.ledger import Ledger
from govlib.evidence import worm
from govlib.store.database import Store

__all__ = ["bulk_history"]

_TOOLS = ("policy_lookup", "claim_history", "fraud_scoring", "document_extraction", "payout_calc")
_TENANTS = ("acme", "globex")
_MODELS = ("claude-sonnet-4-6", "gpt-4.1")


def bulk_history(
    store: Store,
    *,
    first_day: str | date,
    days: int,
    calls_per_day: int,
    entries_per_call: float = 0.0,
    receipts_per_day: int = 50,
    batch_size: int = 500,
    seed: int = 7,
) -> dict[str, int]:
    """Write ``days`` days of content-free tool calls, receipts and rule entries.

    Parameters
    ----------
    store
        A store (normally empty).
    first_day
        The first day (``YYYY-MM-DD``); every row and entry is dated within its day.
    days, calls_per_day
        How many days, and tool calls per day (in batches of ``batch_size``).
    entries_per_call
        Extra ``rule_evaluated`` WORM entries per tool call (the benchmark's 3M entries).
    receipts_per_day
        Ledger receipts per day (one ``ledger_batch`` each day).
    seed
        Random seed (latencies, outcomes, tenants).

    Returns
    -------
    Rows written per kind.

    Example:
        >>> s = Store(memory=True)
        >>> bulk_history(s, first_day="2026-10-01", days=1, calls_per_day=10)["audit_log"]
        10
    """
    rng = random.Random(seed)
    start = date.fromisoformat(str(first_day))
    ledger = Ledger(store)
    written = {"audit_log": 0, "token_ledger": 0, "worm_log": 0}
    for d in range(days):
        day = datetime.combine(start + timedelta(days=d), datetime.min.time())
        step = 80_000 / max(calls_per_day, 1)  # spread the day's calls over 22 hours
        for lo in range(0, calls_per_day, batch_size):
            n = min(batch_size, calls_per_day - lo)
            rows = [_call(rng, day + timedelta(seconds=(lo + i) * step)) for i in range(n)]
            end = day + timedelta(seconds=(lo + n) * step)
            with store.transaction():
                insert_audit_batch(store, rows, ts=_iso(end))
                extra = int(round(n * entries_per_call))
                for k in range(extra):
                    worm.append(
                        store,
                        "rule_evaluated",
                        rule="bulk_latency_limit",
                        outcome="pass" if rng.random() > 0.02 else "review",
                        detail={"n": k},
                        ts=_iso(end),
                    )
            written["audit_log"] += n
            written["worm_log"] += extra + 1
        receipts = [
            {
                "run_id": None,
                "node": "bulk",
                "model": rng.choice(_MODELS),
                "input_tokens": rng.randint(100, 4000),
                "output_tokens": rng.randint(50, 800),
                "tenant_id": rng.choice(_TENANTS),
                "created_at": _iso(day + timedelta(hours=23, seconds=i)),
            }
            for i in range(receipts_per_day)
        ]
        if receipts:
            ledger.record_many(receipts)
            written["token_ledger"] += len(receipts)
            written["worm_log"] += 1
    return written


def _call(rng: random.Random, when: datetime) -> tuple[object, ...]:
    ok = rng.random() > 0.03
    return (
        rng.choice(_TENANTS),
        rng.choice(_TOOLS),
        "bulk-agent",
        None,
        1 if ok else 0,
        1,
        int(rng.lognormvariate(5.0, 0.4)),
        f"{rng.getrandbits(32):08x}",
        None if ok else "TimeoutError",
        when,
    )


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
