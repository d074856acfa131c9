"""Admin for budgets: inlines on the account, key and team pages, the team pages, and each budget's history.

Every change goes through budgets.services (so every instance's cached plan is dropped); the
inlines show each budget's current window: spent, held, what is left and when it starts over.
"""

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.models import Account, Team
from accounts.selectors import team_and_below
from alerts.selectors import delivery_state, event_list
from budgets.models import Budget, BudgetPeriod
from budgets.selectors import budget_window
from budgets.services import budget_create, budget_delete, budget_update, team_create, team_update
from core.admin import PlainDecimalField, ServiceModelAdmin, badge, sub, usd
from core.audit import Actor
from core.money import MoneyField
from usage.charts import spend_chart_svg
from usage.reports import UsageScope, usage_total
from usage.selectors import spend_by_day

ALERTS_SHOWN = 5
CHART_DAYS = 30
_EDITABLE = ("name", "limit_usd", "period", "interval_seconds", "timezone", "anchor", "thresholds")


def _levelled(level: str) -> type[BaseInlineFormSet]:
    class Formset(BaseInlineFormSet):
        def _construct_form(self, i: int, **kwargs: Any) -> Any:
            form = super()._construct_form(i, **kwargs)  # type: ignore[misc]  # Django API the stubs omit
            form.instance.level = level  # before validation: the owner check constraint reads it
            return form

    return Formset


def resets_in(end: Any) -> str:
    if end is None:
        return "never (lifetime)"
    seconds = max(int((end - timezone.now()).total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    text = f"{days} d {hours} h" if days else f"{hours} h {minutes} min" if hours else f"{minutes} min {seconds} s"
    return f"in {text} ({end:%Y-%m-%d %H:%M} UTC)"


class BudgetInline(admin.TabularInline):
    """Budgets of the page's owner with their current window; saved through budgets.services by the page's admin."""

    model = Budget
    extra = 0
    # Spent over held in one column: the inline's eleven columns fit a 1280 px window (static/gateway/admin.css).
    fields = (*_EDITABLE, "spent", "left", "resets")
    readonly_fields = ("spent", "left", "resets")
    formfield_overrides = {
        MoneyField: {"form_class": PlainDecimalField, "widget": forms.NumberInput(attrs={"step": "any"})}
    }
    classes = ("gw-budgets",)
    show_change_link = True
    verbose_name_plural = "Budgets (a call must fit every one of its key's, account's and teams')"

    @admin.display(description="Spent · held, this window")
    def spent(self, obj: Budget) -> str:
        if not obj.pk:
            return "—"
        window = budget_window(budget=obj)
        held = sub(f"{usd(window.reserved_usd)} held") if window.reserved_usd else ""
        return format_html("{}{}", usd(window.spent_usd), held)

    @admin.display(description="Left")
    def left(self, obj: Budget) -> str:
        if not obj.pk:
            return "—"
        left = budget_window(budget=obj).remaining_usd
        tone = "bad" if left <= 0 else "warn" if left < obj.limit_usd / 10 else "ok"
        return badge(usd(left), tone)

    @admin.display(description="Starts over")
    def resets(self, obj: Budget) -> str:
        return resets_in(budget_window(budget=obj).end) if obj.pk else "—"


class AccountBudgetInline(BudgetInline):
    fk_name = "account"
    formset = _levelled(Budget.Level.ACCOUNT)


class KeyBudgetInline(BudgetInline):
    fk_name = "key"
    formset = _levelled(Budget.Level.KEY)
    verbose_name_plural = "Budgets of this key (caps inside its account's)"


class TeamBudgetInline(BudgetInline):
    fk_name = "team"
    formset = _levelled(Budget.Level.TEAM)


def save_budget_formset(formset: Any, owner: Any, actor: Actor) -> None:
    """Saves the budget inline of `owner`'s page through budgets.services; their refusals reach the form.

    Fills the formset's record of what changed, as its own save() would, for the admin's history.
    """
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for form in formset.initial_forms:
        if form in formset.deleted_forms:
            formset.deleted_objects.append(form.instance)
            budget_delete(budget=form.instance, actor=actor)
        elif form.has_changed():
            fields = [name for name in form.changed_data if name in _EDITABLE]
            budget_update(budget=form.instance, actor=actor, **{name: form.cleaned_data[name] for name in fields})
            formset.changed_objects.append((form.instance, fields))
    for form in formset.extra_forms:
        if form.has_changed() and form not in formset.deleted_forms:
            created = budget_create(owner=owner, actor=actor, **{name: form.cleaned_data[name] for name in _EDITABLE})
            formset.new_objects.append(created)


class BudgetSavingAdmin(ServiceModelAdmin):
    """A page with a budget inline: budgets are saved through the services, other inlines as Django does."""

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Budget:
            save_budget_formset(formset, form.instance, self.actor(request))
        else:
            super().save_formset(request, form, formset, change)


class AccountInline(admin.TabularInline):
    """A team's accounts, read-only: an account joins a team on its own page."""

    model = Account
    fields = ("user_id", "name", "is_active", "spent")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Spent (all time)")
    def spent(self, obj: Account) -> str:
        return usd(obj.spent_usd)


def _team_dashboard(team: Team) -> dict[str, Any]:
    """Cards and the spend chart (per account, teams inside it included) above the team's form."""
    ids = team_and_below(team=team)
    now = timezone.now()
    recent = usage_total(scope=UsageScope(team_ids=ids, since=now - timedelta(days=CHART_DAYS)))
    cards = [
        {
            "label": "Accounts",
            "value": f"{Account.objects.filter(team_id__in=ids).count():,}",
            "note": "teams inside included",
        },
        {"label": f"Last {CHART_DAYS} days", "value": usd(recent.cost_usd), "note": f"{recent.requests:,} requests"},
    ]
    series = spend_by_day(team_ids=ids, by="account", days=CHART_DAYS)
    report = reverse("admin:usage_usagelog_report") + "?" + urlencode({"team": team.slug, "group_by": "account"})
    return {
        "gw_cards": cards,
        "gw_chart": spend_chart_svg(series=series, today=now.date(), days=CHART_DAYS),
        "gw_report_url": report,
    }


@admin.register(Team)
class TeamAdmin(BudgetSavingAdmin):
    audited_by_services = True
    list_display = ("slug", "name", "parent", "account_count", "budget_count", "created_at")
    search_fields = ("slug", "name")
    fields = ("slug", "name", "parent")
    inlines = (TeamBudgetInline, AccountInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return (
            super()
            .get_queryset(request)
            .annotate(account_count=Count("accounts", distinct=True), budget_count=Count("budgets", distinct=True))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("slug",) if obj else ()

    @admin.display(description="Accounts", ordering="account_count")
    def account_count(self, obj: Any) -> int:
        return int(obj.account_count)

    @admin.display(description="Budgets", ordering="budget_count")
    def budget_count(self, obj: Any) -> int:
        return int(obj.budget_count)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        team = self.get_object(request, unquote(object_id))
        context = {**(extra_context or {}), **(_team_dashboard(team) if team else {})}
        return super().change_view(request, object_id, form_url, context)

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            fields = {name: data[name] for name in form.changed_data if name in ("name", "parent")}
            if fields:
                team_update(team=obj, actor=self.actor(request), **fields)
            return
        created = team_create(
            slug=data["slug"], name=data.get("name", ""), parent=data.get("parent"), actor=self.actor(request)
        )
        obj.pk = created.pk
        obj.refresh_from_db()


class PeriodInline(admin.TabularInline):
    """Closed windows, newest first: what was spent in each (and still held by calls admitted there)."""

    model = BudgetPeriod
    fields = ("start", "end", "limit", "spent", "held")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-start",)
    verbose_name_plural = "History (closed windows)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Limit")
    def limit(self, obj: BudgetPeriod) -> str:
        return usd(obj.limit_usd)

    @admin.display(description="Spent")
    def spent(self, obj: BudgetPeriod) -> str:
        return usd(obj.spent_usd)

    @admin.display(description="Held")
    def held(self, obj: BudgetPeriod) -> str:
        return usd(obj.reserved_usd)


@admin.register(Budget)
class BudgetAdmin(ServiceModelAdmin):
    """Every budget on one page; each one's current window and its history. Created on its owner's page."""

    audited_by_services = True

    list_display = ("owner", "label", "limit", "spent", "left", "resets", "level")
    list_filter = ("level", "period")
    search_fields = ("name", "account__user_id", "team__slug", "key__name", "key__prefix")
    fields = ("level", "owner", *_EDITABLE, "spent", "left", "resets", "alerts")
    readonly_fields = ("level", "owner", "spent", "left", "resets", "alerts")
    inlines = (PeriodInline,)
    formfield_overrides = BudgetInline.formfield_overrides

    def get_queryset(self, request: HttpRequest) -> QuerySet[Budget]:
        return super().get_queryset(request).select_related("key", "account", "team")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a budget belongs to an owner: add it on the key's, account's or team's page

    @admin.display(description="Owner")
    def owner(self, obj: Budget) -> str:
        return obj.owner_label

    @admin.display(description="Window")
    def label(self, obj: Budget) -> str:
        return obj.label

    @admin.display(description="Limit", ordering="limit_usd")
    def limit(self, obj: Budget) -> str:
        return usd(obj.limit_usd)

    spent = BudgetInline.spent
    left = BudgetInline.left
    resets = BudgetInline.resets

    @admin.display(description="Alerts (latest)")
    def alerts(self, obj: Budget) -> str:
        """The budget's latest events (thresholds crossed), and a link to all of them with their deliveries."""
        events = list(event_list(budget_ref=str(obj.pk))[:ALERTS_SHOWN])
        if not events:
            return "none yet"
        lines = format_html_join(
            mark_safe("<br>"),
            "{} % in the window from {}: {} of {} ({})",
            (
                (
                    event.threshold_pct,
                    "its start" if event.window_start is None else f"{event.window_start:%Y-%m-%d %H:%M} UTC",
                    usd(event.spent_usd),
                    usd(event.limit_usd),
                    delivery_state(event),
                )
                for event in events
            ),
        )
        everything = reverse("admin:alerts_budgetevent_changelist") + f"?budget_ref={obj.pk}"
        return format_html('{}<br><a href="{}">All events of this budget</a>', lines, everything)

    def save_model(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in _EDITABLE}
        if fields:
            budget_update(budget=obj, actor=self.actor(request), **fields)

    def delete_model(self, request: HttpRequest, obj: Budget) -> None:
        budget_delete(budget=obj, actor=self.actor(request))
