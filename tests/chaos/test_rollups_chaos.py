"""Rollups stay the exact sums of the rows through a killed worker, its journal replayed, a spool replay and a restart.

Two gateway processes serve calls on the suite's database (every engine, the MongoDB stand-in
included); one is SIGKILLed with calls in flight, the live one replays its journal; a spool file
holding entries already written (a write that failed on our side but committed on the server's)
and one that was not is replayed too; a third process starts and serves. Afterwards every
bucket of every span equals the sums of its rows (`usage_rollups check`), and spend equals the rows.
"""

import asyncio
import json
import signal
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

from accounts.models import Account
from pricing.services import cost_upsert
from usage.models import UsageLog
from usage.rollups import rollups_check
from usage.services import UsageEntry

MODELS = ("gpt-4o-mini", "gpt-4o")


async def calls(url: str, keys: list[str], seconds: float, answered: list[str]) -> None:
    """Calls at ~10/s for `seconds`, over the keys and models, streaming or not; notes each answer's request id."""
    clients = [openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60) for key in keys]

    async def one(index: int) -> None:
        client, model = clients[index % len(clients)], MODELS[index % len(MODELS)]
        try:
            raw = await client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": f"call {index}"}], stream=index % 3 == 0
            )
            parsed = raw.parse()
            if index % 3 == 0:
                async for _chunk in parsed:
                    pass
        except openai.APIStatusError as error:
            request_id = error.response.headers.get("x-request-id")
        except openai.APIConnectionError:
            return  # the process was killed: no answer, maybe a row (the journal), both are fine
        else:
            request_id = raw.headers.get("x-request-id")
        if request_id:
            answered.append(request_id)

    tasks, deadline, index = [], time.monotonic() + seconds, 0
    try:
        while time.monotonic() < deadline:
            tasks.append(asyncio.create_task(one(index)))
            index += 1
            await asyncio.sleep(0.1)
        await asyncio.gather(*tasks)
    finally:
        for client in clients:  # closed on this loop: left to the collector, one would close on another's
            await client.close()


def spooled(spool: Path, entries: list[UsageEntry]) -> None:
    """A spool file as a process that died after spooling them leaves it (budgets.spool's format)."""
    lines = "".join(json.dumps(entry.as_json(), separators=(",", ":")) + "\n" for entry in entries)
    (spool / f"gone-1-{time.time_ns()}.jsonl").write_text(lines)


def replayed(spool: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while any(p.suffix in (".jsonl", ".journal") and p.name != "dead.jsonl" for p in spool.iterdir()):
        assert time.monotonic() < deadline, sorted(p.name for p in spool.iterdir())
        time.sleep(0.5)


def again(row: UsageLog) -> UsageEntry:
    """The entry a row was written from, as a replay would bring it again."""
    return UsageEntry(
        request_id=row.id,
        account_id=row.account_id,
        key_id=row.api_key_id,
        route=row.route,
        model=row.model,
        provider=row.provider,
        status_code=row.status_code,
        cost_usd=row.cost_usd,
        created_at=row.created_at.isoformat(),
    )


@pytest.mark.timeout(420)
def test_rollups_equal_the_rows_after_a_kill_replays_and_a_restart(
    suite_gateway_env: dict[str, str], start: Any, make_customer: Any, upstream: Any
) -> None:
    for model in MODELS:
        cost_upsert(model=model, input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.60"))
    customers = [make_customer(), make_customer(budget=Decimal("50"))]
    keys = [customer.key for customer in customers]
    env = {**suite_gateway_env, "GATEWAY_SPOOL_RETRY": "1"}
    spool = Path(env["GATEWAY_SPOOL_DIR"])
    first, second = start(env, count=2)
    answered: list[str] = []

    async def killed_mid_run() -> None:
        upstream.set(latency=0.4)  # calls in flight when the kill comes
        killer = asyncio.get_running_loop().call_later(2.0, first.signal, signal.SIGKILL)
        await asyncio.gather(calls(first.url, keys, 3.5, answered), calls(second.url, keys, 3.5, answered))
        killer.cancel()
        first.signal(signal.SIGKILL)
        upstream.set(latency=0.0)

    asyncio.run(killed_mid_run())
    replayed(spool)  # the live process replays the dead one's journal
    written = list(UsageLog.objects.order_by("created_at")[:3])
    fresh = UsageEntry(
        request_id=uuid.uuid4(),
        account_id=customers[0].account.pk,
        key_id=written[0].api_key_id,
        route="chat.completions",
        model="GPT-4o ",
        provider="openai",
        status_code=200,
        cost_usd=Decimal("0.25"),
        created_at=written[0].created_at.isoformat(),
    )
    spooled(spool, [*map(again, written), fresh])
    (third,) = start(env)
    asyncio.run(calls(third.url, keys, 2.0, answered))
    replayed(spool)
    assert second.stop() and third.stop(), second.output() + third.output()

    rows = set(map(str, UsageLog.objects.values_list("id", flat=True)))
    assert not set(answered) - rows, "an answered call has no row"
    assert str(fresh.request_id) in rows
    assert rollups_check() == []
    for account in Account.objects.filter(pk__in=[c.account.pk for c in customers]):
        costs = sum((row.cost_usd for row in UsageLog.objects.filter(account=account)), Decimal(0))
        assert account.spent_usd == costs
    assert len(answered) >= 10, len(answered)  # the traffic went through (a loaded 2-core machine answers few)
