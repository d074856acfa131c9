"""SIGTERM with slow calls and a held stream in flight: a bounded exit, their rows written, their holds released."""

import asyncio
import signal
import time
from decimal import Decimal
from typing import Any

import openai
import pytest
from django.db import connection

from budgets.models import Hold
from pricing.services import cost_upsert
from usage.models import UsageLog

MODEL = "gpt-4o-mini"
GRACE_S = 2
SLOW_CALLS = 3
UPSTREAM_LATENCY_S = 30.0


def holds_of(account: Any) -> int:
    """Counted from a worker thread (the event loop's thread may not use the ORM), on its own connection."""
    try:
        return Hold.objects.filter(account=account).count()
    finally:
        connection.close()


async def wait_until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the calls to be in flight")
        await asyncio.sleep(0.05)


async def slow_call(client: openai.AsyncOpenAI) -> tuple[int | None, str | None]:
    """A call that outlives the gateway: whatever reaches the client (an answer or a cut connection)."""
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "slow"}]
        )
    except openai.APIStatusError as error:
        return error.status_code, error.response.headers.get("x-request-id")
    except openai.APIConnectionError:
        return None, None
    return raw.status_code, raw.headers.get("x-request-id")


async def scenario(gateway: Any, key: str, upstream: Any, account: Any) -> tuple[float, list[Any]]:
    client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=120)
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "stream"}], stream=True
    )
    stream = raw.parse()  # the legacy raw response parses synchronously
    chunks = stream.__aiter__()
    while not (await chunks.__anext__()).choices[0].delta.content:
        pass  # the stream is open and held by the upstream after its first content chunk
    upstream.set(latency=UPSTREAM_LATENCY_S)
    slow = [asyncio.create_task(slow_call(client)) for _ in range(SLOW_CALLS)]

    async def all_in_flight() -> bool:
        held = await asyncio.to_thread(holds_of, account)
        # Their budget is held: by one lease for all of them (budgets.leases), the budget being ample.
        return upstream.count == SLOW_CALLS + 1 and held >= 1

    await wait_until(all_in_flight)
    started = time.monotonic()
    gateway.signal(signal.SIGTERM)
    await asyncio.to_thread(gateway.wait, GRACE_S + 30)
    elapsed = time.monotonic() - started
    outcomes = [(raw.status_code, raw.headers.get("x-request-id")), *await asyncio.gather(*slow)]
    await client.close()
    return elapsed, outcomes


def shut_down_in_flight(env: dict[str, str], start: Any, customer: Any, upstream: Any) -> tuple[float, list[Any], str]:
    cost_upsert(model=MODEL, input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.60"))
    upstream.set(hold_after=1, chunks=3)
    (gateway,) = start(env, GATEWAY_SHUTDOWN_GRACE=str(GRACE_S))
    elapsed, outcomes = asyncio.run(scenario(gateway, customer.key, upstream, customer.account))
    return elapsed, outcomes, gateway.output()


# One test, not two on the same scenario: each run starts a gateway process and waits out its shutdown.
@pytest.mark.timeout(180)
def test_sigterm_ends_calls_in_flight_as_503s_with_rows_and_released_holds(
    suite_gateway_env: dict[str, str], start: Any, make_customer: Any, upstream: Any
) -> None:
    customer = make_customer(budget=Decimal("10"))

    elapsed, outcomes, logs = shut_down_in_flight(suite_gateway_env, start, customer, upstream)

    rows = list(UsageLog.objects.filter(account=customer.account))
    account = customer.refresh()
    assert elapsed < GRACE_S + 10, (elapsed, logs)
    assert len(rows) == SLOW_CALLS + 1, logs  # nothing lost: every call in flight has its row
    assert {row.status_code for row in rows} <= {499, 503}, [(row.status_code, row.error_code) for row in rows]
    answered = {request_id for _, request_id in outcomes if request_id}
    assert answered <= {str(row.id) for row in rows}
    assert account.reserved_usd == 0  # the lease is released at shutdown, behind its calls' rows
    assert not Hold.objects.filter(account=customer.account).exists()
    assert account.spent_usd == sum((row.cost_usd for row in rows), Decimal(0))
    # The calls ended at shutdown reach their clients as 503s carrying the request id of their row.
    statuses = {str(row.id): row.status_code for row in rows}
    slow = outcomes[1:]
    assert [status for status, _ in slow] == [503] * SLOW_CALLS, (slow, logs)
    assert all(statuses.get(request_id) == 503 for _, request_id in slow)
