"""Admin for accounts: budget, spend, their keys and a 30-day spend chart, saved through account services."""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import Account
from accounts.services import account_deactivate, account_update
from budgets.admin import AccountBudgetInline, BudgetSavingAdmin
from budgets.services import account_budget_set, account_open
from core.admin import PlainDecimalField, badge, moment, sub, usd
from core.money import MoneyField
from keys.models import APIKey
from usage.charts import spend_chart_svg
from usage.reports import UsageScope, usage_total
from usage.selectors import spend_by_day

CHART_DAYS = 30
_UPDATABLE = ("name", "email", "is_active", "team")


class AccountForm(forms.ModelForm):
    """The account's fields, and its lifetime budget (`budget_usd`, kept by budgets.services)."""

    budget_usd = PlainDecimalField(
        required=False,
        max_digits=19,
        decimal_places=10,
        widget=forms.NumberInput(attrs={"step": "any"}),
        label="Lifetime budget (USD)",
        help_text="Empty: no lifetime budget. Periods (daily, monthly, …) are budgets below.",
    )

    class Meta:
        model = Account
        fields = ("user_id", "name", "email", "team", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["budget_usd"] = self.instance.budget_usd


def key_status(key: APIKey) -> str:
    if not key.is_active:
        return badge("revoked", "bad")
    if key.is_expired:
        return badge("expired", "warn")
    return badge("active", "ok")


class KeyInline(admin.TabularInline):
    """The account's keys, read-only: keys are created and changed on their own pages, through key services."""

    model = APIKey
    fields = ("key", "name", "status", "expires_at", "last_used_at", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "API keys"
    classes = ("gw-keys",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Key")
    def key(self, obj: APIKey) -> str:
        url = reverse("admin:keys_apikey_change", args=[obj.pk])
        return format_html('<a href="{}"><code class="gw-prefix">{}…</code></a>', url, obj.prefix)

    @admin.display(description="Status")
    def status(self, obj: APIKey) -> str:
        return key_status(obj)


@admin.register(Account)
class AccountAdmin(BudgetSavingAdmin):
    # The money first, after who it is; the name under the user id keeps the table inside 1280 px.
    list_display = ("account", "status", "remaining", "spent", "budget", "key_count", "created")
    search_fields = ("user_id", "name", "email")
    list_filter = ("is_active",)
    date_hierarchy = "created_at"
    readonly_fields = ("spent", "reserved", "remaining", "created_at", "updated_at")
    form = AccountForm
    fieldsets = (
        (None, {"fields": ("user_id", "name", "email", "team", "is_active")}),
        ("Lifetime budget", {"fields": ("budget_usd", "spent", "reserved", "remaining")}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    inlines = (AccountBudgetInline, KeyInline)
    formfield_overrides = {
        # No min_value: a negative budget is refused by account_create/account_update, shown on the form.
        MoneyField: {"form_class": PlainDecimalField, "widget": forms.NumberInput(attrs={"step": "any"})}
    }
    actions = ("deactivate_selected",)
    audited_by_services = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).annotate(key_count=Count("keys")).prefetch_related("budgets")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # user_id is how the API and the keys name the account: fixed once created.
        return ("user_id", *self.readonly_fields) if obj else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # usage rows and the ledger hang off accounts: deactivate instead

    @admin.display(description="Account · name", ordering="user_id")
    def account(self, obj: Account) -> str:
        return format_html("{}{}", obj.user_id, sub(obj.name) if obj.name else "")

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj: Account) -> str:
        return moment(obj.created_at)

    @admin.display(description="Budget")
    def budget(self, obj: Account) -> str:
        return usd(obj.budget_usd, empty="Unlimited")

    @admin.display(description="Spent", ordering="spent_usd")
    def spent(self, obj: Account) -> str:
        return usd(obj.spent_usd)

    @admin.display(description="Reserved (in flight)")
    def reserved(self, obj: Account) -> str:
        return usd(obj.reserved_usd)

    @admin.display(description="Remaining")
    def remaining(self, obj: Account) -> str:
        left = obj.remaining_usd
        if left is None:
            return badge("unlimited", "muted")
        return badge(
            usd(left), "bad" if left <= 0 else "warn" if obj.budget_usd and left < obj.budget_usd / 10 else "ok"
        )

    @admin.display(description="Active", ordering="is_active")
    def status(self, obj: Account) -> str:
        return badge("active", "ok") if obj.is_active else badge("inactive", "muted")

    @admin.display(description="Keys", ordering="key_count")
    def key_count(self, obj: Any) -> int:
        return int(obj.key_count)

    @admin.action(description="Deactivate selected accounts", permissions=["change"])
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        accounts = list(queryset.filter(is_active=True))
        for account in accounts:
            account_deactivate(account=account, actor=self.actor(request))
        self.message_user(request, f"Deactivated {len(accounts)} account(s).", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            fields = {name: data[name] for name in form.changed_data if name in _UPDATABLE}
            if fields:
                # The stored account, not the form's copy (already holding the new values): the history shows old → new.
                account_update(account=Account.objects.get(pk=obj.pk), actor=self.actor(request), **fields)
            if "budget_usd" in form.changed_data:
                account_budget_set(account=obj, budget_usd=data["budget_usd"], actor=self.actor(request))
            return
        created = account_open(
            user_id=data["user_id"],
            name=data.get("name", ""),
            email=data.get("email", ""),
            budget_usd=data.get("budget_usd"),
            is_active=data.get("is_active", True),
            team=data.get("team"),
            actor=self.actor(request),
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        account = self.get_object(request, unquote(object_id))
        context = {**(extra_context or {}), **(self._dashboard(account) if account else {})}
        return super().change_view(request, object_id, form_url, context)

    def _dashboard(self, account: Account) -> dict[str, Any]:
        """Summary cards and the spend chart shown above the account's form."""
        now = timezone.now()
        recent = usage_total(scope=UsageScope(account_id=account.pk, since=now - timedelta(days=CHART_DAYS)))
        left = account.remaining_usd
        cards = [
            {"label": "Budget", "value": usd(account.budget_usd, empty="Unlimited"), "note": "spending limit"},
            {"label": "Spent", "value": usd(account.spent_usd), "note": "all time"},
            {
                "label": "Remaining",
                "value": usd(left, empty="Unlimited"),
                "note": "budget − spent − held",
                "tone": "bad" if left is not None and left <= 0 else "ok",
            },
            {"label": "Reserved", "value": usd(account.reserved_usd), "note": "requests in flight"},
            {
                "label": f"Last {CHART_DAYS} days",
                "value": usd(recent.cost_usd),
                "note": f"{recent.requests:,} requests",
            },
        ]
        series = spend_by_day(account_id=account.pk, days=CHART_DAYS)
        return {
            "gw_cards": cards,
            "gw_chart": spend_chart_svg(series=series, today=now.date(), days=CHART_DAYS),
            "gw_usage_url": reverse("admin:usage_usagelog_changelist") + f"?account__id__exact={account.pk}",
        }
