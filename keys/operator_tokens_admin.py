"""Admin for operators' personal API tokens: made for an operator, shown once, listed by their first characters."""

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from knox.models import AuthToken

from core.admin import ServiceModelAdmin
from keys.operator_tokens import operator_token_create, operator_token_delete, operator_token_label

_RAW_TOKEN = "gateway_raw_operator_token"
_LABEL = "gateway_operator_token_label"


class OperatorTokenForm(forms.ModelForm):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True),
        help_text="The operator whose permissions the token carries.",
    )
    expires_at = forms.DateTimeField(required=False, help_text="Empty: until deleted.")

    class Meta:
        model = AuthToken
        fields = ("user",)

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("An expiry in the past: the token could never be used.")
        return expires_at


@dataclass(frozen=True)
class _Named:
    """What the delete page reads of its object: the primary key for its links, and str() for its text."""

    pk: Any
    label: str

    def __str__(self) -> str:
        return self.label


admin.site.unregister(AuthToken)  # knox's own admin would list digests and make tokens no one can see


@admin.register(AuthToken)
class OperatorTokenAdmin(ServiceModelAdmin):
    form = OperatorTokenForm
    list_display = ("token", "user", "created", "expiry")
    list_select_related = ("user",)
    search_fields = ("user__username", "token_key")
    audited_by_services = True

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token is made or deleted, never edited

    @admin.display(description="Token", ordering="token_key")
    def token(self, obj: AuthToken) -> str:
        return format_html('<code class="gw-prefix">{}…</code>', obj.token_key)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        label = self._label(object_id)
        context = {**(extra_context or {}), "subtitle": label, "gw_object_label": label}
        return super().change_view(request, object_id, form_url, context)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        label = self._label(object_id)
        context = {**(extra_context or {}), "title": f"Change history: {label}", "gw_object_label": label}
        return super().history_view(request, object_id, context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # Django's confirmation names the object by str(): here the digest. The token's label instead, there
        # and in the message after deleting.
        label = self._label(object_id)
        setattr(request, _LABEL, label)
        context = {**(extra_context or {}), "gw_object_label": label}
        if label:
            context["object"] = _Named(pk=unquote(object_id), label=label)
        response = super().delete_view(request, object_id, context)
        if label and isinstance(response, TemplateResponse) and response.context_data:
            response.context_data["deleted_objects"] = [f"Auth token: {label}"]
        return response

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        return super().response_delete(request, getattr(request, _LABEL, "") or obj_display, obj_id)

    @staticmethod
    def _label(object_id: str) -> str:
        """The token as the list names it: knox's str() is its 128-character digest, which says nothing to anyone."""
        token = AuthToken.objects.select_related("user").filter(pk=unquote(object_id)).first()
        return operator_token_label(token) if token else ""

    def save_model(self, request: HttpRequest, obj: AuthToken, form: Any, change: bool) -> None:
        data = form.cleaned_data
        token, raw = operator_token_create(
            user=data["user"], expires_at=data.get("expires_at"), actor=self.actor(request)
        )
        obj.pk = token.pk
        setattr(request, _RAW_TOKEN, raw)

    def delete_model(self, request: HttpRequest, obj: AuthToken) -> None:
        operator_token_delete(token=obj, actor=self.actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AuthToken]) -> None:
        for token in queryset:
            operator_token_delete(token=token, actor=self.actor(request))

    def response_add(self, request: HttpRequest, obj: AuthToken, post_url_continue: str | None = None) -> HttpResponse:
        raw = getattr(request, _RAW_TOKEN, None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        changelist = reverse("admin:knox_authtoken_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Copy your new API token",
            "raw_token": raw,
            "token_user": AuthToken.objects.select_related("user").get(pk=obj.pk).user,
            "changelist_url": changelist,
        }
        response = TemplateResponse(request, "admin/knox/authtoken/token_created.html", context)
        response["Cache-Control"] = "no-store"
        return response
