"""A real HTTP test upstream speaking the OpenAI Chat, OpenAI Responses and Anthropic Messages wire formats.

A Starlette app served by uvicorn on a free 127.0.0.1 port in a background thread with its
own event loop, started once per test session. Each test sets `Switches` (reply text, token
usage, latency, errors, hangs, dropped or held streams) through the `upstream` fixture, and
reads back what the upstream received (path, headers, JSON body).

Token usage is set canonically (uncached input, output incl. reasoning, cache read, cache
write, reasoning; audio and 1-hour cache writes as parts of those) and rendered by each provider's
own convention:
- OpenAI (chat and responses): `prompt_tokens` / `input_tokens` INCLUDE cached tokens
  (`cached_tokens` = cache reads). OpenAI has no cache-write field, so cache writes are
  billed as ordinary input there: they are added to the input count.
- Anthropic: `input_tokens` EXCLUDES `cache_read_input_tokens` and
  `cache_creation_input_tokens`; there is no separate reasoning field.
It can also misreport usage (none at all, none in Anthropic's `message_delta`, an interim chat usage
chunk, absurd counts such as 1e30), queue `background` responses, answer as many output tokens as
one output cap asks, and report a service tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

HANG_LIMIT_S = 60.0


@dataclass
class Switches:
    """What the upstream does on the next requests; reset before every test."""

    text: str = "Hello from the test upstream."
    chunks: int = 3  # content chunks in a stream
    input_tokens: int | float = 12  # uncached input (canonical); a float such as 1e30 is sent as written
    output_tokens: int | float = 7  # includes reasoning tokens
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    latency: float = 0.0  # seconds before answering
    error_status: int | None = None  # answer with this status and the provider's error body
    error_headers: dict[str, str] = field(default_factory=dict)  # e.g. {"retry-after": "7"}
    error_message: str | None = None  # the message in that body (default: "Test upstream error <status>.")
    hang: bool = False  # never answer (until the test ends)
    drop_after: int | None = None  # stream: drop the connection after N content chunks
    hold_after: int | None = None  # stream: after N content chunks wait for `release`
    release: threading.Event = field(default_factory=threading.Event)
    # Per upstream model (the body's `model`), for routing tests: answer with this status instead...
    model_errors: dict[str, int] = field(default_factory=dict)
    # ...or with the provider's "input too long for the context window" 400.
    context_models: set[str] = field(default_factory=set)
    # Misreported usage: "none" sends no usage anywhere (JSON, stream frames), "no_delta" leaves it out of
    # Anthropic's `message_delta` only, "interim" sends a chat usage chunk of 1 output token before the
    # `finish_reason` chunk (the real one follows it, 0.3 s later).
    usage_mode: str = "normal"
    honour_cap: str | None = None  # answer as many output tokens as this body field asks (`max_tokens`, ...)
    service_tier: str | None = None  # the tier the answer reports; None: the one the body asks for, if any
    audio_input_tokens: int = 0  # part of input_tokens (OpenAI `prompt_tokens_details.audio_tokens`)
    audio_output_tokens: int = 0  # part of output_tokens (`completion_tokens_details.audio_tokens`)
    cache_write_1h_tokens: int = 0  # part of cache_write_tokens (Anthropic `cache_creation.ephemeral_1h_input_tokens`)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any


class DroppedConnection(Exception):
    """Raised inside a streaming body so uvicorn aborts the connection mid-stream."""


class Upstream:
    """The running server's handle: switches, received requests, and its base URL."""

    def __init__(self) -> None:
        self.url = ""
        self.switches = Switches()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._generation = 0

    def reset(self) -> None:
        with self._lock:
            self.switches.release.set()  # free any stream still held by the previous test
            self.switches = Switches()
            self._received = []
            self._generation += 1

    def set(self, **changes: Any) -> Switches:
        for name, value in changes.items():
            if not hasattr(self.switches, name):
                raise AttributeError(f"unknown switch {name!r}")
            setattr(self.switches, name, value)
        return self.switches

    def record(self, received: Received) -> int:
        with self._lock:
            self._received.append(received)
            return self._generation

    def generation(self) -> int:
        with self._lock:
            return self._generation

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._received)

    @property
    def last(self) -> Received:
        with self._lock:
            return self._received[-1]


# --- helpers shared by the three formats -------------------------------------------------


def split_text(text: str, parts: int) -> list[str]:
    parts = max(1, min(parts, len(text) or 1))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


# A frame list entry that sends nothing: the stream pauses there (its neighbours go out in separate reads).
PAUSE = b""


def sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


async def wait_while(upstream: Upstream, generation: int, keep_waiting: Any) -> None:
    """Sleep in small steps while `keep_waiting()` holds, the test is still running and the limit not hit."""
    deadline = time.monotonic() + HANG_LIMIT_S
    while keep_waiting() and upstream.generation() == generation and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


async def paced(
    upstream: Upstream, generation: int, frames: list[bytes], content_at: list[int]
) -> AsyncIterator[bytes]:
    """Yield SSE frames, honouring drop_after / hold_after counted in content frames."""
    switches = upstream.switches
    sent_content = 0
    for index, frame in enumerate(frames):
        if frame == PAUSE:
            await asyncio.sleep(0.3)
            continue
        if index in content_at:
            if switches.drop_after is not None and sent_content >= switches.drop_after:
                # Let the client read the frames already sent, as on a real network: a reset
                # arriving before it has read them makes its kernel discard them.
                await asyncio.sleep(0.5)
                raise DroppedConnection("test upstream drops the connection")
            if switches.hold_after is not None and sent_content == switches.hold_after:
                await wait_while(upstream, generation, lambda: not switches.release.is_set())
            sent_content += 1
        yield frame


def openai_usage_numbers(s: Switches) -> tuple[int | float, int | float]:
    """OpenAI counts cached reads inside the prompt; cache writes are plain input there."""
    return s.input_tokens + s.cache_read_tokens + s.cache_write_tokens, s.output_tokens


# --- OpenAI Chat Completions ---------------------------------------------------------------


def chat_usage(s: Switches) -> dict[str, Any]:
    prompt, completion = openai_usage_numbers(s)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": s.cache_read_tokens, "audio_tokens": s.audio_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": s.reasoning_tokens, "audio_tokens": s.audio_output_tokens},
    }


def with_tier(answer: dict[str, Any], s: Switches) -> dict[str, Any]:
    return {**answer, "service_tier": s.service_tier} if s.service_tier else answer


def chat_json(s: Switches, model: str) -> dict[str, Any]:
    answer = {
        "id": "chatcmpl-upstream",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": s.text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": chat_usage(s),
    }
    if s.usage_mode == "none":
        del answer["usage"]
    return with_tier(answer, s)


def chat_frames(s: Switches, model: str, include_usage: bool) -> tuple[list[bytes], list[int]]:
    base = {"id": "chatcmpl-upstream", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    base = with_tier(base, s)
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    frames = [chunk({"role": "assistant", "content": ""})]
    content_at = []
    for piece in split_text(s.text, s.chunks):
        content_at.append(len(frames))
        frames.append(chunk({"content": piece}))
    if include_usage and s.usage_mode == "interim":
        frames.append(sse({**base, "choices": [], "usage": chat_usage(dataclasses.replace(s, output_tokens=1))}))
    frames.append(chunk({}, "stop"))
    if include_usage and s.usage_mode == "interim":
        # The real count comes a moment after the finish_reason, in a read of its own (as a provider may
        # send it): the gateway must wait for it, not settle on the interim one.
        frames.append(PAUSE)
    if include_usage and s.usage_mode != "none":
        frames.append(sse({**base, "choices": [], "usage": chat_usage(s)}))
    frames.append(sse("[DONE]"))
    return frames, content_at


# --- Anthropic Messages --------------------------------------------------------------------


def anthropic_usage(s: Switches) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": s.input_tokens,
        "cache_creation_input_tokens": s.cache_write_tokens,
        "cache_read_input_tokens": s.cache_read_tokens,
        "output_tokens": s.output_tokens,
    }
    if s.cache_write_1h_tokens:
        one_hour = s.cache_write_1h_tokens
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": s.cache_write_tokens - one_hour,
            "ephemeral_1h_input_tokens": one_hour,
        }
    return with_tier(usage, s)


def messages_json(s: Switches, model: str) -> dict[str, Any]:
    answer = {
        "id": "msg_upstream",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": s.text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": anthropic_usage(s),
    }
    if s.usage_mode == "none":
        del answer["usage"]
    return answer


def messages_frames(s: Switches, model: str) -> tuple[list[bytes], list[int]]:
    start = {**messages_json(s, model), "content": [], "stop_reason": None}
    start["usage"] = {**anthropic_usage(s), "output_tokens": 1}
    if s.usage_mode == "none":
        del start["usage"]
    end: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}}
    if s.usage_mode not in ("none", "no_delta"):
        end["usage"] = {"output_tokens": s.output_tokens}
    frames = [
        sse({"type": "message_start", "message": start}, "message_start"),
        sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    content_at = []
    for piece in split_text(s.text, s.chunks):
        content_at.append(len(frames))
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        frames.append(sse(delta, "content_block_delta"))
    frames += [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(end, "message_delta"),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return frames, content_at


# --- OpenAI Responses ----------------------------------------------------------------------


def responses_usage(s: Switches) -> dict[str, Any]:
    prompt, completion = openai_usage_numbers(s)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": s.cache_read_tokens},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": s.reasoning_tokens},
        "total_tokens": prompt + completion,
    }


def output_message(text: str, status: str) -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status == "completed" else []
    )
    return {"id": "msg_upstream", "type": "message", "status": status, "role": "assistant", "content": content}


def responses_json(s: Switches, model: str, status: str = "completed") -> dict[str, Any]:
    done = status == "completed"
    answer = {
        "id": "resp_upstream",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [output_message(s.text, status)] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": responses_usage(s) if done and s.usage_mode != "none" else None,
        "user": None,
        "metadata": {},
    }
    return with_tier(answer, s)


def responses_frames(s: Switches, model: str) -> tuple[list[bytes], list[int]]:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": responses_json(s, model, "in_progress")},
        {"type": "response.in_progress", "response": responses_json(s, model, "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": output_message("", "in_progress")},
    ]
    where = {"item_id": "msg_upstream", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    events.append({"type": "response.content_part.added", **where, "part": part})
    content_at = []
    for piece in split_text(s.text, s.chunks):
        content_at.append(len(events))
        events.append({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
    events += [
        {"type": "response.output_text.done", **where, "text": s.text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": {**part, "text": s.text}},
        {"type": "response.output_item.done", "output_index": 0, "item": output_message(s.text, "completed")},
        {"type": "response.completed", "response": responses_json(s, model)},
    ]
    frames = [sse({**event, "sequence_number": n}, event["type"]) for n, event in enumerate(events)]
    return frames, content_at


# --- errors in each provider's own body format ----------------------------------------------

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def context_error(anthropic: bool) -> JSONResponse:
    """How each provider says the input is over the model's context window."""
    if anthropic:
        message = "prompt is too long: 250000 tokens > 200000 maximum"
        return JSONResponse({"type": "error", "error": {"type": "invalid_request_error", "message": message}}, 400)
    message = "This model's maximum context length is 128000 tokens. However, your messages resulted in 250000 tokens."
    code = "context_length_exceeded"
    error = {"message": message, "type": "invalid_request_error", "param": "messages", "code": code}
    return JSONResponse({"error": error}, 400)


def error_response(status: int, anthropic: bool, headers: dict[str, str], message: str | None = None) -> JSONResponse:
    message = message or f"Test upstream error {status}."
    if anthropic:
        kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        kind, code = OPENAI_ERROR_TYPES.get(status, ("server_error", None))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


# --- the app -------------------------------------------------------------------------------


def answering(s: Switches, body: dict[str, Any]) -> Switches:
    """This request's switches: the output cap honoured, the tier the body asked for reported."""
    cap = body.get(s.honour_cap) if s.honour_cap else None
    tier = s.service_tier or body.get("service_tier")
    output = cap if isinstance(cap, int) else s.output_tokens
    return dataclasses.replace(s, output_tokens=output, service_tier=tier if isinstance(tier, str) else None)


def reply(upstream: Upstream, generation: int, path: str, body: dict[str, Any]) -> Response:
    s, model = answering(upstream.switches, body), str(body.get("model", ""))
    stream = bool(body.get("stream"))
    if path.endswith("/responses") and body.get("background"):
        # OpenAI's background mode: answered at once, the work (and its usage) comes later.
        return JSONResponse({**responses_json(s, model, "queued"), "background": True})
    if path.endswith("/messages"):
        frames, at = messages_frames(s, model) if stream else ([], [])
        payload: dict[str, Any] = messages_json(s, model)
    elif path.endswith("/responses"):
        frames, at = responses_frames(s, model) if stream else ([], [])
        payload = responses_json(s, model)
    else:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames, at = chat_frames(s, model, include_usage) if stream else ([], [])
        payload = chat_json(s, model)
    if not stream:
        return JSONResponse(payload)
    return StreamingResponse(paced(upstream, generation, frames, at), media_type="text/event-stream")


def build_app(upstream: Upstream) -> Starlette:
    async def handle(request: Request) -> Response:
        path = request.url.path
        try:
            body = await request.json()
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        generation = upstream.record(Received(path=path, headers=headers, body=body))
        s = upstream.switches
        if s.latency:
            await asyncio.sleep(s.latency)
        if s.hang:
            await wait_while(upstream, generation, lambda: True)
            return Response(status_code=499)
        if s.error_status is not None:
            return error_response(s.error_status, path.endswith("/messages"), dict(s.error_headers), s.error_message)
        model = body.get("model") if isinstance(body, dict) else None
        if isinstance(model, str) and model in s.model_errors:
            return error_response(s.model_errors[model], path.endswith("/messages"), {})
        if isinstance(model, str) and model in s.context_models:
            return context_error(path.endswith("/messages"))
        if not isinstance(body, dict) or not path.endswith(("/chat/completions", "/messages", "/responses")):
            return error_response(404 if isinstance(body, dict) else 400, path.endswith("/messages"), {})
        return reply(upstream, generation, path, body)

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


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[Upstream]:
    with serve(Upstream()) as upstream:
        yield upstream


@pytest.fixture
def upstream(upstream_server: Upstream) -> Iterator[Upstream]:
    """The session's upstream with fresh switches and an empty record."""
    upstream_server.reset()
    yield upstream_server
    upstream_server.reset()


__all__ = ["Received", "Switches", "Upstream", "serve", "upstream", "upstream_server"]
