"""cost_calculate: exact Decimal arithmetic, each token class at its own price."""

from decimal import Decimal

import pytest

from pricing.selectors import Price, TokenCounts, cost_calculate

# Pure arithmetic on prices given in the test.
pytestmark = pytest.mark.engine_independent


def price(cw="3.75", cr="0.30"):
    return Price(
        model="m",
        input_per_mtok=Decimal("3"),
        output_per_mtok=Decimal("15"),
        cache_write_per_mtok=None if cw is None else Decimal(cw),
        cache_read_per_mtok=None if cr is None else Decimal(cr),
    )


def test_each_token_class_is_priced_at_its_own_price():
    tokens = TokenCounts(input_tokens=1000, output_tokens=500, cache_read_tokens=2000, cache_write_tokens=300)
    expected = (
        Decimal(1000) * 3 + Decimal(500) * 15 + Decimal(300) * Decimal("3.75") + Decimal(2000) * Decimal("0.30")
    ) / Decimal(1_000_000)
    assert cost_calculate(tokens=tokens, price=price()) == expected


def test_it_is_exact_to_ten_places():
    tokens = TokenCounts(input_tokens=1)
    odd = Price("m", Decimal("0.0000001"), Decimal(0), None, None)
    assert cost_calculate(tokens=tokens, price=odd) == Decimal("0.0000000000")
    assert cost_calculate(tokens=TokenCounts(input_tokens=7), price=price()) == Decimal("0.000021")


def test_missing_cache_prices_fall_back_to_the_input_price():
    tokens = TokenCounts(cache_read_tokens=100, cache_write_tokens=100)
    assert cost_calculate(tokens=tokens, price=price(cw=None, cr=None)) == Decimal(200 * 3) / 1_000_000


def test_unpriced_model_costs_nothing():
    assert cost_calculate(tokens=TokenCounts(input_tokens=10), price=None) == 0
