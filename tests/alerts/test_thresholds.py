"""Which thresholds a change of spend crosses: exact, each once, none when spend does not rise."""

from decimal import Decimal

import pytest

from alerts.thresholds import thresholds_crossed

pytestmark = pytest.mark.engine_independent
DEFAULT = [50, 80, 100]


def crossed(before: str, after: str, limit: str = "100", thresholds: list[int] = DEFAULT) -> list[int]:
    return thresholds_crossed(before=Decimal(before), after=Decimal(after), limit=Decimal(limit), thresholds=thresholds)


def test_reaching_a_threshold_exactly_crosses_it():
    assert crossed("79.9999999999", "80") == [80]


def test_staying_just_under_a_threshold_crosses_nothing():
    assert crossed("10", "79.9999999999") == [50]
    assert crossed("50", "79.9999999999") == []


def test_a_threshold_already_reached_is_not_crossed_again():
    assert crossed("80", "99") == []


def test_a_jump_crosses_every_threshold_on_the_way_in_order():
    assert crossed("0", "250", thresholds=[100, 50, 80]) == [50, 80, 100]


def test_spend_that_does_not_rise_crosses_nothing():
    assert crossed("90", "90") == []
    assert crossed("90", "10") == []


def test_a_limit_of_zero_crosses_nothing():
    assert crossed("0", "5", limit="0") == []


def test_fractional_limits_are_exact():
    # 80 % of 0.3 is 0.24 exactly: float arithmetic would put 0.24 a hair under it.
    assert crossed("0.2399999999", "0.24", limit="0.3") == [80]
