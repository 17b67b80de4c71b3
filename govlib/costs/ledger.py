"""The token FinOps ledger: one receipt per model call, priced once, at write time.

A receipt stores token counts, the unit prices used, ``cost_usd`` and the price table's version;
the cost is never recomputed (a later price table changes no stored receipt) and the aggregates
sum stored ``cost_usd`` (rounded to 1e-10 USD against float summing noise). Each write inserts its
receipts and one ``ledger_batch`` WORM digest of them in one transaction. Own-client calls of a
model missing from the table are refused; external usage is table-priced, provider-priced or
unpriced with the reason: never a made-up price.

Bounds (:mod:`govlib.bounds`): each token count is a whole number from 0 to 10^12, a cost (the
provider's or the table-priced one) a finite number from 0 to 10^9 USD, ``created_at`` from
2000-01-01 to now + ``max_clock_skew_s``, and every text field within its length (an
``unpriced_reason`` longer than its bound is truncated with the marker); anything else is
refused before anything is written. The aggregates sum in floating point (``TOTAL``), so even a
store written before the bounds sums without an integer overflow; token sums come back as
integers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from govlib import bounds
from govlib.clock import iso, now_iso
from govlib.context import current_composition_id, current_node
from govlib.costs import pricing
from govlib.errors import GovlibError
from govlib.evidence.digests import append_batch_digest
from govlib.store.database import Store
from govlib.store.schema import LEDGER_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Ledger", "LedgerError", "Receipt", "receipts", "run_cost", "period_totals"]
__all__ += ["cost_by_day", "cost_by_model", "cost_by_step", "cost_by_step_rows", "cost_by_workflow"]
__all__ += ["cost_by_model_rows", "cost_by_workflow_rows"]

USAGE_SOURCES = ("estimated", "provider", "ingested")
_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_PRICES = tuple(c for c in LEDGER_COLUMNS if c.endswith("_price_per_mtok"))
_OWN_KEYS = frozenset(
    ("run_id", "node", "model", *_TOKENS, "usage_source", "tenant_id", "created_at")
)
_EXTERNAL_KEYS = _OWN_KEYS | {"cost_usd", "unpriced_reason", "provider", "requested_model"}


class LedgerError(GovlibError):
    """A receipt cannot be written as asked; the message names the field and the value."""


@dataclass(frozen=True)
class Receipt:
    """One stored ``token_ledger`` row (columns of :data:`govlib.store.schema.LEDGER_COLUMNS`).

    ``digest_seq`` is the WORM seq of the ``ledger_batch`` entry that covers it.

    Example:
        >>> receipts(Store(memory=True))
        []
    """

    id: int
    run_id: str | None
    node: str | None
    tenant_id: str | None
    model: str
    provider: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    input_price_per_mtok: float | None
    output_price_per_mtok: float | None
    cache_read_price_per_mtok: float | None
    cache_write_price_per_mtok: float | None
    cost_usd: float | None
    currency: str
    price_table_version: str | None
    usage_source: str
    cost_source: str
    unpriced_reason: str | None
    created_at: str
    requested_model: str | None = None
    priced_as: str | None = None
    digest_seq: int | None = None


def _tokens(field: str, value: Any) -> int:
    """A token count: a non-negative integer (``TokenCountError``) no larger than 10^12."""
    return bounds.checked_tokens(field, pricing.check_tokens(field, value))


def _when(value: Any, field: str = "created_at") -> str:
    """``value`` (datetime or ISO text; for ``since`` also a date) in the stored ``*_at`` form."""
    try:
        if field == "since" and isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value).isoformat()
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, datetime):
            return iso(value)
        if field == "since" and isinstance(value, date):
            return value.isoformat()
    except ValueError:
        pass
    raise LedgerError(f"{field}: {value!r}; expected an ISO-8601 UTC date/time or a datetime")


class Ledger:
    """Writes receipts to a store's ``token_ledger``.

    Parameters
    ----------
    store : Store
        The govlib store.
    prices : PriceTable, optional
        Default: the packaged table (:func:`govlib.costs.pricing.load_price_table`).
    clock : object with ``now() -> datetime``, optional
        Time of receipts without ``created_at`` (default: the real UTC clock).

    Example:
        >>> ledger = Ledger(Store(memory=True))
        >>> ledger.prices.version
        '2026-11-12.1'
    """

    def __init__(
        self, store: Store, *, prices: pricing.PriceTable | None = None, clock: Any | None = None
    ) -> None:
        self.store = store
        self.prices = prices if prices is not None else pricing.load_price_table()
        self.clock = clock
        self._skew_s: float | None = None

    def _now(self) -> str:
        return now_iso(self.clock)

    def _checked_time(self, value: str) -> str:
        """``value`` when it lies from 2000-01-01 to now + ``max_clock_skew_s``, else refused."""
        if self._skew_s is None:
            self._skew_s = bounds.skew_seconds(self.store.data_dir)
        return bounds.checked_time("created_at", value, skew_s=self._skew_s)

    def _base(self, call: Mapping[str, Any], usage_source: str, keys: frozenset) -> dict[str, Any]:
        unknown = sorted(set(call) - keys)
        if unknown:
            raise LedgerError(f"{unknown[0]}: not a receipt field; expected some of {sorted(keys)}")
        model = call.get("model")
        if not isinstance(model, str) or not model.strip():
            raise LedgerError(f"model: {bounds.shown(model)}; expected a model name")
        bounds.checked_text("model", model)
        if usage_source not in USAGE_SOURCES:
            raise LedgerError(f"usage_source: {usage_source!r}; expected one of {USAGE_SOURCES}")
        row = dict.fromkeys(LEDGER_COLUMNS[1:]) | {k: call.get(k) for k in _OWN_KEYS | {"provider"}}
        row.update({t: _tokens(t, call.get(t, 0)) for t in _TOKENS}, model=model)
        for field, kind in (("run_id", "run_id"), ("node", "node"), ("tenant_id", "tenant")):
            bounds.checked_text(field, row[field], kind=kind)
        bounds.checked_text("provider", row["provider"])
        if row["run_id"] is None:
            row["run_id"] = current_composition_id()
        if row["node"] is None:
            row["node"] = current_node()
        created = row["created_at"]
        row["created_at"] = self._checked_time(
            _when(created) if created is not None else self._now()
        )
        row.update(currency="USD", price_table_version=self.prices.version)
        return row | {"usage_source": usage_source, "cost_source": "unpriced"}

    def _price_into(self, row: dict[str, Any], *, by_base_name: bool = False) -> None:
        """Price ``row`` from the table (raises the pricing error when it cannot).

        ``by_base_name``: an external receipt may be priced by its requested model or by its
        name without a date suffix / provider prefix (:func:`pricing.priced_name`); the name
        that priced it goes to ``priced_as``.
        """
        name = row["model"]
        if by_base_name:
            name = self.prices.resolve(row["model"], row.get("requested_model")) or name
        price = self.prices.price(name)
        if by_base_name:
            row["priced_as"] = name
        cost = pricing.cost_usd(price, *(row[t] for t in _TOKENS))
        row["cost_usd"] = bounds.checked_cost("cost_usd", cost)
        units = (price.input_usd_per_mtok, price.output_usd_per_mtok)
        units += (price.cache_read_usd_per_mtok, price.cache_write_usd_per_mtok)
        row.update(zip(_PRICES, units, strict=True), cost_source="price_table")
        row["provider"] = row["provider"] or price.provider

    def _row(self, call: Mapping[str, Any], external: bool) -> dict[str, Any]:
        """The validated row of a call: own calls priced, external ones as documented."""
        if not external:
            row = self._base(call, call.get("usage_source", "estimated"), _OWN_KEYS)
            self._price_into(row)
            return row
        row = self._base(call, call.get("usage_source", "ingested"), _EXTERNAL_KEYS)
        requested = call.get("requested_model")
        if requested is not None:
            bounds.checked_text("requested_model", requested, kind="model")
            row["requested_model"] = str(requested)
        provider_cost, reason = call.get("cost_usd"), call.get("unpriced_reason")
        if provider_cost is not None:
            ok = isinstance(provider_cost, numbers.Real) and not isinstance(provider_cost, bool)
            if not ok or not math.isfinite(provider_cost) or provider_cost < 0:
                msg = "expected the provider's cost as a finite number >= 0 (or None)"
                raise LedgerError(f"cost_usd: {bounds.shown(provider_cost)}; {msg}")
            row.update(cost_usd=bounds.checked_cost("cost_usd", provider_cost))
            row["cost_source"] = "provider"
        elif reason is not None:
            row["unpriced_reason"] = bounds.truncated("unpriced_reason", str(reason))
        else:
            try:
                self._price_into(row, by_base_name=True)
            except pricing.UnknownModelError:
                row["unpriced_reason"] = f"model not in price table {self.prices.version}"
            except pricing.PricingError as exc:
                row["unpriced_reason"] = bounds.truncated("unpriced_reason", str(exc))
        return row

    def _write(self, rows: list[dict[str, Any]]) -> list[Receipt]:
        if not rows:
            return []
        run_ids = {r["run_id"] for r in rows}
        run_id = run_ids.pop() if len(run_ids) == 1 else None
        with self.store.transaction():
            ids = [self.store.insert("token_ledger", r) for r in rows]
            entry = append_batch_digest(
                self.store,
                "token_ledger",
                ids[0],
                ids[-1],
                run_id=run_id,
                ts=rows[-1]["created_at"],
            )
        return [Receipt(id=i, **r, digest_seq=entry.seq) for i, r in zip(ids, rows, strict=True)]

    def record(
        self,
        *,
        run_id: str | None,
        node: str | None,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        usage_source: str = "estimated",
        tenant_id: str | None = None,
        created_at: str | datetime | None = None,
    ) -> Receipt:
        """Write the receipt of one call by govlib's own model client, priced from the table.

        ``run_id`` / ``node`` None take the surrounding :func:`govlib.context.workflow` /
        :func:`~govlib.context.node`. Raises ``UnknownModelError`` for a model not in the table,
        ``TokenCountError`` for a bad count, ``UnpricedUsageError`` for usage without a list price.

        Example:
            >>> r = Ledger(Store(memory=True)).record(run_id="r1", node="adjudication",
            ...     model="claude-sonnet-4-6", input_tokens=1000, output_tokens=500)
            >>> (r.cost_usd, r.input_price_per_mtok, r.price_table_version)
            (0.0105, 3.0, '2026-11-12.1')
        """
        call = {k: v for k, v in locals().items() if k != "self"}
        return self._write([self._row(call, False)])[0]

    def record_external(
        self,
        *,
        run_id: str | None,
        node: str | None,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cost_usd: float | None = None,
        unpriced_reason: str | None = None,
        provider: str | None = None,
        usage_source: str = "ingested",
        tenant_id: str | None = None,
        created_at: str | datetime | None = None,
    ) -> Receipt:
        """Write the receipt of external usage (ingested traces, another agent's provider).

        With ``cost_usd`` (the provider's figure): ``cost_source='provider'``. With
        ``unpriced_reason``: unpriced. Otherwise priced from the table when the model is there,
        else unpriced with the reason (``cost_usd`` NULL): never a made-up price.

        Example:
            >>> r = Ledger(Store(memory=True)).record_external(run_id=None, node=None,
            ...     model="in-house-llm", input_tokens=10, output_tokens=5)
            >>> (r.cost_usd, r.cost_source)
            (None, 'unpriced')
        """
        call = {k: v for k, v in locals().items() if k != "self"}
        return self._write([self._row(call, True)])[0]

    def record_many(
        self, calls: Iterable[Mapping[str, Any]], *, external: bool = False
    ) -> list[Receipt]:
        """Write many receipts (keyword dicts of :meth:`record`, or of :meth:`record_external`
        with ``external=True``) with one ``ledger_batch`` digest, all validated before writing.

        Example:
            >>> call = {"run_id": "r", "model": "gpt-4.1", "input_tokens": 1, "output_tokens": 1}
            >>> [r.digest_seq for r in Ledger(Store(memory=True)).record_many([call] * 2)]
            [1, 1]
        """
        return self._write([self._row(c, external) for c in calls])


# --- reading ------------------------------------------------------------------------------------
# TOTAL (a float) never raises "integer overflow", even over rows written before the bounds;
# token sums are turned back into integers (exact below 2^53) by _whole.
_SUMS = (
    "COUNT(*) AS calls, TOTAL(l.input_tokens) AS input_tokens, "
    "TOTAL(l.output_tokens) AS output_tokens, TOTAL(l.cache_read_tokens) AS cache_read_tokens, "
    "TOTAL(l.cache_write_tokens) AS cache_write_tokens, "
    "ROUND(TOTAL(l.cost_usd), 10) AS cost_usd, "
    "TOTAL(l.cost_usd IS NULL) AS unpriced_calls"
)
_SUM_COLS = ["calls", *_TOKENS, "cost_usd", "unpriced_calls"]
_WHOLE_COLS = frozenset(("calls", *_TOKENS, "unpriced_calls"))


def _whole(value: Any) -> Any:
    """A float sum of integers as an int (a non-finite one, or anything else, as it is).

    Example:
        >>> _whole(9.223372036854776e18), _whole(None)
        (9223372036854775808, None)
    """
    return int(value) if isinstance(value, float) and math.isfinite(value) else value


def _rows(store: Store, sql: str, params: Iterable[Any], cols: list[str]) -> list[tuple[Any, ...]]:
    whole = [i for i, c in enumerate(cols) if c in _WHOLE_COLS]
    rows = []
    for r in store.query(sql, list(params)):
        row = list(r)
        for i in whole:
            row[i] = _whole(row[i])
        rows.append(tuple(row))
    return rows


def _frame(store: Store, sql: str, params: Iterable[Any], cols: list[str]) -> pd.DataFrame:
    import pandas as pd  # deferred: recording receipts must not load pandas

    return pd.DataFrame(_rows(store, sql, params, cols), columns=cols)


def _grouped(
    store: Store,
    since: Any,
    keys: str,
    group: str,
    cols: list[str],
    tenants: Collection[str] | None = None,
) -> pd.DataFrame:
    """Sums per ``group`` (constant SQL), optionally from ``since`` on and of ``tenants`` only,
    costliest first."""
    return _frame(store, *_grouped_sql(since, keys, group, tenants), [*cols, *_SUM_COLS])


def _grouped_rows(
    store: Store,
    since: Any,
    keys: str,
    group: str,
    cols: list[str],
    tenants: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """:func:`_grouped` as plain dicts."""
    names = [*cols, *_SUM_COLS]
    rows = _rows(store, *_grouped_sql(since, keys, group, tenants), names)
    return [dict(zip(names, r, strict=True)) for r in rows]


def _of_tenants(tenants: Collection[str] | None) -> tuple[str, list[str]]:
    """A condition on ``l.tenant_id`` keeping receipts of ``tenants`` (None: every receipt;
    empty: none), one ? per tenant so the text runs in SQLite and DuckDB alike."""
    if tenants is None:
        return "1 = 1", []
    if isinstance(tenants, str):
        raise GovlibError(f"tenants: {tenants!r:.60}; expected a list of tenant names")
    names = sorted({str(t) for t in tenants})
    if not names:
        return "1 = 0", []
    return f"l.tenant_id IN ({', '.join('?' * len(names))})", names


def _grouped_sql(
    since: Any, keys: str, group: str, tenants: Collection[str] | None = None
) -> tuple[str, list[Any]]:
    who, params = _of_tenants(tenants)
    where = f" WHERE {who}"
    if since is not None:
        where += " AND l.created_at >= ?"
        params = [*params, _when(since, "since")]
    sql = (
        f"SELECT {keys}, {_SUMS} FROM token_ledger l {_JOIN if 'r.' in keys else ''}{where} "  # noqa: S608
        f"GROUP BY {group} ORDER BY cost_usd DESC, {group}"
    )
    return sql, params


_JOIN = (
    "LEFT JOIN workflow_runs r ON r.composition_id = l.run_id "
    "LEFT JOIN workflows w ON w.id = r.workflow_id"
)


def receipts(store: Store, *, run_id: str | None = None) -> list[Receipt]:
    """Stored receipts in id order (optionally of one run).

    Example:
        >>> receipts(Store(memory=True))
        []
    """
    where, params = (" WHERE run_id = ?", [run_id]) if run_id is not None else ("", [])
    sql = f"SELECT {', '.join(LEDGER_COLUMNS)} FROM token_ledger{where} ORDER BY id"  # noqa: S608
    return [Receipt(**dict(r)) for r in store.query(sql, params)]


def cost_by_step(store: Store, run_id: str) -> pd.DataFrame:
    """Per node of one run, in the order the steps first spent: calls, tokens, cost.

    Example:
        >>> list(cost_by_step(Store(memory=True), "r1").columns)[:3]
        ['node', 'calls', 'input_tokens']
    """
    return _frame(store, _BY_STEP_SQL, [run_id], ["node", *_SUM_COLS, "first_at"])


def cost_by_step_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """:func:`cost_by_step` as plain dicts (no pandas: the executive page's first paint).

    Example:
        >>> cost_by_step_rows(Store(memory=True), "r1")
        []
    """
    cols = ["node", *_SUM_COLS, "first_at"]
    return [dict(zip(cols, r, strict=True)) for r in _rows(store, _BY_STEP_SQL, [run_id], cols)]


_BY_STEP_SQL = (
    f"SELECT l.node, {_SUMS}, MIN(l.created_at) FROM token_ledger l "  # noqa: S608
    "WHERE l.run_id = ? GROUP BY l.node ORDER BY MIN(l.id)"
)


def run_cost(store: Store, run_id: str) -> float:
    """Total stored ``cost_usd`` of one run (unpriced receipts add nothing; 0.0 when none).

    Example:
        >>> run_cost(Store(memory=True), "r1")
        0.0
    """
    sql = "SELECT ROUND(TOTAL(cost_usd), 10) FROM token_ledger WHERE run_id = ?"
    return float(store.query_one(sql, (run_id,)))


def cost_by_workflow(
    store: Store, since: Any = None, *, tenants: Collection[str] | None = None
) -> pd.DataFrame:
    """Per workflow (``workflow_runs.composition_id`` = receipt ``run_id``): runs, calls, cost,
    ``cost_per_run``; receipts outside any recorded run are workflow ``(no workflow)``. With
    ``tenants``, only receipts of those tenants (None: every tenant; empty: none).

    Example:
        >>> cost_by_workflow(Store(memory=True)).empty
        True
    """
    keys = (
        "r.workflow_id, MAX(COALESCE(w.name, r.workflow_id, '(no workflow)')), "
        "COUNT(DISTINCT l.run_id)"
    )
    cols = ["workflow_id", "workflow", "runs"]
    df = _grouped(store, since, keys, "r.workflow_id", cols, tenants)
    df["cost_per_run"] = (df["cost_usd"] / df["runs"].where(df["runs"] > 0)).astype(float)
    return df


def cost_by_workflow_rows(
    store: Store, since: Any = None, *, tenants: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """:func:`cost_by_workflow` as plain dicts (``cost_per_run`` None without runs); no pandas.

    Example:
        >>> cost_by_workflow_rows(Store(memory=True))
        []
    """
    keys = (
        "r.workflow_id, MAX(COALESCE(w.name, r.workflow_id, '(no workflow)')), "
        "COUNT(DISTINCT l.run_id)"
    )
    cols = ["workflow_id", "workflow", "runs"]
    out = _grouped_rows(store, since, keys, "r.workflow_id", cols, tenants)
    for row in out:
        runs, cost = row["runs"], row["cost_usd"]
        row["cost_per_run"] = float(cost) / runs if runs and cost is not None else None
    return out


def cost_by_model_rows(
    store: Store, since: Any = None, *, tenants: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """:func:`cost_by_model` as plain dicts; no pandas (the executive page's first paint).

    Example:
        >>> cost_by_model_rows(Store(memory=True))
        []
    """
    keys, cols = "l.model, MAX(l.provider)", ["model", "provider"]
    return _grouped_rows(store, since, keys, "l.model", cols, tenants)


def cost_by_model(
    store: Store, since: Any = None, *, tenants: Collection[str] | None = None
) -> pd.DataFrame:
    """Per model: provider, calls, tokens, stored cost, unpriced calls (costliest first); with
    ``tenants``, only receipts of those tenants.

    Example:
        >>> cost_by_model(Store(memory=True)).empty
        True
    """
    keys, cols = "l.model, MAX(l.provider)", ["model", "provider"]
    return _grouped(store, since, keys, "l.model", cols, tenants)


def cost_by_day(
    store: Store, since: Any = None, *, tenants: Collection[str] | None = None
) -> pd.DataFrame:
    """Per UTC day (``YYYY-MM-DD`` of ``created_at``): calls, tokens, stored cost, in day order;
    with ``tenants``, only receipts of those tenants.

    Example:
        >>> cost_by_day(Store(memory=True)).empty
        True
    """
    day = "substr(l.created_at, 1, 10) AS day"
    df = _grouped(store, since, day, "day", ["day"], tenants)
    return df.sort_values("day", ignore_index=True)


def period_totals(store: Store, *, tenants: Collection[str] | None = None) -> dict[str, Any]:
    """Totals for today, the last 7 days and the last 30 days, relative to the newest receipt
    (with ``tenants``: only receipts of those tenants, the newest among them too).

    ``today`` = the UTC day of the newest receipt; ``7d`` / ``30d`` = receipts newer than the newest
    minus 7 / 30 days. Each period: calls, token sums, ``cost_usd``, ``unpriced_calls``. The newest
    receipt is the newest no later than now + ``max_clock_skew_s`` (a far-future receipt in a store
    written before the bounds does not move the periods).

    Example:
        >>> period_totals(Store(memory=True))["30d"]["cost_usd"]
        0.0
    """
    latest = iso(bounds.latest_time(bounds.skew_seconds(store.data_dir)))
    who, of = _of_tenants(tenants)
    newest = store.query_one(
        f"SELECT MAX(l.created_at) FROM token_ledger l WHERE l.created_at <= ? AND {who}",  # noqa: S608
        (latest, *of),
    )
    moment = datetime.fromisoformat(newest.replace("Z", "+00:00")) if newest else None
    out: dict[str, Any] = {"as_of": newest}
    for period, days in (("today", 0), ("7d", 7), ("30d", 30)):
        # today: from the newest receipt's date on; 7d/30d: newer than newest minus N days.
        start = "~" if moment is None else iso(moment - timedelta(days=days))
        start, cmp = (start[:10], ">=") if days == 0 and moment else (start, ">")
        sql = f"SELECT {_SUMS} FROM token_ledger l WHERE l.created_at {cmp} ? AND l.created_at <= ? AND {who}"  # noqa: S608, E501
        row = store.query(sql, (start, latest, *of))[0]
        out[period] = {
            c: float(row[c]) if c == "cost_usd" else _whole(row[c] or 0) for c in _SUM_COLS
        }
    return out
