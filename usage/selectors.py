"""Reads of usage: rows in a scope, newest first; an account's spend per day and model (from rollups)."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from usage.models import Span, UsageLog
from usage.reports import UsageScope, usage_summed
from usage.rollups import span_start


def usage_rows(*, scope: UsageScope) -> QuerySet[UsageLog]:
    """The rows in `scope`, newest first (the id breaks ties), through the rows' time indexes."""
    rows = UsageLog.objects.filter(**scope.row_filter())
    if scope.since is not None:
        rows = rows.filter(created_at__gte=scope.since)
    if scope.until is not None:
        rows = rows.filter(created_at__lt=scope.until)
    return rows.order_by("-created_at", "-id")


def spend_by_day(*, account_id: Any, days: int = 30) -> dict[str, dict[date, Decimal]]:
    """{model: {day: cost}} over the last `days` UTC days, today included, for the account page's chart."""
    since = span_start(timezone.now(), Span.DAY) - timedelta(days=days - 1)
    groups = usage_summed(scope=UsageScope(account_id=account_id, since=since), group_by=("model",), period="day")
    result: dict[str, dict[date, Decimal]] = {}
    for (day, model), totals in groups.items():
        result.setdefault(model, {})[day.date()] = totals.cost_usd
    return result
