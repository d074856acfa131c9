"""Routed calls and the budget: the hold covers the dearest candidate, rows = attempts, spent = the rows' costs."""

import asyncio
from decimal import Decimal

import httpx
import pytest

from budgets.models import Hold
from pricing.services import cost_upsert
from routing.services import deployment_create, policy_set
from usage.models import UsageLog

PUBLIC = "team-model"
CHEAP, PRICEY = "gpt-4o-mini", "gpt-4o"
REQUESTS = 200
BUDGET = Decimal("0.1")
OUTPUT_TOKENS = 16_000
# The fallback costs 100 times the failing deployment: a hold taken at the cheap price would let
# every one of the 200 calls in (200 × ~0.00016 USD) and each answered one then spends ~0.016 USD.
CHEAP_PER_MTOK, PRICEY_PER_MTOK = Decimal("0.01"), Decimal("1")


async def burst(url: str, key: str) -> list[httpx.Response]:
    body = {"model": PUBLIC, "messages": [{"role": "user", "content": "hi"}], "max_tokens": OUTPUT_TOKENS}
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=120) as client:
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=body) for _ in range(REQUESTS)))


@pytest.mark.timeout(300)
def test_concurrent_calls_falling_back_to_a_pricier_model_never_overspend(gateway, make_customer, upstream):
    cost_upsert(model=CHEAP, input_per_mtok=CHEAP_PER_MTOK, output_per_mtok=CHEAP_PER_MTOK)
    cost_upsert(model=PRICEY, input_per_mtok=PRICEY_PER_MTOK, output_per_mtok=PRICEY_PER_MTOK)
    deployment_create(public_name=PUBLIC, provider="openai", upstream_model=CHEAP)
    deployment_create(public_name="pricey", provider="openai", upstream_model=PRICEY)
    policy_set(public_name=PUBLIC, attempts=2, fallbacks=["pricey"])
    customer = make_customer(budget=BUDGET)
    upstream.set(model_errors={CHEAP: 500}, output_tokens=OUTPUT_TOKENS, latency=0.2)

    answers = asyncio.run(burst(gateway.url, customer.key))

    gateway.drain()
    statuses = [answer.status_code for answer in answers]
    answered = {answer.headers["x-request-id"] for answer in answers}
    rows = list(UsageLog.objects.filter(account=customer.account))
    heads = [row for row in rows if row.attempt_of is None]
    account = customer.refresh()
    assert set(statuses) <= {200, 402}, sorted(set(statuses))
    assert statuses.count(200) >= 1 and statuses.count(402) >= 1
    assert {str(row.id) for row in heads} == answered and len(heads) == REQUESTS
    # rows = attempts: every upstream call has its row, plus one per refused request (it called nobody).
    assert len(rows) == upstream.count + statuses.count(402)
    assert all(row.attempt_of in {head.id for head in heads} for row in rows if row.attempt_of)
    assert all(row.cost_usd == 0 and row.upstream_model == CHEAP for row in rows if row.attempt_of)
    priced = [row for row in heads if row.status_code == 200]
    assert all(row.upstream_model == PRICEY for row in priced)
    one_call = (12 + OUTPUT_TOKENS) * PRICEY_PER_MTOK / 1_000_000
    assert all(row.cost_usd == one_call for row in priced)  # priced at the deployment that answered
    assert account.spent_usd == sum((row.cost_usd for row in rows), Decimal(0))
    assert account.spent_usd <= account.budget_usd
    assert account.reserved_usd == 0
    assert not Hold.objects.filter(account=customer.account).exists()
