"""The usage list's filters, search and page count, none of which scans the usage table.

Choices come from the month rollups (a few rows per account and month), the search resolves its
term to one indexed column, and the page count is the rollups' request count whenever the filters
are ones the rollups keep; otherwise it counts at most COUNT_CAP rows.
"""

import uuid
from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property

from accounts.models import Account
from keys.models import APIKey
from pricing.selectors import price_key
from usage.models import Span, UsageLog, UsageRollup
from usage.reports import UsageScope, UsageTotals, model_names, usage_total
from usage.rollups import span_start

COUNT_CAP = 10_000
CHOICES = 30  # per filter: the most used lately, and the one chosen
ACCOUNT_PARAM = "account__id__exact"  # the name Django's own filter used: account pages link with it
# Query parameters of the change list that do not narrow the rows.
_PAGING = frozenset({"p", "o", "all", "_changelist_filters", "_to_field", "_popup"})
_RECENT_MODELS = "_gw_recent_models"  # where a request keeps the model filter's reading for the provider filter


def _recent_rollups() -> QuerySet[UsageRollup]:
    """The month rollups of this month and last: a few per account, model and route whatever the table's size."""
    since = span_start(span_start(timezone.now(), Span.MONTH) - timedelta(days=1), Span.MONTH)
    return UsageRollup.objects.filter(span=Span.MONTH, bucket__gte=since)


def _recent_models(request: HttpRequest) -> list[tuple[str, str]]:
    """(model, provider) pairs with the most requests lately, most first; read once per page for both filters."""
    found = getattr(request, _RECENT_MODELS, None)
    if found is None:
        grouped = _recent_rollups().values_list("model", "provider").annotate(n=Sum("requests")).order_by("-n")
        found = [(model, provider) for model, provider, _ in grouped[: CHOICES * 3]]
        setattr(request, _RECENT_MODELS, found)
    return found


class AccountFilter(admin.SimpleListFilter):
    title = "account"
    parameter_name = ACCOUNT_PARAM

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        busiest = _recent_rollups().values("account_id").annotate(n=Sum("requests")).order_by("-n")
        ids: list[Any] = [row["account_id"] for row in busiest[:CHOICES]]
        if self.value():
            ids.append(self.value())
        names = dict(Account.objects.filter(pk__in=ids).values_list("pk", "user_id"))
        return sorted(((str(pk), user_id) for pk, user_id in names.items()), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[UsageLog]) -> QuerySet[UsageLog]:
        chosen = self.value()
        return queryset.filter(account_id=chosen) if chosen else queryset


class ModelFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = sorted({price_key(name) for name, _ in _recent_models(request)})[:CHOICES]
        chosen = self.value()
        if chosen and price_key(chosen) not in names:
            names.append(price_key(chosen))
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[UsageLog]) -> QuerySet[UsageLog]:
        chosen = self.value()
        return queryset.filter(model__in=model_names(name=chosen)) if chosen else queryset


class ProviderFilter(admin.SimpleListFilter):
    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names: set[str] = {str(provider) for _, provider in _recent_models(request)}
        chosen = self.value()
        if chosen:
            names.add(chosen)
        return [(name, name or "(none)") for name in sorted(names)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[UsageLog]) -> QuerySet[UsageLog]:
        return queryset.filter(provider=self.value()) if self.value() is not None else queryset


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("2xx", "Success (2xx)"), ("4xx", "Refused (4xx)"), ("5xx", "Failed (5xx)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[UsageLog]) -> QuerySet[UsageLog]:
        if self.value() in ("2xx", "4xx", "5xx"):
            low = int(str(self.value())[0]) * 100
            return queryset.filter(status_code__gte=low, status_code__lt=low + 100)
        return queryset


def search_lookup(term: str) -> dict[str, Any]:
    """A search term as one indexed filter: a request id, a user id, a key prefix, else a model name."""
    term = term.strip()
    try:
        return {"id": uuid.UUID(term)}
    except ValueError:
        pass
    account = Account.objects.filter(user_id=term).values_list("pk", flat=True).first()
    if account is not None:
        return {"account_id": account}
    key = APIKey.objects.filter(prefix=term.rstrip("…")).values_list("pk", flat=True).first()
    if key is not None:
        return {"api_key_id": key}
    return {"model__in": model_names(name=term)}


def admin_scope(params: dict[str, str]) -> UsageScope | None:
    """The change list's filters as a rollup scope, or None when one of them is not kept by rollups."""
    found: dict[str, Any] = {}
    for name, value in params.items():
        if name in _PAGING:
            continue
        if name == ACCOUNT_PARAM:
            found["account_id"] = value
        elif name == "model":
            found["models"] = model_names(name=value)
        elif name == "provider":
            found["provider"] = value
        elif name == "status" and value in ("2xx", "4xx", "5xx"):
            found["status_class"] = int(value[0])
        elif name in ("created_at__gte", "created_at__lt") and parse_datetime(value):
            found["since" if name.endswith("gte") else "until"] = parse_datetime(value)
        elif name == "q" and value.strip():
            lookup = search_lookup(value)
            if "id" in lookup:
                return None
            ((column, term),) = lookup.items()
            target = {"account_id": "account_id", "api_key_id": "key_id", "model__in": "models"}[column]
            if str(found.get(target, term)) != str(term):
                return None  # the search names another account than the filter: no rows, let them say so
            found[target] = term
        elif name != "q":
            return None
    return UsageScope(**found)


class UsagePaginator(Paginator):
    """Counts from rollups (exact, a few small reads) when it can; else at most COUNT_CAP rows."""

    def __init__(self, object_list: Any, per_page: int, *, scope: UsageScope | None, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.scope = scope

    @cached_property
    def totals(self) -> UsageTotals | None:
        """The totals of the listed rows, from rollups; None when the filters are not ones rollups keep."""
        return usage_total(scope=self.scope) if self.scope is not None else None

    @cached_property
    def count(self) -> int:
        if self.totals is not None:
            return self.totals.requests
        rows: Any = self.object_list
        return int(rows.order_by()[:COUNT_CAP].count())

    @property
    def capped(self) -> bool:
        return self.scope is None and self.count >= COUNT_CAP
