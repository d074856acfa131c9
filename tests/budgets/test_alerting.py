"""Budget alerts raised by the ledger as it settles: real calls crossing thresholds at key, account and team level,
once per threshold per window, again in a new window, in the closed window for a call admitted before its boundary,
delivered to a real receiver that is down for a while; and nothing extra read when nothing was crossed."""

import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import openai
import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from alerts.models import BudgetEvent, Delivery
from alerts.payload import SIGNATURE_HEADER
from alerts.services import destination_create
from budgets.ledger import HoldRequest, budget_reserve_many, budget_settle
from budgets.models import Budget
from budgets.services import account_open, budget_create, budget_line, team_create
from budgets.windows import Period
from keys.services import key_create
from pricing.services import cost_upsert
from tests.alerts.fixtures import documented_verify, wait_until
from tests.budgets.clock import Clock
from tests.chaos.processes import REPO, database_url, gateway_env
from tests.engine import on_mongodb

MODEL = "gpt-4o-mini"
T0 = datetime.fromisoformat("2026-12-03T10:00:00+00:00")  # early in a Paris month: a day later is the same month


@pytest.fixture
def clock():
    Clock.now = T0
    with override_settings(BUDGET_CLOCK="tests.budgets.clock.now"):
        yield Clock
    Clock.now = None


def windows_of(budget: Budget) -> dict[Any, tuple[Decimal, Decimal]]:
    """Every window the budget had: start -> (limit, spent)."""
    found = {period.start: (period.limit_usd, period.spent_usd) for period in budget.periods.all()}
    found[budget.window_start] = (budget.limit_usd, budget.spent_usd)
    return found


def expected_events(budget: Budget) -> set[tuple[Any, int]]:
    """(window start, threshold) for each threshold the spend of each window reached."""
    return {
        (start, pct)
        for start, (limit, spent) in windows_of(budget).items()
        for pct in budget.thresholds
        if pct * limit <= spent * 100
    }


def raised(budget: Budget) -> dict[tuple[Any, int], BudgetEvent]:
    events = BudgetEvent.objects.filter(budget_ref=str(budget.pk))
    return {(event.window_start, event.threshold_pct): event for event in events}


def chat(key: str, gateway: Any) -> tuple[int, str]:
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    try:
        raw = sdk.chat.completions.with_raw_response.create(model=MODEL, messages=messages, max_tokens=7)
    except openai.APIStatusError as error:
        return error.status_code, error.response.headers["x-request-id"]
    return raw.status_code, raw.headers["x-request-id"]


def test_calls_crossing_thresholds_raise_one_event_per_threshold_and_window_at_every_level(
    gateway, upstream, clock, receiver, fast_outbox
):
    # Input free, 7 output tokens (max_tokens 7) at 2,000 USD per million: each call holds and spends 0.014 USD.
    cost_upsert(model=MODEL, input_per_mtok=Decimal(0), output_per_mtok=Decimal(2000))
    team = team_create(slug="ml-research")
    account = account_open(user_id="alice", team=team)
    key = key_create(account=account, name="ci")
    budgets = {
        "key": budget_create(owner=key.key, limit_usd=Decimal("0.07"), period=Period.DAY, timezone="Europe/Paris"),
        "account": budget_create(
            owner=account,
            limit_usd=Decimal("0.1"),
            period=Period.INTERVAL,
            interval_seconds=3600,
            thresholds=[40, 25],
        ),
        "team": budget_create(
            owner=team, limit_usd=Decimal("1"), period=Period.MONTH, timezone="Europe/Paris", thresholds=[5, 9, 15]
        ),
    }
    destination_create(name="ops", url=receiver.url, secret="a-secret-of-ops-16+")
    receiver.stop()  # down at first: the events wait in the outbox
    costs: dict[str, list[tuple[Any, Decimal]]] = {level: [] for level in budgets}

    def run_calls(count: int) -> list[int]:
        statuses = []
        for _ in range(count):
            status, request_id = chat(key.raw, gateway)
            statuses.append(status)
            cost = gateway.usage(request_id).cost_usd  # written (and settled) before the next call
            for level, budget in budgets.items():
                costs[level].append((Budget.objects.get(pk=budget.pk).window_start, cost))
        return statuses

    assert run_calls(6) == [200] * 5 + [402]  # the key's 0.07 USD a day fits five calls
    wait_until(lambda: Delivery.objects.filter(attempts__gte=2).exists(), what="attempts on the receiver while down")
    clock.now = T0 + timedelta(days=1)  # a new day for the key, a new hour for the account, the same month
    assert run_calls(3) == [200] * 3

    for level, budget in budgets.items():
        budget = Budget.objects.get(pk=budget.pk)
        events = raised(budget)
        assert set(events) == expected_events(budget), level
        for (start, pct), event in events.items():
            # Raised by the call that crossed it, with the window's spend right after that call.
            spent, limit = Decimal(0), event.limit_usd
            for window_start, cost in costs[level]:
                if window_start == start and cost:
                    spent += cost
                    if pct * limit <= spent * 100:
                        break
            assert event.spent_usd == spent, (level, pct)
            assert (event.level, event.window_label, event.time_zone) == (level, budget.label, budget.timezone)
    key_events, account_events, team_events = (raised(budgets[level]) for level in ("key", "account", "team"))
    assert sorted(pct for _, pct in key_events) == [50, 50, 80, 100]  # 50 % again in the new day
    first_day, second_day = datetime.fromisoformat("2026-12-02T23:00:00+00:00"), T0.replace(hour=23)  # Paris days
    assert {start for start, _ in key_events} == {first_day, second_day}
    assert key_events[(first_day, 100)].spent_usd == Decimal("0.07")
    assert sorted(pct for _, pct in account_events) == [25, 25, 40, 40]
    assert sorted(pct for _, pct in team_events) == [5, 9]  # one month: 8 calls, 0.112 USD
    assert key_events[(T0.replace(hour=23), 50)].window_end == datetime.fromisoformat("2026-12-04T23:00:00+00:00")

    receiver.start()  # back on the same port: each event arrives once, signed
    total = BudgetEvent.objects.count()
    wait_until(lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == total, what="every delivery")
    ids = receiver.event_ids()
    assert sorted(ids) == sorted(str(event.id) for event in BudgetEvent.objects.all())
    verify = documented_verify()
    for received in receiver.received:
        assert verify("a-secret-of-ops-16+", received.body, received.headers[SIGNATURE_HEADER])
        assert received.json()["budget_ref"] in {str(budget.pk) for budget in budgets.values()}


def hold_and_settle(account: Any, budget: Budget, amount: str, cost: str | None = None) -> tuple[uuid.UUID, Any]:
    """Holds `amount` now; settles `cost` at once if given (else returns the hold to settle later)."""
    request = HoldRequest(account.pk, uuid.uuid4(), Decimal(amount), (budget_line(budget),))
    (result,) = budget_reserve_many(holds=[request])
    assert result.admitted
    if cost is not None:
        settle(request.hold_id, account, cost, result)
    return request.hold_id, result


def settle(hold_id: uuid.UUID, account: Any, cost: str, result: Any) -> None:
    budget_settle(settlements=[(hold_id, account.pk, Decimal(cost), result.refs, None)])


@pytest.mark.django_db
def test_a_call_admitted_before_a_boundary_alerts_in_the_window_that_admitted_it(clock):
    account = account_open(user_id="a")
    burst = budget_create(owner=account, limit_usd=Decimal("1"), period=Period.INTERVAL, interval_seconds=60)
    late, late_result = hold_and_settle(account, burst, "0.9")  # admitted in [T0, T0 + 60 s)
    clock.now = T0 + timedelta(seconds=61)
    hold_and_settle(account, burst, "0.3", cost="0.3")  # the next window: under 50 %
    assert not BudgetEvent.objects.exists()
    settle(late, account, "0.85", late_result)  # ends after the boundary: books (and alerts) in the closed window
    (event50, event80) = BudgetEvent.objects.order_by("threshold_pct")
    assert (event50.threshold_pct, event80.threshold_pct) == (50, 80)
    assert (event80.window_start, event80.window_end) == (T0, T0 + timedelta(seconds=60))
    assert (event80.spent_usd, event80.limit_usd) == (Decimal("0.85"), Decimal("1"))
    hold_and_settle(account, burst, "0.3", cost="0.3")  # 0.6 in the current window
    current = BudgetEvent.objects.get(window_start=T0 + timedelta(seconds=60))
    assert (current.threshold_pct, current.spent_usd) == (50, Decimal("0.6"))


@pytest.mark.django_db
def test_a_lifetime_budget_alerts_once_per_threshold_and_an_empty_list_never(clock):
    account = account_open(user_id="a", budget_usd=Decimal("10"))  # its lifetime budget, default thresholds
    lifetime = Budget.objects.get(account=account)
    quiet = budget_create(owner=account, limit_usd=Decimal("10"), period=Period.DAY, thresholds=[])
    for _ in range(4):
        for budget in (lifetime, quiet):
            hold_and_settle(account, budget, "2.5", cost="2.5")
    assert sorted(raised(lifetime)) == [(None, 50), (None, 80), (None, 100)]
    assert raised(lifetime)[(None, 100)].spent_usd == Decimal("10")
    assert not raised(quiet)


@pytest.mark.django_db
def test_a_new_budget_gets_the_configured_thresholds_sorted_and_at_most_ten(settings):
    from django.core.exceptions import ValidationError

    settings.ALERT_THRESHOLDS = [75, 90]
    account = account_open(user_id="a")
    assert budget_create(owner=account, limit_usd=Decimal(1)).thresholds == [75, 90]
    assert budget_create(owner=account, limit_usd=Decimal(1), thresholds=[100, 50, 50]).thresholds == [50, 100]
    with pytest.raises(ValidationError):
        budget_create(owner=account, limit_usd=Decimal(1), thresholds=list(range(10, 120, 10)))


@pytest.mark.skipif(on_mongodb(), reason="counts SQL statements")
@pytest.mark.django_db
def test_settling_without_a_crossing_reads_the_spend_once_and_no_alert_table(clock):
    account = account_open(user_id="a")
    budget = budget_create(owner=account, limit_usd=Decimal("100"), period=Period.DAY)
    hold_id, result = hold_and_settle(account, budget, "0.01")
    with CaptureQueriesContext(connection) as queries:
        settle(hold_id, account, "0.01", result)
    statements = [query["sql"] for query in queries]
    assert not [sql for sql in statements if "alerts_" in sql]
    reads = [sql for sql in statements if sql.startswith("SELECT") and "budgets_budget" in sql]
    assert len(reads) == 1, statements  # PostgreSQL: the row lock itself; SQLite: one read under the write lock
    assert connection.vendor != "postgresql" or "FOR UPDATE" in reads[0]


@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_two_processes_settling_on_shared_budgets_raise_each_crossing_once_from_the_exact_spend(redis_backed, tmp_path):
    team = team_create(slug="shared")
    team_budget = budget_create(
        owner=team, limit_usd=Decimal("1"), period=Period.MONTH, thresholds=list(range(10, 101, 10))
    )
    account_budgets = [
        budget_create(owner=account_open(user_id=f"peer-{n}", team=team), limit_usd=Decimal("0.6"), period=Period.DAY)
        for n in range(2)
    ]
    env = gateway_env(
        database_url=database_url(connection.settings_dict),
        redis_url=redis_backed,
        upstream_url="http://127.0.0.1:9",
        spool_dir=tmp_path / "spool",
    )
    cost, calls = Decimal("0.013"), 25  # 2 processes x 2 threads x 25 calls: more than the team's 1 USD
    start_at = time.time() + 8  # both processes are set up by then (Django's start-up takes seconds here)
    command = [sys.executable, "-m", "tests.budgets.settle_peer", str(start_at)]
    peers = [
        subprocess.Popen(
            [*command, f"peer-{n}", str(calls), str(cost)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    results = [peer.communicate(timeout=240) for peer in peers]
    assert all(peer.returncode == 0 for peer in peers), [err[-3000:] for _, err in results]
    admitted = sum(json.loads(out)["admitted"] for out, _ in results)

    for budget in (team_budget, *account_budgets):
        budget = Budget.objects.get(pk=budget.pk)
        events = raised(budget)
        assert set(events) == expected_events(budget)
        for (_, pct), event in events.items():
            # The settlement that crossed it saw the spend exactly: one call's cost before, it was under.
            assert (event.spent_usd - cost) * 100 < pct * event.limit_usd <= event.spent_usd * 100, (budget, pct)
    team_spent = Budget.objects.get(pk=team_budget.pk).spent_usd
    assert team_spent == admitted * cost and len(raised(team_budget)) == int(team_spent * 10)
