"""The model price table and the cost of one model call. Pure: values in, values out.

The table is package data, ``govlib/data/prices.csv`` (sources in ``govlib/data/PRICES.md``): one
row per model with list prices in USD per million tokens for input, output, cache read and cache
write, the row's ``source`` and ``effective_date``, and one ``table_version`` shared by every row.
Every receipt stores that version next to the unit prices it was computed from.

A blank price means the source lists none: govlib does not make one up, so usage that needs it is
refused (:class:`UnpricedUsageError`). ``max_priced_input_tokens`` is the prompt size up to which
the list price holds (providers charge more above it); larger prompts are refused the same way.

Costs are computed in exact decimal arithmetic and returned as the nearest float, so
``cost_usd(price, 1000, 500)`` at $3 / $15 per Mtok is exactly ``0.0105``.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from govlib.errors import GovlibError

__all__ = [
    "COLUMNS",
    "DEFAULT_PRICES",
    "ModelPrice",
    "PriceTable",
    "PricingError",
    "PriceTableError",
    "UnknownModelError",
    "UnpricedUsageError",
    "TokenCountError",
    "check_tokens",
    "cost_usd",
    "load_price_table",
    "parse_price_table",
    "priced_name",
]

#: The packaged price table.
DEFAULT_PRICES = Path(__file__).resolve().parents[1] / "data" / "prices.csv"

#: Columns of the price CSV, in order.
COLUMNS: tuple[str, ...] = (
    "table_version",
    "model",
    "provider",
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "cache_read_usd_per_mtok",
    "cache_write_usd_per_mtok",
    "max_priced_input_tokens",
    "effective_date",
    "source",
    "source_key",
)

_PRICE_COLUMNS = COLUMNS[3:7]
_REQUIRED = ("input_usd_per_mtok", "output_usd_per_mtok")
_MTOK = Decimal(1_000_000)


class PricingError(GovlibError):
    """A price or a token count cannot be used."""


class PriceTableError(PricingError):
    """The price table file is malformed; the message names the row, the column and the value."""


class UnknownModelError(PricingError):
    """A model is not in the price table (a configuration error for govlib's own client)."""

    def __init__(self, model: str, known: Iterable[str], version: str) -> None:
        self.model = model
        self.known = tuple(sorted(known))
        self.version = version
        super().__init__(
            f"model: {model!r} is not in price table {version}; expected one of "
            f"{', '.join(self.known)} (add a sourced row to govlib/data/prices.csv)"
        )


class UnpricedUsageError(PricingError):
    """The table has no list price for part of this usage (a blank price or a larger prompt)."""


class TokenCountError(PricingError, ValueError):
    """A token count is not a non-negative integer."""


@dataclass(frozen=True)
class ModelPrice:
    """List prices of one model, USD per million tokens (None: the source lists no price).

    Example:
        >>> p = ModelPrice("m", "acme", 3.0, 15.0)
        >>> p.output_usd_per_mtok
        15.0
    """

    model: str
    provider: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cache_read_usd_per_mtok: float | None = None
    cache_write_usd_per_mtok: float | None = None
    max_priced_input_tokens: int | None = None
    effective_date: str = ""
    source: str = ""
    source_key: str = ""


@dataclass(frozen=True)
class PriceTable:
    """A versioned set of :class:`ModelPrice` rows.

    Example:
        >>> t = PriceTable("v1", {"m": ModelPrice("m", "acme", 1.0, 2.0)})
        >>> t.price("m").input_usd_per_mtok
        1.0
    """

    version: str
    prices: Mapping[str, ModelPrice]
    origin: str = ""

    def price(self, model: str) -> ModelPrice:
        """The prices of ``model``; :class:`UnknownModelError` names it and the known models."""
        try:
            return self.prices[model]
        except (KeyError, TypeError):
            raise UnknownModelError(str(model), self.prices, self.version) from None

    def resolve(self, *names: str | None) -> str | None:
        """The table name that prices a receipt naming ``names`` (see :func:`priced_name`)."""
        return priced_name(self.prices, *names)

    def models(self) -> list[str]:
        """Known model names, sorted."""
        return sorted(self.prices)

    def __contains__(self, model: object) -> bool:
        return model in self.prices

    def __len__(self) -> int:
        return len(self.prices)


def check_tokens(field: str, value: Any) -> int:
    """``value`` as an int when it is a non-negative integer, else :class:`TokenCountError`.

    Booleans, floats (even ``3.0``), NaN and negative numbers are refused.

    Example:
        >>> check_tokens("input_tokens", 12)
        12
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        shown = "NaN" if isinstance(value, float) and math.isnan(value) else repr(value)
        raise TokenCountError(
            f"{field}: {shown} ({type(value).__name__}) is not a token count; "
            "expected a non-negative integer"
        )
    if value < 0:
        raise TokenCountError(f"{field}: {value} is negative; expected a non-negative integer")
    return int(value)


def _priced(field: str, price: float | None, tokens: int, model: str) -> Decimal:
    if tokens == 0:
        return Decimal(0)
    if price is None:
        raise UnpricedUsageError(
            f"{field}: {tokens} tokens of model {model!r} but the price table lists no price "
            "for them; expected 0 or a sourced price"
        )
    return Decimal(repr(float(price))) * tokens


def cost_usd(
    price: ModelPrice,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float:
    """Cost of one call in USD: sum of tokens x unit price / 1,000,000, in exact decimals.

    Parameters
    ----------
    price : ModelPrice
        The model's list prices.
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens : int
        Non-negative integer counts (:class:`TokenCountError` otherwise). Cache tokens are not
        part of ``input_tokens``.

    Returns
    -------
    float
        The nearest float to the exact decimal cost.

    Raises
    ------
    UnpricedUsageError
        Tokens of a kind whose price is blank, or a prompt above ``max_priced_input_tokens``.

    Example:
        >>> cost_usd(ModelPrice("m", "acme", 3.0, 15.0), 1000, 500)
        0.0105
    """
    tin = check_tokens("input_tokens", input_tokens)
    tout = check_tokens("output_tokens", output_tokens)
    tcr = check_tokens("cache_read_tokens", cache_read_tokens)
    tcw = check_tokens("cache_write_tokens", cache_write_tokens)
    limit = price.max_priced_input_tokens
    prompt = tin + tcr + tcw
    if limit is not None and prompt > limit:
        raise UnpricedUsageError(
            f"input_tokens: a prompt of {prompt} tokens (input + cache) for model "
            f"{price.model!r} is above {limit}, the size its list price holds for; expected at "
            "most that (longer prompts are billed at a tier the table does not list)"
        )
    total = (
        _priced("input_tokens", price.input_usd_per_mtok, tin, price.model)
        + _priced("output_tokens", price.output_usd_per_mtok, tout, price.model)
        + _priced("cache_read_tokens", price.cache_read_usd_per_mtok, tcr, price.model)
        + _priced("cache_write_tokens", price.cache_write_usd_per_mtok, tcw, price.model)
    )
    return float(total / _MTOK)


# --- parsing ------------------------------------------------------------------------------------
def _number(row: int, col: str, text: str | None, *, required: bool) -> float | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise PriceTableError(f"row {row}: {col} is empty; expected a price in USD per Mtok")
        return None
    try:
        value = float(text)
    except ValueError:
        raise PriceTableError(
            f"row {row}: {col} = {text!r} is not a number; expected USD per Mtok"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise PriceTableError(f"row {row}: {col} = {text!r}; expected a finite price >= 0")
    return value


def parse_price_table(text: str, *, origin: str = "<text>") -> PriceTable:
    """Parse price-table CSV text (columns :data:`COLUMNS`); errors name the row and column.

    Example:
        >>> head = ",".join(COLUMNS)
        >>> t = parse_price_table(head + "\\nv1,m,acme,1,2,,,,2026-01-01,src,m\\n")
        >>> (t.version, t.price("m").output_usd_per_mtok)
        ('v1', 2.0)
    """
    versions: set[str] = set()
    prices: dict[str, ModelPrice] = {}
    for n, rec in enumerate(_records(text, origin), start=2):
        where = f"{origin} row {n}"
        model = _model_name(rec, where)
        if model in prices:
            raise PriceTableError(f"{where}: model {model!r} appears twice")
        prices[model] = _model_price(model, rec, n, where)
        versions.add((rec["table_version"] or "").strip())
    if not prices:
        raise PriceTableError(f"{origin}: no rows; expected at least one priced model")
    return PriceTable(_table_version(versions, origin), prices, origin)


def _records(text: str, origin: str) -> csv.DictReader[str]:
    """The CSV rows by column name, once every column of :data:`COLUMNS` is there."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise PriceTableError(f"{origin}: missing column(s) {missing}; expected {list(COLUMNS)}")
    return reader


def _model_name(rec: dict[str, str], where: str) -> str:
    """The row's ``model``, which must not be empty."""
    model = (rec["model"] or "").strip()
    if not model:
        raise PriceTableError(f"{where}: model is empty; expected a model name")
    return model


def _model_price(model: str, rec: dict[str, str], n: int, where: str) -> ModelPrice:
    """The price of ``model`` from its CSV row (number ``n``, named ``where`` in errors)."""
    when = _effective_date(rec, where)
    if not (rec["source"] or "").strip():
        raise PriceTableError(f"{where}: source is empty; every price needs one")
    cap = _input_cap(rec, where)
    v = {c: _number(n, c, rec[c], required=c in _REQUIRED) for c in _PRICE_COLUMNS}
    return ModelPrice(
        model=model,
        provider=(rec["provider"] or "").strip(),
        input_usd_per_mtok=v["input_usd_per_mtok"] or 0.0,
        output_usd_per_mtok=v["output_usd_per_mtok"] or 0.0,
        cache_read_usd_per_mtok=v["cache_read_usd_per_mtok"],
        cache_write_usd_per_mtok=v["cache_write_usd_per_mtok"],
        max_priced_input_tokens=cap,
        effective_date=when,
        source=rec["source"].strip(),
        source_key=(rec["source_key"] or "").strip(),
    )


def _effective_date(rec: dict[str, str], where: str) -> str:
    """The row's ``effective_date`` text, checked to be YYYY-MM-DD."""
    when = (rec["effective_date"] or "").strip()
    try:
        date.fromisoformat(when)
    except ValueError:
        raise PriceTableError(f"{where}: effective_date = {when!r}; expected YYYY-MM-DD") from None
    return when


def _input_cap(rec: dict[str, str], where: str) -> int | None:
    """The row's ``max_priced_input_tokens`` (None when empty)."""
    cap_text = (rec["max_priced_input_tokens"] or "").strip()
    if cap_text and not cap_text.isdigit():
        raise PriceTableError(
            f"{where}: max_priced_input_tokens = {cap_text!r}; expected an integer"
        )
    return int(cap_text) if cap_text else None


def _table_version(versions: set[str], origin: str) -> str:
    """The one non-empty ``table_version`` every row shares."""
    if len(versions) != 1 or "" in versions:
        raise PriceTableError(
            f"{origin}: table_version = {sorted(versions)}; expected one non-empty version "
            "shared by every row"
        )
    return next(iter(versions))


def load_price_table(path: str | Path | None = None) -> PriceTable:
    """Read a price table (default: the packaged ``govlib/data/prices.csv``).

    Example:
        >>> t = load_price_table()
        >>> "gpt-4.1-mini" in t
        True
    """
    p = Path(path) if path is not None else DEFAULT_PRICES
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceTableError(f"{p}: cannot read the price table ({exc.strerror})") from None
    return parse_price_table(text, origin=str(p))


_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|@latest)$")


def _base_names(name: str) -> list[str]:
    """``name`` without a trailing date (``-YYYY-MM-DD``, ``@YYYYMMDD``) or provider prefix."""
    out: list[str] = []
    undated = _DATE_SUFFIX.sub("", name)
    unprefixed = name.rsplit("/", 1)[-1]
    for candidate in (undated, unprefixed, _DATE_SUFFIX.sub("", unprefixed)):
        if candidate and candidate != name and candidate not in out:
            out.append(candidate)
    return out


def priced_name(prices: Mapping[str, Any], *names: str | None) -> str | None:
    """The price-table name for a model call, or None when no rule finds one.

    Rules in order: an exact match of each name (the responded model first, then the
    requested one), then each name without a trailing date suffix (``-YYYY-MM-DD``,
    ``-YYYYMMDD``, ``@YYYYMMDD``) or provider prefix (``openai/``). Never a guess beyond these:
    ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``, ``gpt-4o-mini-x`` is not.

    Example:
        >>> table = {"gpt-4o-mini": 1, "claude-sonnet-4-5": 2}
        >>> priced_name(table, "gpt-4o-mini-2024-07-18", "gpt-4o-mini")
        'gpt-4o-mini'
        >>> priced_name(table, "anthropic/claude-sonnet-4-5@20250929"), priced_name(table, "gpt-4o")
        ('claude-sonnet-4-5', None)
    """
    given = [n for n in names if isinstance(n, str) and n]
    for name in given:
        if name in prices:
            return name
    for name in given:
        for candidate in _base_names(name):
            if candidate in prices:
                return candidate
    return None
