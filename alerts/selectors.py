"""Reads for alerts: events with their deliveries' state, destinations (never their secrets), deliveries."""

import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet

from alerts.models import BudgetEvent, Delivery, Destination

# Deliveries are shown with an event without their credentials' columns; a few per event.
_DELIVERY_STATE = Prefetch("deliveries", queryset=Delivery.objects.only("id", "event_id", "status").order_by())


def event_list(*, budget_ref: str = "", level: str = "", owner: str = "") -> QuerySet[BudgetEvent]:
    """Events newest first, each with its deliveries' states prefetched; filters match exactly."""
    events = BudgetEvent.objects.prefetch_related(_DELIVERY_STATE)
    if budget_ref:
        events = events.filter(budget_ref=budget_ref)
    if level:
        events = events.filter(level=level)
    if owner:
        events = events.filter(owner_label=owner)
    return events


def _by_id(queryset: QuerySet[Any], pk: str) -> Any:
    try:
        return queryset.filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):  # not an id of this engine
        return None


def event_get(*, event_id: str) -> BudgetEvent | None:
    return _by_id(BudgetEvent.objects.prefetch_related(_DELIVERY_STATE), event_id)


def delivery_counts(event: BudgetEvent) -> dict[str, int]:
    """How many of the event's deliveries are in each state (pending, sending, delivered, failed)."""
    counts = Counter(delivery.status for delivery in event.deliveries.all())
    return {status: counts.get(status, 0) for status, _ in Delivery.STATUSES}


def delivery_state(event: BudgetEvent) -> str:
    """One word for the event's deliveries: failed (any gave up), pending (any still to go), delivered, or none."""
    counts = delivery_counts(event)
    if not any(counts.values()):
        return "none"
    if counts[Delivery.FAILED]:
        return Delivery.FAILED
    if counts[Delivery.PENDING] or counts[Delivery.SENDING]:
        return Delivery.PENDING
    return Delivery.DELIVERED


def destination_list() -> QuerySet[Destination]:
    return Destination.objects.all()


def destination_get(*, destination_id: str) -> Destination | None:
    return _by_id(Destination.objects.all(), destination_id)


def delivery_list(*, status: str = "", event_id: str = "") -> QuerySet[Delivery]:
    deliveries = Delivery.objects.select_related("event", "destination")
    if status:
        deliveries = deliveries.filter(status=status)
    if event_id:
        try:
            deliveries = deliveries.filter(event_id=uuid.UUID(event_id))
        except (ValueError, ValidationError):
            return Delivery.objects.none()
    return deliveries


def delivery_get(*, delivery_id: str) -> Delivery | None:
    return _by_id(Delivery.objects.select_related("event", "destination"), delivery_id)


def delivery_target(delivery: Delivery) -> str:
    """Where a delivery goes, as operators read it (never a URL: it may carry a credential)."""
    if delivery.destination is not None:
        return delivery.destination.name
    if delivery.channel == Destination.EMAIL:
        return f"GATEWAY_ALERT_EMAILS: {delivery.recipient}"
    return "GATEWAY_ALERT_WEBHOOK_URL"


def masked_url(url: str) -> str:
    """A webhook URL as shown after saving: its origin only (a Slack URL's path is its credential)."""
    if not url:
        return ""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"
