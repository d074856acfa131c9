"""Budgets' ledger rows: the holds on accounts' budgets for requests in flight (and budget leases)."""

import uuid

from django.db import models
from django.utils import timezone

from core.money import money_field


class Hold(models.Model):
    """Budget held for one request in flight, written with the account's `reserved_usd` in one transaction.

    Settling the request (its usage row) deletes the hold in the transaction that books the
    cost; a hold whose request never settles (a killed worker) is released by the sweeper
    (`hold_release_stale`) once it is older than any request can run. So `reserved_usd` is
    always the sum of the account's holds, whatever crashed.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="The request id.")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="holds")
    amount_usd = money_field()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at"]
        db_table = "accounts_hold"  # the table it had while accounts owned it: moved without a copy

    def __str__(self) -> str:
        return f"{self.id} {self.amount_usd} USD"
