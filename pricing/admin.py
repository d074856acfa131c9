"""Admin for model prices (USD per 1M tokens): an editable list, every save through `cost_upsert`."""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html

from core.admin import PlainDecimalField, ServiceModelAdmin, badge, sub
from core.providers import provider_registry
from pricing.models import ModelCost
from pricing.selectors import MODE_PRICES
from pricing.services import LOADED_SOURCES, cost_delete, cost_release, cost_upsert
from pricing.sources import pricing_entries

_SOURCE_TONES = {"override": "info", "litellm": "muted", "manual": "warn"}


class CallableProviderFilter(admin.SimpleListFilter):
    """Providers the gateway can call (configured, by *_API_KEY), not the ~100 LiteLLM's map names."""

    title = "provider"
    parameter_name = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(provider.name, provider.name) for provider in provider_registry().providers]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ModelCost]) -> QuerySet[ModelCost]:
        value = self.value()
        return queryset.filter(provider__istartswith=value) if value else queryset


@admin.register(ModelCost)
class ModelCostAdmin(ServiceModelAdmin):
    # The provider under the model and the date under the source keep the editable table inside 1280 px.
    list_display = (
        "model_provider",
        "input_per_mtok",
        "output_per_mtok",
        "cache_write_per_mtok",
        "cache_read_per_mtok",
        "source_badge",
    )
    list_editable = ("input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_read_per_mtok")
    list_filter = ("source", CallableProviderFilter)
    search_fields = ("model", "provider")
    list_per_page = 50
    audited_by_services = True
    actions = ("release_selected",)
    formfield_overrides = {
        models.DecimalField: {
            "form_class": PlainDecimalField,
            "min_value": Decimal(0),
            "widget": forms.NumberInput(attrs={"step": "any", "class": "gw-price"}),
        }
    }
    fields = ("model", "provider", "input_per_mtok", "output_per_mtok", "cache_write_per_mtok", "cache_read_per_mtok")
    # Billing modes a client chooses (service tier, one-hour cache writes, audio): on the change form only.
    mode_fields = MODE_PRICES

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The model name is the upsert key: renaming would silently create a second price.
        return ("model", "source", "updated_at") if obj else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*self.fields, *self.mode_fields, "source", "updated_at") if obj else (*self.fields, *self.mode_fields)

    @admin.display(description="Model · provider", ordering="model")
    def model_provider(self, obj: ModelCost) -> str:
        return format_html("{}{}", obj.model, sub(obj.provider) if obj.provider else "")

    @admin.display(description="Source · updated", ordering="source")
    def source_badge(self, obj: ModelCost) -> str:
        source = badge(obj.get_source_display().split(" (")[0], _SOURCE_TONES.get(obj.source, "muted"))
        return format_html("{}{}", source, sub(f"{obj.updated_at:%Y-%m-%d}"))

    def save_model(self, request: HttpRequest, obj: ModelCost, form: Any, change: bool) -> None:
        # An operator's edit is a manual price from now on: load_pricing's sources no longer describe it.
        cost, _ = cost_upsert(
            model=obj.model,
            provider=obj.provider,
            input_per_mtok=obj.input_per_mtok,
            output_per_mtok=obj.output_per_mtok,
            cache_write_per_mtok=obj.cache_write_per_mtok,
            cache_read_per_mtok=obj.cache_read_per_mtok,
            **{name: getattr(obj, name) for name in MODE_PRICES},
            source=ModelCost.Source.MANUAL,
            actor=self.actor(request),
        )
        obj.pk = cost.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: ModelCost) -> None:
        cost_delete(cost=obj, actor=self.actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelCost]) -> None:
        for cost in queryset:
            cost_delete(cost=cost, actor=self.actor(request))

    @admin.action(description="Give back to load_pricing (restore the published price)", permissions=["change"])
    def release_selected(self, request: HttpRequest, queryset: QuerySet[ModelCost]) -> None:
        published = {entry["model"]: entry for entry in pricing_entries()}
        released, unpublished = 0, []
        for cost in queryset.exclude(source__in=LOADED_SOURCES):
            if cost.model not in published:
                unpublished.append(cost.model)
                continue
            cost_release(cost=cost, entry=published[cost.model], actor=self.actor(request))
            released += 1
        restored = f"{released} price(s) restored to the published price; load_pricing keeps them current."
        self.message_user(request, restored)
        if unpublished:
            self.message_user(
                request, "No published price, kept as set by an operator: " + ", ".join(unpublished), messages.WARNING
            )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # The editable list saves every changed row in one transaction: a refusal undoes them all.
        try:
            return super().changelist_view(request, extra_context)
        except ValidationError as error:
            self.message_user(request, "Nothing saved: " + " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
