"""ASGI application: answers lifespan itself and serves /v1/ without the admin's middleware.

Django's handler refuses the lifespan scope, and every `MiddlewareMixin` middleware
costs a thread hop per request (NOTES: measured), so the proxy routes get a handler
with no middleware at all while the admin and the API keep the full stack.
"""

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
_django_app = get_asgi_application()  # runs django.setup(); everything below needs the apps loaded

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.http import HttpRequest, HttpResponseBase  # noqa: E402
from django.urls import set_urlconf  # noqa: E402

from gateway_project.bodylimit import (  # noqa: E402
    TOO_LARGE,
    closing_send,
    declared_length,
    limited_receive,
    too_large_response,
)
from gateway_project.invalidation import InvalidationListener  # noqa: E402
from proxy.accounting import accounting_drain  # noqa: E402
from proxy.forwarding import litellm_module  # noqa: E402

Scope = dict[str, Any]


class BareASGIHandler(ASGIHandler):
    """Django's ASGI handler with an empty middleware chain: URL resolution and the view only."""

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


class GatewayApplication:
    def __init__(self) -> None:
        self.full = _django_app
        self.bare = BareASGIHandler()
        self.listener = InvalidationListener()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        # daphne never sends lifespan: start background work on the first request too.
        self.listener.ensure_started()
        if scope["type"] != "http":
            await self.full(scope, receive, send)
            return
        limit = settings.MAX_REQUEST_BYTES
        if scope["path"].startswith("/v1/"):
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
                self.listener.ensure_started()
                # Importing LiteLLM takes seconds: pay it before the first request, not during it.
                await asyncio.to_thread(litellm_module)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await accounting_drain()
                await self.listener.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


application = GatewayApplication()
