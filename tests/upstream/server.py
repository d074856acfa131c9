"""The test upstream's HTTP app: each request routed by its path to the provider whose wire format it is.

| path | provider |
| --- | --- |
| `…/v1beta/models/<model>:generateContent` / `:streamGenerateContent` | Gemini (tests/upstream/gemini.py) |
| `…/openai/deployments/<deployment>/chat/completions?api-version=…` | Azure OpenAI chat |
| `…/openai/responses?api-version=…`, `…/openai/v1/responses` | Azure OpenAI Responses |
| `…/v2/chat` | Cohere v2 (tests/upstream/cohere.py) |
| `…/messages` | Anthropic (tests/upstream/anthropic.py) |
| `…/responses`, `…/chat/completions` | OpenAI and OpenAI-compatible (tests/upstream/openai.py) |

Switches apply in this order: latency, hang, `error_status` (the provider's own error body),
`model_errors` and `context_models` per model, then the provider's documented checks (a request the
real provider would refuse is refused the same way), then the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.upstream import anthropic, cohere, gemini, openai
from tests.upstream.core import Call, Received, Refusal, Upstream, wait_while


class Wire:
    """One provider's answers: its error body, its context-window refusal, its reply."""

    def __init__(
        self,
        error: Callable[[int, str | None], JSONResponse],
        context: Callable[[], JSONResponse],
        reply: Callable[[Call], Response],
        model: Callable[[Call], str],
    ) -> None:
        self.error, self.context, self.reply, self.model = error, context, reply, model


def body_model(call: Call) -> str:
    model = call.body.get("model")
    return model if isinstance(model, str) else ""


def wire_for(path: str) -> Wire | None:
    found = gemini.route(path)
    if found is not None:
        model, streams = found
        return Wire(
            gemini.error, gemini.context_error, lambda call: gemini.reply(call, model, streams), lambda _: model
        )
    if "/openai/" in path and path.endswith("/chat/completions"):
        deployment = openai.azure_deployment(path) or ""
        return Wire(
            openai.azure_error, openai.context_error, lambda c: openai.reply_chat(c, True), lambda _: deployment
        )
    if path.endswith(("/openai/responses", "/openai/v1/responses")):
        return Wire(openai.azure_error, openai.context_error, lambda c: openai.reply_responses(c, True), body_model)
    if path.endswith("/v2/chat"):
        return Wire(cohere.error, cohere.context_error, cohere.reply, body_model)
    if path.endswith("/messages"):
        return Wire(anthropic.error, anthropic.context_error, anthropic.reply, body_model)
    if path.endswith("/responses"):
        return Wire(openai.error, openai.context_error, lambda c: openai.reply_responses(c, False), body_model)
    if path.endswith("/chat/completions"):
        return Wire(openai.error, openai.context_error, lambda c: openai.reply_chat(c, False), body_model)
    return None


def with_headers(response: JSONResponse, headers: dict[str, str]) -> JSONResponse:
    response.headers.update(headers)
    return response


def answer(upstream: Upstream, call: Call, wire: Wire) -> Response:
    s = upstream.switches
    if s.error_status is not None:
        return with_headers(wire.error(s.error_status, s.error_message), dict(s.error_headers))
    model = wire.model(call)
    if model in s.model_errors:
        return wire.error(s.model_errors[model], None)
    if model in s.context_models:
        return wire.context()
    try:
        return wire.reply(call)
    except Refusal as refused:
        return refused.response


def build_app(upstream: Upstream) -> Starlette:
    async def handle(request: Request) -> Response:
        path = request.url.path
        try:
            body = await request.json()
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        query = dict(request.query_params)
        generation = upstream.record(Received(path=path, headers=headers, body=body, query=query))
        s = upstream.switches
        if s.latency:
            await asyncio.sleep(s.latency)
        if s.hang:
            await wait_while(upstream, generation, lambda: True)
            return Response(status_code=499)
        wire = wire_for(path)
        if wire is None:
            return openai.error(404 if isinstance(body, dict) else 400)
        if not isinstance(body, dict):
            return wire.error(400, None)
        call = Call(upstream=upstream, generation=generation, path=path, query=query, headers=headers, body=body)
        return answer(upstream, call, wire)

    return Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])


# --- server lifecycle ----------------------------------------------------------------------


def loopback_socket() -> socket.socket:
    """A socket bound to a free 127.0.0.1 port, for a server started in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve(upstream: Upstream) -> Iterator[Upstream]:
    sock = loopback_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(upstream), log_level="critical", lifespan="off", timeout_graceful_shutdown=1, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="test-upstream")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test upstream did not start")
        time.sleep(0.01)
    upstream.url = f"http://127.0.0.1:{port}"
    try:
        yield upstream
    finally:
        upstream.reset()
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


__all__ = ["build_app", "loopback_socket", "serve"]
