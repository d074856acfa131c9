"""Writes to accounts and their teams' membership (budgets and their ledger: the budgets app)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Account, Team
from core.cache import cache_invalidate

ACCOUNT_CACHE = "account"
_UPDATABLE = frozenset({"name", "email", "is_active", "team"})


def account_create(
    *,
    user_id: str,
    name: str = "",
    email: str = "",
    is_active: bool = True,
    team: Team | None = None,
) -> Account:
    """An account (its budgets: budgets.services.account_open and budget_create)."""
    if Account.objects.filter(user_id=user_id).exists():
        raise ValidationError(f"An account with user_id {user_id!r} already exists.")
    return Account.objects.create(user_id=user_id, name=name, email=email, is_active=is_active, team=team)


@transaction.atomic
def account_update(*, account: Account, **fields: Any) -> Account:
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(account, name, value)
    account.save(update_fields=[*fields, "updated_at"])
    # Keys cache their account's state (active flag, team): every instance must drop it.
    transaction.on_commit(lambda: cache_invalidate(ACCOUNT_CACHE, account.pk))
    return account


def account_deactivate(*, account: Account) -> Account:
    return account_update(account=account, is_active=False)
