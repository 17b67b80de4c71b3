"""govlib.costs.pricing: the sourced price table and exact per-call costs."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govlib.costs.pricing import (
    COLUMNS,
    ModelPrice,
    PriceTableError,
    TokenCountError,
    UnknownModelError,
    UnpricedUsageError,
    check_tokens,
    cost_usd,
    load_price_table,
    parse_price_table,
)
from govlib.errors import GovlibError

HEAD = ",".join(COLUMNS)


def table_text(*rows: str) -> str:
    return HEAD + "\n" + "\n".join(rows) + "\n"


def test_packaged_table_is_versioned_sourced_and_covers_three_providers() -> None:
    t = load_price_table()
    assert t.version == "2026-11-12.1"
    assert len(t) >= 9
    providers = {t.price(m).provider for m in t.models()}
    assert {"openai", "anthropic", "google"} <= providers
    for m in t.models():
        p = t.price(m)
        assert p.source == "litellm 1.109.1 model_prices_and_context_window_backup.json"
        assert p.effective_date == "2026-11-12"
        assert p.source_key.endswith(m)
        assert p.input_usd_per_mtok > 0 and p.output_usd_per_mtok > 0


def test_packaged_prices_are_the_litellm_list_prices() -> None:
    t = load_price_table()
    sonnet = t.price("claude-sonnet-4-6")
    assert (sonnet.input_usd_per_mtok, sonnet.output_usd_per_mtok) == (3.0, 15.0)
    assert (sonnet.cache_read_usd_per_mtok, sonnet.cache_write_usd_per_mtok) == (0.3, 3.75)
    mini = t.price("gpt-4.1-mini")
    assert (mini.input_usd_per_mtok, mini.output_usd_per_mtok) == (0.4, 1.6)
    assert mini.cache_write_usd_per_mtok is None  # not listed: never made up
    assert t.price("gemini-2.5-pro").max_priced_input_tokens == 200_000


@pytest.mark.parametrize(
    ("model", "tokens", "expected"),
    [
        # 1000 x $3/M + 500 x $15/M = 0.003 + 0.0075
        ("claude-sonnet-4-6", (1000, 500, 0, 0), 0.0105),
        # + 2000 cache reads x $0.30/M (0.0006) + 1000 cache writes x $3.75/M (0.00375)
        ("claude-sonnet-4-6", (1000, 500, 2000, 1000), 0.01485),
        # 1000 x $0.40/M + 500 x $1.60/M = 0.0004 + 0.0008
        ("gpt-4.1-mini", (1000, 500, 0, 0), 0.0012),
        # 12345 x $0.30/M + 678 x $2.50/M = 0.0037035 + 0.001695
        ("gemini-2.5-flash", (12345, 678, 0, 0), 0.0053985),
        # 200,000 x $5/M + 1,000,000 x $30/M = 1 + 30
        ("gpt-5.5", (200_000, 1_000_000, 0, 0), 31.0),
        ("claude-haiku-4-5", (0, 0, 0, 0), 0.0),
    ],
)
def test_cost_is_exact(model: str, tokens: tuple[int, int, int, int], expected: float) -> None:
    assert cost_usd(load_price_table().price(model), *tokens) == expected


def test_unknown_model_names_the_model_and_the_known_ones() -> None:
    t = load_price_table()
    with pytest.raises(UnknownModelError) as info:
        t.price("gpt-9-turbo")
    msg = str(info.value)
    assert "'gpt-9-turbo'" in msg and "2026-11-12.1" in msg
    assert "claude-sonnet-4-6" in msg and "gpt-4.1-mini" in msg
    assert info.value.model == "gpt-9-turbo"
    assert isinstance(info.value, GovlibError)


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("input_tokens", -1, "-1 is negative"),
        ("output_tokens", 1.5, "1.5 (float)"),
        ("output_tokens", 3.0, "3.0 (float)"),
        ("cache_read_tokens", float("nan"), "NaN (float)"),
        ("input_tokens", True, "True (bool)"),
        ("cache_write_tokens", "10", "'10' (str)"),
        ("input_tokens", None, "None (NoneType)"),
    ],
)
def test_bad_token_counts_name_the_field(field: str, value: object, shown: str) -> None:
    price = ModelPrice("m", "acme", 1.0, 1.0, 1.0, 1.0)
    counts = {"input_tokens": 1, "output_tokens": 1, "cache_read_tokens": 0}
    counts["cache_write_tokens"] = 0
    counts[field] = value  # type: ignore[assignment]
    with pytest.raises(TokenCountError) as info:
        cost_usd(price, **counts)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{field}: ")
    assert shown in str(info.value)
    assert "non-negative integer" in str(info.value)


def test_numpy_integers_are_token_counts() -> None:
    import numpy as np

    assert check_tokens("input_tokens", np.int64(7)) == 7


def test_usage_without_a_listed_price_is_refused_not_guessed() -> None:
    mini = load_price_table().price("gpt-4.1-mini")
    with pytest.raises(UnpricedUsageError, match="cache_write_tokens: 10 tokens"):
        cost_usd(mini, 100, 10, cache_write_tokens=10)
    assert cost_usd(mini, 100, 10, cache_write_tokens=0) == 0.000056


def test_prompts_above_the_listed_tier_are_refused() -> None:
    pro = load_price_table().price("gemini-2.5-pro")
    # 200,000 x $1.25/M = 0.25 (the list price holds up to 200k prompt tokens)
    assert cost_usd(pro, 150_000, 0, cache_read_tokens=50_000) == 0.19375
    assert cost_usd(pro, 200_000, 0) == 0.25
    with pytest.raises(UnpricedUsageError, match="above 200000"):
        cost_usd(pro, 199_999, 0, cache_read_tokens=2)


prices = st.decimals(min_value=0, max_value=100, places=3).map(float)
counts = st.integers(min_value=0, max_value=10**9)


@given(prices, prices, prices, prices, counts, counts, counts, counts)
def test_cost_is_the_nearest_float_to_the_exact_rational(
    pin: float, pout: float, pcr: float, pcw: float, a: int, b: int, c: int, d: int
) -> None:
    price = ModelPrice("m", "acme", pin, pout, pcr, pcw)
    exact = (
        sum(
            (Fraction(repr(p)) * n for p, n in ((pin, a), (pout, b), (pcr, c), (pcw, d))),
            Fraction(0),
        )
        / 1_000_000
    )
    assert cost_usd(price, a, b, c, d) == float(exact)


@given(prices, counts, counts)
def test_cost_is_monotone_and_additive(p: float, a: int, b: int) -> None:
    price = ModelPrice("m", "acme", p, p)
    both = cost_usd(price, a + b, 0)
    assert both >= cost_usd(price, a, 0) >= 0
    assert math.isclose(both, cost_usd(price, a, 0) + cost_usd(price, b, 0), rel_tol=1e-12)


def test_parse_rejects_bad_tables() -> None:
    good = "v1,m,acme,1,2,,,,2026-01-01,src,m"
    assert parse_price_table(table_text(good)).price("m").output_usd_per_mtok == 2.0
    cases = {
        "missing column": ("model,provider\nm,acme\n", "missing column"),
        "duplicate": (table_text(good, good), "appears twice"),
        "bad number": (table_text("v1,m,acme,x,2,,,,2026-01-01,src,m"), "input_usd_per_mtok"),
        "negative": (table_text("v1,m,acme,-1,2,,,,2026-01-01,src,m"), "finite price >= 0"),
        "no output": (table_text("v1,m,acme,1,,,,,2026-01-01,src,m"), "output_usd_per_mtok"),
        "versions": (table_text(good, "v2,n,acme,1,2,,,,2026-01-01,src,n"), "table_version"),
        "no source": (table_text("v1,m,acme,1,2,,,,2026-01-01,,m"), "source is empty"),
        "bad date": (table_text("v1,m,acme,1,2,,,,Jan 2026,src,m"), "effective_date"),
        "bad cap": (table_text("v1,m,acme,1,2,,,2e5,2026-01-01,src,m"), "max_priced_input"),
        "empty": (HEAD + "\n", "no rows"),
    }
    for text, expected in cases.values():
        with pytest.raises(PriceTableError, match=expected):
            parse_price_table(text)


def test_load_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PriceTableError, match="cannot read the price table"):
        load_price_table(tmp_path / "nope.csv")
