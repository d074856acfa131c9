"""Instances side by side (`scripts/instances`): nginx in front of three gateways sharing PostgreSQL and Redis.

Under load through nginx, with one instance SIGKILLed and restarted mid-run, it checks what the
compose topology promises (docs, operations): every answered call has its usage row; one budgeted
account served by every instance is never overspent, its spend is the sum of its rows and nothing
stays reserved; a key's rpm limit admits exactly that many calls in a minute across the instances; a
key revoked through one instance is refused by all. Then it measures req/s through nginx with 1, 2
and 3 instances in one run. `--short` is the test suite's form (a few seconds of load per phase).
Prints a JSON summary (and writes it with --out); exits 1 when a check fails.
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bench.instances_stack import Instance, Stack
from bench.load import request_body, wrk
from bench.processes import BenchError, Children

MODEL = "gpt-4o-mini"
# A price far above the real one, so the shared budget runs out within seconds of load:
# the mock's 12 input and 7 output tokens cost 0.006 USD; a hold (body bytes as tokens, max_tokens 10) ~0.03.
PRICE = {"input_per_mtok": "150", "output_per_mtok": "600"}
BUDGET = Decimal("0.5")  # ~80 calls' spend: runs out within seconds; far below what leases need (8 × 64 worst cases)
RPM = 30


class Api:
    """The management API and the proxy, over one aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, stack: Stack) -> None:
        self.session, self.stack = session, stack

    async def admin(self, method: str, path: str, body: dict[str, Any], base: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.stack.admin_key}"}
        async with self.session.request(method, f"{base or self.stack.url}{path}", json=body, headers=headers) as r:
            if r.status >= 300:
                raise BenchError(f"{method} {path}: {r.status} {await r.text()}")
            return await r.json()

    async def customer(self, user_id: str, budget: Decimal | None = None, **key: Any) -> tuple[str, Any]:
        await self.admin("POST", "/api/accounts/", {"user_id": user_id, "budget_usd": budget and str(budget)})
        made = await self.admin("POST", "/api/keys/", {"user_id": user_id, "name": "load", **key})
        return made["key"], made["id"]

    async def call(self, key: str, base: str | None = None, max_tokens: int = 10) -> tuple[int, str | None]:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
        try:
            async with self.session.post(
                f"{base or self.stack.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
            ) as response:
                await response.read()
                return response.status, response.headers.get("x-request-id")
        except (TimeoutError, aiohttp.ClientError):
            return 0, None  # the connection broke: an unanswered call


async def _load(api: Api, keys: dict[str, str], until: float, seen: list[tuple[str, int, str | None]]) -> None:
    async def worker(kind: str) -> None:
        while time.monotonic() < until:
            status, request_id = await api.call(keys[kind])
            seen.append((kind, status, request_id))

    workers = [worker("load") for _ in range(12)] + [worker("budget") for _ in range(6)]
    await asyncio.gather(*workers)


async def _revoke(api: Api, key: str, key_id: Any, instances: list[Instance]) -> dict[str, Any]:
    """Revokes the key through the first instance; the seconds until each instance refuses it."""
    for instance in instances:  # cached (allowed) on every instance first
        status, _ = await api.call(key, base=instance.url)
        if status != 200:
            raise BenchError(f"the key to revoke got {status} from {instance.url} before revocation")
    started = time.monotonic()
    await api.admin("PATCH", f"/api/keys/{key_id}/", {"is_active": False}, base=instances[0].url)
    refused_after: dict[str, float | None] = {}
    for instance in instances:
        refused_after[str(instance.number)] = None
        while time.monotonic() - started < 35:  # the documented worst case is the L1 TTL (30 s)
            if (await api.call(key, base=instance.url))[0] == 401:
                refused_after[str(instance.number)] = round(time.monotonic() - started, 3)
                break
            await asyncio.sleep(0.01)
    return {"refused_after_s": refused_after, "ok": all(v is not None for v in refused_after.values())}


async def _rate_limit(api: Api, key: str, instances: list[Instance]) -> dict[str, Any]:
    """3 × RPM calls spread over the instances within one minute window: exactly RPM admitted."""
    for _ in range(3):
        if time.time() % 60 > 45:
            await asyncio.sleep(61 - time.time() % 60)  # a burst that crosses the minute would see two windows
        window = int(time.time() // 60)
        calls = [api.call(key, base=instances[n % len(instances)].url) for n in range(3 * RPM)]
        statuses = [status for status, _ in await asyncio.gather(*calls)]
        if int(time.time() // 60) == window:
            admitted = statuses.count(200)
            return {"rpm": RPM, "sent": len(statuses), "admitted": admitted, "ok": admitted == RPM}
    raise BenchError("three bursts in a row crossed a minute boundary")


def _rows_present(database_url: str, ids: list[str]) -> set[str]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute("SELECT id::text FROM usage_usagelog WHERE id = ANY(%s::uuid[])", [ids])
        return {row[0] for row in found}


def _ledger(database_url: str, user_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "SELECT b.limit_usd, a.spent_usd, a.reserved_usd, b.spent_usd, b.reserved_usd,"
            " (SELECT COALESCE(SUM(cost_usd), 0) FROM usage_usagelog u WHERE u.account_id = a.id),"
            " (SELECT COUNT(*) FROM accounts_hold h WHERE h.account_id = a.id)"
            " FROM accounts_account a JOIN budgets_budget b ON b.account_id = a.id AND b.period = 'lifetime'"
            " WHERE a.user_id = %s",
            [user_id],
        ).fetchone()
    if found is None:
        raise BenchError(f"no account {user_id} with a lifetime budget")
    budget, spent, reserved, budget_spent, budget_reserved, rows, holds = found  # integer units of 1e-10 USD
    usd = {"budget": budget, "spent": spent, "reserved": reserved, "rows_sum": rows}
    ok = spent <= budget and spent == rows == budget_spent and reserved == budget_reserved == 0 and holds == 0
    return {**{k: str(Decimal(v).scaleb(-10)) for k, v in usd.items()}, "holds": holds, "ok": ok}


async def _until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.5)
    return False


async def checks(stack: Stack, seconds: float) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        api = Api(session, stack)
        await api.admin("POST", "/api/costs/", {"model": MODEL, "provider": "openai", **PRICE})
        load_key, _ = await api.customer("load")
        budget_key, _ = await api.customer("shared", BUDGET)
        limited_key, _ = await api.customer("limited", rpm_limit=RPM)
        revoked_key, revoked_id = await api.customer("revoked")
        seen: list[tuple[str, int, str | None]] = []
        started = time.monotonic()
        load = asyncio.create_task(_load(api, {"load": load_key, "budget": budget_key}, started + seconds, seen))
        victim = stack.instances[1]
        await asyncio.sleep(seconds * 0.3)
        await asyncio.to_thread(stack.kill_instance, victim)
        killed_at = time.monotonic() - started
        await asyncio.sleep(1.0)
        stack.start_instance(victim)  # the same port and spool: it replays what its killed self journaled
        revocation = await _revoke(api, revoked_key, revoked_id, [stack.instances[0], stack.instances[2]])
        await load
        await asyncio.to_thread(stack.wait_instance, victim)
        # The restarted instance refuses the revoked key too (it starts with empty caches).
        revocation["refused_by_restarted"] = (await api.call(revoked_key, base=victim.url))[0] == 401
        revocation["ok"] = revocation["ok"] and revocation["refused_by_restarted"]
        rate = await _rate_limit(api, limited_key, stack.instances)
    answered = [rid for _, status, rid in seen if rid and status in (200, 402, 429)]
    rows_ok = await _until(lambda: len(_rows_present(stack.database_url, answered)) == len(answered), 60)
    missing = len(answered) - len(_rows_present(stack.database_url, answered))
    # The killed instance's holds are released by a live instance's sweeper once older than GATEWAY_HOLD_TTL.
    await _until(lambda: _ledger(stack.database_url, "shared")["ok"], float(stack.extra_env["GATEWAY_HOLD_TTL"]) + 30)
    statuses: dict[str, int] = {}
    for kind, status, _ in seen:
        statuses[f"{kind} {status}"] = statuses.get(f"{kind} {status}", 0) + 1
    return {
        "load": {"seconds": seconds, "killed_instance_at_s": round(killed_at, 2), "statuses": statuses},
        "rows": {"answered": len(answered), "missing": missing, "ok": rows_ok and missing == 0},
        "budget": _ledger(stack.database_url, "shared"),
        "rate_limit": rate,
        "revocation": revocation,
        "_keys": {"load": load_key},
    }


def throughput(stack: Stack, load_key: str, seconds: float) -> list[dict[str, Any]]:
    """req/s through nginx with the first 1, 2 and 3 instances (one run, same machine, same load)."""
    body, results = request_body(MODEL), []
    headers = {"Authorization": f"Bearer {load_key}"}
    not_pinned = os.cpu_count() or 1
    for count in (1, 2, 3):
        stack.start_nginx(stack.instances[:count])
        url = f"{stack.url}/v1/chat/completions"
        wrk(url, connections=32, seconds=1, headers=headers, body=body, cpu=not_pinned)  # warm-up
        run = wrk(url, connections=32, seconds=seconds, headers=headers, body=body, cpu=not_pinned)
        results.append({"instances": count, "rps": round(run.requests / run.seconds, 1), "p50_ms": run.p50_ms,
                        "p99_ms": run.p99_ms, "errors": run.errors})  # fmt: skip
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="gateway-instances."))
    children = Children()
    stack = Stack(folder=folder, children=children)
    # A killed instance's holds are swept after this many seconds (calls may run GATEWAY_HOLD_TTL − 60 s).
    stack.extra_env.update(GATEWAY_HOLD_TTL="63", GATEWAY_SWEEP_INTERVAL="2")
    try:
        stack.start_servers()
        stack.instances = [Instance(number=n) for n in (1, 2, 3)]
        for instance in stack.instances:
            stack.start_instance(instance)
        for instance in stack.instances:
            stack.wait_instance(instance)
        stack.start_nginx(stack.instances)
        result = asyncio.run(checks(stack, args.load_seconds))
        load_key = result.pop("_keys")["load"]
        result["throughput"] = throughput(stack, load_key, args.rps_seconds)
        result["ok"] = all(result[name]["ok"] for name in ("rows", "budget", "rate_limit", "revocation"))
        return result
    finally:
        children.stop_all()
        stack.stop_postgres()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the test suite's form: a few seconds per phase")
    parser.add_argument("--out", type=Path, help="also write the JSON summary here")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, nginx.conf)")
    args = parser.parse_args()
    args.load_seconds, args.rps_seconds = (8.0, 3.0) if args.short else (30.0, 15.0)
    if not shutil.which("nginx") or not shutil.which("wrk"):
        raise BenchError("nginx and wrk are needed: scripts/instances installs them (Debian)")
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
