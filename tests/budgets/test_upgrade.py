"""An account's budget from before budget windows (budget_usd, its spend and its holds) keeps working after the
migration: it becomes the account's lifetime budget, its holds settle into it, and new calls are held against it."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from budgets.ledger import budget_settle
from budgets.models import Budget, Hold
from core.money import to_units
from tests.budgets.ledger_helpers import refs_of, reserve

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("accounts", "0005_teams"), ("budgets", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_a_lifetime_budget_survives_the_upgrade():
    old = migrate(BEFORE)
    Account = old.get_model("accounts", "Account")
    OldHold = old.get_model("budgets", "Hold")
    account = Account.objects.create(
        user_id="old", budget_usd=Decimal(10), spent_usd=Decimal(4), reserved_usd=Decimal(1)
    )
    in_flight = uuid.uuid4()
    OldHold.objects.create(id=in_flight, account=account, amount_usd=Decimal(1))

    latest = migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert latest is not None
    budget = Budget.objects.get(account_id=account.pk)
    assert (budget.period, budget.limit_usd, budget.spent_usd, budget.reserved_usd) == (
        "lifetime",
        Decimal(10),
        Decimal(4),
        Decimal(1),
    )
    assert Hold.objects.get(pk=in_flight).lines == [[str(budget.pk), None]]
    # The call in flight across the upgrade settles into it (its journaled row names no window)...
    budget_settle(settlements=[(in_flight, account.pk, Decimal("0.5"), (), None)])
    budget.refresh_from_db()
    assert (budget.spent_usd, budget.reserved_usd) == (Decimal("4.5"), 0)
    # ...and new calls are held against it exactly as before.
    assert reserve(account.pk, uuid.uuid4(), "5.5")
    assert not reserve(account.pk, uuid.uuid4(), "0.0000000001")
    assert refs_of(account.pk) == ((str(budget.pk), None),)
    assert to_units(budget.limit_usd) == 100_000_000_000
