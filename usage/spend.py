"""Spend reports across accounts: usage summed per group and period, labelled for people (user ids, key prefixes)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Account, Team
from keys.models import APIKey
from usage.models import Span
from usage.reports import UsageScope, UsageTotals, usage_summed
from usage.rollups import span_start

DEFAULT_DAYS = 30
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


@dataclass(frozen=True)
class SpendReport:
    scope: UsageScope
    group_by: tuple[str, ...]
    period: str | None
    rows: list[dict[str, Any]]  # labelled groups, by period then cost (highest first)
    totals: UsageTotals

    def columns(self) -> list[str]:
        """The CSV header: the period, each group's labels, then the sums."""
        labels = {"account": ["user_id"], "key": ["key_id", "key_prefix"], "status": ["status"]}
        grouped = [column for name in self.group_by for column in labels.get(name, [name])]
        return [*(["period"] if self.period else []), *grouped, "requests", *TOKEN_COLUMNS, "cost_usd"]


def default_since() -> datetime:
    """The start of the UTC day DEFAULT_DAYS - 1 days ago: the last DEFAULT_DAYS days, today included."""
    return span_start(timezone.now(), Span.DAY) - timedelta(days=DEFAULT_DAYS - 1)


def _labels(groups: dict[tuple[Any, ...], UsageTotals], group_by: Sequence[str]) -> dict[str, dict[Any, Any]]:
    found: dict[str, dict[Any, Any]] = {}
    for name, model, column in (("team", Team, "slug"), ("account", Account, "user_id"), ("key", APIKey, "prefix")):
        if name in group_by:
            index = group_by.index(name) + 1
            ids = {key[index] for key in groups if key[index] is not None}
            found[name] = dict(model.objects.filter(pk__in=ids).values_list("pk", column))  # type: ignore[attr-defined]
    return found


def _row(key: tuple[Any, ...], totals: UsageTotals, group_by: Sequence[str], labels: dict[str, dict[Any, Any]]) -> Any:
    when, *values = key
    row: dict[str, Any] = {"period": when.date()} if when is not None else {}
    for name, value in zip(group_by, values, strict=True):
        if name == "team":
            row["team"] = None if value is None else labels["team"].get(value, str(value))
        elif name == "account":
            row["user_id"] = labels["account"].get(value, str(value))
        elif name == "key":
            row["key_id"] = None if value is None else str(value)
            row["key_prefix"] = labels["key"].get(value)
        elif name == "status":
            row["status"] = f"{value}xx"
        else:
            row[name] = value
    row.update(requests=totals.requests, cost_usd=totals.cost_usd)
    row.update({name: getattr(totals, name) for name in TOKEN_COLUMNS})
    return row


def spend_report(*, scope: UsageScope, group_by: Sequence[str] = (), period: str | None = None) -> SpendReport:
    """Usage in `scope` per group and period, with the grand total; exact (usage.reports), from rollups."""
    groups = usage_summed(scope=scope, group_by=group_by, period=period)
    groups = {key: totals for key, totals in groups.items() if totals.requests}
    labels = _labels(groups, group_by)
    ordered = sorted(groups.items(), key=lambda item: (item[0][0] or 0, -item[1].cost_usd, str(item[0][1:])))
    total = sum((totals for _, totals in ordered), UsageTotals())
    rows = [_row(key, totals, group_by, labels) for key, totals in ordered]
    return SpendReport(scope=scope, group_by=tuple(group_by), period=period, rows=rows, totals=total)
