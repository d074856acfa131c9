"""Budgets: limits over windows for keys, accounts and teams, their ledger, closed windows and the holds on them."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone as django_timezone

from budgets.windows import Period, WindowSpec, describe
from core.money import ZERO, money_field


def _default_thresholds() -> list[int]:
    """A new budget's alert thresholds: GATEWAY_ALERT_THRESHOLDS (50, 80 and 100 % unless set)."""
    return list(settings.ALERT_THRESHOLDS)


class Budget(models.Model):
    """A spending limit over a window for one owner: a key, an account or a team.

    The ledger of the current window lives on the row (`window_start`, `spent_usd`,
    `reserved_usd`): a call is admitted only if `spent + reserved + its worst case <= limit`
    for every budget of its key, its account and its team chain, in one conditional update
    each (budgets.ledger). The window starts over lazily, exactly once, when a call finds its
    row still in a window that has ended: the closed window becomes a `BudgetPeriod` row.
    """

    class Level(models.TextChoices):
        KEY = "key", "API key"
        ACCOUNT = "account", "Account"
        TEAM = "team", "Team"

    level = models.CharField(max_length=8, choices=Level.choices)
    key = models.ForeignKey("keys.APIKey", on_delete=models.CASCADE, null=True, blank=True, related_name="budgets")
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, null=True, blank=True, related_name="budgets"
    )
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="budgets")
    name = models.CharField(max_length=100, blank=True, help_text="Shown in errors and alerts; e.g. 'monthly'.")
    limit_usd = money_field(help_text="USD that may be spent in one window.")
    period = models.CharField(max_length=8, choices=[(p.value, p.value) for p in Period], default=Period.LIFETIME)
    interval_seconds = models.PositiveIntegerField(default=0, help_text="Interval budgets: the window's length.")
    timezone = models.CharField(max_length=64, default="UTC", help_text="Day, week and month budgets: IANA name.")
    anchor = models.PositiveSmallIntegerField(
        default=1, help_text="Month: the day it starts (1-31); week: the weekday (0 = Monday)."
    )
    thresholds = models.JSONField(
        default=_default_thresholds,
        blank=True,
        help_text="Alert at these percents of the limit, e.g. [50, 80, 100]; [] for none.",
    )
    # The ledger of the current window; changed only by budgets.ledger, with the holds.
    window_start = models.DateTimeField(null=True, blank=True, editable=False)
    spent_usd = money_field(default=ZERO, editable=False)
    reserved_usd = money_field(default=ZERO, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["level", "created_at"]
        constraints = [
            models.CheckConstraint(
                name="budget_one_owner",
                condition=(
                    Q(level="key", key__isnull=False, account__isnull=True, team__isnull=True)
                    | Q(level="account", key__isnull=True, account__isnull=False, team__isnull=True)
                    | Q(level="team", key__isnull=True, account__isnull=True, team__isnull=False)
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner_label} {self.label}"

    @property
    def spec(self) -> WindowSpec:
        return WindowSpec(Period(self.period), self.interval_seconds, self.timezone, self.anchor)

    @property
    def label(self) -> str:
        return self.name or describe(self.spec)

    @property
    def owner_label(self) -> str:
        owner = self.key or self.account or self.team
        return f"{self.level} {owner}"

    @property
    def owner_ref(self) -> str:
        """How the API names the owner: the key's id, the account's user_id, the team's slug."""
        if self.key_id is not None:
            return str(self.key_id)
        if self.account is not None:
            return str(self.account.user_id)
        return str(self.team.slug) if self.team else ""

    @property
    def remaining_usd(self) -> Decimal:
        return self.limit_usd - self.spent_usd - self.reserved_usd


class BudgetPeriod(models.Model):
    """A closed window of a budget: what was spent in it (and still held, by calls admitted there)."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="periods")
    start = models.DateTimeField()
    end = models.DateTimeField()
    limit_usd = money_field()
    spent_usd = money_field(default=ZERO)
    reserved_usd = money_field(default=ZERO)
    closed_at = models.DateTimeField(default=django_timezone.now)

    class Meta:
        ordering = ["-start"]
        constraints = [models.UniqueConstraint(fields=["budget", "start"], name="budget_period_once")]

    def __str__(self) -> str:
        return f"{self.budget_id} {self.start:%Y-%m-%d %H:%M:%S}"


class Hold(models.Model):
    """Budget held for one request in flight (or a lease for many), on every window it must fit.

    `lines` names each budget window the amount is held in: [[budget id, window start ISO or
    null], ...]. Settling the request moves it out of each of them in the transaction that writes
    its usage row; a hold whose request never settles (a killed worker) is released by the sweeper
    once it is older than any request can run. So each window's `reserved_usd` is always the sum
    of the holds on it, and the account's `reserved_usd` the sum of the account's holds.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="The request id.")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="holds")
    amount_usd = money_field()
    lines = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=django_timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at"]
        db_table = "accounts_hold"  # the table it had while accounts owned it: moved without a copy

    def __str__(self) -> str:
        return f"{self.id} {self.amount_usd} USD"
