"""Writes to accounts: creation and updates (their budgets: budgets.services; the money: budgets.ledger)."""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Account, Team
from core.audit import Actor, audit_added, audit_changed, field_changes, system_actor
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
    actor: Actor | None = None,
    audit_values: Mapping[str, Any] | None = None,
) -> Account:
    """An account (its budgets: budgets.services.account_open and budget_create). `audit_values`: more of what the
    history records with it (its budget, from account_open)."""
    if Account.objects.filter(user_id=user_id).exists():
        raise ValidationError(f"An account with user_id {user_id!r} already exists.")
    values = {"user_id": user_id, "name": name, "email": email, "is_active": is_active, "team": team}
    with transaction.atomic():
        account = Account.objects.create(**values)
        audit_added(actor=actor or system_actor(via="gateway"), obj=account, values={**values, **(audit_values or {})})
    return account


@transaction.atomic
def account_update(*, account: Account, actor: Actor | None = None, **fields: Any) -> Account:
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    changes = field_changes(account, fields)
    for name, value in fields.items():
        setattr(account, name, value)
    account.save(update_fields=[*fields, "updated_at"])
    audit_changed(actor=actor or system_actor(via="gateway"), obj=account, changes=changes)
    # Keys cache their account's state (active flag, team): every instance must drop it.
    transaction.on_commit(lambda: cache_invalidate(ACCOUNT_CACHE, account.pk))
    return account


def account_deactivate(*, account: Account, actor: Actor | None = None) -> Account:
    return account_update(account=account, is_active=False, actor=actor)
