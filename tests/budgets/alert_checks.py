"""What the alert tests check of every budget: one event per threshold each window's spend reached, and no other."""

from decimal import Decimal
from typing import Any

from alerts.models import BudgetEvent
from budgets.models import Budget


def windows_of(budget: Budget) -> dict[Any, tuple[Decimal, Decimal]]:
    """Every window the budget had: start -> (limit, spent)."""
    found = {period.start: (period.limit_usd, period.spent_usd) for period in budget.periods.all()}
    found[budget.window_start] = (budget.limit_usd, budget.spent_usd)
    return found


def expected_events(budget: Budget) -> set[tuple[Any, int]]:
    """(window start, threshold) for each threshold the spend of each window reached."""
    return {
        (start, pct)
        for start, (limit, spent) in windows_of(budget).items()
        for pct in budget.thresholds
        if pct * limit <= spent * 100
    }


def raised(budget: Budget) -> dict[tuple[Any, int], BudgetEvent]:
    """The budget's events by (window start, threshold)."""
    events = BudgetEvent.objects.filter(budget_ref=str(budget.pk))
    return {(event.window_start, event.threshold_pct): event for event in events}
