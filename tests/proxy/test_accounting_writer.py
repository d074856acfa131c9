"""Usage rows written in batches: concurrent calls all land, a bad row costs no other row."""

import asyncio
import uuid
from decimal import Decimal

import openai
import pytest

from budgets.ledger import usage_book
from budgets.writer import Written, write_batch
from tests.alerts.fixtures import wait_until
from tests.budgets.ledger_helpers import reserve
from tests.proxy.helpers import expected_cost, set_price
from usage.models import UsageLog
from usage.services import UsageEntry


async def test_concurrent_calls_each_leave_one_row_and_the_ledger_adds_up(gateway, make_customer, upstream):
    customer = await asyncio.to_thread(make_customer, Decimal("100"))
    await asyncio.to_thread(set_price, "gpt-4o-mini")
    upstream.set(input_tokens=10, output_tokens=3)
    async with openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0) as sdk:
        calls = [
            sdk.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
            for _ in range(40)
        ]
        responses = await asyncio.gather(*calls)
    await asyncio.to_thread(gateway.drain)
    ids = {r.headers["x-request-id"] for r in responses}
    rows = await asyncio.to_thread(lambda: list(UsageLog.objects.filter(account=customer.account)))
    assert {str(row.id) for row in rows} == ids
    account = await asyncio.to_thread(customer.refresh)
    assert account.spent_usd == 40 * expected_cost(input=10, output=3)
    assert account.reserved_usd == 0  # every hold released


async def test_rows_at_one_connection_wait_for_company_then_land_together(gateway, make_customer, upstream, settings):
    """A short batch lingers (GATEWAY_USAGE_LINGER_MS) so sequential calls share one write; none is lost."""
    settings.USAGE_LINGER_MS = 3000  # long enough that three calls in a row all fall within it
    customer = await asyncio.to_thread(make_customer, Decimal("100"))
    await asyncio.to_thread(set_price, "gpt-4o-mini")
    upstream.set(input_tokens=10, output_tokens=3)

    def rows() -> int:
        return UsageLog.objects.filter(account=customer.account).count()

    async with openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0) as sdk:
        for _ in range(3):  # one at a time: each call's row alone in the queue
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert await asyncio.to_thread(rows) == 0  # still waiting for company (with no linger, written at once)
    await asyncio.to_thread(wait_until, lambda: rows() == 3, 30, "the three rows")
    await asyncio.to_thread(gateway.drain)
    account = await asyncio.to_thread(customer.refresh)
    assert account.spent_usd == 3 * expected_cost(input=10, output=3)
    assert account.reserved_usd == 0


def row_entry(customer, request_id, cost=Decimal("0.5")):
    return UsageEntry(
        request_id=request_id,
        account_id=customer.account.pk,
        key_id=None,
        route="chat.completions",
        model="m",
        provider="openai",
        status_code=200,
        cost_usd=cost,
    )


@pytest.mark.django_db
def test_a_bad_row_in_a_batch_costs_no_other_row(customer):
    taken = uuid.uuid4()
    usage_book(entry=row_entry(customer, taken))  # the batch below repeats this id: its INSERT fails
    good = [uuid.uuid4(), uuid.uuid4()]
    write_batch([Written(row_entry(customer, request_id), None) for request_id in (good[0], taken, good[1])])
    assert set(UsageLog.objects.values_list("id", flat=True)) == {taken, *good}
    assert customer.refresh().spent_usd == Decimal("1.5")  # the failed duplicate is not billed


@pytest.mark.django_db
def test_a_row_the_ledger_cannot_keep_is_buried_alone_its_hold_released_and_the_writer_stays_up(
    make_customer, settings, tmp_path
):
    from pathlib import Path

    from budgets.models import Budget, Hold
    from budgets.spool import spool, spool_depth
    from budgets.writer_state import writer_state

    settings.SPOOL_DIR = str(tmp_path)
    spool.cache_clear()
    customer = make_customer(budget=Decimal("100"))
    ids = [uuid.uuid4() for _ in range(3)]
    for request_id in ids:
        assert reserve(customer.account.pk, request_id, "1")
    # The middle one costs more than any ledger amount (what 1e17 tokens used to cost): refused.
    entries = [
        row_entry(customer, request_id, Decimal("1e12") if index == 1 else Decimal("0.5"))
        for index, request_id in enumerate(ids)
    ]
    try:
        assert write_batch([Written(entry, None) for entry in entries]) == []
        assert set(UsageLog.objects.values_list("id", flat=True)) == {ids[0], ids[2]}
        assert writer_state().down_since is None  # one bad row is not a database outage
        assert spool_depth() == 0  # nothing waits for a replay that would fail again
        assert str(ids[1]) in (Path(tmp_path) / "dead.jsonl").read_text()  # kept for an operator
        account = customer.refresh()
        assert not Hold.objects.exists() and account.reserved_usd == 0  # its hold is not left for the sweeper
        assert Budget.objects.get(account=customer.account).reserved_usd == 0  # nor on its budget's window
        assert account.spent_usd == Decimal("1")
    finally:
        spool.cache_clear()
