"""Wire shapes of budget events, destinations and deliveries in the management API; never a secret or a full URL."""

from typing import Any

from rest_framework import serializers

from alerts.models import Delivery, Destination
from alerts.payload import event_text
from alerts.selectors import delivery_counts, delivery_state, delivery_target, masked_url
from core.api_errors import StrictSerializer, usd_field

_KINDS = [kind for kind, _ in Destination.KINDS]


class EventOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField(help_text="Stable event id, sent as X-Gateway-Event-Id: receivers dedup by it.")
    budget_ref = serializers.CharField()
    level = serializers.CharField()
    owner = serializers.CharField(source="owner_label")
    window = serializers.CharField(source="window_label")
    window_start = serializers.DateTimeField(allow_null=True, help_text="Null for a lifetime budget.")
    window_end = serializers.DateTimeField(allow_null=True, help_text="When the window resets; null: never.")
    time_zone = serializers.CharField()
    threshold_pct = serializers.IntegerField()
    limit_usd = usd_field()
    spent_usd = usd_field(help_text="Spend in the window when the threshold was crossed.")
    text = serializers.SerializerMethodField()
    delivery = serializers.SerializerMethodField(help_text="none, pending, delivered or failed.")
    deliveries = serializers.SerializerMethodField(help_text="Deliveries by state.")
    created_at = serializers.DateTimeField()

    def get_text(self, obj: Any) -> str:
        return event_text(obj)

    def get_delivery(self, obj: Any) -> str:
        return delivery_state(obj)

    def get_deliveries(self, obj: Any) -> dict[str, int]:
        return delivery_counts(obj)


class DestinationOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField(help_text="Opaque identifier (an integer or an ObjectId, by storage engine).")
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=_KINDS)
    url = serializers.SerializerMethodField(help_text="The webhook's origin only: the full URL is never shown again.")
    email = serializers.CharField()
    has_secret = serializers.SerializerMethodField(help_text="Whether deliveries are signed (webhooks always are).")
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_url(self, obj: Any) -> str:
        return masked_url(obj.url)

    def get_has_secret(self, obj: Any) -> bool:
        return bool(obj.secret)


class DestinationSavedOutput(DestinationOutput):
    secret = serializers.CharField(
        source="new_secret",
        help_text="The signing secret the gateway generated or rotated: shown this once; empty otherwise.",
    )


class DestinationUpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    kind = serializers.ChoiceField(choices=_KINDS, required=False)
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True, help_text="Empty: keep the URL.")
    email = serializers.EmailField(required=False, allow_blank=True)
    secret = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="A new signing secret; empty: keep it."
    )
    rotate_secret = serializers.BooleanField(required=False, help_text="Generate a new secret (returned once).")
    enabled = serializers.BooleanField(required=False)


class DestinationCreateInput(DestinationUpdateInput):
    rotate_secret = None  # type: ignore[assignment]
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=_KINDS, default=Destination.WEBHOOK)
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True, help_text="For webhooks.")
    secret = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Empty: the gateway generates one (returned once)."
    )


class DeliveryOutput(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.CharField()
    event_id = serializers.CharField()
    target = serializers.SerializerMethodField(help_text="The destination's name, or the environment's default.")
    channel = serializers.CharField()
    status = serializers.ChoiceField(choices=[status for status, _ in Delivery.STATUSES])
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(help_text="Pending: the next try; sending: when the claim expires.")
    expires_at = serializers.DateTimeField()
    last_error = serializers.CharField(help_text="An error class or HTTP status of the last failed try.")
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_target(self, obj: Any) -> str:
        return delivery_target(obj)
