"""Admin for alerts: budget events with their delivery state, destinations (secrets shown once), the outbox."""

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from alerts.models import BudgetEvent, Delivery, Destination
from alerts.outbox import email_configured
from alerts.payload import event_text
from alerts.selectors import delivery_state, delivery_target, masked_url
from alerts.services import delivery_retry_now, destination_create, destination_delete, destination_update
from core.admin import ServiceModelAdmin, badge, shown_once, usd

# A generated secret travels from save_model to the response on the request object of that one POST:
# never in the session, a message or a log line (as the raw API key does, keys/admin.py).
_NEW_SECRET = "gateway_new_destination_secret"
_TONES = {"delivered": "ok", "pending": "info", "sending": "info", "failed": "bad", "none": "muted"}


def _state_badge(state: str) -> SafeString:
    return badge(state, _TONES.get(state, "muted"))


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("target", "channel", "state", "attempts", "next_attempt_at", "last_error", "delivered_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Destination")
    def target(self, obj: Delivery) -> str:
        return delivery_target(obj)

    @admin.display(description="Status")
    def state(self, obj: Delivery) -> SafeString:
        return _state_badge(obj.status)


@admin.register(BudgetEvent)
class BudgetEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "level", "owner_label", "window_label", "threshold", "spent_of_limit", "delivery")
    list_filter = ("level", "threshold_pct")
    search_fields = ("budget_ref", "owner_label")
    date_hierarchy = "created_at"
    readonly_fields = (
        *("id", "text", "budget_ref", "level", "owner_label", "window_label", "window_start"),
        *("window_end", "time_zone", "threshold_pct", "limit_usd", "spent_usd", "created_at"),
    )
    fields = readonly_fields
    inlines = (DeliveryInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[BudgetEvent]:
        return super().get_queryset(request).prefetch_related("deliveries")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events are the ledger's record: raised once, never made by hand

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Alert")
    def text(self, obj: BudgetEvent) -> str:
        return event_text(obj)

    @admin.display(description="Threshold", ordering="threshold_pct")
    def threshold(self, obj: BudgetEvent) -> SafeString:
        return badge(f"{obj.threshold_pct} %", "bad" if obj.threshold_pct >= 100 else "warn")

    @admin.display(description="Spent / limit")
    def spent_of_limit(self, obj: BudgetEvent) -> str:
        return f"{usd(obj.spent_usd)} / {usd(obj.limit_usd)}"

    @admin.display(description="Delivery")
    def delivery(self, obj: BudgetEvent) -> SafeString:
        return _state_badge(delivery_state(obj))


class DestinationForm(forms.ModelForm):
    """The URL and the secret are write-only: shown never again after saving; left empty, they are kept."""

    url = forms.CharField(required=False, max_length=2000, widget=forms.TextInput(attrs={"size": 80}))
    new_secret = forms.CharField(
        label="Secret",
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="The signing key (HMAC-SHA256). Empty: the gateway generates one and shows it once.",
    )
    rotate_secret = forms.BooleanField(required=False, help_text="Replace the secret with a new generated one.")

    class Meta:
        model = Destination
        fields = ("name", "kind", "url", "email", "enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["url"] = ""
        if self.instance.pk and self.instance.url:
            self.fields[
                "url"
            ].help_text = f"Now {masked_url(self.instance.url)} Empty keeps it; type a new one to replace it."
            self.fields["new_secret"].help_text = "Empty keeps the current secret; type one to replace it."


@admin.register(Destination)
class DestinationAdmin(ServiceModelAdmin):
    form = DestinationForm
    audited_by_services = True
    list_display = ("name", "kind", "where", "signed", "enabled")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "email")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        base = ("name", "kind", "url", "email", "new_secret", "enabled")
        return (*base[:5], "rotate_secret", "enabled") if obj else base

    @admin.display(description="Where")
    def where(self, obj: Destination) -> str:
        if obj.kind == Destination.EMAIL:
            if not email_configured():
                return format_html("{} {}", obj.email, badge("EMAIL_HOST not set: not sent", "warn"))
            return obj.email
        return masked_url(obj.url)

    @admin.display(description="Signed", boolean=True)
    def signed(self, obj: Destination) -> bool:
        return bool(obj.secret)

    def save_model(self, request: HttpRequest, obj: Destination, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        values = {name: data.get(name) or "" for name in ("name", "kind", "url", "email")}
        values["secret"] = data.get("new_secret") or ""
        if change:
            current = Destination.objects.get(pk=obj.pk)
            saved = destination_update(
                destination=current,
                rotate_secret=bool(data.get("rotate_secret")),
                enabled=data["enabled"],
                actor=self.actor(request),
                **values,
            )
        else:
            saved = destination_create(enabled=data["enabled"], actor=self.actor(request), **values)
        obj.pk = saved.destination.pk
        obj.refresh_from_db()
        if saved.new_secret:
            setattr(request, _NEW_SECRET, saved.new_secret)

    def _secret_page(self, request: HttpRequest, obj: Destination) -> HttpResponse | None:
        secret = getattr(request, _NEW_SECRET, None)
        if secret is None:
            return None
        return shown_once(
            request,
            self,
            "admin/alerts/destination/secret_created.html",
            title="Copy the signing secret",
            destination=obj,
            secret=secret,
            change_url=reverse("admin:alerts_destination_change", args=[obj.pk]),
            changelist_url=reverse("admin:alerts_destination_changelist"),
        )

    def response_add(
        self, request: HttpRequest, obj: Destination, post_url_continue: str | None = None
    ) -> HttpResponse:
        return self._secret_page(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Destination) -> HttpResponse:
        return self._secret_page(request, obj) or super().response_change(request, obj)

    def delete_model(self, request: HttpRequest, obj: Destination) -> None:
        destination_delete(destination=obj, actor=self.actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Destination]) -> None:
        for destination in queryset:
            destination_delete(destination=destination, actor=self.actor(request))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        defaults = []
        if settings.ALERT_WEBHOOK_URL:
            defaults.append(f"GATEWAY_ALERT_WEBHOOK_URL ({masked_url(settings.ALERT_WEBHOOK_URL)})")
        if settings.ALERT_EMAILS:
            defaults.append("GATEWAY_ALERT_EMAILS" + ("" if email_configured() else " (not sent: EMAIL_HOST not set)"))
        if defaults:
            self.message_user(request, "Also from the environment: " + "; ".join(defaults) + ".", messages.INFO)
        return super().changelist_view(request, extra_context)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        *("created_at", "event_link", "target", "channel", "state", "attempts", "next_attempt_at"),
        *("last_error", "delivered_at"),
    )
    list_filter = ("status", "channel")
    list_select_related = ("event", "destination")
    search_fields = ("event__owner_label", "event__budget_ref")
    actions = ("retry_now",)
    readonly_fields = (
        *("event_link", "target", "channel", "recipient", "state", "attempts", "next_attempt_at"),
        *("expires_at", "last_error", "last_attempt_at", "delivered_at", "created_at"),
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The list's retry action needs the change permission; a delivery itself is never edited.
        return obj is None and super().has_change_permission(request)

    @admin.display(description="Event")
    def event_link(self, obj: Delivery) -> str:
        url = reverse("admin:alerts_budgetevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event)

    @admin.display(description="Destination")
    def target(self, obj: Delivery) -> str:
        return delivery_target(obj)

    @admin.display(description="Status", ordering="status")
    def state(self, obj: Delivery) -> SafeString:
        return _state_badge(obj.status)

    @admin.action(description="Retry selected deliveries now", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        queued = delivery_retry_now(delivery_ids=ids, actor=ServiceModelAdmin.actor(request))
        self.message_user(request, f"Queued {queued} deliveries to be sent now.", messages.SUCCESS)
