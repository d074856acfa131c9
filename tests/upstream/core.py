"""What every provider of the test upstream shares: the switches, the record of requests, SSE pacing, refusals.

Token usage is set canonically (uncached input, output incl. reasoning, cache read, cache
write, reasoning; audio and 1-hour cache writes as parts of those); each provider module renders it
by that provider's own convention. It can also misreport usage (none at all, in every format; none
in Anthropic's `message_delta`, an interim chat usage chunk, absurd counts such as 1e30), queue
`background` responses, answer as many output tokens as one output cap asks, and report a service tier.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

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
    # Per upstream model (the body's `model`, Gemini's from its path), for routing tests: answer with this status...
    model_errors: dict[str, int] = field(default_factory=dict)
    # ...or with the provider's "input too long for the context window" 400.
    context_models: set[str] = field(default_factory=set)
    # A safety refusal where the provider has one: "prompt" (Gemini's promptFeedback block, Azure's content-filter
    # 400) or "response" (Gemini's SAFETY finish, Azure's content_filter finish).
    safety_block: str | None = None
    # Misreported usage: "none" sends no usage anywhere (JSON, stream frames; every format), "no_delta" leaves it out of
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
    query: dict[str, str] = field(default_factory=dict)


class DroppedConnection(Exception):
    """Raised inside a streaming body so uvicorn aborts the connection mid-stream."""


class Refusal(Exception):
    """A request the real provider would refuse, as documented: carries the provider's own error answer."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


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


@dataclass(frozen=True)
class Call:
    """One request as a provider module sees it."""

    upstream: Upstream
    generation: int
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def switches(self) -> Switches:
        """This request's switches: the output cap honoured, the tier the body asked for reported."""
        s = self.upstream.switches
        cap = self.body.get(s.honour_cap) if s.honour_cap else None
        tier = s.service_tier or self.body.get("service_tier")
        output = cap if isinstance(cap, int) else s.output_tokens
        return dataclasses.replace(s, output_tokens=output, service_tier=tier if isinstance(tier, str) else None)


def with_tier(answer: dict[str, Any], s: Switches) -> dict[str, Any]:
    return {**answer, "service_tier": s.service_tier} if s.service_tier else answer


# A frame list entry that sends nothing: the stream pauses there (its neighbours go out in separate reads).
PAUSE = b""


# --- helpers shared by the formats -----------------------------------------------------------


def split_text(text: str, parts: int) -> list[str]:
    parts = max(1, min(parts, len(text) or 1))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


async def wait_while(upstream: Upstream, generation: int, keep_waiting: Callable[[], bool]) -> None:
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
    """Prompt and completion counts where cached reads count inside the prompt and cache writes are plain input."""
    return s.input_tokens + s.cache_read_tokens + s.cache_write_tokens, s.output_tokens


def require(condition: bool, refusal: Callable[[], JSONResponse]) -> None:
    if not condition:
        raise Refusal(refusal())


def is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def respond(
    call: Call, answer: Callable[[], dict[str, Any]], frames: Callable[[], tuple[list[bytes], list[int]]]
) -> Response:
    """The JSON answer, or, when the body asks for a stream, its frames paced by the switches."""
    if not call.body.get("stream"):
        return JSONResponse(answer())
    sent, content_at = frames()
    return StreamingResponse(paced(call.upstream, call.generation, sent, content_at), media_type="text/event-stream")
