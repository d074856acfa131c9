"""Two gateway processes, a team of three accounts with two keys each, budgets at every level with a window of a
few seconds and a lifetime limit, 300 concurrent calls (JSON and streams, no max_tokens) across window boundaries.

Afterwards, for every window of every budget: spent <= limit; the team's spend in a window is the sum of its
accounts' spend in that window; nothing is held; one usage row per call; the lifetime budgets add up to the rows;
one alert event per threshold each window reached (50, 80, 100 %); with per-call holds, each delivered exactly
once, signed, to two real receivers, one of them down for the first part of the run.
"""

import asyncio
import threading
import time
from decimal import Decimal
from typing import Any

import openai
import pytest

from accounts.models import Account
from alerts.models import BudgetEvent, Delivery
from alerts.payload import SIGNATURE_HEADER
from alerts.services import destination_create
from budgets.models import Budget, BudgetPeriod, Hold
from budgets.services import account_open, budget_create, team_create
from budgets.windows import Period
from keys.services import key_create
from pricing.services import cost_upsert
from tests.alerts.fixtures import documented_verify, wait_until
from tests.alerts.receivers import WebhookReceiver
from tests.budgets.alert_checks import expected_events, raised
from tests.engine import on_mongodb
from usage.models import UsageLog

MODEL = "gpt-4o-mini"  # LiteLLM's model info: at most 16,384 output tokens: a hold of ~0.000165 USD here
PRICE_PER_MTOK = Decimal("0.01")
OUTPUT_TOKENS = 16_000  # each call that runs spends close to its hold
WINDOW_S = 4
REQUESTS = 300
# Calls start over this long: at least two boundaries of a 4 s window pass during the run. 30 s on the MongoDB
# stand-in: it serves one writing transaction at a time, ~15-40 ms a write, and at 30 calls/s its queue kept
# transactions waiting long enough to time calls out.
SPREAD_S = 30.0 if on_mongodb() else 10.0
# Limits per window and for life, in calls' worth (~0.000165 USD each); "leases": large enough for budget leases
# of four calls (GATEWAY_BUDGET_LEASE_CALLS below), which need 8 x 4 calls' worth left in every budget. The team's
# lifetime (200) is under the run's 300 calls, so calls are refused however slowly a loaded machine sends them (a
# window's limit is reached only at ~30 calls/s).
CALL = Decimal("0.000165")
LIMITS = {
    "holds": {"key": (3, 9), "account": (5, 16), "team": (9, 30)},
    "leases": {"key": (40, 120), "account": (70, 200), "team": (120, 200)},
}
# The gateways' outbox: quick retries, so the receiver that comes back mid-run gets its backlog before the end;
# polls no faster than that needs (the MongoDB stand-in serves one command at a time).
OUTBOX = {"GATEWAY_ALERT_POLL": "1", "GATEWAY_ALERT_RETRY_BASE": "0.5", "GATEWAY_ALERT_RETRY_CAP": "2"}
SECRET = "chaos-signing-secret-0123"


async def call(client: openai.AsyncOpenAI, index: int, delay: float) -> tuple[int, str | None]:
    await asyncio.sleep(delay)
    messages = [{"role": "user", "content": f"request {index}"}]
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=messages, stream=index % 2 == 1
        )
        parsed = raw.parse()
        if index % 2:
            async for _chunk in parsed:
                pass
    except openai.APIStatusError as error:
        return error.status_code, error.response.headers.get("x-request-id")
    return raw.status_code, raw.headers.get("x-request-id")


async def load(urls: list[str], keys: list[str]) -> list[tuple[int, str | None]]:
    clients = [
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)
        for url in urls
        for key in keys
    ]
    try:
        return await asyncio.gather(
            *(call(clients[i % len(clients)], i, SPREAD_S * i / REQUESTS) for i in range(REQUESTS))
        )
    finally:
        for client in clients:
            await client.close()


def budgets_at(owner: Any, calls: tuple[int, int]) -> None:
    per_window, lifetime = calls
    budget_create(owner=owner, limit_usd=CALL * per_window, period=Period.INTERVAL, interval_seconds=WINDOW_S)
    budget_create(owner=owner, limit_usd=CALL * lifetime)


def settled(timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while Hold.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def windows(budget: Budget) -> dict[Any, tuple[Decimal, Decimal, Decimal]]:
    """Every window the budget had: start -> (limit, spent, still held)."""
    found = {period.start: (period.limit_usd, period.spent_usd, period.reserved_usd) for period in budget.periods.all()}
    found[budget.window_start] = (budget.limit_usd, budget.spent_usd, budget.reserved_usd)
    return found


@pytest.mark.timeout(520)  # two gateway start-ups, the run, then the alerts' deliveries
@pytest.mark.parametrize("mode", sorted(LIMITS))
def test_every_window_of_every_level_holds_across_boundaries(
    start: Any, suite_gateway_env: dict[str, str], upstream: Any, mode: str
) -> None:
    cost_upsert(model=MODEL, input_per_mtok=PRICE_PER_MTOK, output_per_mtok=PRICE_PER_MTOK)
    limits = LIMITS[mode]
    team = team_create(slug="ml")
    budgets_at(team, limits["team"])
    keys = []
    for n in range(3):
        account = account_open(user_id=f"member-{n}", team=team)
        budgets_at(account, limits["account"])
        for k in range(2):
            created = key_create(account=account, name=f"key-{k}")
            budgets_at(created.key, limits["key"])
            keys.append(created.raw)
    upstream.set(latency=0.2, output_tokens=OUTPUT_TOKENS)
    # Deliveries with per-call holds; with leases the run's 402s need ~30 calls/s from this process, which the
    # receivers' threads beside it would slow: there only the events are checked.
    deliver = mode == "holds"
    steady, late = WebhookReceiver(), WebhookReceiver()  # `late` is down until deliveries to it have failed
    if deliver:
        steady.start()
        destination_create(name="steady", url=steady.url, secret=SECRET)
        destination_create(name="late", url=late.url, secret=SECRET)
    gateways = start(suite_gateway_env, count=2, GATEWAY_BUDGET_LEASE_CALLS="4", **(OUTBOX if deliver else {}))

    done = threading.Event()
    comes_back = threading.Thread(target=back_after_failures, args=(late, done))
    if deliver:
        comes_back.start()
    try:
        results = asyncio.run(load([gateway.url for gateway in gateways], keys))
        settled()
        check_events()
        if deliver:
            done.set()
            comes_back.join()
            check_deliveries(steady, late)
    finally:
        done.set()
        if comes_back.is_alive():
            comes_back.join()
        steady.stop()
        late.stop()

    statuses = [status for status, _ in results]
    logs = "".join(gateway.output() for gateway in gateways)
    assert set(statuses) <= {200, 402}, (sorted(set(statuses)), logs[-3000:])
    assert statuses.count(200) >= 10 and statuses.count(402) >= 10, statuses
    rows = {str(row.id): row for row in UsageLog.objects.all()}
    assert set(rows) == {request_id for _, request_id in results}  # one row per call, refused ones included
    assert not Hold.objects.exists()
    boundaries = set()
    for budget in Budget.objects.all():
        for start_at, (limit, spent, held) in windows(budget).items():
            assert spent <= limit, (budget, start_at, spent, limit)
            assert held == 0, (budget, start_at, held)
            boundaries.add(start_at)
    assert len(boundaries - {None}) >= 3  # the run crossed at least two boundaries
    # The team's spend in each window is its accounts' spend in that window; lifetimes add up to the rows.
    team_windows = windows(Budget.objects.get(team=team, period=Period.INTERVAL))
    accounts = [windows(Budget.objects.get(account__user_id=f"member-{n}", period=Period.INTERVAL)) for n in range(3)]
    for start_at, (_, spent, _) in team_windows.items():
        assert spent == sum(window.get(start_at, (0, Decimal(0), 0))[1] for window in accounts), start_at
    spent_by_account = {account.pk: account.spent_usd for account in Account.objects.all()}
    for account_id, spent in spent_by_account.items():
        row_costs = sum((row.cost_usd for row in rows.values() if row.account_id == account_id), Decimal(0))
        lifetime = Budget.objects.get(account_id=account_id, period=Period.LIFETIME)
        assert spent == row_costs == lifetime.spent_usd
    team_life = Budget.objects.get(team=team, period=Period.LIFETIME)
    assert team_life.spent_usd == sum(spent_by_account.values())
    assert BudgetPeriod.objects.filter(reserved_usd__gt=0).count() == 0


def back_after_failures(late: WebhookReceiver, done: threading.Event) -> None:
    """Brings the down receiver back once deliveries to it have failed (the first calls' events), mid-run."""
    from django.db import connection

    failed = Delivery.objects.filter(destination__name="late", status=Delivery.PENDING, attempts__gte=1)
    try:
        while not done.wait(0.5) and not failed.exists():
            pass
        late.start()
    finally:
        connection.close()


def check_events() -> None:
    """One event per threshold each window reached (50, 80, 100 %), at every level, and no other."""
    for budget in Budget.objects.all():
        assert set(raised(budget)) == expected_events(budget), budget
    assert BudgetEvent.objects.count() >= 2  # with leases few windows reach 50 % (the team's lifetime does)


def check_deliveries(steady: WebhookReceiver, late: WebhookReceiver) -> None:
    """Each event delivered exactly once to each receiver, signed; the one that was down got its backlog."""
    events = {str(event.id) for event in BudgetEvent.objects.all()}
    wait_until(
        lambda: Delivery.objects.filter(status=Delivery.DELIVERED).count() == 2 * len(events),
        120,
        "every delivery to both receivers",
    )
    assert Delivery.objects.filter(destination__name="late", attempts__gte=2).exists()  # it was down, then back
    verify = documented_verify()
    for receiver in (steady, late):
        assert sorted(receiver.event_ids()) == sorted(events)  # each event exactly once
        assert all(verify(SECRET, got.body, got.headers[SIGNATURE_HEADER]) for got in receiver.received)
