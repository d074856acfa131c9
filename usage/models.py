"""One usage row per authenticated proxy request, refused and failed ones included; and their rollups."""

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
        # Every list is newest first with the id breaking ties (the API's cursor, the admin's order): with
        # the id in the index, a page is read straight off it, never sorted (SQLite sorted each time).
        indexes = [
            models.Index(fields=["account", "-created_at", "-id"], name="usage_account_time"),
            models.Index(fields=["model", "created_at", "id"], name="usage_model_time"),
            models.Index(fields=["created_at", "id"], name="usage_time"),
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


class Span(models.TextChoices):
    """How long a rollup's bucket is (UTC), and what it keeps: every row is counted once in each span."""

    HOUR = "h", "hour"
    DAY = "d", "day"
    MONTH = "m", "month"
    # A day's sums per account, key, model and provider only (route "" and status class 0 for all):
    # at most a twelfth of the day rollups (3 routes x 4 status classes folded), for the reports and
    # charts that group and filter on nothing else (usage.reports).
    KEY_DAY = "k", "day by key and model"


# What a KEY_DAY rollup keeps of the dimensions below: route and status class are folded.
KEY_DAY_FOLDED = {"route": "", "status_class": 0}


# The columns a rollup is grouped by besides its bucket: what a report can group or filter on.
# A team (issue 18) is an attribute of the account, so it is reached through `account`, not stored.
ROLLUP_DIMENSIONS = ("account_id", "api_key_id", "model", "provider", "route", "status_class")
ROLLUP_SUMS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
)


class UsageRollup(models.Model):
    """Sums of the usage rows that share a bucket (one hour, day or month, UTC) and every dimension.

    Written in the transaction that writes the rows (usage.rollups), so they are exact at every
    moment, the current bucket included. Reads always SUM them: a bucket split over two rollup rows
    (possible only for rows without a key, whose NULL the unique constraint does not match on
    SQL engines) still adds up.
    """

    span = models.CharField(max_length=1, choices=Span.choices)
    bucket = models.DateTimeField(help_text="The start of the hour, day or month (UTC).")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="rollups", db_index=False)
    # No constraint: keys are never deleted (revoked instead); the rollup keeps the id of the key it counted.
    api_key = models.ForeignKey(
        APIKey, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+", db_index=False
    )
    model = models.CharField(max_length=200)
    provider = models.CharField(max_length=64, blank=True)
    route = models.CharField(max_length=64)
    status_class = models.PositiveSmallIntegerField(help_text="The status code's hundreds: 2 for 2xx, 4 for 4xx.")
    requests = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = money_field(default=ZERO)

    class Meta:
        verbose_name = "usage rollup"
        constraints = [
            # Leads with (span, bucket): also the index of the reports across accounts.
            models.UniqueConstraint(
                fields=["span", "bucket", "account", "api_key", "model", "provider", "route", "status_class"],
                name="usage_rollup_bucket",
            )
        ]
        indexes = [models.Index(fields=["account", "span", "bucket"], name="usage_rollup_account")]

    def __str__(self) -> str:
        return f"{self.span} {self.bucket:%Y-%m-%d %H:00} {self.model}"
