"""Reads of budgets: the plan of budgets a call must fit (cached for the hot path), windows and their history."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from accounts.selectors import AccountState
from budgets.clock import budget_now
from budgets.ledger import BudgetLine
from budgets.models import Budget, BudgetPeriod
from budgets.services import ACCOUNT_BUDGETS, KEY_BUDGETS, TEAM_BUDGETS, budget_line
from budgets.windows import window_at
from core.cache import MISSING, cache_get_or_load, cache_peek
from core.money import ZERO

_MAX_TEAM_DEPTH = 8  # team_update refuses deeper nesting and cycles; a guard all the same


@dataclass(frozen=True)
class TeamBudgets:
    """A team's own budgets and the team above it, as cached."""

    lines: tuple[BudgetLine, ...]
    parent_id: Any


@dataclass(frozen=True)
class BudgetPlan:
    """Every budget a call of one key must fit: the key's, its account's, its team's and those above."""

    account: AccountState
    lines: tuple[BudgetLine, ...]

    @property
    def lease_key(self) -> tuple[Any, ...]:
        """Calls with the same budgets share a budget lease (budgets.leases)."""
        return (self.account.id, *(line.budget_id for line in self.lines))


def _lines(**owner: Any) -> tuple[BudgetLine, ...]:
    return tuple(
        budget_line(budget) for budget in Budget.objects.filter(**owner).select_related("key", "account", "team")
    )


def key_budgets(*, key_id: Any) -> tuple[BudgetLine, ...]:
    if key_id is None:
        return ()
    return cache_get_or_load(KEY_BUDGETS, key_id, lambda: _lines(key_id=key_id))


def account_budgets(*, account_id: Any) -> tuple[BudgetLine, ...]:
    return cache_get_or_load(ACCOUNT_BUDGETS, account_id, lambda: _lines(account_id=account_id))


def team_budgets(*, team_id: Any) -> TeamBudgets:
    def load() -> TeamBudgets:
        from accounts.models import Team

        parent = Team.objects.filter(pk=team_id).values_list("parent_id", flat=True).first()
        return TeamBudgets(lines=_lines(team_id=team_id), parent_id=parent)

    return cache_get_or_load(TEAM_BUDGETS, team_id, load)


def budget_plan(*, key_id: Any, account: AccountState) -> BudgetPlan:
    """The plan, loading what is not cached (cache, then database). Sync: call from a thread."""
    lines = [*key_budgets(key_id=key_id), *account_budgets(account_id=account.id)]
    team_id = account.team_id
    for _ in range(_MAX_TEAM_DEPTH):
        if team_id is None:
            break
        team = team_budgets(team_id=team_id)
        lines.extend(team.lines)
        team_id = team.parent_id
    return BudgetPlan(account=account, lines=tuple(lines))


def budget_plan_peek(*, key_id: Any, account: AccountState) -> BudgetPlan | None:
    """The plan from process memory alone, or None when any part of it is not there (then `budget_plan`)."""
    key = cache_peek(KEY_BUDGETS, key_id)
    own = cache_peek(ACCOUNT_BUDGETS, account.id)
    if key is MISSING or own is MISSING:
        return None
    lines = [*key, *own]
    team_id = account.team_id
    for _ in range(_MAX_TEAM_DEPTH):
        if team_id is None:
            break
        team = cache_peek(TEAM_BUDGETS, team_id)
        if team is MISSING:
            return None
        lines.extend(team.lines)
        team_id = team.parent_id
    return BudgetPlan(account=account, lines=tuple(lines))


@dataclass(frozen=True)
class WindowState:
    """A budget's current window as an operator sees it."""

    budget: Budget
    start: datetime | None
    end: datetime | None
    spent_usd: Decimal
    reserved_usd: Decimal

    @property
    def remaining_usd(self) -> Decimal:
        return max(self.budget.limit_usd - self.spent_usd - self.reserved_usd, ZERO)


def budget_window(*, budget: Budget, now: datetime | None = None) -> WindowState:
    """The current window: the row's ledger while its window is current, else a fresh window nobody used yet."""
    window = window_at(budget.spec, now or budget_now())
    if budget.window_start == window.start:
        return WindowState(budget, window.start, window.end, budget.spent_usd, budget.reserved_usd)
    return WindowState(budget, window.start, window.end, ZERO, ZERO)


def budget_list(*, level: str = "", owner_id: Any = None) -> QuerySet[Budget]:
    budgets = Budget.objects.select_related("key", "account", "team")
    if level:
        budgets = budgets.filter(level=level)
        if owner_id is not None:
            budgets = budgets.filter(**{f"{level}_id": owner_id})
    return budgets.order_by("level", "created_at")


def budget_history(*, budget: Budget) -> QuerySet[BudgetPeriod]:
    return BudgetPeriod.objects.filter(budget=budget).order_by("-start")
