"""Proxy routes: thin async views over one pipeline, each speaking its own wire format."""

import asyncio
import inspect
import logging
import time
import uuid
from typing import Any, ClassVar

from adrf.views import APIView
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from core.bodylimit import TOO_LARGE
from core.errors import (
    GatewayError,
    InvalidRequest,
    RequestTooLarge,
    RouteNotFound,
    Unauthenticated,
    UpstreamTimeout,
    render_openai,
)
from core.logs import request_id_bind
from core.pool import in_pool
from core.tasks import call_deadline
from proxy.accounting import CallRecord, call_finished, start_call
from proxy.admission import admit, admit_routed
from proxy.auth import PRINCIPAL_ATTR, GatewayKeyAuthentication, Principal, presented_key, principal_for_async
from proxy.forwarding import Completion, Route, Stream, forward
from proxy.models_list import model_list
from proxy.passthrough import json_dumps
from proxy.routed import candidates_load, forward_routed, route_plan
from proxy.streaming import sse_response
from proxy.usage_rules import answer_text, usage_billed
from proxy.validation import parse_body
from proxy.wire import error_body

log = logging.getLogger(__name__)
# Where gateway_project.asgi leaves the request id it chose, so an answer it sends itself carries it too.
REQUEST_ID = "gateway.request_id"


def _json(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(json_dumps(body), status=status, content_type="application/json")


class GatewayView(APIView):
    """Key authentication, request ids and errors in the route's own format."""

    authentication_classes = [GatewayKeyAuthentication]
    permission_classes: ClassVar[list[Any]] = []
    parser_classes: ClassVar[list[Any]] = []  # bodies are parsed by proxy.validation, with orjson

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # Our answers are built by hand in the route's wire format (JSON, or SSE for streams), never by
        # a DRF renderer: an `Accept: text/event-stream` (what SSE clients send) must not become a 406.
        return JSONRenderer(), "application/json"

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        self.request_id = getattr(request, "scope", {}).get(REQUEST_ID) or uuid.uuid4()
        request_id_bind(self.request_id)  # every log line of this call carries it
        self.started = time.perf_counter()
        return super().initialize_request(request, *args, **kwargs)

    route: ClassVar[Route | None] = None

    def render_error(self, error: GatewayError) -> dict[str, Any]:
        return error_body(self.route, error)

    def error_response(self, error: GatewayError) -> HttpResponse:
        response = _json(self.render_error(error), status=error.status())
        for name, value in error.headers.items():
            response[name] = value
        return response

    def handle_exception(self, exc: Exception) -> HttpResponse:
        if isinstance(exc, GatewayError):
            return self.error_response(exc)
        if isinstance(exc, APIException):  # DRF's own: 405 and friends; our words, its status
            error = InvalidRequest(f"{exc.status_code}: {exc.default_detail}")
            return _json(self.render_error(error), status=exc.status_code)
        log.exception("unhandled error in %s", type(self).__name__)
        return self.error_response(GatewayError())

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["x-request-id"] = str(self.request_id)
        return response

    async def async_dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """adrf's dispatch, except that `initial()` runs inline instead of via `sync_to_async`.

        Under Django's ASGI handler every thread-sensitive hop of a request starts a new
        thread (NOTES: hops dominate the per-request cost). Our `initial()` does no I/O
        once the key is resolved, and `principal_for_async` resolves it from process
        memory without leaving the loop when warm, or with one hop to a shared pool.
        """
        self.args, self.kwargs = args, kwargs
        drf_request = self.initialize_request(request, *args, **kwargs)
        self.request = drf_request
        self.headers = self.default_response_headers
        try:
            principal = await principal_for_async(presented_key(request))
            setattr(request, PRINCIPAL_ATTR, principal)
            self.initial(drf_request, *args, **kwargs)
            method = request.method.lower()
            handler = getattr(self, method, None) if method in self.http_method_names else None
            response = (handler or self.http_method_not_allowed)(drf_request, *args, **kwargs)
            if inspect.isawaitable(response):
                response = await response
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(drf_request, response, *args, **kwargs)
        return self.response

    def principal(self, request: Request) -> Principal:
        if not isinstance(request.user, Principal):
            raise Unauthenticated()
        return request.user


class CompletionView(GatewayView):
    """POST a model call: validate, admit, forward, answer; every outcome is accounted."""

    route: ClassVar[Route]  # type: ignore[misc]

    async def post(self, request: Request) -> HttpResponseBase:
        call = CallRecord(
            principal=self.principal(request), route=self.route, request_id=self.request_id, started=self.started
        )
        # The call runs in a task the process owns: a client that disconnects cancels this frame,
        # not the call, which goes on to its usage row and releases its hold (NOTES: cancelled writes).
        task = start_call(self._pipeline(request, call))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            call.client_gone = True
            raise

    async def _pipeline(self, request: Request, call: CallRecord) -> HttpResponseBase:
        try:
            async with asyncio.timeout(call_deadline()):
                return await self._call(request, call)
        except TimeoutError:
            error: GatewayError = UpstreamTimeout("The call ran past the gateway's longest allowed duration.")
        except GatewayError as refused:
            error = refused
        except asyncio.CancelledError:  # shutdown, past the grace period
            call_finished(call, status=503, error_code="gateway_shutting_down")
            raise
        except Exception:
            # A bug of ours: still write the row, which also releases any budget hold.
            log.exception("unhandled error in %s", type(self).__name__)
            error = GatewayError()
        call_finished(call, status=error.status(), error_code=error.code)
        return self.error_response(error)

    async def _call(self, request: Request, call: CallRecord) -> HttpResponseBase:
        raw = self._body(request)
        body = parse_body(raw, self.route)
        call.model, call.streamed, call.body, call.raw_size = body["model"], bool(body.get("stream")), body, len(raw)
        plan = await route_plan(call.model)
        if plan is None:  # no deployment or policy for this name: provider auto-detection, one attempt
            call.admission = await admit(
                principal=call.principal, route=self.route, body=body, raw_size=len(raw), request_id=call.request_id
            )
            result = await forward(
                route=self.route,
                target=call.admission.target,
                body=body,
                stream=call.streamed,
                timeout=settings.UPSTREAM_TIMEOUT,
            )
        else:
            result = await self._routed(call, body, len(raw), plan)
        if isinstance(result, Completion):
            answer = result.body
            usage = await usage_billed(result.usage, call.answered(lambda: answer_text(self.route, answer)))
            call_finished(call, status=499 if call.client_gone else 200, usage=usage)
            if result.raw is not None:  # the provider's own bytes (same-format fast path): no re-encoding
                return HttpResponse(result.raw, content_type="application/json")
            return _json(result.body)
        return sse_response(result, call)

    async def _routed(self, call: CallRecord, body: dict[str, Any], raw_size: int, plan: Any) -> Completion | Stream:
        """A public name with deployments or a policy: admitted for its dearest candidate, then tried in turn."""
        candidates = await candidates_load(plan)
        call.admission = await admit_routed(
            principal=call.principal,
            route=self.route,
            body=body,
            raw_size=raw_size,
            request_id=call.request_id,
            targets=candidates.targets(),
            public_name=plan.public_name,
        )
        return await forward_routed(
            call=call, route=self.route, body=body, plan=plan, candidates=candidates, stream=call.streamed
        )

    def _body(self, request: Request) -> bytes:
        try:
            if not getattr(request._request, "scope", {}).get(TOO_LARGE):  # set by core.bodylimit
                return request._request.body
        except RequestDataTooBig:
            pass
        raise RequestTooLarge(f"The request body is over {settings.MAX_REQUEST_BYTES} bytes.")


class ChatCompletionsView(CompletionView):
    route = Route.CHAT


class ResponsesView(CompletionView):
    route = Route.RESPONSES


class MessagesView(CompletionView):
    route = Route.MESSAGES


class ModelsView(GatewayView):
    async def get(self, request: Request) -> HttpResponse:
        self.principal(request)
        return _json({"object": "list", "data": await in_pool(model_list)})


async def unknown_route(request: HttpRequest, path: str) -> HttpResponse:
    """Any other /v1/ path: a 404 in OpenAI's format (the SDKs' shape), never Django's HTML page."""
    error = RouteNotFound(f"Unknown route: {request.method} /v1/{path}")
    response = _json(render_openai(error), status=error.status())
    response["x-request-id"] = str(uuid.uuid4())
    return response
