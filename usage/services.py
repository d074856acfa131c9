"""Writes usage rows and settles the account's budget for the same request, atomically."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.services import budget_settle
from gateway_project.money import ZERO
from pricing.selectors import TokenCounts
from usage.models import UsageLog


@dataclass(frozen=True)
class UsageEntry:
    """Everything known about one proxied request once it has ended."""

    request_id: uuid.UUID
    account_id: Any
    key_id: Any
    route: str
    model: str
    provider: str
    status_code: int
    tokens: TokenCounts = field(default_factory=TokenCounts)
    reasoning_tokens: int = 0
    cost_usd: Decimal = ZERO
    reserved_usd: Decimal = ZERO
    latency_ms: int = 0
    streamed: bool = False
    error_code: str = ""


def _row(entry: UsageEntry) -> UsageLog:
    return UsageLog(
        id=entry.request_id,
        account_id=entry.account_id,
        api_key_id=entry.key_id,
        route=entry.route,
        model=entry.model[:200],
        provider=entry.provider,
        status_code=entry.status_code,
        error_code=entry.error_code,
        input_tokens=entry.tokens.input_tokens,
        output_tokens=entry.tokens.output_tokens,
        cache_read_tokens=entry.tokens.cache_read_tokens,
        cache_write_tokens=entry.tokens.cache_write_tokens,
        reasoning_tokens=entry.reasoning_tokens,
        cost_usd=entry.cost_usd,
        latency_ms=entry.latency_ms,
        streamed=entry.streamed,
        created_at=timezone.now(),
    )


@transaction.atomic
def usage_record(*, entry: UsageEntry) -> UsageLog:
    """Writes the row and moves the reservation to spent in one transaction: both or neither."""
    row = _row(entry)
    row.save(force_insert=True)
    budget_settle(account_id=entry.account_id, reserved=entry.reserved_usd, cost=entry.cost_usd)
    return row


@transaction.atomic
def usage_record_many(*, entries: Sequence[UsageEntry]) -> None:
    """`usage_record` for a batch: one INSERT, and one ledger UPDATE per account, in one transaction."""
    UsageLog.objects.bulk_create([_row(entry) for entry in entries])
    ledger: dict[Any, tuple[Decimal, Decimal]] = {}
    for entry in entries:
        reserved, cost = ledger.get(entry.account_id, (ZERO, ZERO))
        ledger[entry.account_id] = (reserved + entry.reserved_usd, cost + entry.cost_usd)
    for account_id, (reserved, cost) in ledger.items():
        budget_settle(account_id=account_id, reserved=reserved, cost=cost)
