"""What a delivery carries: the event as JSON, its one-line text, the Slack-compatible body, the signature, the e-mail.

The signature is HMAC-SHA256 with the destination's secret over `<timestamp>.<body>`, sent as
`X-Gateway-Signature: t=<unix seconds>,v1=<hex digest>`; docs/alerts.md has the receiver's side.
"""

import hashlib
import hmac
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from alerts.models import BudgetEvent, Destination
from core.money import quantize_usd

EVENT_TYPE = "budget.threshold_crossed"
SIGNATURE_HEADER = "X-Gateway-Signature"
EVENT_ID_HEADER = "X-Gateway-Event-Id"
USER_AGENT = "llm-gateway-alerts/1"


def _amount(value: Decimal, *, places: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"


def _places(limit: Decimal) -> int:
    """Cents, unless the limit itself is finer (a budget of 0.005 USD is shown as such)."""
    exponent = int(limit.normalize().as_tuple().exponent) if limit.is_finite() else 0
    return min(max(2, -exponent), 10)


def _local(moment: datetime, time_zone: str) -> str:
    local = moment.astimezone(ZoneInfo(time_zone))
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M") + f" {time_zone}"


def event_text(event: BudgetEvent) -> str:
    """The one-line sentence chat webhooks show, e.g. "Team ml-research spent 80 % of its 300.00 USD monthly
    budget (240.12 USD) — resets 2027-01-01 00:00 Europe/Paris"."""
    places = _places(event.limit_usd)
    text = (
        f"{event.level.capitalize()} {event.owner_label} spent {event.threshold_pct} % of its "
        f"{_amount(event.limit_usd, places=places)} USD {event.window_label} budget "
        f"({_amount(event.spent_usd, places=places)} USD)"
    )
    if event.window_end is not None:
        text += f" — resets {_local(event.window_end, event.time_zone)}"
    return text


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def event_payload(event: BudgetEvent) -> dict[str, Any]:
    """The generic webhook's JSON body (and the API's view of an event): stable across retries."""
    return {
        "id": str(event.id),
        "type": EVENT_TYPE,
        "budget_ref": event.budget_ref,
        "level": event.level,
        "owner": event.owner_label,
        "window": event.window_label,
        "window_start": _iso(event.window_start),
        "window_end": _iso(event.window_end),
        "time_zone": event.time_zone,
        "threshold_pct": event.threshold_pct,
        "limit_usd": str(quantize_usd(event.limit_usd)),
        "spent_usd": str(quantize_usd(event.spent_usd)),
        "created_at": _iso(event.created_at),
        "text": event_text(event),
    }


def webhook_body(event: BudgetEvent, *, channel: str) -> bytes:
    """The bytes POSTed: the whole event, or for a Slack-compatible webhook just the `text` Slack shows."""
    if channel == Destination.SLACK:
        return orjson.dumps({"text": event_text(event)})
    return orjson.dumps(event_payload(event))


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_headers(*, event_id: str, secret: str, timestamp: int, body: bytes, attempt: int) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id,
        "X-Gateway-Event-Type": EVENT_TYPE,
        "X-Gateway-Delivery-Attempt": str(attempt),
    }
    if secret:  # a Slack-compatible destination from the environment may have none
        headers[SIGNATURE_HEADER] = signature(secret=secret, timestamp=timestamp, body=body)
    return headers


def email_message(event: BudgetEvent) -> tuple[str, str]:
    """Subject and plain-text body of the alert e-mail."""
    subject = (
        f"Budget alert: {event.level} {event.owner_label} at {event.threshold_pct} % of its {event.window_label} budget"
    )
    payload = event_payload(event)
    details = "\n".join(f"{name}: {payload[name]}" for name in payload if name != "text")
    return subject, f"{payload['text']}\n\n{details}\n"
