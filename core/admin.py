"""Shared admin pieces: USD, badges, two-line cells, saves through services with refusals shown on the form, and
pages that show a secret once."""

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from core.audit import Actor, actor_for_user, audit_details

_SERVICE_ERROR = "gateway_service_error"
CENT = Decimal("0.01")


class PlainDecimalField(forms.DecimalField):
    """Shows 2.5 rather than 2.5000000000: the columns keep 10 places, people read a few."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        return value


def usd(value: Decimal | None, *, empty: str = "—") -> str:
    """$1,234.56 from a cent up; under a cent, three significant digits ($0.00000123, $0.0042), so a
    micro-cost is never rounded to a zero it is not; exactly zero is $0, so "$0.00" is never shown."""
    if value is None:
        return empty
    if value == 0:
        return "$0"
    if abs(value) >= CENT:
        text = f"${abs(value):,.2f}"
    else:
        # adjusted(): the exponent of the first significant digit (-6 for 0.00000123).
        places = min(10, 2 - value.adjusted())
        text = "$" + f"{abs(value):.{places}f}".rstrip("0")
    return f"-{text}" if value < 0 else text


def sub(text: str) -> SafeString:
    """A cell's quieter second line (styled in static/gateway/admin.css): two short lines fit where one long did not."""
    return format_html('<span class="gw-sub">{}</span>', text)


def breakable(code: str) -> SafeString:
    """An identifier (upstream_rate_limited) that may break after its underscores in a narrow column."""
    return mark_safe("_<wbr>".join(conditional_escape(part) for part in code.split("_")))  # noqa: S308  (escaped)


def moment(value: datetime | None, *, empty: str = "—") -> str:
    """A date over its time (local time, the admin's), for list columns."""
    if value is None:
        return empty
    local = timezone.localtime(value)
    return format_html("{}{}", f"{local:%Y-%m-%d}", sub(f"{local:%H:%M}"))


def badge(text: str, tone: str) -> SafeString:
    """A coloured pill; tones are styled in templates/admin/base_site.html (ok, warn, bad, muted, info)."""
    return format_html('<span class="gw-badge gw-badge--{}">{}</span>', tone, text)


_DOORS = {"admin": "admin", "api": "REST API", "cli": "manage.py", "gateway": "gateway"}


def history_lines(change_message: str) -> tuple[str, list[str]]:
    """The door a change came through and one line per field (`name: old → new`), for the history page."""
    details = audit_details(change_message)
    via = _DOORS.get(str(details.get("via", "")), "")
    if details.get("detail"):
        via = f"{via} ({details['detail']})"
    lines = []
    for name, value in (details.get("values") or {}).items():
        if isinstance(value, list) and len(value) == 2:
            lines.append(f"{name}: {_shown(value[0])} → {_shown(value[1])}")
        else:
            lines.append(f"{name}: {_shown(value)}")
    return via, lines


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "—"
    return str(value)


def shown_once(request: HttpRequest, model_admin: admin.ModelAdmin, template: str, **context: Any) -> TemplateResponse:
    """The reply to the POST that made a secret, showing it this once: no cache, browser or proxy, may keep it."""
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.opts, **context}
    response = TemplateResponse(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


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

    # Services that record every change in the object's history themselves (core.audit, with
    # old and new values) set this: the admin's own entries would say the same thing a second time.
    audited_by_services = False

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self.audited_by_services else super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self.audited_by_services else super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        return None if self.audited_by_services else super().log_deletions(request, queryset)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # Each entry the services wrote carries its door (admin, API, manage.py) and old → new values.
        response = super().history_view(request, object_id, extra_context)
        for entry in getattr(response, "context_data", {}).get("action_list", ()):
            entry.audit_via, entry.audit_lines = history_lines(entry.change_message)
        return response

    @staticmethod
    def actor(request: HttpRequest) -> Actor:
        return actor_for_user(user=request.user, via="admin")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        error = getattr(request, _SERVICE_ERROR, None)
        return form if error is None else _rejecting(form, error)
