"""Reads of usage: rows in a scope, newest first; an account's spend per day and model (from rollups)."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account
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


def spend_by_day(
    *, account_id: Any = None, team_ids: tuple[Any, ...] | None = None, by: str = "model", days: int = 30
) -> dict[str, dict[date, Decimal]]:
    """{model (or account's user_id): {day: cost}} over the last `days` UTC days, today included, for the
    account and team pages' charts."""
    since = span_start(timezone.now(), Span.DAY) - timedelta(days=days - 1)
    scope = UsageScope(account_id=account_id, team_ids=team_ids, since=since)
    groups = usage_summed(scope=scope, group_by=(by,), period="day")
    names: dict[Any, str] = {}
    if by == "account":
        ids = {value for _, value in groups}
        names = dict(Account.objects.filter(pk__in=ids).values_list("pk", "user_id"))
    result: dict[str, dict[date, Decimal]] = {}
    for (day, value), totals in groups.items():
        result.setdefault(names.get(value, str(value)), {})[day.date()] = totals.cost_usd
    return result
