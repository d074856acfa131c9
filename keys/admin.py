"""Admin for API keys: prefix only, the raw key shown once right after creation, revocation through key services."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts.admin import key_status
from budgets.admin import BudgetSavingAdmin, KeyBudgetInline
from core.admin import badge, moment, shown_once, sub
from keys.forms import APIKeyForm
from keys.models import APIKey
from keys.services import key_create, key_revoke, key_update

# The raw key travels from save_model to response_add on the request object of that one POST:
# never in the session, the database, a message or a log line.
_RAW_KEY = "gateway_raw_key"
_UPDATABLE = ("name", "is_active", "expires_at", "allowed_models", "rpm_limit", "tpm_limit")
_ADD_FIELDS = ("account", "name", "expires_at", "allowed_models", "rpm_limit", "tpm_limit")
_MODELS_SHOWN = 3  # allowed models named in the list; the rest are counted
_CHANGE_FIELDS = ("key", "account", "name", "is_active", "expires_at", "allowed_models", "rpm_limit", "tpm_limit")


@admin.register(APIKey)
class APIKeyAdmin(BudgetSavingAdmin):
    form = APIKeyForm
    # Status and limits before the long columns; two-line cells keep the table inside 1280 px.
    list_display = ("key", "status", "account_link", "limits", "models", "expires", "last_used")
    list_filter = (
        "is_active",
        ("expires_at", admin.EmptyFieldListFilter),
        ("account", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("prefix", "name", "account__user_id")
    date_hierarchy = "created_at"
    autocomplete_fields = ("account",)
    list_select_related = ("account",)
    actions = ("revoke_selected",)
    audited_by_services = True

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return (KeyBudgetInline,) if obj else ()  # caps are added once the key exists

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*_CHANGE_FIELDS, "last_used_at", "created_at") if obj else _ADD_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("key", "account", "last_used_at", "created_at") if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # usage rows keep pointing at revoked keys: revoke instead

    @admin.display(description="Key · name", ordering="prefix")
    def key(self, obj: APIKey) -> str:
        return format_html('<code class="gw-prefix">{}…</code>{}', obj.prefix, sub(obj.name) if obj.name else "")

    @admin.display(description="Account", ordering="account__user_id")
    def account_link(self, obj: APIKey) -> str:
        url = reverse("admin:accounts_account_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account.user_id)

    @admin.display(description="Status", ordering="is_active")
    def status(self, obj: APIKey) -> str:
        return key_status(obj)

    @admin.display(description="Allowed models")
    def models(self, obj: APIKey) -> str:
        if not obj.allowed_models:
            return badge("all models", "muted")
        names = obj.allowed_models
        shown = format_html_join("", '<code class="gw-line">{}</code>', ((name,) for name in names[:_MODELS_SHOWN]))
        if len(names) <= _MODELS_SHOWN:
            return shown
        rest = names[_MODELS_SHOWN:]  # on the key's page, and in the tooltip
        return format_html('{}<span class="gw-sub" title="{}">and {} more</span>', shown, ", ".join(rest), len(rest))

    @admin.display(description="Limits")
    def limits(self, obj: APIKey) -> str:
        if not obj.rpm_limit and not obj.tpm_limit:
            return badge("none", "muted")
        rpm = f"{obj.rpm_limit:,} rpm" if obj.rpm_limit else "— rpm"
        tpm = f"{obj.tpm_limit:,} tpm" if obj.tpm_limit else "— tpm"
        return format_html("{}{}", rpm, sub(tpm))

    @admin.display(description="Expires", ordering="expires_at")
    def expires(self, obj: APIKey) -> str:
        return moment(obj.expires_at, empty="never")

    @admin.display(description="Last used", ordering="last_used_at")
    def last_used(self, obj: APIKey) -> str:
        return moment(obj.last_used_at, empty="never")

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        keys = list(queryset.filter(is_active=True))
        for key in keys:
            key_revoke(key=key, actor=self.actor(request))
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            fields = {name: data[name] for name in form.changed_data if name in _UPDATABLE}
            if fields:
                # The stored key, not the form's copy (already holding the new values): the history shows old → new.
                key_update(key=APIKey.objects.get(pk=obj.pk), actor=self.actor(request), **fields)
            return
        created = key_create(
            account=data["account"],
            name=data.get("name", ""),
            expires_at=data.get("expires_at"),
            allowed_models=data.get("allowed_models") or [],
            rpm_limit=data.get("rpm_limit"),
            tpm_limit=data.get("tpm_limit"),
            actor=self.actor(request),
        )
        obj.pk = created.key.pk
        obj.refresh_from_db()
        setattr(request, _RAW_KEY, created.raw)

    def response_add(self, request: HttpRequest, obj: APIKey, post_url_continue: str | None = None) -> HttpResponse:
        """Shows the raw key in the reply to the add POST itself; the page then swaps its URL for the key's."""
        raw = getattr(request, _RAW_KEY, None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        return shown_once(
            request,
            self,
            "admin/keys/apikey/key_created.html",
            title="Copy your new API key",
            key=obj,
            raw_key=raw,
            change_url=reverse("admin:keys_apikey_change", args=[obj.pk]),
            changelist_url=reverse("admin:keys_apikey_changelist"),
        )


from keys import operator_tokens_admin  # noqa: E402, F401  (registers the operator tokens' admin)
