"""Admin for usage rows: read-only, filterable, with totals of the filtered rows and a streaming CSV export."""

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import badge, usd
from usage.models import UsageLog
from usage.selectors import UsageTotals, usage_totals

CSV_COLUMNS = (
    ("id", "id"),
    ("created_at", "created_at"),
    ("user_id", "account__user_id"),
    ("key_prefix", "api_key__prefix"),
    ("route", "route"),
    ("model", "model"),
    ("provider", "provider"),
    ("status_code", "status_code"),
    ("error_code", "error_code"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("reasoning_tokens", "reasoning_tokens"),
    ("cost_usd", "cost_usd"),
    ("latency_ms", "latency_ms"),
    ("streamed", "streamed"),
    ("usage_estimated", "usage_estimated"),
)


class _Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """The value as a CSV cell; text a spreadsheet would run as a formula gets a leading quote.

    Model names are written by any key holder, so a row can carry `=HYPERLINK(...)`.
    """
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(queryset: QuerySet[UsageLog]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([name for name, _ in CSV_COLUMNS])
    rows = queryset.values_list(*(source for _, source in CSV_COLUMNS)).iterator(chunk_size=2000)
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def totals_cards(totals: UsageTotals) -> list[dict[str, str]]:
    return [
        {"label": "Requests", "value": f"{totals.requests:,}", "note": "matching the filters"},
        {"label": "Cost", "value": usd(totals.cost_usd), "note": "USD"},
        {
            "label": "Input tokens",
            "value": f"{totals.input_tokens:,}",
            "note": f"+ {totals.cache_read_tokens:,} cache read · {totals.cache_write_tokens:,} written",
        },
        {
            "label": "Output tokens",
            "value": f"{totals.output_tokens:,}",
            "note": f"{totals.reasoning_tokens:,} of them reasoning",
        },
    ]


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


@admin.register(UsageLog)
class UsageLogAdmin(admin.ModelAdmin):
    list_display = (
        "when",
        "account_link",
        "model",
        "provider",
        "status",
        "tokens_in",
        "tokens_out",
        "cache",
        "cost",
        "latency",
        "streamed",
    )
    list_filter = (
        ("account", admin.RelatedOnlyFieldListFilter),
        ("model", admin.AllValuesFieldListFilter),
        ("provider", admin.AllValuesFieldListFilter),
        StatusFilter,
        "streamed",
        "usage_estimated",
        "created_at",
    )
    search_fields = ("=id", "model", "account__user_id", "api_key__prefix")
    date_hierarchy = "created_at"
    list_select_related = ("account",)
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="When (UTC)", ordering="created_at")
    def when(self, obj: UsageLog) -> str:
        return f"{obj.created_at:%Y-%m-%d %H:%M:%S}"

    @admin.display(description="In", ordering="input_tokens")
    def tokens_in(self, obj: UsageLog) -> str:
        return f"{obj.input_tokens:,}"

    @admin.display(description="Out", ordering="output_tokens")
    def tokens_out(self, obj: UsageLog) -> str:
        return f"{obj.output_tokens:,}"

    @admin.display(description="Cache r / w")
    def cache(self, obj: UsageLog) -> str:
        return f"{obj.cache_read_tokens:,} / {obj.cache_write_tokens:,}"

    @admin.display(description="Account", ordering="account__user_id")
    def account_link(self, obj: UsageLog) -> str:
        url = reverse("admin:accounts_account_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account.user_id)

    @admin.display(description="Status", ordering="status_code")
    def status(self, obj: UsageLog) -> str:
        tone = "ok" if obj.status_code < 400 else "warn" if obj.status_code < 500 else "bad"
        return badge(f"{obj.status_code} {obj.error_code}".strip(), tone)

    @admin.display(description="Cost", ordering="cost_usd")
    def cost(self, obj: UsageLog) -> str:
        # An estimate (proxy.usage_rules) is marked: the provider's own counts were missing or absurd.
        return f"≈ {usd(obj.cost_usd)}" if obj.usage_estimated else usd(obj.cost_usd)

    @admin.display(description="Latency", ordering="latency_ms")
    def latency(self, obj: UsageLog) -> str:
        return f"{obj.latency_ms:,} ms"

    def get_urls(self) -> list[URLPattern]:
        export = path("export/", self.admin_site.admin_view(self.export_csv), name="usage_usagelog_export")
        return [export, *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> StreamingHttpResponse:
        """The rows the changelist shows for the same query string (filters, search, dates), all pages."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = self.get_changelist_instance(request).get_queryset(request).select_related(None)
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="usage-{stamp}.csv"'
        return response

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            context["gw_cards"] = totals_cards(usage_totals(queryset=context["cl"].queryset))
            context["gw_export_query"] = request.GET.urlencode()
        return response
