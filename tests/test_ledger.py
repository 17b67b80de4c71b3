"""govlib.costs.ledger: receipts priced once at write time, digests, and aggregates from stored rows."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from govlib.context import node, workflow
from govlib.costs.ledger import (
    Ledger,
    LedgerError,
    cost_by_day,
    cost_by_model,
    cost_by_step,
    cost_by_workflow,
    period_totals,
    receipts,
    run_cost,
)
from govlib.costs.pricing import (
    DEFAULT_PRICES,
    TokenCountError,
    UnknownModelError,
    UnpricedUsageError,
    load_price_table,
)
from govlib.evidence import worm
from govlib.evidence.digests import rows_digest
from govlib.store.database import Store
from govlib.store.schema import LEDGER_COLUMNS


class FixedClock:
    """Any object with now() will do (govlib.clock's clocks have one)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path)
    yield s
    s.close()


def stored_row(store: Store, receipt_id: int) -> dict[str, Any]:
    return dict(store.query("SELECT * FROM token_ledger WHERE id = ?", (receipt_id,))[0])


def test_record_stores_exact_cost_unit_prices_and_version(store: Store) -> None:
    ledger = Ledger(store, clock=FixedClock(T0))
    r = ledger.record(
        run_id="run-1",
        node="adjudication",
        model="claude-sonnet-4-6",
        input_tokens=1000,
        output_tokens=500,
        cache_read_tokens=2000,
        cache_write_tokens=1000,
        tenant_id="acme",
    )
    row = stored_row(store, r.id)
    # 1000x3 + 500x15 + 2000x0.3 + 1000x3.75 = 14,850 USD per M -> 0.01485
    assert row["cost_usd"] == 0.01485 == r.cost_usd
    assert (row["input_price_per_mtok"], row["output_price_per_mtok"]) == (3.0, 15.0)
    assert (row["cache_read_price_per_mtok"], row["cache_write_price_per_mtok"]) == (0.3, 3.75)
    assert row["price_table_version"] == "2026-11-12.1"
    assert (row["currency"], row["provider"], row["tenant_id"]) == ("USD", "anthropic", "acme")
    assert (row["usage_source"], row["cost_source"], row["unpriced_reason"]) == (
        "estimated",
        "price_table",
        None,
    )
    assert row["created_at"] == "2026-11-20T09:30:00.000000Z"


def test_each_record_appends_a_ledger_batch_digest_in_the_same_transaction(store: Store) -> None:
    ledger = Ledger(store)
    r = ledger.record(
        run_id="run-1", node="n", model="gpt-4.1-mini", input_tokens=10, output_tokens=5
    )
    [entry] = worm.entries(store)
    assert entry["seq"] == r.digest_seq
    assert (entry["action"], entry["run_id"]) == ("ledger_batch", "run-1")
    cols = ", ".join(LEDGER_COLUMNS)  # later columns enter a digest only when set
    rows = store.query(f"SELECT {cols} FROM token_ledger ORDER BY id")
    assert entry["detail"] == {
        "table": "token_ledger",
        "first_id": r.id,
        "last_id": r.id,
        "count": 1,
        "digest": rows_digest(tuple(x) for x in rows),  # own receipts: no schema-6 values
    }


def test_record_many_writes_one_digest_and_validates_everything_first(store: Store) -> None:
    ledger = Ledger(store)
    call = {"node": "n", "model": "gpt-4.1", "input_tokens": 1000, "output_tokens": 100}
    rs = ledger.record_many([call | {"run_id": "a"}, call | {"run_id": "b"}])
    assert [r.cost_usd for r in rs] == [0.0028, 0.0028]  # 1000x2 + 100x8 per M
    assert {r.digest_seq for r in rs} == {1}
    [entry] = worm.entries(store)
    assert (entry["detail"]["count"], entry["run_id"]) == (2, None)
    with pytest.raises(UnknownModelError):
        ledger.record_many([call | {"run_id": "c"}, call | {"model": "nope"}])
    with pytest.raises(LedgerError, match="tokens_in: not a receipt field"):
        ledger.record_many([call | {"tokens_in": 3}])
    assert store.count("token_ledger") == 2 and store.count("worm_log") == 1


def test_stored_receipts_never_change_when_prices_change(store: Store, tmp_path: Path) -> None:
    first = Ledger(store).record(
        run_id="r", node="n", model="gpt-4.1-mini", input_tokens=1000, output_tokens=500
    )
    before = stored_row(store, first.id)
    # A new table version doubles the price of the same model.
    text = DEFAULT_PRICES.read_text().replace("2026-11-12.1", "2026-12-01.1")
    text = text.replace("gpt-4.1-mini,openai,0.4,1.6", "gpt-4.1-mini,openai,0.8,3.2")
    new_csv = tmp_path / "prices-v2.csv"
    new_csv.write_text(text)
    later = Ledger(store, prices=load_price_table(new_csv))
    second = later.record(
        run_id="r", node="n", model="gpt-4.1-mini", input_tokens=1000, output_tokens=500
    )
    assert stored_row(store, first.id) == before
    assert before["cost_usd"] == 0.0012 and before["price_table_version"] == "2026-11-12.1"
    assert second.cost_usd == 0.0024 and second.price_table_version == "2026-12-01.1"
    assert run_cost(store, "r") == 0.0036
    assert [r.cost_usd for r in receipts(store, run_id="r")] == [0.0012, 0.0024]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.execute("UPDATE token_ledger SET cost_usd = 0 WHERE id = ?", (first.id,))


def test_unknown_model_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(UnknownModelError) as info:
        Ledger(store).record(run_id="r", node="n", model="gpt-9", input_tokens=1, output_tokens=1)
    assert "'gpt-9'" in str(info.value) and "claude-sonnet-4-6" in str(info.value)
    assert store.count("token_ledger") == 0 and store.count("worm_log") == 0


@pytest.mark.parametrize("bad", [-5, 2.5, float("nan"), "12", None])
def test_bad_token_counts_are_refused(store: Store, bad: Any) -> None:
    with pytest.raises(TokenCountError, match="^output_tokens: "):
        Ledger(store).record(
            run_id="r", node="n", model="gpt-4.1", input_tokens=1, output_tokens=bad
        )
    assert store.count("token_ledger") == 0


def test_own_client_usage_without_a_list_price_is_refused(store: Store) -> None:
    with pytest.raises(UnpricedUsageError, match="cache_write_tokens"):
        Ledger(store).record(
            run_id="r",
            node="n",
            model="gpt-4.1",
            input_tokens=1,
            output_tokens=1,
            cache_write_tokens=5,
        )
    assert store.count("token_ledger") == 0


def test_external_usage_unpriced_provider_or_table(store: Store) -> None:
    ledger = Ledger(store)
    unpriced = ledger.record_external(
        run_id="r", node="n", model="in-house-7b", input_tokens=300, output_tokens=20
    )
    row = stored_row(store, unpriced.id)
    assert (row["cost_usd"], row["cost_source"], row["usage_source"]) == (
        None,
        "unpriced",
        "ingested",
    )
    assert row["unpriced_reason"] == "model not in price table 2026-11-12.1"
    assert row["input_price_per_mtok"] is None and row["input_tokens"] == 300
    provider = ledger.record_external(
        run_id="r",
        node="n",
        model="in-house-7b",
        input_tokens=300,
        output_tokens=20,
        cost_usd=0.0042,
        provider="acme-cloud",
    )
    assert (provider.cost_usd, provider.cost_source, provider.provider) == (
        0.0042,
        "provider",
        "acme-cloud",
    )
    known = ledger.record_external(
        run_id="r", node="n", model="gpt-4.1", input_tokens=1000, output_tokens=100
    )
    assert (known.cost_usd, known.cost_source) == (0.0028, "price_table")
    no_cache_price = ledger.record_external(
        run_id="r", node="n", model="gpt-4.1", input_tokens=1, output_tokens=1, cache_write_tokens=3
    )
    assert no_cache_price.cost_usd is None
    assert "cache_write_tokens: 3 tokens" in (no_cache_price.unpriced_reason or "")
    said = ledger.record_external(
        run_id="r",
        node="n",
        model="gpt-4.1",
        input_tokens=1,
        output_tokens=1,
        unpriced_reason="batch tier",
    )
    assert (said.cost_usd, said.unpriced_reason) == (None, "batch tier")
    assert run_cost(store, "r") == 0.007  # 0.0042 + 0.0028; unpriced add nothing
    for bad in (-1.0, float("inf"), "0.1", True):
        with pytest.raises(LedgerError, match="^cost_usd: "):
            ledger.record_external(
                run_id="r", node="n", model="x", input_tokens=1, output_tokens=1, cost_usd=bad
            )


def test_run_and_node_default_to_the_workflow_context(store: Store) -> None:
    with workflow("claim-42"), node("fraud_scoring"):
        r = Ledger(store).record(
            run_id=None, node=None, model="gpt-4.1-mini", input_tokens=1, output_tokens=1
        )
    assert (r.run_id, r.node) == ("claim-42", "fraud_scoring")


def test_bad_created_at_and_usage_source(store: Store) -> None:
    ledger = Ledger(store)
    base = {"run_id": "r", "node": "n", "model": "gpt-4.1", "input_tokens": 1, "output_tokens": 1}
    with pytest.raises(LedgerError, match="^created_at: 'yesterday'"):
        ledger.record(**base, created_at="yesterday")
    with pytest.raises(LedgerError, match="^usage_source: 'guessed'"):
        ledger.record(**base, usage_source="guessed")
    r = ledger.record(**base, created_at="2026-11-20T10:00:00+01:00")
    assert r.created_at == "2026-11-20T09:00:00.000000Z"


def test_a_failed_digest_rolls_back_the_receipt(store: Store) -> None:
    # Fault injection in real SQLite: the WORM log refuses every insert.
    store.execute(
        "CREATE TRIGGER worm_full BEFORE INSERT ON worm_log "
        "BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        Ledger(store).record(run_id="r", node="n", model="gpt-4.1", input_tokens=1, output_tokens=1)
    assert store.count("token_ledger") == 0


# --- aggregates ---------------------------------------------------------------------------------
@pytest.fixture
def history(store: Store) -> Store:
    store.insert("workflows", {"id": "auto", "name": "Auto claim"})
    store.insert("workflows", {"id": "home", "name": "Property claim"})
    for run, wf, day in (("a1", "auto", 0), ("a2", "auto", 1), ("h1", "home", 20)):
        started = (T0 - timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        store.insert(
            "workflow_runs",
            {
                "composition_id": run,
                "workflow_id": wf,
                "started_at": started,
                "status": "completed",
            },
        )
    ledger = Ledger(store)

    def rec(run: str, step: str, model: str, tin: int, tout: int, days_ago: float) -> None:
        when = T0 - timedelta(days=days_ago)
        ledger.record(
            run_id=run,
            node=step,
            model=model,
            input_tokens=tin,
            output_tokens=tout,
            created_at=when,
        )

    rec("a1", "intake", "gpt-4.1-mini", 1000, 500, 0)  # 0.0012
    rec("a1", "fraud_scoring", "claude-sonnet-4-6", 1000, 500, 0)  # 0.0105
    rec("a1", "intake", "gpt-4.1-mini", 2000, 1000, 0)  # 0.0024
    rec("a2", "intake", "gpt-4.1-mini", 1000, 500, 1)  # 0.0012
    rec("h1", "intake", "claude-sonnet-4-6", 2000, 1000, 20)  # 0.021
    ledger.record_external(
        run_id="x9", node="n", model="other", input_tokens=5, output_tokens=5, created_at=T0
    )
    return store


def test_cost_by_step_in_step_order(history: Store) -> None:
    df = cost_by_step(history, "a1")
    assert df["node"].tolist() == ["intake", "fraud_scoring"]
    assert df["calls"].tolist() == [2, 1]
    assert df["input_tokens"].tolist() == [3000, 1000]
    assert df["cost_usd"].tolist() == [0.0036, 0.0105]
    assert df["unpriced_calls"].tolist() == [0, 0]
    assert run_cost(history, "a1") == 0.0141
    assert run_cost(history, "missing") == 0.0


def test_cost_by_workflow_joins_runs(history: Store) -> None:
    df = cost_by_workflow(history).set_index("workflow")
    assert df.loc["Property claim", "cost_usd"] == 0.021
    assert df.loc["Auto claim", "cost_usd"] == 0.0153
    assert df.loc["Auto claim", "runs"] == 2
    assert df.loc["Auto claim", "cost_per_run"] == pytest.approx(0.00765)
    assert df.loc["(no workflow)", "unpriced_calls"] == 1
    assert df.loc["(no workflow)", "cost_usd"] == 0.0
    recent = cost_by_workflow(history, since="2026-11-19").set_index("workflow")
    assert "Property claim" not in recent.index
    assert recent.loc["Auto claim", "cost_usd"] == 0.0153


def test_cost_by_model_and_day(history: Store) -> None:
    models = cost_by_model(history).set_index("model")
    assert models.loc["claude-sonnet-4-6", "cost_usd"] == 0.0315
    assert models.loc["gpt-4.1-mini", "cost_usd"] == 0.0048
    assert models.loc["gpt-4.1-mini", "provider"] == "openai"
    assert models.loc["other", "unpriced_calls"] == 1
    assert cost_by_model(history).iloc[0]["model"] == "claude-sonnet-4-6"  # costliest first
    days = cost_by_day(history)
    assert days["day"].tolist() == ["2026-10-31", "2026-11-19", "2026-11-20"]
    assert days["cost_usd"].tolist() == [0.021, 0.0012, 0.0141]
    since = cost_by_day(history, since=datetime(2026, 11, 20, tzinfo=UTC))
    assert since["day"].tolist() == ["2026-11-20"]
    with pytest.raises(LedgerError, match="^since: 'last week'"):
        cost_by_day(history, since="last week")


def test_period_totals_are_relative_to_the_newest_receipt(history: Store) -> None:
    totals = period_totals(history)
    assert totals["as_of"] == "2026-11-20T09:30:00.000000Z"
    assert (totals["today"]["cost_usd"], totals["today"]["calls"]) == (0.0141, 4)
    assert totals["7d"]["cost_usd"] == 0.0153
    assert totals["30d"]["cost_usd"] == 0.0363
    assert totals["30d"]["unpriced_calls"] == 1
    empty = period_totals(Store(memory=True))
    assert empty["as_of"] is None and empty["7d"]["calls"] == 0 and empty["7d"]["cost_usd"] == 0.0
