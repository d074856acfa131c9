"""Writes to accounts: creation, updates and the budget ledger (reserve, settle)."""

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from accounts.models import Account
from gateway_project.cache import cache_invalidate
from gateway_project.money import ZERO

ACCOUNT_CACHE = "account"
_UPDATABLE = frozenset({"name", "email", "budget_usd", "is_active"})


def _check_budget(budget_usd: Decimal | None) -> None:
    if budget_usd is not None and budget_usd < 0:
        raise ValidationError("budget_usd must not be negative.")


def account_create(
    *,
    user_id: str,
    name: str = "",
    email: str = "",
    budget_usd: Decimal | None = None,
    is_active: bool = True,
) -> Account:
    _check_budget(budget_usd)
    if Account.objects.filter(user_id=user_id).exists():
        raise ValidationError(f"An account with user_id {user_id!r} already exists.")
    return Account.objects.create(user_id=user_id, name=name, email=email, budget_usd=budget_usd, is_active=is_active)


@transaction.atomic
def account_update(*, account: Account, **fields: Any) -> Account:
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    if "budget_usd" in fields:
        _check_budget(fields["budget_usd"])
    for name, value in fields.items():
        setattr(account, name, value)
    account.save(update_fields=[*fields, "updated_at"])
    # Keys cache their account's state (active flag, budget): every instance must drop it.
    transaction.on_commit(lambda: cache_invalidate(ACCOUNT_CACHE, account.pk))
    return account


def account_deactivate(*, account: Account) -> Account:
    return account_update(account=account, is_active=False)


def budget_reserve(*, account_id: Any, amount: Decimal) -> bool:
    """Holds `amount` for a request in flight if the account has budget left. One atomic update.

    Admits while spent + reserved < budget (the contract refuses once spent reaches the
    budget); counting reservations makes concurrent requests on other instances see
    each other. A single conditional UPDATE, so no two requests can both pass on the
    last cent of a read value.
    """
    updated = (
        Account.objects.filter(pk=account_id, is_active=True, budget_usd__isnull=False)
        .alias(committed=F("spent_usd") + F("reserved_usd"))
        .filter(committed__lt=F("budget_usd"))
        .update(reserved_usd=F("reserved_usd") + amount)
    )
    return updated == 1


def budget_settle(*, account_id: Any, reserved: Decimal, cost: Decimal) -> None:
    """Releases a reservation and books the real cost, in one atomic update."""
    if reserved == ZERO and cost == ZERO:
        return
    Account.objects.filter(pk=account_id).update(
        spent_usd=F("spent_usd") + cost, reserved_usd=F("reserved_usd") - reserved
    )
