"""Admin for routing: deployments with their health (cooldown, recent errors) and route policies, via the services."""

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.admin import ServiceModelAdmin, badge, sub
from core.providers import credentials_provider
from routing.health import Health, health_report
from routing.models import Deployment, RoutePolicy
from routing.services import (
    deployment_create,
    deployment_delete,
    deployment_update,
    policy_delete,
    policy_set,
)

_FIELDS = (
    "public_name",
    "provider",
    "upstream_model",
    "credentials",
    "weight",
    "rpm_capacity",
    "tpm_capacity",
    "enabled",
)


_ERROR_SHOWN = 90  # characters of the latest error in the list


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _health(obj: Deployment) -> Health:
    return health_report(deployment_id=str(obj.pk))


@admin.register(Deployment)
class DeploymentAdmin(ServiceModelAdmin):
    # Health and recent errors before the configuration; two-line cells keep the table inside 1280 px.
    list_display = ("public_name", "status", "errors", "upstream", "credentials", "weight", "enabled")
    list_filter = ("enabled", "provider", "public_name")
    search_fields = ("public_name", "upstream_model")
    fields = _FIELDS
    readonly_fields = ("health",)
    audited_by_services = True

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*_FIELDS, "health") if obj else _FIELDS

    @admin.display(description="Health")
    def status(self, obj: Deployment) -> SafeString:
        health = _health(obj)
        if not obj.enabled:
            return badge("disabled", "muted")
        if credentials_provider(obj.credentials) is None:  # calls skip it: never "healthy"
            return badge("not configured", "bad")
        if health.cooling_until:
            return badge(f"cooling until {_when(health.cooling_until)[11:19]}", "bad")
        return badge("healthy", "ok")

    @admin.display(description="Recent errors")
    def errors(self, obj: Deployment) -> str:
        recent = _health(obj).recent_errors
        if not recent:
            return "—"
        at, what = recent[0]
        # The whole message is on the deployment's page (and in the cell's tooltip); the list shows its start.
        shown = what if len(what) <= _ERROR_SHOWN else what[: _ERROR_SHOWN - 1] + "…"
        return format_html('<span title="{}">{}</span>{}', what, shown, sub(f"{len(recent)}, last {_when(at)}"))

    @admin.display(description="Upstream model · provider", ordering="upstream_model")
    def upstream(self, obj: Deployment) -> str:
        return format_html("{}{}", obj.upstream_model, sub(obj.provider))

    @admin.display(description="Health (every instance)")
    def health(self, obj: Deployment) -> SafeString:
        health = _health(obj)
        cooling = f"Cooling down until {_when(health.cooling_until)}." if health.cooling_until else "Not cooling down."
        if credentials_provider(obj.credentials) is None:
            cooling = f"Not configured: no provider {obj.credentials!r} has a key in the environment; calls skip it."
        rows = format_html_join("", "<li>{}: {}</li>", ((_when(at), what) for at, what in health.recent_errors))
        return format_html("<p>{}</p><p>Recent errors (newest first):</p><ul>{}</ul>", cooling, rows or "none")

    def save_model(self, request: HttpRequest, obj: Deployment, form: forms.ModelForm, change: bool) -> None:
        values = {name: form.cleaned_data.get(name, getattr(obj, name)) for name in _FIELDS}
        if change:
            current = Deployment.objects.get(pk=obj.pk)
            saved = deployment_update(deployment=current, actor=self.actor(request), **values)
        else:
            saved = deployment_create(actor=self.actor(request), **values)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Deployment) -> None:
        deployment_delete(deployment=obj, actor=self.actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        for deployment in queryset:
            deployment_delete(deployment=deployment, actor=self.actor(request))


class PolicyForm(forms.ModelForm):
    fallbacks = forms.CharField(required=False, help_text="Other public names to try, in order, separated by commas.")

    class Meta:
        model = RoutePolicy
        fields = ("public_name", "attempts", "deadline_s", "fallbacks", "context_fallback")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["fallbacks"] = ", ".join(self.instance.fallbacks or [])

    def clean_fallbacks(self) -> list[str]:
        return [name.strip() for name in (self.cleaned_data.get("fallbacks") or "").split(",") if name.strip()]


@admin.register(RoutePolicy)
class RoutePolicyAdmin(ServiceModelAdmin):
    form = PolicyForm
    list_display = ("public_name", "attempts", "deadline_s", "fallback_names", "context_fallback")
    search_fields = ("public_name",)
    audited_by_services = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("public_name",) if obj else ()  # the upsert key: renaming would make a second policy

    @admin.display(description="Fallbacks")
    def fallback_names(self, obj: RoutePolicy) -> str:
        return " → ".join(obj.fallbacks) or "—"

    def save_model(self, request: HttpRequest, obj: RoutePolicy, form: forms.ModelForm, change: bool) -> None:
        policy, _ = policy_set(
            public_name=obj.public_name,
            attempts=form.cleaned_data["attempts"],
            deadline_s=form.cleaned_data["deadline_s"],
            fallbacks=form.cleaned_data["fallbacks"],
            context_fallback=form.cleaned_data.get("context_fallback") or "",
            actor=self.actor(request),
        )
        obj.pk = policy.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: RoutePolicy) -> None:
        policy_delete(policy=obj, actor=self.actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RoutePolicy]) -> None:
        for policy in queryset:
            policy_delete(policy=policy, actor=self.actor(request))
