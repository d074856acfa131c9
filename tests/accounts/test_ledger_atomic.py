"""The ledger is all-or-nothing on every engine: a write failing part-way leaves accounts, holds and rows unchanged.

Each failure is a real one, a row the database refuses (a duplicate id), met after earlier writes
of the same transaction have gone through. On MongoDB these pass only when the ledger runs in a
MongoDB transaction (Django's atomic is a no-op there; core.ledger_tx).
"""

import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError

from accounts.models import Account
from budgets.ledger import usage_book_many
from budgets.models import Hold
from budgets.services import account_open
from core.ledger_tx import ledger_atomic
from tests.budgets.ledger_helpers import reserve, reserve_many
from usage.models import UsageLog
from usage.services import UsageEntry

pytestmark = pytest.mark.django_db


def entry(account, request_id, cost="0.25"):
    return UsageEntry(
        request_id=request_id,
        account_id=account.pk,
        key_id=None,
        route="chat.completions",
        model="m",
        provider="openai",
        status_code=200,
        cost_usd=Decimal(cost),
    )


def ledger(account):
    account.refresh_from_db()
    return account.spent_usd, account.reserved_usd, set(Hold.objects.values_list("pk", flat=True))


def test_a_reserve_whose_hold_row_fails_leaves_the_account_unreserved():
    account = account_open(user_id="a", budget_usd=Decimal("10"))
    held = uuid.uuid4()
    assert reserve(account.pk, held, Decimal("1"))
    before = ledger(account)
    fresh = uuid.uuid4()
    # Both conditional updates pass (reserved_usd goes up twice), then the hold rows are written: one repeats
    # an existing hold's id, so the insert fails after the account was already updated.
    with pytest.raises(IntegrityError):
        reserve_many([(account.pk, fresh, Decimal("2")), (account.pk, held, Decimal("3"))])
    assert ledger(account) == before == (0, Decimal("1"), {held})


def test_a_batch_with_a_bad_row_writes_no_row_and_settles_nothing():
    account = account_open(user_id="a", budget_usd=Decimal("10"))
    requests = [uuid.uuid4() for _ in range(3)]
    for request_id in requests[:2]:
        assert reserve(account.pk, request_id, Decimal("1"))
    usage_book_many(entries=[entry(account, requests[2])])  # its row exists: the batch below repeats it
    before = ledger(account)
    with pytest.raises(IntegrityError):
        usage_book_many(entries=[entry(account, request_id) for request_id in requests])
    assert ledger(account) == before == (Decimal("0.25"), Decimal("2"), set(requests[:2]))
    assert set(UsageLog.objects.values_list("pk", flat=True)) == {requests[2]}


def test_a_settlement_is_undone_when_its_transaction_fails_after_it():
    account = account_open(user_id="a", budget_usd=Decimal("10"))
    settled, taken = uuid.uuid4(), uuid.uuid4()
    assert reserve(account.pk, settled, Decimal("1"))
    assert reserve(account.pk, taken, Decimal("1"))
    before = ledger(account)

    @ledger_atomic()
    def settle_then_fail():
        # The settlement completes (row written, hold deleted, spent and reserved moved), then a
        # later write of the same transaction fails: none of it may stay.
        usage_book_many(entries=[entry(account, settled)])
        reserve_many([(account.pk, taken, Decimal("1"))])

    with pytest.raises(IntegrityError):
        settle_then_fail()
    assert ledger(account) == before == (0, Decimal("2"), {settled, taken})
    assert not UsageLog.objects.exists()
    assert Account.objects.get(pk=account.pk).spent_usd == 0
