"""Writes for alerts: a budget event raised once with its deliveries queued, destinations, and retrying deliveries.

The ledger's contract (`budget_event_raise`):
- Call it for each threshold `alerts.thresholds.thresholds_crossed` reports, inside the transaction
  that books the spend (`ledger_atomic`: it joins it, and its rows commit or roll back with the
  booking), or standalone (it then runs in a transaction of its own).
- It is idempotent: one event per (budget_ref, window_start, threshold_pct), however many instances,
  workers or retries raise it. The first call writes the event and one outbox delivery per active
  destination and returns the event; every other call returns None. A duplicate never raises.
- It never poisons the caller's transaction: on SQL the insert runs in a savepoint; on MongoDB, where
  a duplicate-key error aborts the whole transaction on the server, it reads before it writes, and
  an insert that still meets a duplicate (another transaction committed the same event after this
  one's snapshot) raises an error labelled TransientTransactionError, on which `ledger_atomic` runs
  the caller's transaction again from the start, as it does for any write conflict; the read then
  sees the event.
- `window_start` identifies the window: every instance must pass the same value for the same window
  (None for a lifetime budget, which alerts once per threshold; to alert again after raising a
  lifetime limit, start a new window). Datetimes must be aware. `time_zone` (IANA) is the budget's
  own, used for the reset time in the text. Labels are display text, cut to their column's length.
- Nothing is sent here: deliveries are sent after the commit by the delivery loop (alerts/delivery.py).
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, transaction
from django.utils import timezone

from alerts.delivery import deliveries_wake
from alerts.models import BudgetEvent, Delivery, Destination
from alerts.outbox import delivery_expires_at, email_configured
from alerts.selectors import masked_url
from core.audit import Actor, audit_added, audit_changed, audit_deleted, field_changes, system_actor
from core.ledger_tx import ledger_atomic

# Fixed forever: event ids are uuid5 names in this namespace, so every instance derives the same id.
EVENT_NAMESPACE = uuid.UUID("6f1d3c2e-5b8a-4e7f-9c1d-2a3b4c5d6e7f")
SECRET_PREFIX = "whsec_"
_TRANSIENT = "TransientTransactionError"


class EventRaceLost(DatabaseError):
    """MongoDB: the same event was committed by another transaction after this one's snapshot.

    The server has aborted this transaction; MongoDB's label for "run the transaction again"
    makes `ledger_atomic` do so.
    """

    def has_error_label(self, label: str) -> bool:
        return label == _TRANSIENT


def event_id(*, budget_ref: str, window_start: datetime | None, threshold_pct: int) -> uuid.UUID:
    """The event's id, the same on every instance: a uuid5 of the budget, its window's start and the threshold."""
    start = "lifetime" if window_start is None else window_start.astimezone(UTC).isoformat()
    return uuid.uuid5(EVENT_NAMESPACE, f"{budget_ref}\x1f{start}\x1f{threshold_pct}")


def _check_event(fields: dict[str, Any]) -> None:
    if not 1 <= len(fields["budget_ref"]) <= 200 or not 1 <= len(fields["level"]) <= 32:
        raise ValueError("budget_ref must have 1 to 200 characters, level 1 to 32")
    if not isinstance(fields["threshold_pct"], int) or not 1 <= fields["threshold_pct"] <= 1000:
        raise ValueError("threshold_pct must be a whole percentage from 1 to 1000")
    for name in ("window_start", "window_end"):
        if fields[name] is not None and timezone.is_naive(fields[name]):
            raise ValueError(f"{name} must be an aware datetime")
    if not isinstance(fields["limit_usd"], Decimal) or not isinstance(fields["spent_usd"], Decimal):
        raise ValueError("limit_usd and spent_usd must be Decimal")
    try:
        ZoneInfo(fields["time_zone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("time_zone must be an IANA time zone name") from None


def _insert(event: BudgetEvent) -> bool:
    """Writes the event row; False when it already exists. Never leaves the caller's transaction unusable."""
    connection: Any = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "mongodb":
        try:
            with transaction.atomic():  # a savepoint: a duplicate rolls back alone
                event.save(force_insert=True)
        except IntegrityError:
            return False
        return True
    try:
        event.save(force_insert=True)
    except IntegrityError as exc:
        if connection.in_atomic_block_mongo:
            raise EventRaceLost("the event was raised by another transaction meanwhile") from exc
        return False  # no transaction (a server without them): nothing to abort
    return True


def _deliveries(event: BudgetEvent) -> list[Delivery]:
    now = timezone.now()
    expires = delivery_expires_at(now)
    email = email_configured()
    rows = [
        Delivery(event=event, destination=destination, channel=destination.kind)
        for destination in Destination.objects.filter(enabled=True)
        if email or destination.kind != Destination.EMAIL
    ]
    if settings.ALERT_WEBHOOK_URL:
        rows.append(Delivery(event=event, channel=settings.ALERT_WEBHOOK_KIND))
    if email:
        rows += [Delivery(event=event, channel=Destination.EMAIL, recipient=to) for to in settings.ALERT_EMAILS]
    for row in rows:
        row.next_attempt_at, row.expires_at, row.created_at = now, expires, now
    return rows


@ledger_atomic(savepoint=False)
def budget_event_raise(
    *,
    budget_ref: str,
    level: str,
    owner_label: str,
    window_label: str,
    window_start: datetime | None,
    window_end: datetime | None,
    threshold_pct: int,
    limit_usd: Decimal,
    spent_usd: Decimal,
    time_zone: str = "UTC",
) -> BudgetEvent | None:
    """Records that a budget crossed a threshold in a window and queues its deliveries; None if already recorded."""
    fields: dict[str, Any] = {
        "budget_ref": budget_ref,
        "level": level,
        "owner_label": owner_label[:200],
        "window_label": window_label[:64],
        "window_start": window_start,
        "window_end": window_end,
        "time_zone": time_zone,
        "threshold_pct": threshold_pct,
        "limit_usd": limit_usd,
        "spent_usd": spent_usd,
    }
    _check_event(fields)
    pk = event_id(budget_ref=budget_ref, window_start=window_start, threshold_pct=threshold_pct)
    if BudgetEvent.objects.filter(pk=pk).exists():
        return None
    event = BudgetEvent(id=pk, created_at=timezone.now(), **fields)
    if not _insert(event):
        return None
    Delivery.objects.bulk_create(_deliveries(event))
    transaction.on_commit(deliveries_wake)
    return event


@dataclass(frozen=True)
class SavedDestination:
    """A destination and, when the gateway generated or rotated its signing secret, that secret: shown this once."""

    destination: Destination
    new_secret: str = ""

    def __repr__(self) -> str:
        return f"SavedDestination(destination={self.destination!r})"


_DESTINATION_FIELDS = frozenset({"name", "kind", "url", "email", "secret", "enabled"})


def _check_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and len(url) <= 2000
        parts.port  # noqa: B018  # raises on a port that is not a number in range
    except ValueError:
        valid = False
    if not valid:
        raise ValidationError({"url": ["A webhook needs an http:// or https:// URL (up to 2,000 characters)."]})
    return url.strip()


def _check_destination(fields: dict[str, Any]) -> None:
    name = str(fields.get("name") or "").strip()
    if not name or len(name) > 100 or any(ord(char) < 32 for char in name):
        raise ValidationError({"name": ["A name of 1 to 100 printable characters is required."]})
    fields["name"] = name
    if fields.get("kind") not in {kind for kind, _ in Destination.KINDS}:
        raise ValidationError({"kind": ["kind must be webhook, slack or email."]})
    if fields["kind"] == Destination.EMAIL:
        try:
            validate_email(fields.get("email") or "")
        except ValidationError:
            raise ValidationError({"email": ["An e-mail destination needs a valid address."]}) from None
        fields.update(url="", secret="")
        return
    fields["url"] = _check_url(str(fields.get("url") or ""))
    fields["email"] = ""
    secret = str(fields.get("secret") or "")
    if len(secret) < 16 or len(secret) > 200 or any(ord(char) < 33 for char in secret):
        raise ValidationError({"secret": ["A signing secret has 16 to 200 printable characters, no spaces."]})


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)  # 256 bits from the OS's CSPRNG


def _audited(fields: dict[str, Any]) -> dict[str, Any]:
    """What the history keeps of a destination: never the secret, and of the URL (a credential) its origin only."""
    kept: dict[str, Any] = {name: fields[name] for name in ("name", "kind", "email", "enabled") if name in fields}
    if "url" in fields:
        kept["url"] = masked_url(fields["url"])
    return kept


def _audited_changes(destination: Destination, fields: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    changes = field_changes(destination, fields)
    for secret in ("url", "secret"):  # shown as replaced, never as values
        if secret in changes:
            changes[secret] = (masked_url(destination.url) if secret == "url" else "", "replaced")
    return changes


@transaction.atomic
def destination_create(
    *,
    name: str,
    kind: str = Destination.WEBHOOK,
    url: str = "",
    email: str = "",
    secret: str = "",
    enabled: bool = True,
    actor: Actor | None = None,
) -> SavedDestination:
    """Adds a destination; a webhook without a given secret gets a generated one, returned this once."""
    generated = _new_secret() if kind != Destination.EMAIL and not secret else ""
    fields = {"name": name, "kind": kind, "url": url, "email": email, "secret": secret or generated, "enabled": enabled}
    _check_destination(fields)
    destination = Destination.objects.create(**fields)
    audit_added(actor=actor or system_actor(via="gateway"), obj=destination, values=_audited(fields))
    return SavedDestination(destination=destination, new_secret=generated)


@transaction.atomic
def destination_update(
    *, destination: Destination, rotate_secret: bool = False, actor: Actor | None = None, **changes: Any
) -> SavedDestination:
    """Changes a destination; an empty url or secret keeps the stored one; `rotate_secret` generates a new one."""
    unknown = set(changes) - _DESTINATION_FIELDS
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    changes = {name: value for name, value in changes.items() if value != "" or name not in ("url", "secret")}
    fields = {name: getattr(destination, name) for name in _DESTINATION_FIELDS} | changes
    generated = ""
    if fields["kind"] != Destination.EMAIL and (rotate_secret or not fields["secret"]):
        generated = fields["secret"] = _new_secret()
    _check_destination(fields)
    audit_changed(
        actor=actor or system_actor(via="gateway"), obj=destination, changes=_audited_changes(destination, fields)
    )
    for name, value in fields.items():
        setattr(destination, name, value)
    destination.save()
    return SavedDestination(destination=destination, new_secret=generated)


@transaction.atomic
def destination_delete(*, destination: Destination, actor: Actor | None = None) -> None:
    """Removes a destination with its deliveries (pending ones are never sent); disable it to keep the history."""
    audit_deleted(actor=actor or system_actor(via="gateway"), obj=destination, values={"name": destination.name})
    destination.delete()


@transaction.atomic
def delivery_retry_now(*, delivery_ids: list[Any], actor: Actor | None = None) -> int:
    """Sends these deliveries again at once (failed, pending or delivered; not one being sent), with a fresh
    maximum age and backoff. Returns how many were queued."""
    now = timezone.now()
    retried = list(Delivery.objects.filter(pk__in=delivery_ids).exclude(status=Delivery.SENDING))
    queued = (
        Delivery.objects.filter(pk__in=[delivery.pk for delivery in retried])
        .exclude(status=Delivery.SENDING)
        .update(
            status=Delivery.PENDING, next_attempt_at=now, attempts=0, expires_at=delivery_expires_at(now), claim=None
        )
    )
    for delivery in retried:
        changes = {"status": (delivery.status, "pending (retry now)")}
        audit_changed(actor=actor or system_actor(via="gateway"), obj=delivery, changes=changes)
    if queued:
        transaction.on_commit(deliveries_wake)
    return queued
