"""Same-format fast path: the validated body sent as bytes to the provider's own endpoint, its answer relayed as bytes.

proxy.forwarding takes this path when the client's wire format is the provider's own (OpenAI chat
and Responses for the openai provider and the custom OpenAI-compatible one, Anthropic Messages for
anthropic): nothing needs translating, so LiteLLM's per-call cost (NOTES "Forwarding cost") is
skipped. LiteLLM is never imported here: forwarding resolves each provider's URL and headers from
LiteLLM's provider configs once and hands them over as an `Endpoint`.

Requests go over one shared aiohttp session per event loop. Answers are read with orjson; a stream
is cut into whole SSE frames and relayed frame by frame as it arrives (the provider's own bytes
wherever nothing must change), with the usage read from its final frames by the same rules and
normalisers as the LiteLLM path's adapters (proxy.stream_adapters).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import orjson

from core.errors import (
    ContextWindowExceeded,
    GatewayError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from proxy import sse
from proxy.provider_errors import explained, provider_said
from proxy.request_params import Route
from proxy.stream_adapters import (
    RESPONSES_FAILED,
    RESPONSES_TERMINAL,
    Adapter,
    ChatAdapter,
    MessagesAdapter,
    ResponsesAdapter,
    choice_is_empty,
)
from proxy.usage_normalise import responses_usage, with_answer_tier

logger = logging.getLogger(__name__)

RETRY_AFTER = re.compile(r"\d{1,6}(\.\d{1,3})?")
# How OpenAI and Azure (`context_length_exceeded`), Anthropic (`prompt is too long`), Gemini (`exceeds the maximum
# number of tokens`) and Cohere (`too many tokens`) say an input is over the model's window, in a 400 (or 413)
# body; read only to tell that apart from other refusals (routing's context fallback).
CONTEXT_WINDOW = re.compile(
    rb"context_length_exceeded|prompt is too long|maximum context length|context window"
    rb"|exceeds the maximum number of tokens|too many tokens",
    re.I,
)
# Messages parameters for which LiteLLM rewrites the body or adds an `anthropic-beta` header per request
# (AnthropicMessagesConfig: thinking translation, context-management edits); such requests keep its path.
MESSAGES_REWRITTEN = ("thinking", "context_management")
# Plain function tools need nothing from LiteLLM; server tools (web search, tool search, advisor ...) may.
PLAIN_TOOL_TYPES = frozenset({None, "custom"})
# The shared pool: no cap of ours on connections (aiohttp's default of 100 would queue calls under load).
POOL_LIMIT = 0
DNS_CACHE_S = 300


@dataclass(frozen=True)
class Endpoint:
    """Where a provider's same-format calls go; the headers carry its key, so they stay out of repr."""

    url: str
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    proxy: str | None = field(default=None, repr=False)  # a proxy URL may carry credentials


def endpoint_for(url: str, headers: Mapping[str, str]) -> Endpoint:
    """An endpoint with the proxy the environment names for it (HTTPS_PROXY, NO_PROXY ...), as httpx would use.

    Looked up here once per scheme and host: aiohttp's own `trust_env` looks it up (and reads ~/.netrc) in a
    thread on every call, and the lookup walks the whole environment (a millisecond with a large one).
    """
    parts = urlsplit(url)
    return Endpoint(url=url, headers=tuple(headers.items()), proxy=proxy_for(parts.scheme, parts.hostname))


@functools.lru_cache(maxsize=64)  # keyed by the configured providers' hosts only
def proxy_for(scheme: str, hostname: str | None) -> str | None:
    return None if hostname and proxy_bypass(hostname) else getproxies().get(scheme)


@dataclass(frozen=True)
class Call:
    """One same-format request: where it goes, the body as bytes, and how long each step may take."""

    endpoint: Endpoint
    payload: bytes = field(repr=False)
    timeout: float
    provider: str


def messages_are_plain(body: Mapping[str, Any]) -> bool:
    """Whether LiteLLM would send this Messages body to Anthropic as it is (no rewrite, no beta header)."""
    if any(body.get(name) is not None for name in MESSAGES_REWRITTEN):
        return False
    return all(isinstance(tool, dict) and tool.get("type") in PLAIN_TOOL_TYPES for tool in body.get("tools") or [])


def request_bytes(
    *, route: Route, body: Mapping[str, Any], model: str, stream: bool, renames: tuple[tuple[str, str], ...]
) -> bytes:
    """The client's validated body as the provider gets it: our model name, usage always asked for in chat streams."""
    sent = dict(body)
    sent["model"] = model  # the bare name: exactly what is priced
    for old, new in renames:  # LiteLLM's renames for this model (max_tokens on o-series / gpt-5)
        if old in sent:
            value = sent.pop(old)
            sent.setdefault(new, value)
    if stream or "stream" in sent:
        sent["stream"] = stream
    if route is Route.CHAT and stream:
        sent["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return orjson.dumps(sent)


# --- the shared session ----------------------------------------------------------------------


@functools.cache
def session_registry() -> weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]:
    """One session per event loop (an aiohttp session is bound to its loop); a dead loop's entry goes with it."""
    return weakref.WeakKeyDictionary()


def shared_session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    registry = session_registry()
    session = registry.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL_LIMIT, ttl_dns_cache=DNS_CACHE_S),
            # A session shared by every account must never replay one provider answer's cookies on another call.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        registry[loop] = session
    return session


async def close_session() -> None:
    """Close this event loop's shared session (ASGI lifespan shutdown); the next call would open a new one."""
    session = session_registry().pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


@functools.lru_cache(maxsize=64)
def timeout_of(seconds: float) -> aiohttp.ClientTimeout:
    """LiteLLM's single timeout, as httpx applies it: for getting a connection, and for each read."""
    return aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)


# --- errors ----------------------------------------------------------------------------------


def retry_after(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The provider's retry-after header, kept only if it is a plain number of seconds."""
    if headers is None:
        return {}
    value = headers.get("retry-after") or headers.get("Retry-After")
    if isinstance(value, str) and RETRY_AFTER.fullmatch(value.strip()):
        return {"retry-after": value.strip()}
    return {}


def status_error(status: int, headers: Mapping[str, str], provider: str, body: bytes = b"") -> GatewayError:
    """Our error for a provider's non-2xx answer: its 4xx status kept, anything else a 502; its own message
    passed on once made safe (proxy.provider_errors)."""
    said = provider_said(body)
    logger.warning("provider %s answered HTTP %s: %s", provider, status, said or "(no message)")
    if 400 <= status < 500:
        message = explained(f"The provider '{provider}' refused the request (HTTP {status}).", said)
        if status in (400, 413) and CONTEXT_WINDOW.search(body[:4096]):
            return ContextWindowExceeded(status, message)
        return UpstreamError(status, message, headers=retry_after(headers))
    return UpstreamUnavailable(explained(f"The provider '{provider}' failed to answer (HTTP {status}).", said))


def transport_error(exc: BaseException, provider: str) -> GatewayError:
    """Our error for a failed connection or read: a timeout is a 504, anything else a 502."""
    if isinstance(exc, GatewayError):
        return exc
    logger.warning("provider %s failed: %s", provider, type(exc).__name__)
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError and ConnectionTimeoutError included
        return UpstreamTimeout(f"The provider '{provider}' did not answer in time.")
    return UpstreamUnavailable(f"The provider '{provider}' failed to answer.")


# --- calls -----------------------------------------------------------------------------------


async def _send(call: Call) -> aiohttp.ClientResponse:
    return await shared_session().post(
        call.endpoint.url,
        data=call.payload,
        headers=call.endpoint.headers,
        timeout=timeout_of(call.timeout),
        proxy=call.endpoint.proxy,
        allow_redirects=False,
    )


async def post(call: Call) -> aiohttp.ClientResponse:
    """POST the payload; a 2xx answer is returned unread, anything else raised as ours."""
    provider = call.provider
    try:
        try:
            response = await _send(call)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # Closed or reset before a byte of answer: almost always a pooled keep-alive connection the
            # server dropped as we reused it (uvicorn-served upstreams close idle ones after 5 s, our
            # pool keeps them 15 s). Once more, on a fresh connection, rather than a 502 for the client.
            response = await _send(call)
    except Exception as exc:  # aiohttp raises many types; all become ours
        raise transport_error(exc, provider) from None
    if 200 <= response.status < 300:
        return response
    try:
        body = await response.read()  # read to the end so the connection goes back to the pool
    except Exception as exc:  # a broken error body only costs its message and the connection
        logger.debug("reading provider %s's error body failed: %s", provider, type(exc).__name__)
        body = b""
    finally:
        response.release()
    raise status_error(response.status, response.headers, provider, body)


async def complete(call: Call) -> tuple[bytes, dict[str, Any]]:
    """A JSON answer: its bytes as the provider sent them, and the same parsed."""
    response = await post(call)
    provider = call.provider
    try:
        raw = await response.read()
    except Exception as exc:  # a connection dropped or timed out mid-body
        raise transport_error(exc, provider) from None
    finally:
        response.release()
    answer = json_loads(raw)
    if not isinstance(answer, dict):
        logger.warning("provider %s sent an answer that is not a JSON object", provider)
        raise UpstreamUnavailable("The provider's answer could not be read.")
    return raw, answer


class ResponseBody:
    """A streamed answer as raw byte chunks, each handed on as soon as it arrives; failures raised as ours."""

    def __init__(self, response: aiohttp.ClientResponse, provider: str) -> None:
        self._response = response
        self._provider = provider

    def __aiter__(self) -> ResponseBody:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._response.content.readany()
        except Exception as exc:  # a dropped connection (ClientPayloadError) or a read timeout
            raise transport_error(exc, self._provider) from None
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        # Read to the end, the connection is reused; closed early (client gone), it is dropped.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


async def open_stream(call: Call) -> ResponseBody:
    return ResponseBody(await post(call), call.provider)


# --- stream frames ---------------------------------------------------------------------------


def frame_parts(frame: bytes) -> tuple[str | None, bytes]:
    """The event name and the data of one whole SSE frame (its `data:` lines joined)."""
    event, data = None, []
    for line in frame.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[5:].strip())
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", errors="replace")
    return event, b"\n".join(data)


def json_loads(data: bytes) -> Any:
    """JSON with orjson; what it refuses, such as an integer past 64 bits (a broken usage count), with the
    standard library, which reads any integer. None if it is not JSON at all."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except ValueError:
            return None


def frame_json(data: bytes) -> dict[str, Any] | None:
    value = json_loads(data)
    return value if isinstance(value, dict) else None


def encode(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json_dumps(chunk) + b"\n\n"


def json_dumps(value: Any) -> bytes:
    """orjson's bytes; the standard library's for what orjson cannot write (an integer past 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class RawFrames:
    """Cuts the provider's bytes into whole frames; a frame that cannot be read marks the stream broken."""

    framer: sse.Framer
    failed: bool

    def frames(self, item: Any) -> list[bytes]:
        passed: list[bytes] = []
        for frame in self.framer.feed(item):
            try:
                passed += self.relay(frame)
            except (AttributeError, TypeError):  # a frame of the wrong shape: as broken as a dropped stream
                self.failed = True
            if self.failed:
                break
        return passed

    def relay(self, frame: bytes) -> list[bytes]:
        raise NotImplementedError


class RawChatAdapter(RawFrames, ChatAdapter):
    """OpenAI chat chunks as sent; only chunks with a `usage` key are rewritten (ChatAdapter's rules)."""

    def __init__(self, input_estimate: int, include_usage: bool) -> None:
        super().__init__(input_estimate, include_usage)
        self.framer = sse.Framer()

    def relay(self, frame: bytes) -> list[bytes]:
        _, data = frame_parts(frame)
        chunk = frame_json(data)  # None for `[DONE]` (finish() sends ours, as on the LiteLLM path) and comments
        if chunk is None:
            return []
        if "error" in chunk and not chunk.get("choices"):  # OpenAI reports a failure mid-stream this way
            self.failed = True
            return []
        choices = chunk.get("choices") or []
        for choice in choices:
            self.observe(choice)
        if "usage" not in chunk:
            return [frame]
        usage = chunk.pop("usage")
        if not isinstance(usage, dict):  # `"usage": null` on every chunk once usage is asked for
            return [encode(chunk)]
        usage.pop("cost", None)  # some OpenAI-compatible servers add their own price
        self.note_usage(usage, chunk)
        if all(choice_is_empty(choice) for choice in choices):
            if not self.include_usage:
                return []
            chunk["choices"] = []
        if self.include_usage:
            chunk["usage"] = usage
        return [encode(chunk)]


class RawResponsesAdapter(RawFrames, ResponsesAdapter):
    """OpenAI Responses events as sent; the usage is read from the terminal `response.*` event."""

    def __init__(self, input_estimate: int) -> None:
        super().__init__(input_estimate)
        self.framer = sse.Framer()

    def relay(self, frame: bytes) -> list[bytes]:
        _, data = frame_parts(frame)
        event = frame_json(data)
        if event is None:
            return []
        kind = event.get("type")
        if isinstance(kind, str) and kind.endswith(".delta"):
            self.count_text(event.get("delta"))
        if kind in RESPONSES_TERMINAL or kind in RESPONSES_FAILED:
            response = event.get("response") or {}
            usage = response.get("usage")
            if isinstance(usage, dict):
                self.reported = with_answer_tier(responses_usage(usage), response)
        if kind in RESPONSES_FAILED:
            self.failed = True
            return []
        self.finished = self.finished or kind in RESPONSES_TERMINAL
        return [frame]


class RawMessagesAdapter(RawFrames, MessagesAdapter):
    """Anthropic SSE as sent, read with orjson; MessagesAdapter's usage and end rules."""

    def relay(self, frame: bytes) -> list[bytes]:
        event, data = frame_parts(frame)
        self.observe(event, frame_json(data))
        return [] if self.failed else [frame]


def raw_adapter(route: Route, body: Mapping[str, Any], input_estimate: int) -> Adapter:
    if route is Route.CHAT:
        return RawChatAdapter(input_estimate, bool((body.get("stream_options") or {}).get("include_usage")))
    if route is Route.RESPONSES:
        return RawResponsesAdapter(input_estimate)
    return RawMessagesAdapter(input_estimate)
