"""The budget ledger across windows and levels: every window must fit, windows start over exactly once, a call
books into the window that admitted it, teams and key caps hold on the same ledger."""

import threading
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.test import override_settings

from accounts.models import Account
from budgets.ledger import HoldRequest, budget_reserve_many, budget_settle, hold_release
from budgets.models import Budget, BudgetPeriod, Hold
from budgets.services import account_open, budget_create, budget_update, team_create
from budgets.windows import Period
from keys.services import key_create
from tests.budgets.clock import Clock

pytestmark = pytest.mark.django_db
CLOCK = override_settings(BUDGET_CLOCK="tests.budgets.clock.now")
T0 = datetime.fromisoformat("2026-12-03T10:00:00+00:00")


@pytest.fixture(autouse=True)
def clock():
    Clock.now = T0
    with CLOCK:
        yield Clock
    Clock.now = None


def lines(*budgets):
    from budgets.services import budget_line

    return tuple(budget_line(Budget.objects.get(pk=b.pk)) for b in budgets)


def hold(account, budgets, amount, hold_id=None):
    request = HoldRequest(account.pk, hold_id or uuid.uuid4(), Decimal(amount), lines(*budgets))
    return request.hold_id, budget_reserve_many(holds=[request])[0]


def settle(hold_id, account, cost, result):
    budget_settle(settlements=[(hold_id, account.pk, Decimal(cost), result.refs, None)])


def fresh(budget):
    return Budget.objects.get(pk=budget.pk)


def test_a_call_must_fit_every_window_and_the_refusal_names_the_one_that_did_not():
    account = account_open(user_id="a")
    daily = budget_create(owner=account, limit_usd=Decimal("20"), period=Period.DAY, name="daily")
    monthly = budget_create(owner=account, limit_usd=Decimal("300"), period=Period.MONTH)
    _, result = hold(account, [daily, monthly], "15")
    assert result.admitted
    _, refused = hold(account, [daily, monthly], "6")
    assert refused.refusal.line.label == "daily"
    assert refused.refusal.remaining_usd == Decimal("5")
    assert refused.refusal.resets_at == datetime.fromisoformat("2026-12-04T00:00:00+00:00")
    # The monthly window fitted, and was given back when the daily one refused: a hold is on all or none.
    assert (fresh(daily).reserved_usd, fresh(monthly).reserved_usd) == (Decimal("15"), Decimal("15"))


def test_a_window_starts_over_once_and_keeps_the_closed_one_as_history(clock):
    account = account_open(user_id="a")
    burst = budget_create(owner=account, limit_usd=Decimal("1"), period=Period.INTERVAL, interval_seconds=60)
    hold_id, result = hold(account, [burst], "0.8")
    settle(hold_id, account, "0.7", result)
    assert not hold(account, [burst], "0.5")[1].admitted
    clock.now = T0 + timedelta(seconds=60)
    assert hold(account, [burst], "0.5")[1].admitted  # a new window: the limit is whole again
    assert hold(account, [burst], "0.5")[1].admitted
    period = BudgetPeriod.objects.get(budget=burst)
    assert (period.start, period.end, period.spent_usd, period.reserved_usd) == (
        T0,
        T0 + timedelta(seconds=60),
        Decimal("0.7"),
        0,
    )
    assert fresh(burst).window_start == T0 + timedelta(seconds=60)
    assert fresh(burst).reserved_usd == Decimal("1")


def test_a_call_that_straddles_a_boundary_books_into_the_window_that_admitted_it(clock):
    account = account_open(user_id="a")
    burst = budget_create(owner=account, limit_usd=Decimal("1"), period=Period.INTERVAL, interval_seconds=60)
    first, first_result = hold(account, [burst], "0.9")  # admitted in [T0, T0+60)
    clock.now = T0 + timedelta(seconds=61)
    second, second_result = hold(account, [burst], "0.9")  # the next window: it starts over
    settle(first, account, "0.6", first_result)  # ends after the boundary
    settle(second, account, "0.2", second_result)
    period = BudgetPeriod.objects.get(budget=burst)
    assert (period.spent_usd, period.reserved_usd) == (Decimal("0.6"), 0)
    assert (fresh(burst).spent_usd, fresh(burst).reserved_usd) == (Decimal("0.2"), 0)
    assert Account.objects.get(pk=account.pk).spent_usd == Decimal("0.8")
    assert not Hold.objects.exists()


def test_a_hold_released_by_the_sweeper_after_its_window_closed_returns_to_that_window(clock):
    account = account_open(user_id="a")
    burst = budget_create(owner=account, limit_usd=Decimal("1"), period=Period.INTERVAL, interval_seconds=60)
    hold_id, _ = hold(account, [burst], "0.9")
    clock.now = T0 + timedelta(seconds=60)
    assert hold(account, [burst], "0.5")[1].admitted
    assert hold_release(hold_id=hold_id)
    assert BudgetPeriod.objects.get(budget=burst).reserved_usd == 0
    assert fresh(burst).reserved_usd == Decimal("0.5")


def test_a_team_budget_is_shared_by_its_accounts_and_its_spend_is_theirs():
    team = team_create(slug="ml")
    shared = budget_create(owner=team, limit_usd=Decimal("1"))
    one = account_open(user_id="one", team=team)
    two = account_open(user_id="two", team=team)
    a, result_a = hold(one, [shared], "0.6")
    assert not hold(two, [shared], "0.6")[1].admitted  # 1.2 would pass the team's limit
    b, result_b = hold(two, [shared], "0.4")
    settle(a, one, "0.3", result_a)
    settle(b, two, "0.25", result_b)
    accounts = Account.objects.filter(team=team)
    assert fresh(shared).spent_usd == sum(account.spent_usd for account in accounts) == Decimal("0.55")
    assert fresh(shared).reserved_usd == 0


def test_a_key_cap_refuses_inside_an_ample_account_budget():
    account = account_open(user_id="a", budget_usd=Decimal("100"))
    key = key_create(account=account, name="ci").key
    cap = budget_create(owner=key, limit_usd=Decimal("5"), period=Period.DAY)
    lifetime = account.lifetime_budget
    assert hold(account, [cap, lifetime], "4")[1].admitted
    refused = hold(account, [cap, lifetime], "2")[1].refusal
    assert (refused.line.level, refused.line.limit_usd) == ("key", Decimal("5"))
    assert fresh(lifetime).reserved_usd == Decimal("4")


def test_a_new_period_starts_a_new_window(clock):
    account = account_open(user_id="a")
    budget = budget_create(owner=account, limit_usd=Decimal("1"), period=Period.DAY)
    hold_id, result = hold(account, [budget], "0.5")
    settle(hold_id, account, "0.5", result)
    budget_update(budget=budget, period=Period.MONTH, anchor=1)
    assert hold(account, [budget], "0.9")[1].admitted  # the monthly window starts now, from nothing
    assert BudgetPeriod.objects.get(budget=budget).spent_usd == Decimal("0.5")


@pytest.mark.django_db(transaction=True)
def test_concurrent_holds_at_a_boundary_start_the_window_over_exactly_once(clock):
    account = account_open(user_id="a")
    burst = budget_create(owner=account, limit_usd=Decimal("10"), period=Period.INTERVAL, interval_seconds=60)
    hold_id, result = hold(account, [burst], "1")
    settle(hold_id, account, "1", result)
    clock.now = T0 + timedelta(seconds=60)
    plan = lines(burst)
    outcomes, barrier = [], threading.Barrier(6)

    def take():
        barrier.wait()
        try:
            request = HoldRequest(account.pk, uuid.uuid4(), Decimal("1"), plan)
            outcomes.append(budget_reserve_many(holds=[request])[0].admitted)
        except Exception as error:  # SQLite: a writer that waited past its timeout
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admitted = [outcome for outcome in outcomes if outcome is True]
    assert len(admitted) == 6, outcomes
    assert BudgetPeriod.objects.filter(budget=burst).count() == 1
    assert BudgetPeriod.objects.get(budget=burst).spent_usd == Decimal("1")
    assert fresh(burst).reserved_usd == Decimal("6")


def test_a_calendar_month_in_paris_starts_over_at_local_midnight_on_the_first(clock):
    account = account_open(user_id="a")
    monthly = budget_create(owner=account, limit_usd=Decimal("10"), period=Period.MONTH, timezone="Europe/Paris")
    clock.now = datetime.fromisoformat("2026-12-31T22:59:00+00:00")  # 23:59 on December 31st in Paris
    hold_id, result = hold(account, [monthly], "9")
    settle(hold_id, account, "9", result)
    assert not hold(account, [monthly], "2")[1].admitted
    clock.now = datetime.fromisoformat("2026-12-31T23:00:00+00:00")  # midnight, January 1st, in Paris
    assert hold(account, [monthly], "2")[1].admitted
    closed = BudgetPeriod.objects.get(budget=monthly)
    assert (closed.start, closed.end, closed.spent_usd) == (
        datetime.fromisoformat("2026-12-01T00:00:00+01:00"),
        datetime.fromisoformat("2027-01-01T00:00:00+01:00"),
        Decimal("9"),
    )
