"""Two gateway processes, one small budget, 200 concurrent calls without max_tokens: never overspent, nothing leaked.

With a budget of a few calls each call holds its own worst case; with one of about sixty, each
process first admits calls from budget leases of four calls (the pair's GATEWAY_BUDGET_LEASE_CALLS,
budgets.leases), then, once no lease fits in what is left, from holds of their own again.
"""

import asyncio
import time
from decimal import Decimal
from typing import Any

import openai
import pytest

from budgets.models import Hold
from pricing.services import cost_upsert
from usage.models import UsageLog

MODEL = "gpt-4o-mini"  # LiteLLM's model info: at most 16,384 output tokens
REQUESTS = 200
BUDGETS = {"holds": Decimal("0.001"), "leases": Decimal("0.01")}
# $0.01 per million tokens both ways: a hold is ~0.000165 USD (the 16,384-token output ceiling
# plus the body's bytes), so about six calls fit in the small budget at once (a lease of four
# needs 32 calls' worth left) and sixty in the other...
PRICE_PER_MTOK = Decimal("0.01")
# ...and each one that runs really spends close to its hold, so the budget runs out after a few.
OUTPUT_TOKENS = 16_000


async def call(client: openai.AsyncOpenAI, index: int, stream: bool) -> tuple[int, str | None]:
    """One request; returns its status and x-request-id, whatever the answer."""
    messages = [{"role": "user", "content": f"request {index}"}]
    try:
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, stream=stream)
        parsed = raw.parse()  # the legacy raw response parses synchronously
        if stream:
            async for _chunk in parsed:
                pass
    except openai.APIStatusError as error:
        return error.status_code, error.response.headers.get("x-request-id")
    return raw.status_code, raw.headers.get("x-request-id")


async def load(urls: list[str], key: str, stream: bool) -> list[tuple[int, str | None]]:
    clients = [openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120) for url in urls]
    try:
        return await asyncio.gather(*(call(clients[i % len(clients)], i, stream) for i in range(REQUESTS)))
    finally:
        for client in clients:
            await client.close()


def settled(customer: Any, timeout: float = 15) -> Any:
    """The account once nothing is held (a lease is released a second after its last call), up to a bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        account = customer.refresh()
        if not account.reserved_usd and not Hold.objects.filter(account=account).exists():
            break
        time.sleep(0.2)
    return account


def rows_when_written(account: Any, expected: int, timeout: float = 30) -> list[UsageLog]:
    """Rows are written just after the answer: wait for them, up to a bound."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(UsageLog.objects.filter(account=account))
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("budget", sorted(BUDGETS))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_two_processes_never_overspend_one_budget(
    gateway_pair: list[Any], make_customer: Any, upstream: Any, stream: bool, budget: str
) -> None:
    cost_upsert(model=MODEL, input_per_mtok=PRICE_PER_MTOK, output_per_mtok=PRICE_PER_MTOK)
    customer = make_customer(budget=BUDGETS[budget])
    upstream.set(latency=0.2, output_tokens=OUTPUT_TOKENS)
    first, second = gateway_pair

    results = asyncio.run(load([first.url, second.url], customer.key, stream))

    statuses = [status for status, _ in results]
    answered = {request_id for _, request_id in results}
    rows = rows_when_written(customer.account, REQUESTS)
    account = settled(customer)
    logs = first.output() + second.output()

    assert set(statuses) <= {200, 402}, (sorted(set(statuses)), logs)
    assert statuses.count(200) >= 1, "no call fitted in the budget: the test proves nothing"
    assert statuses.count(402) >= 1
    assert None not in answered and len(answered) == REQUESTS
    assert {str(row.id) for row in rows} == answered  # every request, refused or not, has exactly one row
    assert sorted(row.status_code for row in rows) == sorted(statuses)
    assert account.spent_usd <= account.budget_usd
    assert account.spent_usd == sum((row.cost_usd for row in rows), Decimal(0))
    assert account.reserved_usd == 0
    assert not Hold.objects.filter(account=customer.account).exists()
