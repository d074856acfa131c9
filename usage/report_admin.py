"""The admin's spend report page: a form, a stacked chart per period and the groups' table, CSV from the API."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from rest_framework.exceptions import ValidationError as APIValidationError

from core.admin import usd
from usage.api import usage_scope
from usage.charts import period_chart_svg
from usage.reports import GROUPS, period_start
from usage.spend import DEFAULT_DAYS, SpendReport, spend_report

SHOWN = 500  # groups in the page's table; the CSV has them all
_SHOWN_AS = {"account": "user_id", "key": "key_prefix"}  # the row's column a group is named by
_SUMS = {"cost_usd": "Cost", "requests": "Requests", "input_tokens": "Input tokens", "output_tokens": "Output tokens"}
_SUMS |= {"cache_read_tokens": "Cache read", "cache_write_tokens": "Cache written", "reasoning_tokens": "Reasoning"}


class SpendReportForm(forms.Form):
    since = forms.DateField(required=False, label="From (UTC day)")
    to = forms.DateField(required=False, label="To (UTC day, included)")
    group_by = forms.MultipleChoiceField(
        choices=[(name, name) for name in GROUPS], required=False, widget=forms.CheckboxSelectMultiple
    )
    period = forms.ChoiceField(
        choices=[("day", "day"), ("week", "week"), ("month", "month")], initial="day", required=False
    )
    team = forms.SlugField(required=False, max_length=100, label="Team (slug)")
    user_id = forms.CharField(required=False, max_length=128, label="Account (user id)")
    model = forms.CharField(required=False, max_length=200)
    provider = forms.CharField(required=False, max_length=64)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _periods(first: datetime, last: datetime, period: str) -> list[date]:
    found, when = [], period_start(first, period)
    while when < last:
        found.append(when.date())
        when = period_start(when + timedelta(days=32 if period == "month" else 7 if period == "week" else 1), period)
    return found


def _label(row: dict[str, Any], group: str) -> str:
    """A group's value as the page shows it; an empty one says so ("(no model)": calls never read that far)."""
    value = row.get(_SHOWN_AS.get(group, group))
    return f"(no {group})" if value is None or value == "" else str(value)


def _chart(report: SpendReport, since: datetime, until: datetime) -> Any:
    labels = [name for name in report.group_by if name != "status"] or []
    series: dict[str, dict[date, Decimal]] = {}
    for row in report.rows:
        name = " · ".join(_label(row, label) for label in labels) or "all"
        costs = series.setdefault(name, {})
        costs[row["period"]] = costs.get(row["period"], Decimal(0)) + row["cost_usd"]
    periods = _periods(since, until, report.period or "day")
    return period_chart_svg(
        series=series, periods=periods, unit=report.period or "day", empty="No spend", what=", ".join(labels) or "all"
    )


def spend_report_view(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    today = timezone.now().date()
    form = SpendReportForm(
        request.GET
        or {"since": today - timedelta(days=DEFAULT_DAYS - 1), "to": today, "group_by": ["model"], "period": "day"}
    )
    report, chart, query = None, None, ""
    if form.is_valid():
        data = form.cleaned_data
        since = _midnight(data["since"] or today - timedelta(days=DEFAULT_DAYS - 1))
        until = _midnight((data["to"] or today) + timedelta(days=1))
        filters = {name: data[name] for name in ("team", "user_id", "model", "provider") if data[name]}
        try:
            scope = usage_scope({**filters, "since": since, "until": until})
        except APIValidationError as exc:
            for name, messages in exc.detail.items():  # type: ignore[union-attr]
                form.add_error(name if name in form.fields else None, ValidationError(list(map(str, messages))))
        else:
            period = data["period"] or "day"
            report = spend_report(scope=scope, group_by=data["group_by"], period=period)
            chart = _chart(report, since, until)
            params = {**filters, "since": since.isoformat(), "until": until.isoformat(), "period": period}
            query = urlencode({**params, "group_by": ",".join(data["group_by"]), "format": "csv"})
    context.update(
        title="Spend report",
        form=form,
        report=report,
        chart=chart,
        **_table(report),
        more=max(0, len(report.rows) - SHOWN) if report else 0,
        total_cost=usd(report.totals.cost_usd) if report else "",
        csv_url=f"{reverse('api-spend-report')}?{query}" if query else "",
    )
    return TemplateResponse(request, "admin/usage/spend_report.html", context)


def _table(report: SpendReport | None) -> dict[str, Any]:
    """The page's table: period and groups, then the cost first of the sums (the CSV keeps the API's columns)."""
    if report is None:
        return {"columns": [], "rows": [], "group_count": 0}
    groups = (["period"] if report.period else []) + list(report.group_by)
    headers = [name.capitalize() for name in groups] + list(_SUMS.values())
    rows = [_cells(row, groups) for row in report.rows[:SHOWN]]
    return {"columns": headers, "rows": rows, "group_count": len(groups)}


def _cells(row: dict[str, Any], groups: list[str]) -> SafeString:
    # A row's cells as one piece of HTML: 500 rows of eleven cells drawn one by one by the template were a
    # third of the page's time.
    named = (str(row["period"]) if name == "period" else _label(row, name) for name in groups)
    cells = [f'<td class="gw-group">{escape(text)}</td>' for text in named]
    cells += [f'<td class="gw-num">{escape(_cell(row[name]))}</td>' for name in _SUMS]
    return mark_safe("".join(cells))  # noqa: S308 - each cell's text is escaped above


def _cell(value: Any) -> str:
    if isinstance(value, Decimal):
        return usd(value)
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)
