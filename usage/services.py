"""Writes usage rows and their rollups (their budgets are settled in the same transaction: budgets.ledger)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from core.ledger_tx import ledger_atomic
from core.money import ZERO
from pricing.selectors import TokenCounts
from usage.models import UsageLog
from usage.rollups import rollups_add

# PositiveIntegerField's ceiling on every engine; a count beyond it is a broken upstream, kept at the cap.
_COUNT_MAX = 2**31 - 1


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
    latency_ms: int = 0
    streamed: bool = False
    error_code: str = ""
    created_at: str = ""  # ISO time the request ended; set when the entry is made, kept through the spool
    attempt_of: str = ""  # routed calls: the request id of the row that answered, on the other attempts' rows
    attempt: int = 1
    upstream_model: str = ""  # routed calls: the deployment's model (what the row is priced by)
    lease_id: str = ""  # admitted from a budget lease (budgets.leases): the lease, and the worst case drawn from it
    lease_draw_usd: Decimal = ZERO
    usage_estimated: bool = False  # the counts are the gateway's estimate, not the provider's (proxy.usage_rules)
    # The budget windows the call's hold (or lease) was taken in, where its cost is booked: (budget id, window
    # start ISO or None for lifetime) pairs (budgets.ledger).
    budget_refs: tuple[tuple[str, str | None], ...] = ()

    def as_json(self) -> dict[str, Any]:
        # Spelt out: dataclasses.asdict deep-copies every nested value, and the journal writes one entry per
        # call before its answer (with six budget windows that was ~7 % of a call's CPU).
        data = dict(self.__dict__)
        data.update(
            request_id=str(self.request_id),
            account_id=str(self.account_id),
            key_id=None if self.key_id is None else str(self.key_id),
            cost_usd=str(self.cost_usd),
            lease_draw_usd=str(self.lease_draw_usd),
            tokens=dict(self.tokens.__dict__),
            budget_refs=[list(ref) for ref in self.budget_refs],
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "UsageEntry":
        data = dict(data)
        data["request_id"] = uuid.UUID(data["request_id"])
        data["cost_usd"] = Decimal(data["cost_usd"])
        data["lease_draw_usd"] = Decimal(data.get("lease_draw_usd", "0"))  # absent from entries spooled before leases
        data["tokens"] = TokenCounts(**data["tokens"])
        data["budget_refs"] = tuple((str(budget), start) for budget, start in data.get("budget_refs", ()))
        return cls(**data)


def _text(value: str, limit: int) -> str:
    # PostgreSQL refuses NUL in text; a row must never be lost to what a client put in a model name.
    return value.replace("\x00", "\ufffd")[:limit]


def _count(value: int) -> int:
    return min(max(int(value), 0), _COUNT_MAX)


def _row(entry: UsageEntry) -> UsageLog:
    return UsageLog(
        id=entry.request_id,
        account_id=entry.account_id,
        api_key_id=entry.key_id,
        route=_text(entry.route, 64),
        model=_text(entry.model, 200),
        provider=_text(entry.provider, 64),
        status_code=min(max(entry.status_code, 0), 999),
        error_code=_text(entry.error_code, 64),
        input_tokens=_count(entry.tokens.input_tokens),
        output_tokens=_count(entry.tokens.output_tokens),
        cache_read_tokens=_count(entry.tokens.cache_read_tokens),
        cache_write_tokens=_count(entry.tokens.cache_write_tokens),
        reasoning_tokens=_count(entry.reasoning_tokens),
        cost_usd=entry.cost_usd,
        latency_ms=_count(entry.latency_ms),
        streamed=entry.streamed,
        usage_estimated=entry.usage_estimated,
        attempt_of=uuid.UUID(entry.attempt_of) if entry.attempt_of else None,
        attempt=min(max(entry.attempt, 1), 1000),
        upstream_model=_text(entry.upstream_model, 200),
        created_at=entry.created_at or timezone.now(),
    )


@ledger_atomic(savepoint=False)
def usage_record(*, entry: UsageEntry) -> UsageLog:
    """Writes one row and adds it to its rollups (its own transaction, or the caller's)."""
    row = _row(entry)
    row.save(force_insert=True)
    rollups_add(rows=[row])
    return row


@ledger_atomic(savepoint=False)  # its own transaction, or the caller's (budgets.ledger), never a savepoint
def usage_record_many(*, entries: Sequence[UsageEntry], idempotent: bool = False) -> list[UsageEntry]:
    """Rows for a batch and their rollups; returns the entries written.

    `idempotent` skips entries whose row already exists (replaying the spool: a write that
    failed on our side may have committed on the server's).
    """
    if idempotent:
        existing = set(UsageLog.objects.filter(id__in=[e.request_id for e in entries]).values_list("id", flat=True))
        entries = [entry for entry in entries if entry.request_id not in existing]
    if entries:
        rows = UsageLog.objects.bulk_create([_row(entry) for entry in entries])
        rollups_add(rows=rows)  # the rows just inserted: a replayed entry skipped above adds nothing
    return list(entries)
