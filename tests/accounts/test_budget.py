"""The budget ledger: atomic reservation and settlement."""

from decimal import Decimal

import pytest

from accounts.services import account_create, budget_reserve, budget_settle

pytestmark = pytest.mark.django_db


def test_reserve_admits_while_budget_remains():
    account = account_create(user_id="a", budget_usd=Decimal("1.00"))
    assert budget_reserve(account_id=account.pk, amount=Decimal("0.40"))
    assert budget_reserve(account_id=account.pk, amount=Decimal("0.40"))
    assert budget_reserve(account_id=account.pk, amount=Decimal("0.40"))  # 0.80 < 1.00: still admitted
    assert not budget_reserve(account_id=account.pk, amount=Decimal("0.01"))  # 1.20 held >= budget
    account.refresh_from_db()
    assert account.reserved_usd == Decimal("1.20")


def test_settle_moves_the_reservation_to_spent():
    account = account_create(user_id="a", budget_usd=Decimal("1.00"))
    budget_reserve(account_id=account.pk, amount=Decimal("0.5"))
    budget_settle(account_id=account.pk, reserved=Decimal("0.5"), cost=Decimal("0.1234567891"))
    account.refresh_from_db()
    assert account.reserved_usd == 0
    assert account.spent_usd == Decimal("0.1234567891")


def test_spent_at_budget_is_refused():
    account = account_create(user_id="a", budget_usd=Decimal("1"))
    budget_settle(account_id=account.pk, reserved=Decimal(0), cost=Decimal("1"))
    assert not budget_reserve(account_id=account.pk, amount=Decimal(0))


def test_unlimited_and_inactive_accounts_are_not_reserved():
    unlimited = account_create(user_id="u")
    inactive = account_create(user_id="i", budget_usd=Decimal(5), is_active=False)
    assert not budget_reserve(account_id=unlimited.pk, amount=Decimal(1))
    assert not budget_reserve(account_id=inactive.pk, amount=Decimal(1))


def test_negative_budget_is_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        account_create(user_id="n", budget_usd=Decimal("-1"))
