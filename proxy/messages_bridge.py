"""Anthropic Messages requests for OpenAI-protocol models, bridged to the Responses API by us.

Why not `litellm.anthropic_messages`: for the openai provider (our custom OpenAI-compatible
provider included) LiteLLM 1.106.2 bridges a Messages request to the OpenAI Responses API
and converts the Responses usage into Anthropic usage, which has no field for the
reasoning-token count: `output_tokens_details.reasoning_tokens` is lost. Our accounting
stores reasoning tokens apart, so we run the same bridge from LiteLLM's own pieces
(`LiteLLMMessagesToResponsesAPIHandler.async_anthropic_messages_handler` does exactly this)
and read the usage before it is converted:
- `prepare_native_messages` (the block clean-up every Messages request gets),
- `_build_responses_kwargs` (Messages parameters → `aresponses` keyword arguments),
- `aresponses`, then `LiteLLMAnthropicToResponsesAPIAdapter.translate_response` for a JSON
  answer or `AnthropicResponsesStreamWrapper` for a stream (Responses events → Anthropic SSE).
The client gets the same body and SSE events as through `anthropic_messages`. LiteLLM is
never imported here: `proxy.forwarding` hands these pieces over as a `BridgeParts`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# The openai provider is the one LiteLLM 1.106.2 bridges to the Responses API
# (`_RESPONSES_API_PROVIDERS` in litellm/llms/anthropic/pass_through/messages/handler.py);
# azure goes through its chat-completions bridge instead.
BRIDGED_PROVIDER = "openai"
# Messages parameters `_build_responses_kwargs` takes by name; any other one is forwarded
# verbatim onto the Responses request, as LiteLLM's handler does with its extra kwargs.
NAMED_PARAMS = frozenset(
    {
        "max_tokens", "context_management", "metadata", "stop_sequences", "system", "temperature",
        "thinking", "tool_choice", "tools", "top_k", "top_p",
    }
)  # fmt: skip
NOT_FORWARDED = frozenset({"model", "messages", "stream", "stream_options"})
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})


@dataclass(frozen=True)
class BridgeParts:
    """The LiteLLM functions and classes the bridge runs on."""

    prepare_messages: Callable[..., tuple[Any, Any]]
    build_kwargs: Callable[..., dict[str, Any]]
    aresponses: Callable[..., Awaitable[Any]]
    translate_response: Callable[[Any], Any]
    stream_wrapper: Callable[..., Any]


def is_bridged(litellm_model: str) -> bool:
    """Whether LiteLLM would send a Messages request for this model through the Responses API."""
    return litellm_model.partition("/")[0] == BRIDGED_PROVIDER


def prepared_messages(
    prepare: Callable[..., tuple[Any, Any]], body: Mapping[str, Any], ours: Mapping[str, Any], provider: str
) -> tuple[Any, Any]:
    """Messages and system after LiteLLM's block clean-up (`prepare_native_messages`), for either bridge."""
    return prepare(
        body["messages"],
        body.get("system"),
        {},
        model=ours["model"],
        custom_llm_provider=provider,
        tools=body.get("tools"),
        api_base=ours.get("api_base"),
    )


def responses_kwargs(parts: BridgeParts, body: Mapping[str, Any], ours: Mapping[str, Any]) -> dict[str, Any]:
    """`aresponses` keyword arguments for a validated Messages body plus our own call settings.

    `ours` holds model, api_key, api_base, max_retries, timeout and stream; the client cannot set them.
    """
    model = ours["model"]
    messages, system = prepared_messages(parts.prepare_messages, body, ours, BRIDGED_PROVIDER)
    named = {name: value for name, value in body.items() if name in NAMED_PARAMS}
    named["system"] = system
    extra = {name: value for name, value in body.items() if name not in NAMED_PARAMS | NOT_FORWARDED}
    extra.update({name: value for name, value in ours.items() if name not in ("model", "stream")})
    extra["custom_llm_provider"] = BRIDGED_PROVIDER
    return parts.build_kwargs(messages=messages, model=model, stream=ours["stream"], extra_kwargs=extra, **named)


def field(source: Any, name: str) -> Any:
    """A field of a LiteLLM object, which may be a pydantic model or a plain dict."""
    return source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)


def usage_of(response: Any) -> Mapping[str, Any]:
    """The raw usage of a `ResponsesAPIResponse` (or its dict) as plain data; empty if it has none."""
    usage = field(response, "usage")
    if usage is not None and hasattr(usage, "model_dump"):
        usage = usage.model_dump(mode="json", exclude_none=True, warnings=False)
    return usage if isinstance(usage, Mapping) else {}


def usage_of_event(event: Any) -> Mapping[str, Any] | None:
    """The raw Responses usage of a terminal stream event, else None."""
    if field(event, "type") not in TERMINAL_EVENTS:
        return None
    return usage_of(field(event, "response")) or None


class UsageTap:
    """Passes the provider's stream items through unchanged, handing any usage `read` finds to `on_usage`.

    `read` defaults to the Responses terminal event's usage; proxy.chat_bridge passes its chunk reader.
    """

    def __init__(
        self,
        events: Any,
        on_usage: Callable[[Mapping[str, Any]], None],
        read: Callable[[Any], Mapping[str, Any] | None] = usage_of_event,
    ) -> None:
        self.events = events
        self._iterator = aiter(events)
        self._on_usage = on_usage
        self._read = read

    def __aiter__(self) -> UsageTap:
        # The stream wrappers run `async for` afresh on every pull: it must resume, not restart.
        return self

    async def __anext__(self) -> Any:
        event = await anext(self._iterator)
        usage = self._read(event)
        if usage is not None:
            self._on_usage(usage)
        return event


class BridgedSource:
    """The Anthropic SSE bytes of a bridged stream (either bridge); closing it releases the provider's stream too."""

    def __init__(self, frames: Any, tap: UsageTap, close: Callable[[Any], Awaitable[None]]) -> None:
        self._frames = frames
        self._tap = tap
        self._close = close

    def __aiter__(self) -> AsyncIterator[Any]:
        return aiter(self._frames)

    async def aclose(self) -> None:
        # The SSE wrappers do not close the provider stream they read from.
        await self._close(self._frames)
        await self._close(self._tap.events)
