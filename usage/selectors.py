"""Reads of usage: an account's rows, totals over a filtered set, spend per day and model."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.money import ZERO
from usage.models import UsageLog

_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


@dataclass(frozen=True)
class UsageTotals:
    requests: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal


def usage_list(
    *,
    account_id: Any,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
    key_id: Any = None,
) -> QuerySet[UsageLog]:
    qs = UsageLog.objects.filter(account_id=account_id)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    if model:
        qs = qs.filter(model=model)
    if key_id is not None:
        qs = qs.filter(api_key_id=key_id)
    return qs.order_by("-created_at")


def usage_totals(*, queryset: QuerySet[UsageLog]) -> UsageTotals:
    sums = queryset.order_by().aggregate(
        requests=Count("id"), cost_usd=Sum("cost_usd"), **{name: Sum(name) for name in _TOKEN_FIELDS}
    )
    return UsageTotals(
        requests=sums["requests"] or 0,
        cost_usd=sums["cost_usd"] or ZERO,
        **{name: sums[name] or 0 for name in _TOKEN_FIELDS},
    )


def spend_by_day(*, account_id: Any, days: int = 30) -> dict[str, dict[date, Decimal]]:
    """{model: {day: cost}} over the last `days` days (UTC), for the account page's chart."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        UsageLog.objects.filter(account_id=account_id, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("model", "day")
        .annotate(cost=Sum("cost_usd"))
        .order_by("day", "model")
    )
    result: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        result.setdefault(row["model"], {})[row["day"]] = row["cost"] or ZERO
    return result
