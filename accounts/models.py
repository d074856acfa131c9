"""Accounts, the owners of API keys, and the teams they belong to (their budgets: budgets.models)."""

from decimal import Decimal
from typing import Any

from django.db import models

from core.money import ZERO, money_field


class Team(models.Model):
    """A group of accounts with budgets of its own; teams nest (an organisation is a team without a parent)."""

    slug = models.SlugField(max_length=100, unique=True, help_text="Your own identifier for this team.")
    name = models.CharField(max_length=200, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", help_text="The team above."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Account(models.Model):
    user_id = models.CharField(max_length=128, unique=True, help_text="Your own identifier for this account.")
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="accounts")
    # Everything the account ever spent (its budgets' windows: budgets.models.Budget).
    spent_usd = money_field(default=ZERO, editable=False)
    # The sum of this account's live holds (budgets.models.Hold): changed only together with them.
    reserved_usd = money_field(default=ZERO, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return self.user_id

    # The account's lifetime budget (budgets.models.Budget, reverse relation `budgets`): what `budget_usd` means in
    # the API and the admin. Read through the prefetch cache when the list prefetched it.
    @property
    def lifetime_budget(self) -> Any:
        return next((b for b in self.budgets.all() if b.period == "lifetime"), None)  # type: ignore[attr-defined]

    @property
    def budget_usd(self) -> Decimal | None:
        budget = self.lifetime_budget
        return None if budget is None else budget.limit_usd  # type: ignore[no-any-return]

    @property
    def remaining_usd(self) -> Decimal | None:
        """What is left of the lifetime budget's limit; None when the account has no lifetime budget."""
        budget = self.lifetime_budget
        return None if budget is None else budget.limit_usd - budget.spent_usd - budget.reserved_usd  # type: ignore[no-any-return]
