"""Accounts: the owners of API keys, with a budget shared by all their keys, and the holds on it."""

import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone

from gateway_project.money import ZERO, money_field


class Account(models.Model):
    user_id = models.CharField(max_length=128, unique=True, help_text="Your own identifier for this account.")
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    budget_usd = money_field(null=True, blank=True, help_text="Spending limit in USD; empty means unlimited.")
    spent_usd = money_field(default=ZERO, editable=False)
    # The sum of this account's live holds (`Hold` rows): changed only together with them.
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


class Hold(models.Model):
    """Budget held for one request in flight, written with the account's `reserved_usd` in one transaction.

    Settling the request (its usage row) deletes the hold in the transaction that books the
    cost; a hold whose request never settles (a killed worker) is released by the sweeper
    (`hold_release_stale`) once it is older than any request can run. So `reserved_usd` is
    always the sum of the account's holds, whatever crashed.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="The request id.")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="holds")
    amount_usd = money_field()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.id} {self.amount_usd} USD"
