"""Benchmark: seal the oldest 90% of a large store, then prove nothing changed.

Builds a store with ``--audit-rows`` tool calls (default 1,000,000) and about ``--worm-entries``
WORM entries (default 3,000,000) through the real writers (``govlib.demo.bulk``), followed by a few
days of ClaimsFlow history (runs, verdicts, kill-switch events); ``--scale`` multiplies both counts
(``--scale 0.05`` for a quick run). Then prints:

- build time and ``govlib.sqlite`` size;
- seal time, size before and after (the issue asks for under 15% after sealing 90%);
- whether ``tool_stats``, ``workflow_stats`` and the cost totals (exact decimal sums) are identical
  before and after;
- ``verify`` and ``verify --archives`` times and results;
- the executive page's read model (``load_spog``: what a page view waits for before it can draw)
  before and after.

Example: ``python benchmarks/retention.py --scale 0.05``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from govlib.analysis.executive import load_spog
from govlib.analysis.read_path import connect
from govlib.analysis.stats import tool_stats, workflow_stats
from govlib.demo.bulk import bulk_history
from govlib.demo.claimsflow.history import generate_history
from govlib.evidence.archive import seal_before
from govlib.evidence.checkpoints import sign_checkpoint
from govlib.evidence.verify import verify_store
from govlib.store.database import Store

AS_OF = "2026-11-20T10:00:00Z"
HISTORY_DAYS = 3
BULK_DAYS = 30


def figures(data: Path) -> dict[str, object]:
    """What must not change when data is sealed."""
    con = connect(data)
    try:
        costs = con.execute(
            "SELECT model, tenant_id, COUNT(*), SUM(CAST(cost_usd AS DECIMAL(24, 12))) "
            "FROM token_ledger GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        return {
            "tool_stats": tool_stats(con).to_dict("records"),
            "workflow_stats": workflow_stats(con).to_dict("records"),
            "costs": costs,
        }
    finally:
        con.close()


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN201 - a stopwatch
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def page_time(data: Path) -> float:
    with Store.open_for_reading(data) as store:
        return timed(load_spog, store)[1]


def build(data: Path, audit_rows: int, worm_entries: int) -> None:
    first = date.fromisoformat(AS_OF[:10]) - timedelta(days=HISTORY_DAYS + BULK_DAYS)
    per_day = max(1, audit_rows // BULK_DAYS)
    batches = audit_rows / 500 + BULK_DAYS
    extra = max(0.0, (worm_entries - batches) / max(audit_rows, 1))
    with Store(data) as store:
        bulk_history(
            store, first_day=first, days=BULK_DAYS, calls_per_day=per_day, entries_per_call=extra
        )
        generate_history(store, days=HISTORY_DAYS, as_of=AS_OF, seed=7)
        sign_checkpoint(store)
        print(
            f"store: {store.count('audit_log'):,} audit rows, {store.count('worm_log'):,} WORM entries"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument("--worm-entries", type=int, default=3_000_000)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true", help="Keep the data dir.")
    args = parser.parse_args()
    audit_rows = int(args.audit_rows * args.scale)
    worm_entries = int(args.worm_entries * args.scale)
    work = Path(tempfile.mkdtemp(prefix="govlib-retention-"))
    data = work / "data"
    try:
        _, built = timed(build, data, audit_rows, worm_entries)
        size = (data / "govlib.sqlite").stat().st_size
        print(f"build: {built:.1f} s, govlib.sqlite {size / 1e6:.1f} MB")
        before, t_fig = timed(figures, data)
        page_before = page_time(data)
        cut = date.fromisoformat(AS_OF[:10]) - timedelta(days=HISTORY_DAYS + BULK_DAYS // 10)
        with Store(data) as store:
            result, t_seal = timed(seal_before, store, cut.isoformat())
        after_size = (data / "govlib.sqlite").stat().st_size
        archive = sum(f.stat().st_size for f in (data / "archive").rglob("*") if f.is_file())
        print(
            f"seal --before {cut}: {t_seal:.1f} s; {result.rows.get('worm_log', 0):,} entries, "
            f"{result.rows.get('audit_log', 0):,} audit rows sealed"
        )
        print(
            f"govlib.sqlite: {size / 1e6:.1f} MB -> {after_size / 1e6:.1f} MB "
            f"({100 * after_size / size:.1f}% of before); archive/ {archive / 1e6:.1f} MB"
        )
        after, t_fig2 = timed(figures, data)
        same = {k: before[k] == after[k] for k in before}
        print(
            f"identical before/after: {same} (figures {t_fig:.1f} s before, {t_fig2:.1f} s after)"
        )
        with Store.open_for_reading(data) as store:
            plain, t_v = timed(verify_store, store)
            full, t_va = timed(verify_store, store, archives=True)
        print(
            f"verify: {'ok' if plain.ok else 'FAILED'} in {t_v:.1f} s; "
            f"verify --archives: {'ok' if full.ok else 'FAILED'} in {t_va:.1f} s"
        )
        if not full.ok:
            print(full.describe())
        print(
            f"executive read model (load_spog): {page_before:.2f} s before, "
            f"{page_time(data):.2f} s after"
        )
    finally:
        if args.keep:
            print(f"kept: {data}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
