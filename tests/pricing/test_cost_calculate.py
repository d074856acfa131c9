"""cost_calculate: exact Decimal arithmetic, each token class at its own price."""

from decimal import Decimal

import pytest

from core.money import MONEY_MAX, to_units
from pricing.selectors import Modes, Price, TokenCounts, cost_calculate, cost_upper_bound

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


# Billing modes (issue 16): each tier, audio and one-hour cache writes at their own prices; never an overflow.

MODES = {
    "input_priority_per_mtok": Decimal("5"),
    "output_priority_per_mtok": Decimal("25"),
    "cache_read_priority_per_mtok": Decimal("0.5"),
    "input_flex_per_mtok": Decimal("1.5"),
    "output_flex_per_mtok": Decimal("7.5"),
    "cache_write_1h_per_mtok": Decimal("6"),
    "input_audio_per_mtok": Decimal("40"),
    "output_audio_per_mtok": Decimal("80"),
}


def priced(**modes):
    return Price("m", Decimal("3"), Decimal("15"), Decimal("3.75"), Decimal("0.30"), **modes)


def usd(total: Decimal) -> Decimal:
    return (total / Decimal(1_000_000)).quantize(Decimal("1e-10"))


@pytest.mark.parametrize(
    ("tier", "rates"),
    [("priority", ("5", "25", "0.5")), ("flex", ("1.5", "7.5", "1.5")), ("default", ("3", "15", "0.30"))],
)
def test_the_tier_that_served_the_call_sets_the_rates(tier, rates):
    tokens = TokenCounts(input_tokens=1000, output_tokens=100, cache_read_tokens=2000, service_tier=tier)
    inp, out, read = (Decimal(rate) for rate in rates)
    assert cost_calculate(tokens=tokens, price=priced(**MODES)) == usd(1000 * inp + 100 * out + 2000 * read)


def test_a_tier_without_a_price_is_billed_at_standard_rates():
    tokens = TokenCounts(input_tokens=1000, output_tokens=100, service_tier="priority")
    assert cost_calculate(tokens=tokens, price=priced()) == usd(Decimal(1000 * 3 + 100 * 15))


def test_cache_writes_in_a_tier_cost_at_least_the_tiers_input():
    tokens = TokenCounts(cache_write_tokens=100, service_tier="priority")
    assert cost_calculate(tokens=tokens, price=priced(**MODES)) == usd(Decimal(100 * 5))


def test_audio_tokens_and_one_hour_writes_are_parts_billed_at_their_own_prices():
    tokens = TokenCounts(
        input_tokens=1000,
        audio_input_tokens=400,
        output_tokens=500,
        audio_output_tokens=450,
        cache_write_tokens=300,
        cache_write_1h_tokens=200,
    )
    expected = 600 * 3 + 400 * 40 + 50 * 15 + 450 * 80 + 100 * Decimal("3.75") + 200 * 6
    assert cost_calculate(tokens=tokens, price=priced(**MODES)) == usd(Decimal(expected))


def test_audio_and_one_hour_writes_without_their_prices_cost_as_text_and_five_minute_writes():
    tokens = TokenCounts(input_tokens=10, audio_input_tokens=10, cache_write_tokens=10, cache_write_1h_tokens=10)
    assert cost_calculate(tokens=tokens, price=priced()) == usd(10 * 3 + 10 * Decimal("3.75"))


@pytest.mark.parametrize("count", [10**15, 10**17, 10**30, 10**400])
def test_absurd_counts_cost_at_most_what_the_ledger_keeps(count):
    tokens = TokenCounts(input_tokens=count, output_tokens=count, cache_read_tokens=count, cache_write_tokens=count)
    cost = cost_calculate(tokens=tokens, price=priced(**MODES))
    assert 0 < cost <= MONEY_MAX
    assert to_units(cost)  # storable as a ledger amount


def test_the_worst_case_uses_the_dearest_rate_of_the_tiers_that_may_serve():
    price = priced(**MODES)
    standard = cost_upper_bound(input_tokens=1000, output_tokens=100, price=price, modes=Modes(tiers=("",)))
    either = cost_upper_bound(input_tokens=1000, output_tokens=100, price=price, modes=Modes(tiers=("", "priority")))
    assert standard == usd(Decimal(1000) * Decimal("3.75") + 100 * 15)
    assert either == usd(Decimal(1000 * 5 + 100 * 25))
    audio = cost_upper_bound(
        input_tokens=1000, output_tokens=100, price=price, modes=Modes(audio_input=True, audio_output=True)
    )
    assert audio == usd(Decimal(1000 * 40 + 100 * 80))
    one_hour = cost_upper_bound(input_tokens=1000, output_tokens=0, price=price, modes=Modes(cache_1h=True))
    assert one_hour == usd(Decimal(1000 * 6))
