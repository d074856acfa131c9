"""The operator pages' SVG charts: every legend entry names a series and its spend, micro-costs included."""

import re
from datetime import date
from decimal import Decimal

import pytest

from usage.charts import spend_chart_svg

pytestmark = pytest.mark.engine_independent
TODAY = date(2026, 3, 31)


def _legend(svg: str) -> list[str]:
    return re.findall(r'class="legend">([^<]*)</text>', svg)


def test_a_micro_cost_keeps_its_digits_in_the_legend_and_the_tooltip():
    svg = spend_chart_svg(series={"gpt-5-mini": {TODAY: Decimal("0.0000042")}}, today=TODAY)
    assert _legend(svg) == ["gpt-5-mini ($0.0000042)"]
    assert "gpt-5-mini · Mar 31: $0.0000042</title>" in svg
    assert "$0.00)" not in svg and "$0.00<" not in svg


def test_a_series_that_cost_nothing_has_no_legend_entry():
    # Calls refused before their body was read have no model and cost nothing: once a blank "($0.00)" entry.
    series = {"": {TODAY: Decimal(0)}, "gpt-5": {TODAY: Decimal("1.5")}, "o3": {TODAY: Decimal(0)}}
    assert _legend(str(spend_chart_svg(series=series, today=TODAY))) == ["gpt-5 ($1.50)"]


def test_a_series_with_no_name_that_cost_something_is_named_as_such():
    svg = spend_chart_svg(series={"": {TODAY: Decimal("0.25")}}, today=TODAY)
    assert _legend(svg) == ["(none) ($0.25)"]


def test_the_axis_of_a_chart_of_micro_costs_is_labelled_in_their_digits():
    svg = spend_chart_svg(series={"gpt-5-mini": {TODAY: Decimal("0.0000042")}}, today=TODAY)
    ticks = re.findall(r'class="ytick">([^<]*)<', svg)
    assert ticks[0] == "$0" and ticks[-1] == "$0.000005" and len(set(ticks)) == len(ticks)
