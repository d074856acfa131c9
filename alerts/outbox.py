"""The outbox's writes: claiming due deliveries (one conditional UPDATE, so no two workers send one at once) and
recording each attempt's outcome with its next retry.

A claim moves rows from `pending` (or `sending` whose claim has expired: its worker died) to
`sending`, sets `next_attempt_at` to the claim's expiry and stamps a token; only the holder of
that token records the outcome. A worker that outlives its claim finds its token replaced and
its outcome is dropped: the other worker's attempt counts. So a delivery may be sent twice
(at-least-once), never lost; receivers dedup by event id.
"""

import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from alerts.models import Delivery, Destination
from alerts.payload import email_message, webhook_body

DUE = (Delivery.PENDING, Delivery.SENDING)


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds, with everything needed to send it (no database access while sending)."""

    delivery_id: int | str
    claim: uuid.UUID
    attempt: int
    event_id: str
    channel: str
    target: str = ""  # the webhook URL or the e-mail address; never logged
    secret: str = ""
    body: bytes = b""
    subject: str = ""
    problem: str = ""  # set when it cannot be sent at all (destination disabled, e-mail not configured ...)

    def __repr__(self) -> str:  # the target and secret are credentials
        return f"Claimed(delivery_id={self.delivery_id!r}, event_id={self.event_id!r}, channel={self.channel!r})"


def email_configured() -> bool:
    """Alerts go by e-mail only where Django's e-mail backend has a host (EMAIL_HOST)."""
    return bool(settings.EMAIL_HOST)


def claim_lease() -> timedelta:
    """How long a claim holds: twice the longest a send may take, and some, so only a dead worker's claim expires."""
    return timedelta(seconds=2 * max(settings.ALERT_TIMEOUT, settings.EMAIL_TIMEOUT) + 5)


def retry_delay(attempt: int) -> float:
    """Seconds before the next try after `attempt` failures: doubling from the base up to the cap, with jitter
    (half the delay fixed, half random) so deliveries failing together do not all retry together."""
    delay = min(settings.ALERT_RETRY_CAP, settings.ALERT_RETRY_BASE * 2 ** min(attempt - 1, 40))
    return delay / 2 + random.uniform(0, delay / 2)


def _webhook(delivery: Delivery, base: Claimed) -> Claimed:
    destination = delivery.destination
    if destination is None:
        url, secret = settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET
        problem = "" if url else "NotConfigured"
    else:
        url, secret = destination.url, destination.secret
        problem = "" if destination.enabled else "DestinationDisabled"
    body = webhook_body(delivery.event, channel=delivery.channel)
    return replace(base, target=url, secret=secret, body=body, problem=problem)


def _email(delivery: Delivery, base: Claimed) -> Claimed:
    destination = delivery.destination
    address = delivery.recipient if destination is None else destination.email
    problem = "" if destination is None or destination.enabled else "DestinationDisabled"
    if not email_configured():
        problem = "EmailNotConfigured"
    subject, text = email_message(delivery.event)
    return replace(base, target=address, body=text.encode(), subject=subject, problem=problem)


def _claimed(delivery: Delivery) -> Claimed:
    assert delivery.claim is not None
    base = Claimed(
        delivery_id=delivery.pk,
        claim=delivery.claim,
        attempt=delivery.attempts,
        event_id=str(delivery.event_id),
        channel=delivery.channel,
    )
    return _email(delivery, base) if delivery.channel == Destination.EMAIL else _webhook(delivery, base)


def delivery_claim_due(*, limit: int) -> list[Claimed]:
    """Claims up to `limit` due deliveries for this worker (oldest due first). Sync."""
    claimed: list[Claimed] = []
    for _ in range(3):  # a round that loses rows to another worker reads the next ones due
        now = timezone.now()
        due = Delivery.objects.filter(status__in=DUE, next_attempt_at__lte=now)
        ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[: limit - len(claimed)])
        if not ids:
            break
        token = uuid.uuid4()
        # The claim itself: rows another worker claimed since the read above no longer match (their
        # next_attempt_at moved to their claim's expiry), so each row goes to one worker only.
        won = due.filter(pk__in=ids).update(
            status=Delivery.SENDING,
            claim=token,
            next_attempt_at=now + claim_lease(),
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )
        if won:
            mine = Delivery.objects.filter(pk__in=ids, claim=token).select_related("event", "destination")
            claimed += [_claimed(delivery) for delivery in mine]
        if won == len(ids) or len(claimed) >= limit:
            break
    return claimed


def delivery_finish(*, claimed: Claimed, error: str = "") -> str | None:
    """Records an attempt: delivered, or failed and retried later, or given up once too old. Sync.

    Returns the new status, or None when the claim was lost to another worker (its outcome counts).
    """
    now = timezone.now()
    mine = Delivery.objects.filter(pk=claimed.delivery_id, claim=claimed.claim, status=Delivery.SENDING)
    if not error:
        done = mine.update(status=Delivery.DELIVERED, delivered_at=now, claim=None, last_error="")
        return Delivery.DELIVERED if done else None
    error = error[:200]
    retry_at = now + timedelta(seconds=retry_delay(claimed.attempt))
    # Retried while younger than its maximum age; a problem no retry can fix (a destination disabled,
    # e-mail not configured) fails at once.
    if not claimed.problem and mine.filter(expires_at__gt=retry_at).update(
        status=Delivery.PENDING, next_attempt_at=retry_at, claim=None, last_error=error
    ):
        return Delivery.PENDING
    done = mine.update(status=Delivery.FAILED, claim=None, last_error=error)
    return Delivery.FAILED if done else None


def delivery_expires_at(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.ALERT_MAX_AGE)
