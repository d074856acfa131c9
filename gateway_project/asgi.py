"""ASGI application: answers lifespan itself and serves /v1/ and the probes without the admin's middleware.

Django's handler refuses the lifespan scope, and every `MiddlewareMixin` middleware
costs a thread hop per request (NOTES: measured), so the proxy routes get a handler
with no middleware at all while the admin and the API keep the full stack.
"""

import asyncio
import contextlib
import gc
import os
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
_django_app = get_asgi_application()  # runs django.setup(); everything below needs the apps loaded

from django.conf import settings  # noqa: E402
from django.core.exceptions import RequestAborted  # noqa: E402
from django.core.handlers.asgi import ASGIHandler, get_script_prefix  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.http import HttpRequest, HttpResponseBase  # noqa: E402
from django.urls import set_script_prefix, set_urlconf  # noqa: E402

from budgets.spool import spool  # noqa: E402
from budgets.upkeep import Upkeep  # noqa: E402
from core.bodylimit import (  # noqa: E402
    TOO_LARGE,
    closing_send,
    declared_length,
    limited_receive,
    too_large_response,
)
from core.errors import GatewayUnavailable  # noqa: E402
from core.invalidation import InvalidationListener  # noqa: E402
from proxy.accounting import accounting_drain, calls_end, usage_writer  # noqa: E402
from proxy.forwarding import forwarding_close, litellm_module  # noqa: E402
from proxy.request_params import Route  # noqa: E402
from proxy.views import REQUEST_ID  # noqa: E402
from proxy.wire import error_body  # noqa: E402

Scope = dict[str, Any]
# Probes and the metrics scrape: no middleware, no credentials (gateway_project.health, .metrics).
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class BareASGIHandler(ASGIHandler):
    """Django's ASGI handler with an empty middleware chain and no thread hop: URL resolution and the view only.

    The stock `handle()` runs the request_started / request_finished signals and
    `response.close()` through `sync_to_async`: two thread hops per request (NOTES), for
    receivers that only recycle the request thread's database connections. /v1/ views never
    use those (their database work runs in the shared pool, which closes its own), so this
    handler runs the request and the disconnect watch as Django does, without the hops.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)  # type: ignore[attr-defined]

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        """Django's, minus `log_response`: it logs every 4xx as a WARNING, through a thread hop.

        A spray of bad keys would write a line per request; the views log their own failures,
        and an exception that escapes them is still logged by `convert_exception_to_response`.
        """
        set_urlconf(settings.ROOT_URLCONF)
        response: HttpResponseBase = await self._middleware_chain(request)  # type: ignore[misc]
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]
        return response

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        scope[REQUEST_ID] = uuid.uuid4()  # the view's x-request-id, known here for a shutdown answer too
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)  # type: ignore[arg-type]  # set when request is None
            return

        started = False

        async def tracked_send(message: Mapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def process_request() -> Any:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client left during the send
                await self.send_response(response, tracked_send)
            return response

        # As Django does: a disconnect while the view runs cancels it (the proxy views rely on it).
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        processing = asyncio.create_task(process_request())
        try:
            await asyncio.wait([listener, processing], return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The server ends this request (shutdown past its grace period). The call itself goes on
            # in its own task until the application's shutdown ends it with a 503 row; the client
            # gets a 503 in its route's format rather than the server's bare 500.
            listener.cancel()
            if not started:
                with contextlib.suppress(Exception):
                    await send_shutdown_answer(scope, send)
            raise
        for task in (listener, processing):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                await task
        if not processing.cancelled() and processing.exception() is None:
            for closer in processing.result()._resource_closers:
                closer()
        body_file.close()


async def send_shutdown_answer(scope: Scope, send: Any) -> None:
    error = GatewayUnavailable("The gateway is shutting down; retry the request.")
    route = Route.MESSAGES if scope["path"].rstrip("/") == "/v1/messages" else None
    body = orjson.dumps(error_body(route, error))
    headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
        (b"x-request-id", str(scope[REQUEST_ID]).encode()),
    ]
    await send({"type": "http.response.start", "status": error.status(), "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GatewayApplication:
    def __init__(self) -> None:
        self.full = _django_app
        self.bare = BareASGIHandler()
        self.listener = InvalidationListener()
        self.upkeep = Upkeep()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        # daphne never sends lifespan: start background work on the first request too.
        self.listener.ensure_started()
        self.upkeep.ensure_started()
        if scope["type"] != "http":
            await self.full(scope, receive, send)
            return
        limit = settings.MAX_REQUEST_BYTES
        if scope["path"].startswith("/v1/") or scope["path"] in OPS_PATHS:
            await self.bare(scope, limited_receive(scope, receive, limit), closing_send(scope, send))
            return
        if (declared_length(scope) or 0) > limit:
            await too_large_response(scope, send, limit)  # before reading a byte of it
            return
        started = False

        async def tracking_send(message: Mapping[str, Any]) -> None:
            nonlocal started
            started = True
            await send(message)

        await self.full(scope, limited_receive(scope, receive, limit, abort=True), tracking_send)
        if scope.get(TOO_LARGE) and not started:  # Django dropped the cut-off request unanswered
            await too_large_response(scope, send, limit)

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # The shared pool for database and cache work: the default (cores + 4 threads) is
                # too few when an outage makes each write wait out its timeout.
                asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=32))
                self.listener.ensure_started()
                self.upkeep.ensure_started()
                # Importing LiteLLM takes seconds: pay it before the first request, not during it.
                await asyncio.to_thread(litellm_module)
                # What start-up made (Django, LiteLLM's model tables: ~380,000 objects) lives as long as
                # the process. Frozen, the collector stops walking it: a full collection took ~250 ms,
                # a stall every request in flight then waited out.
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def shutdown(self) -> None:
        """Ends what is in flight without losing a row: calls past the grace period end as 503,
        pending writes get a bounded time, and whatever is left goes to the durable spool."""
        # The server already gave connections GATEWAY_SHUTDOWN_GRACE (manage.py serve); calls
        # still running (clients gone, or streams) get a short last chance, then are ended.
        await calls_end(grace=1.0)
        await accounting_drain(timeout=10.0)
        usage_writer(asyncio.get_running_loop()).spool_rest()
        await forwarding_close()
        await self.upkeep.stop()
        await self.listener.stop()
        spool().close()


application = GatewayApplication()
