"""Faults under load: the database locked (SQLite) or stopped (PostgreSQL) for a minute, then a worker SIGKILLed.

Afterwards every answer a client received has its usage row, each account's spend is the
sum of its rows, and no budget is held any more (once the spool is replayed and the
stale holds are released).
"""

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest
from django.conf import settings

from tests.chaos.processes import REPO, GatewayProcess, gateway_env, manage

# What issue 8 names: the database gone for a full minute, longer than SQLite's 20 s busy
# timeout and than the ~40 s after which answered rows used to be lost. PostgreSQL keeps the
# full minute. SQLite's lock takes 45 s: the first write still waits out its 20 s busy timeout
# and fails, and the writer then spends 25 s in its "database down" state (rows straight to the
# spool, upkeep probes failing) before the lock goes, which is every path the minute exercises.
POSTGRES_OUTAGE_S = 60.0
SQLITE_OUTAGE_S = 45.0
RATE_PER_S = 4.0  # requests per second, alternating the unlimited and the budgeted key
MODEL = "gpt-4o-mini"
PRICE_PER_MTOK = "0.15"
BUDGET = "5"
SLOW_UPSTREAM_S = 3.0  # while the worker is killed: calls in flight
CLIENT_TIMEOUT_S = 150.0  # a request held up by the outage is still answered, late


@dataclass
class FaultDatabase:
    """A database of the test's own, and a way to take it away for a while."""

    url: str
    outage_s: float  # how long the main scenario takes it away
    outage: Callable[[float], None]  # blocks: the database is unusable for that many seconds, then back


def _sqlite_outage(path: Path) -> Callable[[float], None]:
    def lock(seconds: float) -> None:
        # An exclusive transaction held open: every other writer waits out its busy timeout and fails.
        holder = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
            holder.execute("ROLLBACK")
        finally:
            holder.close()

    return lock


def _pg_ctl(*args: str) -> None:
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
    command = [str(bindir / "pg_ctl"), *args]
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # as scripts/postgres does
    subprocess.run([*as_postgres, *command], check=True, capture_output=True, timeout=60)


def _postgres_outage(url: str, folder: str) -> Callable[[float], None]:
    port = urlsplit(url).port
    # The options scripts/postgres starts it with; `pg_ctl start` does not remember them.
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"

    def stop(seconds: float) -> None:
        _pg_ctl("-D", f"{folder}/data", "-m", "fast", "stop")
        try:
            time.sleep(seconds)
        finally:
            _pg_ctl("-D", f"{folder}/data", "-l", f"{folder}/log", "-w", "-o", options, "start")

    return stop


@pytest.fixture
def fault_database(tmp_path: Path) -> Iterator[FaultDatabase]:
    """SQLite: a file of its own. PostgreSQL: a server of its own (the suite's must stay up), via scripts/postgres."""
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        path = tmp_path / "fault.sqlite3"
        yield FaultDatabase(url=f"sqlite:///{path}", outage_s=SQLITE_OUTAGE_S, outage=_sqlite_outage(path))
        return
    started = subprocess.run([str(REPO / "scripts/postgres"), "start"], check=True, capture_output=True, text=True)
    exported = dict(item.split("=", 1) for item in started.stdout.split()[1:])
    # The new server has only its initial databases: use `postgres`, which initdb always makes.
    url = exported["PG_URL"].rsplit("/", 1)[0] + "/postgres"
    try:
        yield FaultDatabase(url=url, outage_s=POSTGRES_OUTAGE_S, outage=_postgres_outage(url, exported["PGDATA_DIR"]))
    finally:
        subprocess.run([str(REPO / "scripts/postgres"), "stop", exported["PGDATA_DIR"]], check=False, timeout=60)


def peer(command: str, *args: str, env: dict[str, str]) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "tests.chaos.ledger_peer", command, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@dataclass
class Outcome:
    account: str
    status: int | None  # None: no answer reached the client (killed worker, cut connection)
    request_id: str | None
    seconds: float  # how long the client waited


async def one_call(client: openai.AsyncOpenAI, account: str, stream: bool) -> Outcome:
    messages = [{"role": "user", "content": "chaos"}]
    started = time.monotonic()
    try:
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, stream=stream)
        parsed = raw.parse()  # the legacy raw response parses synchronously
        if stream:
            async for _chunk in parsed:
                pass
    except openai.APIStatusError as error:
        status, request_id = error.status_code, error.response.headers.get("x-request-id")
    except openai.APIConnectionError:  # includes timeouts: the answer never arrived
        status, request_id = None, None
    else:
        status, request_id = raw.status_code, raw.headers.get("x-request-id")
    return Outcome(account, status, request_id, time.monotonic() - started)


class Traffic:
    """A bounded stream of requests at a steady rate, alternating keys and streaming or not."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys
        self.tasks: list[asyncio.Task[Outcome]] = []
        self.clients: list[openai.AsyncOpenAI] = []
        self.sent = 0

    async def run(self, url: str, seconds: float) -> None:
        clients = {
            account: openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=CLIENT_TIMEOUT_S)
            for account, key in self.keys.items()
        }
        self.clients.extend(clients.values())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            account = list(clients)[self.sent % len(clients)]
            stream = (self.sent // len(clients)) % 2 == 1
            self.tasks.append(asyncio.create_task(one_call(clients[account], account, stream)))
            self.sent += 1
            await asyncio.sleep(1 / RATE_PER_S)

    async def outcomes(self) -> list[Outcome]:
        """Every call's outcome so far; the clients that made them are closed here, on their own loop."""
        try:
            return list(await asyncio.gather(*self.tasks))
        finally:
            while self.clients:
                await self.clients.pop().close()


def spool_entries(folder: Path) -> int:
    return sum(len(path.read_text().splitlines()) for path in folder.glob("*.jsonl") if path.name != "dead.jsonl")


def wait_for_empty_spool(folder: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while spool_entries(folder) and time.monotonic() < deadline:
        time.sleep(0.5)


async def scenario(
    database: FaultDatabase, env: dict[str, str], keys: dict[str, str], upstream: Any, start: Any
) -> tuple[list[Outcome], list[GatewayProcess]]:
    traffic = Traffic({name: key for name, key in keys.items() if name != "cold"})
    (first,) = await asyncio.to_thread(start, env)
    await traffic.run(first.url, 2)
    await traffic.outcomes()  # warm: keys, accounts and prices are cached before the database goes
    outage = asyncio.create_task(asyncio.to_thread(database.outage, database.outage_s))
    await asyncio.sleep(1)
    cold = Traffic({"cold": keys["cold"]})  # a key never seen: it must be read from the database
    await cold.run(first.url, 0.1)
    await traffic.run(first.url, database.outage_s + 2)
    await outage
    (cold_outcome,) = await cold.outcomes()
    # Unreadable (PostgreSQL stopped): a 503 in the route's format; readable (SQLite's lock
    # lets readers through): served. Never a 500.
    assert cold_outcome.status in {200, 503}, cold_outcome
    if cold_outcome.status == 200:
        traffic.tasks.append(asyncio.create_task(asyncio.sleep(0, cold_outcome)))  # it has its row, as any answer
    await traffic.run(first.url, 3)  # the database is back: the spool replays while calls go on
    upstream.set(latency=SLOW_UPSTREAM_S)
    killer = asyncio.get_running_loop().call_later(1.5, first.signal, signal.SIGKILL)
    await traffic.run(first.url, 2.5)
    killer.cancel()
    first.signal(signal.SIGKILL)  # in case the timer had not fired
    upstream.set(latency=0.0)
    (second,) = await asyncio.to_thread(start, env)  # replays the dead worker's spool file
    await traffic.run(second.url, 3)
    return await traffic.outcomes(), [first, second]


@pytest.mark.timeout(420)
def test_answered_calls_keep_their_rows_through_an_outage_and_a_killed_worker(
    fault_database: FaultDatabase, redis_backed: str, upstream: Any, start: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    env = gateway_env(
        database_url=fault_database.url,
        redis_url=redis_backed,
        upstream_url=upstream.url,
        spool_dir=spool,
        GATEWAY_SPOOL_RETRY="1",
    )
    manage("migrate", "--no-input", env=env)
    keys = peer("setup", MODEL, PRICE_PER_MTOK, BUDGET, env=env)

    outcomes, (first, second) = asyncio.run(scenario(fault_database, env, keys, upstream, start))

    wait_for_empty_spool(spool)
    assert second.stop(), second.output()
    books = peer("ledger", env=env)
    logs = first.output() + second.output()

    assert spool_entries(spool) == 0, logs
    assert not (spool / "dead.jsonl").exists(), (spool / "dead.jsonl").read_text()
    answered = [outcome for outcome in outcomes if outcome.request_id]
    rows = {row["id"]: row for row in books["rows"]}
    lost = [outcome for outcome in answered if outcome.request_id not in rows]
    assert not lost, (f"{len(lost)} of {len(answered)} answered calls have no row", lost[:5], logs)
    unanswered = len(outcomes) - len(answered)
    assert len(rows) - len(answered) <= unanswered  # a row only for a call that was made
    for outcome in answered:
        assert rows[outcome.request_id]["status"] == outcome.status
        assert rows[outcome.request_id]["account"] == outcome.account
    statuses = [outcome.status for outcome in answered]
    assert statuses.count(200) >= len(answered) // 2, sorted(statuses, key=str)  # the load really went through
    for user_id, account in books["accounts"].items():
        costs = sum((Decimal(row["cost"]) for row in rows.values() if row["account"] == user_id), Decimal(0))
        assert Decimal(account["spent"]) == costs, user_id
        assert Decimal(account["reserved"]) == 0, user_id
    assert books["holds"] == 0
    print(
        f"sent {len(outcomes)}, answered {len(answered)}, rows {len(rows)}, "
        f"stale holds released {books['released']}, statuses {sorted(set(statuses), key=str)}, "
        f"longest wait {max(outcome.seconds for outcome in outcomes):.1f} s"
    )


async def answered_then_killed(
    database: FaultDatabase, env: dict[str, str], keys: dict[str, str], start: Any
) -> list[Outcome]:
    unlimited = {"unlimited": keys["unlimited"]}
    (first,) = await asyncio.to_thread(start, env)
    warm = Traffic(unlimited)
    await warm.run(first.url, 1)
    await warm.outcomes()
    outage = asyncio.create_task(asyncio.to_thread(database.outage, KILL_OUTAGE_S))
    await asyncio.sleep(1)
    traffic = Traffic(unlimited)  # warm and unlimited: served without the database
    await traffic.run(first.url, 2)
    answered = await traffic.outcomes()
    assert not outage.done(), "the database came back before the kill: the test would prove nothing"
    first.signal(signal.SIGKILL)  # the database is still away: the rows are wherever the worker put them
    await outage
    return [*await warm.outcomes(), *answered]


# The worker is killed ~3 s in, while its first write still waits on the database (asserted, so a
# slow machine cannot make the kill miss the outage); 12 s leaves that margin and stays under
# SQLite's 20 s busy timeout, so the write is still waiting, not failed, when the worker dies.
KILL_OUTAGE_S = 12.0


@pytest.mark.timeout(300)
def test_rows_of_answered_calls_survive_a_kill_while_the_database_is_away(
    fault_database: FaultDatabase, redis_backed: str, upstream: Any, start: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    env = gateway_env(
        database_url=fault_database.url,
        redis_url=redis_backed,
        upstream_url=upstream.url,
        spool_dir=spool,
        GATEWAY_SPOOL_RETRY="1",
    )
    manage("migrate", "--no-input", env=env)
    keys = peer("setup", MODEL, PRICE_PER_MTOK, BUDGET, env=env)

    outcomes = asyncio.run(answered_then_killed(fault_database, env, keys, start))
    (second,) = start(env)
    wait_for_empty_spool(spool)
    assert second.stop(), second.output()
    books = peer("ledger", env=env)

    assert {outcome.status for outcome in outcomes} == {200}, outcomes
    rows = {row["id"] for row in books["rows"]}
    lost = [outcome.request_id for outcome in outcomes if outcome.request_id not in rows]
    assert not lost, f"{len(lost)} of {len(outcomes)} answered calls have no row"
