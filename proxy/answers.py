"""What forwarding hands back (a `Completion` or a `Stream` in the client route's wire format) and its errors.

Every provider or translation failure becomes one of our `GatewayError`s with a message we wrote,
never the exception's own text (what the provider itself said is passed on once proxy.provider_errors
has made it safe): `provider_error` for a failure while calling the provider or reading its answer,
`translation_error` for a request LiteLLM's transformations refuse before anything is sent (the
client's request, so a 400).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from core.errors import (
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    UpstreamUnavailable,
)
from proxy import passthrough
from proxy.provider_errors import explained, provider_said
from proxy.stream_adapters import Adapter
from proxy.translation.core import ATTEMPT, litellm_module
from proxy.usage_normalise import Usage

logger = logging.getLogger(__name__)


@dataclass
class Completion:
    body: dict[str, Any]  # the full response, in the client route's wire format
    usage: Usage
    # The provider's own JSON bytes when the fast path answered (`body` is the same, parsed):
    # a view may send these as they are instead of serialising `body` again. None otherwise.
    raw: bytes | None = None


class Stream:
    """Async-iterable of complete SSE frames (bytes) in the client route's wire format.

    `usage` is the provider's count once it arrived, else an estimate of the tokens so far.
    """

    def __init__(self, source: Any, adapter: Adapter, provider: str) -> None:
        self._source = source
        self._adapter = adapter
        self._provider = provider
        self._closed = False

    @property
    def usage(self) -> Usage:
        return self._adapter.usage()

    @property
    def usage_reported(self) -> bool:
        return self._adapter.reported is not None

    @property
    def completed(self) -> bool:
        """The provider's terminal event and its usage have both arrived: the call can be recorded."""
        return self._adapter.complete  # a chat stream: only once a usage chunk came at or after its finish_reason

    @property
    def answer_text(self) -> str:
        """The answer's text as streamed so far (for an estimate when the provider sends no usage)."""
        return self._adapter.answer_text()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        items = aiter(self._source)
        try:
            while True:
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    break
                except Exception as exc:  # LiteLLM, httpx and aiohttp raise many types mid-stream
                    raise provider_error(exc, self._provider) from None
                for frame in self._adapter.frames(item):
                    yield frame
                if self._adapter.failed:
                    raise UpstreamUnavailable(f"The provider '{self._provider}' failed during the stream.")
            for frame in self._adapter.finish(self._provider):
                yield frame
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await close_source(self._source)


async def close_source(source: Any) -> None:
    """Release the provider connection of a stream, whichever wrapper it came in."""
    for candidate in (source, getattr(source, "response", None)):
        closer = getattr(candidate, "aclose", None)
        if callable(closer):
            try:
                await closer()
            except Exception as exc:  # closing a broken stream may fail again; nothing left to do
                logger.debug("closing a provider stream failed: %s", type(exc).__name__)
            return


def provider_error(exc: Exception, provider: str) -> GatewayError:
    """Our error for a LiteLLM/provider failure: the provider's own message made safe, never LiteLLM's text."""
    if isinstance(exc, GatewayError):
        return exc
    litellm = litellm_module()
    status = getattr(exc, "status_code", None)
    attempt = ATTEMPT.get()
    if attempt is not None and not attempt.contacted and not (isinstance(status, int) and 400 <= status < 500):
        # Raised by LiteLLM's own call path before it sent anything: its text is about its internals
        # (`'str' object has no attribute 'get'`), and the request's shape is the cause.
        logger.warning("LiteLLM refused a request for %s before sending it: %s", provider, type(exc).__name__)
        return InvalidRequest(untranslatable(provider))
    if isinstance(exc, litellm.ContextWindowExceededError):
        said = provider_said(litellm_body(exc))
        logger.warning("provider %s failed: %s: %s", provider, type(exc).__name__, said or "(no message)")
        sentence = f"The provider '{provider}' says the input is longer than the model's context window."
        status = status if isinstance(status, int) and 400 <= status < 500 else 400
        return ContextWindowExceeded(status, explained(sentence, said))
    if isinstance(status, int) and not isinstance(exc, litellm.Timeout):
        # As the provider's own answer: its status, retry-after and message, through the same path.
        return passthrough.status_error(status, exception_headers(exc), provider, litellm_body(exc))
    if isinstance(exc, litellm.Timeout | httpx.TimeoutException):
        exc = TimeoutError()
    return passthrough.transport_error(exc, provider)


# `OpenAIException - `, `AzureException APIError - `: what LiteLLM writes before the provider's answer.
_LITELLM_PREFIX = re.compile(r"[A-Za-z]+Exception(?: [A-Za-z]+)? - ")
_LITELLM_SUFFIX = re.compile(r"\.?\s*Handle with `litellm\.\w+`\.?$")


def litellm_body(exc: Exception) -> bytes:
    """The provider's answer a LiteLLM exception carries: its parsed body, else the text after LiteLLM's
    prefixes (`litellm.RateLimitError: RateLimitError: OpenAIException - <the answer>. Handle with …`)."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping) and provider_said(body):
        return orjson.dumps(body, default=str)
    text = str(getattr(exc, "message", "") or "")
    prefixes = list(_LITELLM_PREFIX.finditer(text))
    if not prefixes:
        return b""  # LiteLLM's own words, not the provider's
    answer = _LITELLM_SUFFIX.sub("", text[prefixes[-1].end() :].strip())
    if len(answer) > 2 and answer[0] == "b" and answer[1] in "'\"" and answer[-1] == answer[1]:
        answer = answer[2:-1]  # a body LiteLLM quoted as Python bytes: b'{...}'
    return answer.encode()


def translation_error(exc: Exception, provider: str) -> GatewayError:
    """Our error for a request LiteLLM's transformations refused before sending: the client's request, a 400."""
    if isinstance(exc, GatewayError):
        return exc
    litellm = litellm_module()
    logger.warning("request for provider %s could not be translated: %s", provider, type(exc).__name__)
    if isinstance(exc, litellm.UnsupportedParamsError):
        return InvalidRequest(f"The provider '{provider}' does not support a parameter of this request.")
    return InvalidRequest(untranslatable(provider))


def untranslatable(provider: str) -> str:
    return (
        f"The request could not be sent to the provider '{provider}': one of its parameters has a shape "
        "the gateway cannot translate. Check the parameters against the route's documentation."
    )


def exception_headers(exc: Exception) -> Mapping[str, str]:
    """The provider's response headers a LiteLLM exception carries (for its retry-after), else none."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    return headers if isinstance(headers, Mapping) else {}
