"""Budget gauges for the Prometheus scrape: what is left of each team's and account's budgets in their windows.

Read from the database at scrape time (one query), so every instance reports the same shared
values. Cardinality is bounded: at most GATEWAY_METRICS_BUDGET_SERIES budgets (default 200),
teams first, then accounts, oldest first; keys' caps are left out (there may be thousands).
"""

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from prometheus_client.core import GaugeMetricFamily

from budgets.models import Budget
from budgets.selectors import budget_window

_LABELS = ["level", "owner", "budget"]


class BudgetGauges:
    """A prometheus_client collector: remaining, spent and limit per team and account budget, current window."""

    def collect(self) -> Iterator[Any]:
        remaining = GaugeMetricFamily(
            "gateway_budget_remaining_usd", "What is left of the budget in its current window (USD).", labels=_LABELS
        )
        spent = GaugeMetricFamily(
            "gateway_budget_spent_usd", "Spent in the budget's current window (USD).", labels=_LABELS
        )
        limit = GaugeMetricFamily("gateway_budget_limit_usd", "The budget's limit per window (USD).", labels=_LABELS)
        budgets = (
            Budget.objects.filter(level__in=[Budget.Level.TEAM, Budget.Level.ACCOUNT])
            .select_related("account", "team")
            .order_by("-level", "pk")[: settings.METRICS_BUDGET_SERIES]  # "team" sorts after "account"
        )
        for budget in budgets:
            state = budget_window(budget=budget)
            labels = [budget.level, budget.owner_ref, budget.label]
            remaining.add_metric(labels, float(state.remaining_usd))  # floats: a gauge, not the bill of record
            spent.add_metric(labels, float(state.spent_usd))
            limit.add_metric(labels, float(budget.limit_usd))
        yield from (remaining, spent, limit)

    def describe(self) -> list[Any]:
        return []  # described on collect only: the scrape-time registry is built per scrape


def budget_gauges() -> BudgetGauges:
    return BudgetGauges()
