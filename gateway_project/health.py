"""Liveness (`/healthz`) and readiness (`/readyz`) probes for load balancers and orchestrators.

Both are served by the middleware-free handler (see asgi.py) and need no credentials.
`/healthz` does no I/O: it answers as long as the process serves requests. `/readyz`
checks the database and Redis, each under a short deadline, and answers 503 while one
of them is unreachable so a load balancer stops sending traffic to this instance.
"""

import asyncio
import functools
import importlib
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from django.db import connection
from django.http import HttpRequest, HttpResponse

from core.backends import redis_cache_configured, redis_raw_client
from core.pool import in_pool

log = logging.getLogger(__name__)
# Seconds each dependency may take to answer; a probe must answer long before the prober gives up.
CHECK_TIMEOUT = 1.0


def _json(body: dict[str, Any], status: int = 200) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


async def healthz(request: HttpRequest) -> HttpResponse:
    return _json({"status": "ok"})


def _database_ping() -> None:
    if connection.vendor == "mongodb":
        connection.database.command("ping")  # type: ignore[attr-defined]
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis_ping() -> None:
    # Past the outage breaker: readiness asks Redis itself, not what the last request concluded.
    redis_raw_client().ping()


@functools.cache
def _in_flight() -> dict[str, "asyncio.Future[None]"]:
    """The check still running per dependency. A check stuck in a blocking connect cannot be
    cancelled (it runs in a thread), so a new probe waits on it instead of starting another:
    probes every few seconds against a dead database must not pile up threads."""
    return {}


async def _run_check(name: str, ping: Callable[[], None]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    future = _in_flight().get(name)
    if future is None or future.done() or future.get_loop() is not loop:
        future = asyncio.ensure_future(in_pool(ping))
        # A probe that timed out never reads the outcome; reading it here keeps asyncio from warning.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        _in_flight()[name] = future
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.shield(future), CHECK_TIMEOUT)
    except TimeoutError:
        return {"ok": False, "error": "timeout", "ms": round(CHECK_TIMEOUT * 1000)}
    except Exception as error:
        # The class name only: driver messages can carry host names and user names.
        log.warning("readiness check %s failed: %s", name, type(error).__name__)
        return {"ok": False, "error": type(error).__name__, "ms": _ms_since(started)}
    return {"ok": True, "ms": _ms_since(started)}


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def _spool_depth() -> int | None:
    """Usage rows waiting on local disk for the database, when this build has a spool (budgets.spool)."""
    try:
        spool = importlib.import_module("budgets.spool")
    except ModuleNotFoundError as missing:
        if missing.name != "budgets.spool":
            raise  # the spool exists but is broken: say so, not "no spool"
        return None
    if inspect.iscoroutinefunction(spool.spool_depth):
        depth = await spool.spool_depth()
    else:
        depth = await asyncio.to_thread(spool.spool_depth)  # it may count files on disk
    return None if depth is None else int(depth)


async def readyz(request: HttpRequest) -> HttpResponse:
    names: list[str] = ["database"]
    checks = [_run_check("database", _database_ping)]
    if redis_cache_configured():
        names.append("redis")
        checks.append(_run_check("redis", _redis_ping))
    results = dict(zip(names, await asyncio.gather(*checks), strict=True))
    ready = all(result["ok"] for result in results.values())
    try:
        spool_depth = await _spool_depth()
    except Exception:
        log.warning("the spool depth could not be read", exc_info=True)
        spool_depth = None
    body = {"status": "ok" if ready else "unavailable", "checks": results, "spool_depth": spool_depth}
    return _json(body, status=200 if ready else 503)
