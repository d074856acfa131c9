"""Admin for usage rows: read-only, filterable without scanning the table, totals from rollups, streaming CSV."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin import badge, breakable, sub, usd
from core.admin_rows import change_url
from usage.admin_filters import (
    ACCOUNT_PARAM,
    COUNT_CAP,
    AccountFilter,
    ModelFilter,
    ProviderFilter,
    StatusFilter,
    UsagePaginator,
    admin_scope,
    search_lookup,
)
from usage.exports import csv_lines
from usage.models import UsageLog
from usage.report_admin import spend_report_view
from usage.reports import UsageTotals

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


@admin.register(UsageLog)
class UsageLogAdmin(admin.ModelAdmin):
    # What an operator looks for first (cost, latency, outcome) on the left; two-line cells keep the
    # table inside 1280 px beside the navigation sidebar (tests/admin/test_browser.py measures it).
    list_display = ("when", "cost", "latency", "status", "model_provider", "account_link", "tokens")
    list_filter = (
        AccountFilter,
        ModelFilter,
        ProviderFilter,
        StatusFilter,
        "streamed",
        "usage_estimated",
        "created_at",
    )
    # Resolved to one indexed column by search_lookup (get_search_results), never a LIKE over the table.
    search_fields = ("=id",)
    search_help_text = "A request id, a user id, a key prefix or a model name."
    list_select_related = ("account",)
    list_per_page = 50
    # Newest first only: any other order sorts the whole table (millions of rows) for one page.
    sortable_by = ("when",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[UsageLog], search_term: str
    ) -> tuple[QuerySet[UsageLog], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(**search_lookup(search_term)), False

    def get_paginator(self, request: HttpRequest, queryset: Any, per_page: int, *args: Any, **kwargs: Any) -> Any:
        return UsagePaginator(queryset, per_page, scope=admin_scope(request.GET.dict()), **kwargs)

    def get_list_display(self, request: HttpRequest) -> Any:
        # The list of one account (its page links here) needs no account column.
        if request.GET.get(ACCOUNT_PARAM):
            return tuple(name for name in self.list_display if name != "account_link")
        return self.list_display

    @admin.display(description="When (UTC)", ordering="created_at")
    def when(self, obj: UsageLog) -> str:
        local = timezone.localtime(obj.created_at)  # UTC (settings.TIME_ZONE), to the second: rows come fast
        return format_html("{}{}", f"{local:%Y-%m-%d}", sub(f"{local:%H:%M:%S}"))

    @admin.display(description="Cost")
    def cost(self, obj: UsageLog) -> str:
        # An estimate (proxy.usage_rules) is marked: the provider's own counts were missing or absurd.
        return f"≈ {usd(obj.cost_usd)}" if obj.usage_estimated else usd(obj.cost_usd)

    @admin.display(description="Latency")
    def latency(self, obj: UsageLog) -> str:
        return format_html("{} ms{}", f"{obj.latency_ms:,}", sub("streamed") if obj.streamed else "")

    @admin.display(description="Status")
    def status(self, obj: UsageLog) -> str:
        tone = "ok" if obj.status_code < 400 else "warn" if obj.status_code < 500 else "bad"
        error = sub(breakable(obj.error_code)) if obj.error_code else ""
        return format_html("{}{}", badge(str(obj.status_code), tone), error)

    @admin.display(description="Model · provider")
    def model_provider(self, obj: UsageLog) -> str:
        return format_html("{}{}", obj.model or "—", sub(obj.provider) if obj.provider else "")

    @admin.display(description="Account")
    def account_link(self, obj: UsageLog) -> str:
        url = change_url("admin:accounts_account_change", obj.account_id)  # a reverse() per row was 5 % of the page
        return format_html('<a href="{}">{}</a>', url, obj.account.user_id)

    @admin.display(description="Tokens in → out")
    def tokens(self, obj: UsageLog) -> str:
        cache = f"cache {obj.cache_read_tokens:,} read · {obj.cache_write_tokens:,} written"
        shown = obj.cache_read_tokens or obj.cache_write_tokens
        return format_html("{} → {}{}", f"{obj.input_tokens:,}", f"{obj.output_tokens:,}", sub(cache) if shown else "")

    def get_urls(self) -> list[URLPattern]:
        export = path("export/", self.admin_site.admin_view(self.export_csv), name="usage_usagelog_export")
        report = path("report/", self.admin_site.admin_view(self.spend_report), name="usage_usagelog_report")
        return [export, report, *super().get_urls()]

    def spend_report(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return spend_report_view(request, {**self.admin_site.each_context(request), "opts": self.model._meta})

    def export_csv(self, request: HttpRequest) -> StreamingHttpResponse:
        """The rows the changelist shows for the same query string (filters, search, dates), all pages."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = self.get_changelist_instance(request).get_queryset(request).select_related(None)
        values = rows.values_list(*(source for _, source in CSV_COLUMNS)).iterator(chunk_size=2000)
        lines = csv_lines([name for name, _ in CSV_COLUMNS], values)
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="usage-{stamp}.csv"'
        return response

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            totals = getattr(context["cl"].paginator, "totals", None)  # read once, for the count as well
            if totals is not None:
                context["gw_cards"] = totals_cards(totals)
            else:
                context["gw_note"] = (
                    f"Totals are kept for filters on account, model, provider, status and dates; "
                    f"with this filter the count stops at {COUNT_CAP:,} rows."
                )
            context["gw_export_query"] = request.GET.urlencode()
            context["gw_report_url"] = reverse("admin:usage_usagelog_report")
        return response
