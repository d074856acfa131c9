"""The budget ledger: atomic holds at their worst case, settlement by request id, stale holds released."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Account
from budgets.ledger import hold_release_stale, leases_release
from budgets.models import Hold
from budgets.services import account_budget_set, account_open
from tests.budgets.ledger_helpers import lines_of, reserve_many, settle
from tests.budgets.ledger_helpers import reserve as ledger_reserve
from tests.stored import stored_rows

pytestmark = pytest.mark.django_db


def reserve(account, amount):
    request_id = uuid.uuid4()
    return request_id if ledger_reserve(account.pk, request_id, Decimal(amount)) else None


def test_reserve_admits_only_what_fits_in_the_budget():
    account = account_open(user_id="a", budget_usd=Decimal("1.00"))
    assert reserve(account, "0.40")
    assert reserve(account, "0.40")
    assert not reserve(account, "0.40")  # 1.20 would pass the budget: the worst case must fit
    assert reserve(account, "0.20")  # exactly 1.00
    assert not reserve(account, "0.0000000001")
    account.refresh_from_db()
    assert account.reserved_usd == Decimal("1.00")
    assert account.remaining_usd == 0
    assert Hold.objects.filter(account=account).count() == 3


def test_settle_releases_the_hold_and_books_the_cost():
    account = account_open(user_id="a", budget_usd=Decimal("1.00"))
    request_id = reserve(account, "0.5")
    settle([(request_id, account.pk, Decimal("0.1234567891"))])
    account.refresh_from_db()
    assert (account.reserved_usd, account.spent_usd) == (0, Decimal("0.1234567891"))
    assert not Hold.objects.exists()
    settle([(request_id, account.pk, Decimal(0))])  # settled twice: the hold is not released twice
    account.refresh_from_db()
    assert account.reserved_usd == 0


def test_spent_at_budget_is_refused():
    account = account_open(user_id="a", budget_usd=Decimal("1"))
    settle([(uuid.uuid4(), account.pk, Decimal("1"))])
    assert not reserve(account, "0")


def test_unlimited_accounts_have_nothing_to_hold_and_inactive_ones_are_refused():
    unlimited = account_open(user_id="u")
    inactive = account_open(user_id="i", budget_usd=Decimal(5), is_active=False)
    assert lines_of(unlimited.pk) == ()  # the hot path holds nothing for a call without budgets
    assert not reserve(inactive, "1")
    assert not Hold.objects.exists()


def test_negative_or_huge_budgets_are_refused():
    with pytest.raises(ValidationError):
        account_open(user_id="n", budget_usd=Decimal("-1"))
    with pytest.raises(ValidationError):
        account_open(user_id="h", budget_usd=Decimal("1e12"))


def test_stale_holds_are_released_and_fresh_ones_kept():
    account = account_open(user_id="a", budget_usd=Decimal("1"))
    old, fresh = reserve(account, "0.3"), reserve(account, "0.2")
    Hold.objects.filter(pk=old).update(created_at=Hold.objects.get(pk=old).created_at - timedelta(hours=1))
    assert hold_release_stale(older_than=timedelta(minutes=10)) == 1
    account.refresh_from_db()
    assert account.reserved_usd == Decimal("0.2")
    assert list(Hold.objects.values_list("pk", flat=True)) == [fresh]
    settle([(old, account.pk, Decimal("0.1"))])  # the late settlement only books its cost
    account.refresh_from_db()
    assert (account.reserved_usd, account.spent_usd) == (Decimal("0.2"), Decimal("0.1"))


def test_money_is_exact_in_the_database_on_every_engine():
    # SQLite kept DECIMAL as floating point: many small holds drifted. Integer units add exactly.
    account = account_open(user_id="a", budget_usd=Decimal("1000"))
    ids = [reserve(account, "0.1000000001") for _ in range(50)]
    settle([(request_id, account.pk, Decimal("0.0000000003")) for request_id in ids])
    account.refresh_from_db()
    assert account.reserved_usd == 0
    assert account.spent_usd == Decimal("0.0000000150")
    # Stored as integer units of 1e-10 USD, on every engine.
    assert 150 in {value for row in stored_rows(Account._meta.db_table) for value in row if isinstance(value, int)}


# Budget leases (budgets.leases): one hold many calls draw from ---------------------------------------------


def test_a_lease_is_taken_only_with_its_margin_left_over():
    account = account_open(user_id="a", budget_usd=Decimal("7.99"))
    lease = uuid.uuid4()
    holds = [(account.pk, lease, Decimal("1"), Decimal("7"))]
    assert reserve_many(holds) == [False]  # 8 must be left: the margin is checked...
    account_budget_set(account=account, budget_usd=Decimal("8"))
    assert reserve_many(holds) == [True]
    account.refresh_from_db()
    assert account.reserved_usd == Decimal("1")  # ...but only the lease is held


def test_calls_drawn_from_a_lease_settle_from_it_and_its_release_returns_the_rest():
    account = account_open(user_id="a", budget_usd=Decimal("10"))
    lease = uuid.uuid4()
    assert reserve_many([(account.pk, lease, Decimal("1"), Decimal("7"))]) == [True]
    calls = [uuid.uuid4(), uuid.uuid4()]
    settle(
        [(call, account.pk, Decimal("0.1")) for call in calls],
        draws=[(lease, account.pk, Decimal("0.3")) for _ in calls],
    )
    account.refresh_from_db()
    assert (account.spent_usd, account.reserved_usd) == (Decimal("0.2"), Decimal("0.4"))
    assert Hold.objects.get(pk=lease).amount_usd == Decimal("0.4")  # reserved is still the sum of the holds
    assert leases_release(lease_ids=[lease]) == 1
    account.refresh_from_db()
    assert (account.spent_usd, account.reserved_usd) == (Decimal("0.2"), 0)
    assert not Hold.objects.exists()


def test_a_call_settling_after_its_lease_was_released_only_books_its_cost():
    # The release (or the sweeper) returned the whole lease already, this call's draw included.
    account = account_open(user_id="a", budget_usd=Decimal("10"))
    lease = uuid.uuid4()
    reserve_many([(account.pk, lease, Decimal("1"), Decimal("7"))])
    leases_release(lease_ids=[lease])
    settle([(uuid.uuid4(), account.pk, Decimal("0.1"))], draws=[(lease, account.pk, Decimal("0.3"))])
    account.refresh_from_db()
    assert (account.spent_usd, account.reserved_usd) == (Decimal("0.1"), 0)
