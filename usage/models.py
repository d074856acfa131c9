"""One usage row per authenticated proxy request, refused and failed ones included."""

import uuid

from django.db import models
from django.utils import timezone

from accounts.models import Account
from core.money import ZERO, money_field
from keys.models import APIKey


class UsageLog(models.Model):
    # The request id: sent back to the client as `x-request-id`.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage")
    api_key = models.ForeignKey(APIKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="usage")
    route = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    input_tokens = models.PositiveIntegerField(default=0, help_text="Uncached input tokens only.")
    output_tokens = models.PositiveIntegerField(default=0, help_text="Includes reasoning tokens.")
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    cost_usd = money_field(default=ZERO)
    latency_ms = models.PositiveIntegerField(default=0)
    streamed = models.BooleanField(default=False)
    usage_estimated = models.BooleanField(
        default=False,
        help_text="The provider's counts were missing or past what the call could use: billed from an estimate.",
    )
    # Routing (docs/routing.md): a routed call's attempts that did not answer are rows of their own, linked
    # to the row of the answer (whose id is the x-request-id); `attempt` counts from 1 in the order tried.
    attempt_of = models.UUIDField(null=True, blank=True, db_index=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    upstream_model = models.CharField(max_length=200, blank=True, help_text="The deployment's model, when routed.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "usage log"
        indexes = [
            models.Index(fields=["account", "-created_at"], name="usage_account_newest"),
            models.Index(fields=["model", "created_at"], name="usage_model_period"),
            models.Index(fields=["created_at"], name="usage_created"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.model} {self.status_code}"

    @property
    def user_id(self) -> str:
        return self.account.user_id

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


class PruneLease(models.Model):
    """Who may prune usage rows now (one pruner at a time across instances), and the archive it left pending.

    A row in the database rather than a Redis lock: it holds without Redis and across a Redis
    failover, and it is where a crashed pruner's unfinished archive is found again (usage/retention.py).
    """

    name = models.CharField(max_length=32, unique=True)
    holder = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)
    # An archive written (or about to be) whose rows may not all be deleted yet; "" when none.
    pending_archive = models.CharField(max_length=500, blank=True)
    pending_host = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"
