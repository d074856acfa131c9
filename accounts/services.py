"""Writes to accounts: creation and updates (the budget ledger: budgets.services)."""

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Account
from core.audit import Actor, audit_added, audit_changed, field_changes, system_actor
from core.cache import cache_invalidate
from core.money import MONEY_MAX

ACCOUNT_CACHE = "account"
_UPDATABLE = frozenset({"name", "email", "budget_usd", "is_active"})


def _check_budget(budget_usd: Decimal | None) -> None:
    if budget_usd is not None and budget_usd < 0:
        raise ValidationError("budget_usd must not be negative.")
    if budget_usd is not None and budget_usd > MONEY_MAX:
        raise ValidationError(f"budget_usd must be at most {MONEY_MAX}.")


def account_create(
    *,
    user_id: str,
    name: str = "",
    email: str = "",
    budget_usd: Decimal | None = None,
    is_active: bool = True,
    actor: Actor | None = None,
) -> Account:
    _check_budget(budget_usd)
    if Account.objects.filter(user_id=user_id).exists():
        raise ValidationError(f"An account with user_id {user_id!r} already exists.")
    values = {"user_id": user_id, "name": name, "email": email, "budget_usd": budget_usd, "is_active": is_active}
    with transaction.atomic():
        account = Account.objects.create(**values)
        audit_added(actor=actor or system_actor(via="gateway"), obj=account, values=values)
    return account


@transaction.atomic
def account_update(*, account: Account, actor: Actor | None = None, **fields: Any) -> Account:
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    if "budget_usd" in fields:
        _check_budget(fields["budget_usd"])
    changes = field_changes(account, fields)
    for name, value in fields.items():
        setattr(account, name, value)
    account.save(update_fields=[*fields, "updated_at"])
    audit_changed(actor=actor or system_actor(via="gateway"), obj=account, changes=changes)
    # Keys cache their account's state (active flag, budget): every instance must drop it.
    transaction.on_commit(lambda: cache_invalidate(ACCOUNT_CACHE, account.pk))
    return account


def account_deactivate(*, account: Account, actor: Actor | None = None) -> Account:
    return account_update(account=account, is_active=False, actor=actor)
