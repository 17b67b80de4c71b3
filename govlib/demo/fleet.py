"""A generated fleet lake: several stores, tenants and days of tool calls, laid out as
``govlib export --lake`` writes it (for the Spark/DuckDB comparison and ``benchmarks/scale.py``).

Every call has its own ``created_at`` (one microsecond grid over the days), ids restart at 1 in
each store and run and workflow ids repeat across stores, so only the store id keeps them apart.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

__all__ = ["generate_fleet_lake"]

_TOOLS = ("ocr", "policy_lookup", "fraud_score", "llm_summary", "payout", "email")
_BASE_MS = np.array([120.0, 35.0, 60.0, 900.0, 80.0, 20.0])
_WORKFLOWS = ("claims_intake", "fraud_review", "payout_release")
_CALLS_PER_RUN = 5
_PARTS = ds.partitioning(pa.schema([("tenant", pa.string()), ("day", pa.string())]), flavor="hive")


def _iso(micros: np.ndarray, start: datetime) -> pa.Array:
    """ISO-8601 text with microseconds and Z (the store's ``created_at`` format); a naive
    timestamp cast is ~10x faster than a zoned strftime."""
    epoch = int(start.timestamp() * 1_000_000)  # start is UTC: naive values are UTC
    text = pc.cast(pa.array(micros + epoch, pa.timestamp("us")), pa.string())
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T"), "Z", "")


def _prefixed(prefix: str, numbers: np.ndarray) -> pa.Array:
    """``prefix`` followed by each number, as Arrow text (no Python string per row)."""
    digits = pc.cast(pa.array(numbers, pa.int64()), pa.string())
    return pc.binary_join_element_wise(prefix, digits, "")


def _repeated(text: str, n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), [text]).cast(pa.string())


def _write(table: pa.Table, folder: Path, by_day: pa.Array, tenant: pa.Array | None) -> None:
    """Hive partitions ``tenant=``/``day=`` (or ``day=`` alone) under ``folder``."""
    day = pc.utf8_slice_codeunits(by_day.fill_null("unknown"), 0, 10)
    parts = _PARTS
    if tenant is None:
        parts = ds.partitioning(pa.schema([("day", pa.string())]), flavor="hive")
        table = table.append_column("day", day)
    else:
        table = table.append_column("tenant", tenant).append_column("day", day)
    ds.write_dataset(
        table,
        folder,
        format="parquet",
        partitioning=parts,
        basename_template="part-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_group=1 << 20,
    )


def _store_calls(
    rng: np.random.Generator, n: int, store: int, stores: int, span_us: int, total: int
) -> dict[str, np.ndarray]:
    """The calls of one store: every ``stores``-th slot of the lake's time grid."""
    slots = np.arange(store, total, stores)[:n]
    run = np.arange(slots.size) // _CALLS_PER_RUN
    tool = rng.integers(0, len(_TOOLS), slots.size)
    latency = _BASE_MS[tool] * rng.lognormal(0.0, 0.35, slots.size)
    late = slots > total * 0.97  # the newest calls of one tool slow down: rules fire, drift shows
    latency[late & (tool == 3)] *= 2.5
    return {
        "time_us": slots * (span_us // max(total, 1)),
        "run": run,
        "tool": tool,
        "latency": np.where(rng.random(slots.size) < 0.01, np.nan, np.round(latency)),
        "success": (rng.random(slots.size) > 0.02 + 0.03 * (tool == 4)).astype(np.int64),
        "schema_valid": (rng.random(slots.size) > 0.01).astype(np.int64),
        "verdict": rng.random(slots.size),
    }


def generate_fleet_lake(
    root: str | os.PathLike[str],
    *,
    calls: int = 30_000,
    stores: int = 3,
    tenants: int = 3,
    days: int = 4,
    seed: int = 7,
    sealed_days: int = 1,
) -> dict[str, int]:
    """Write a lake of ``calls`` tool calls over ``stores`` stores, ``tenants`` tenants and
    ``days`` days; the first ``sealed_days`` of the first store sit in ``sealed/`` (as a store
    that sealed them exports). Returns row counts per table.

    Example:
        >>> import tempfile
        >>> generate_fleet_lake(tempfile.mkdtemp(), calls=200)["audit_log"]
        200
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    span_us = days * 86_400 * 1_000_000
    counts = {"audit_log": 0, "workflow_runs": 0}
    for store in range(stores):
        store_id = f"{rng.integers(0, 2**63):016x}{store:016x}"
        n = len(range(store, calls, stores))
        c = _store_calls(rng, n, store, stores, span_us, calls)
        counts["audit_log"] += n
        counts["workflow_runs"] += _write_store(
            root, store_id, c, rng, start, tenants, store == 0 and sealed_days, sealed_days
        )
        flows = pa.table(
            {
                "id": [f"w{i}" for i in range(len(_WORKFLOWS))],
                "name": list(_WORKFLOWS),
                "store_id": [store_id] * len(_WORKFLOWS),
            }
        )
        target = root / "workflows" / f"store_id={store_id}"
        target.mkdir(parents=True, exist_ok=True)
        ds.write_dataset(
            flows, target, format="parquet", existing_data_behavior="overwrite_or_ignore"
        )
    return counts


def _write_store(
    root: Path,
    store_id: str,
    c: dict[str, np.ndarray],
    rng: np.random.Generator,
    start: datetime,
    tenants: int,
    seal: bool | int,
    sealed_days: int,
) -> int:
    """Write one store's calls, verdicts and runs; returns its run count."""
    n_runs = int(c["run"].max()) + 1 if c["run"].size else 0
    run_tenant = np.array([f"tenant-{i}" for i in rng.integers(0, tenants, n_runs)], dtype=object)
    run_status = rng.choice(["completed", "failed", "running"], n_runs, p=[0.95, 0.04, 0.01])
    created = _iso(c["time_us"], start)
    verdict = np.where(
        c["verdict"] < 0.015, "accept", np.where(c["verdict"] > 0.992, "reject", None)
    )
    calls = pa.table(
        {
            "id": np.arange(1, c["run"].size + 1, dtype=np.int64),
            "tenant_id": pa.array(run_tenant, pa.string()).take(pa.array(c["run"])),
            "tool_name": pa.array(_TOOLS, pa.string()).take(pa.array(c["tool"])),
            "composition_id": _prefixed("r", c["run"]),
            "success": c["success"],
            "schema_valid": c["schema_valid"],
            "latency_ms": pa.array(c["latency"], pa.float64(), from_pandas=True).cast(pa.int64()),
            "created_at": created,
            "store_id": _repeated(store_id, c["run"].size),
        }
    )
    verdicts = pa.array(verdict, pa.string())
    cut = (start + timedelta(days=sealed_days)).strftime("%Y-%m-%d") if seal else "0000"
    sealed = pc.less(pc.utf8_slice_codeunits(created, 0, 10), cut)
    live = pc.invert(sealed)
    part = f"store_id={store_id}"
    if seal:
        old = calls.filter(sealed).append_column("human_verdict", verdicts.filter(sealed))
        folder = root / "sealed" / part / "audit_log"
        folder.mkdir(parents=True, exist_ok=True)
        ds.write_dataset(
            old,
            folder,
            format="parquet",
            existing_data_behavior="overwrite_or_ignore",
            basename_template="segment-1-{i}.parquet",
        )
    kept = calls.filter(live)
    _write(kept, root / "audit_log" / part, kept.column("created_at"), kept.column("tenant_id"))
    has = pc.and_(live, pc.is_valid(verdicts))
    ids = calls.column("id").filter(has)
    vt = pa.table(
        {
            "id": ids,
            "human_verdict": verdicts.filter(has),
            "store_id": _repeated(store_id, len(ids)),
        }
    )
    (root / "audit_verdicts" / part).mkdir(parents=True, exist_ok=True)
    ds.write_dataset(
        vt,
        root / "audit_verdicts" / part,
        format="parquet",
        existing_data_behavior="overwrite_or_ignore",
    )
    _write_runs(root, store_id, c, created, start, run_tenant, run_status, n_runs)
    return n_runs


def _write_runs(
    root: Path,
    store_id: str,
    c: dict[str, np.ndarray],
    created: pa.Array,
    start: datetime,
    run_tenant: np.ndarray,
    run_status: np.ndarray,
    n_runs: int,
) -> None:
    """Runs: started at their first call, ended 5 ms after their last (running: no end)."""
    first = np.searchsorted(c["run"], np.arange(n_runs), side="left")
    last = np.searchsorted(c["run"], np.arange(n_runs), side="right") - 1
    ended = _iso(c["time_us"][last] + 5000, start)
    running = pa.array(run_status == "running")
    runs = pa.table(
        {
            "composition_id": _prefixed("r", np.arange(n_runs)),
            "workflow_id": _prefixed("w", np.arange(n_runs) % len(_WORKFLOWS)),
            "tenant_id": pa.array(run_tenant, pa.string()),
            "started_at": created.take(pa.array(first)),
            "ended_at": pc.if_else(running, pa.scalar(None, pa.string()), ended),
            "status": pa.array(run_status, pa.string()),
            "store_id": _repeated(store_id, n_runs),
        }
    )
    _write(
        runs,
        root / "workflow_runs" / f"store_id={store_id}",
        runs.column("started_at"),
        runs.column("tenant_id"),
    )
