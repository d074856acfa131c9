"""Reads of accounts, including the cached snapshot the proxy's hot path uses."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from accounts.models import Account
from accounts.services import ACCOUNT_CACHE
from core.cache import cache_get_or_load


@dataclass(frozen=True)
class AccountState:
    """What admission needs to know about an account; cached, so never the live spend."""

    id: Any
    user_id: str
    is_active: bool
    budget_usd: Decimal | None


@dataclass(frozen=True)
class Balance:
    """An account's live ledger, read at once: budget (None = unlimited), spent, and held for calls in flight."""

    budget_usd: Decimal | None
    spent_usd: Decimal
    reserved_usd: Decimal

    @property
    def remaining_usd(self) -> Decimal | None:
        if self.budget_usd is None:
            return None
        return max(self.budget_usd - self.spent_usd - self.reserved_usd, Decimal(0))


def account_balance(*, account_id: Any) -> Balance | None:
    """Uncached: for explaining a refusal, never for admitting a call (that is one conditional update)."""
    row = Account.objects.filter(pk=account_id).values("budget_usd", "spent_usd", "reserved_usd").first()
    return Balance(**row) if row else None


def account_get(*, user_id: str) -> Account:
    return Account.objects.get(user_id=user_id)


def account_list(*, search: str = "") -> QuerySet[Account]:
    qs = Account.objects.all()
    if search:
        qs = qs.filter(user_id__icontains=search) | qs.filter(name__icontains=search)
    return qs.order_by("user_id")


def account_state(*, account_id: Any) -> AccountState | None:
    def load() -> AccountState | None:
        row = Account.objects.filter(pk=account_id).values("id", "user_id", "is_active", "budget_usd").first()
        return AccountState(**row) if row else None

    return cache_get_or_load(ACCOUNT_CACHE, account_id, load)
