"""Accounts: the owners of API keys, with a budget shared by all their keys (its holds: budgets.models)."""

from decimal import Decimal

from django.db import models

from core.money import ZERO, money_field


class Account(models.Model):
    user_id = models.CharField(max_length=128, unique=True, help_text="Your own identifier for this account.")
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    budget_usd = money_field(null=True, blank=True, help_text="Spending limit in USD; empty means unlimited.")
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

    @property
    def remaining_usd(self) -> Decimal | None:
        if self.budget_usd is None:
            return None
        return self.budget_usd - self.spent_usd - self.reserved_usd
