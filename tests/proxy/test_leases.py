"""Budget leases (budgets.leases) end to end: a big budget is served from one hold, settled exactly, and let go.

The official SDK calls the in-process gateway; the ledger is read from the database while calls
are in flight, once their rows are written, and after the gateway has drained.
"""

import asyncio
import threading
from decimal import Decimal

import openai
import pytest
from django.db.models import Sum

from budgets.models import Hold
from budgets.services import account_budget_set
from tests.deploy.servers import wait_until
from tests.proxy.helpers import set_price
from usage.models import UsageLog

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "hi"}]
CALLS = 40


def wait_for(condition) -> None:
    wait_until(condition, timeout=20, what="the calls in flight")


async def calls(gateway, key: str, count: int, max_tokens: int | None = 20) -> list[int]:
    async with openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=60) as sdk:
        limit = {"max_tokens": max_tokens} if max_tokens else {}

        async def one() -> int:
            raw = await sdk.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, **limit)
            return raw.status_code

        return await asyncio.gather(*(one() for _ in range(count)))


def test_concurrent_calls_of_a_big_budget_share_one_lease_and_settle_exactly(gateway, make_customer, upstream):
    set_price(MODEL)
    customer = make_customer(budget=Decimal("10"))  # each call's worst case is ~0.0007 USD
    assert asyncio.run(calls(gateway, customer.key, 1)) == [200]  # a lone call holds its own worst case...
    upstream.set(latency=1.0)  # ...the next ones, within a second, draw from a lease: in flight while it is read
    statuses: list[int] = []
    burst = threading.Thread(target=lambda: statuses.extend(asyncio.run(calls(gateway, customer.key, CALLS))))
    burst.start()
    wait_for(lambda: upstream.count == 1 + CALLS)  # all admitted, none answered yet

    holds = list(Hold.objects.filter(account=customer.account))
    account = customer.refresh()
    # One lease (and the hold of the burst's first call, if the lone call was over a second before it).
    assert len(holds) <= 2, f"{len(holds)} holds for {CALLS} calls in flight: not a lease"
    assert account.reserved_usd == sum(hold.amount_usd for hold in holds) > 0

    burst.join()
    assert statuses == [200] * CALLS
    wait_for(lambda: UsageLog.objects.filter(account=customer.account).count() == 1 + CALLS)
    gateway.drain()  # releases this worker's leases too
    account = customer.refresh()
    spent = UsageLog.objects.filter(account=account).aggregate(total=Sum("cost_usd"))["total"]
    assert account.spent_usd == spent > 0
    assert account.reserved_usd == 0
    assert not Hold.objects.filter(account=account).exists()


def test_lowering_the_budget_closes_the_lease_at_once(gateway, make_customer, upstream):
    set_price(MODEL)
    customer = make_customer(budget=Decimal("10"))
    assert asyncio.run(calls(gateway, customer.key, 1)) == [200]  # a lone call: a hold of its own
    upstream.set(latency=1.0)
    first: list[int] = []
    in_flight = threading.Thread(target=lambda: first.extend(asyncio.run(calls(gateway, customer.key, 3))))
    in_flight.start()
    wait_for(lambda: upstream.count == 4)  # admitted from a fresh lease, which its calls keep open
    assert Hold.objects.filter(account=customer.account).count() < 3, "three calls in flight, a hold each"

    account_budget_set(account=customer.refresh(), budget_usd=Decimal("0.0001"))  # below what is held already
    with pytest.raises(openai.APIStatusError) as refused:
        asyncio.run(calls(gateway, customer.key, 1))
    assert refused.value.status_code == 402  # not admitted from the lease taken under the old budget

    in_flight.join()
    assert first == [200] * 3  # admitted before the edit, within what was held then
    gateway.drain()
    account = customer.refresh()
    rows = UsageLog.objects.filter(account=account)
    assert sorted(rows.values_list("status_code", flat=True)) == [200] * 4 + [402]
    assert account.spent_usd == rows.aggregate(total=Sum("cost_usd"))["total"]
    assert account.reserved_usd == 0 and not Hold.objects.filter(account=account).exists()


def test_a_call_too_big_for_the_lease_holds_its_own_and_leaves_the_lease_to_the_others(
    gateway, make_customer, upstream
):
    set_price(MODEL)
    customer = make_customer(budget=Decimal("10"))
    assert asyncio.run(calls(gateway, customer.key, 1)) == [200]  # a lone call: its hold is settled with its row
    wait_for(lambda: not Hold.objects.filter(account=customer.account).exists())
    upstream.set(latency=1.0)
    answers: list[int] = []

    def in_background(count: int, max_tokens: int | None = 20) -> threading.Thread:
        run = lambda: answers.extend(asyncio.run(calls(gateway, customer.key, count, max_tokens)))  # noqa: E731
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    threads = [in_background(3)]  # small calls, from a lease
    wait_for(lambda: upstream.count == 4)
    # Without max_tokens the worst case is the model's 16,384-token ceiling, ~0.16 USD: more than the lease.
    threads.append(in_background(1, max_tokens=None))
    wait_for(lambda: upstream.count == 5)
    threads.append(in_background(1))  # a small call again
    wait_for(lambda: upstream.count == 6)
    holds = Hold.objects.filter(account=customer.account).count()
    for thread in threads:
        thread.join()
    assert answers == [200] * 5
    assert holds == 2, "the lease and the big call's own hold (a closed lease makes the last call take a new one)"
    gateway.drain()
    account = customer.refresh()
    assert account.reserved_usd == 0 and not Hold.objects.filter(account=account).exists()
    assert account.spent_usd == UsageLog.objects.filter(account=account).aggregate(total=Sum("cost_usd"))["total"]
