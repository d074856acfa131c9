"""Shared admin pieces: USD formatting, status badges, and saves through services with refusals shown on the form."""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

_SERVICE_ERROR = "gateway_service_error"
CENT = Decimal("0.01")


class PlainDecimalField(forms.DecimalField):
    """Shows 2.5 rather than 2.5000000000: the columns keep 10 places, people read a few."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        return value


def usd(value: Decimal | None, *, empty: str = "—") -> str:
    """$1,234.56; amounts under a cent keep six places so a single call's cost is still visible."""
    if value is None:
        return empty
    places = 2 if value == 0 or abs(value) >= CENT else 6
    text = f"${abs(value):,.{places}f}"
    return f"-{text}" if value < 0 else text


def badge(text: str, tone: str) -> SafeString:
    """A coloured pill; tones are styled in templates/admin/base_site.html (ok, warn, bad, muted, info)."""
    return format_html('<span class="gw-badge gw-badge--{}">{}</span>', tone, text)


def _rejecting(form_class: type[forms.ModelForm], error: ValidationError) -> type[forms.ModelForm]:
    """The same form, with the service's refusal attached as a non-field error."""

    def clean(self: forms.ModelForm) -> dict[str, Any]:
        cleaned = form_class.clean(self) or {}
        self.add_error(None, error.messages)
        return cleaned

    return type(form_class.__name__, (form_class,), {"clean": clean})


class ServiceModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose `save_model` calls services; their ValidationError becomes a form error.

    The admin calls `save_model` only after it has judged the form valid, so a refusal raised
    there would be a 500. Django runs the change view in one transaction: the refusal rolls it
    back, and the view runs once more with the refusal attached to the form, which then shows it.
    """

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            if request.method != "POST" or hasattr(request, _SERVICE_ERROR):
                raise
            setattr(request, _SERVICE_ERROR, error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        error = getattr(request, _SERVICE_ERROR, None)
        return form if error is None else _rejecting(form, error)
