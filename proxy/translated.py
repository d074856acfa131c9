"""Cross-format calls: translated with LiteLLM's per-provider transformations, carried over the pooled transport.

Which calls come here (proxy.forwarding sends the same-format ones to proxy.passthrough):
| client route | providers | how |
| --- | --- | --- |
| chat completions | anthropic, gemini, cohere, azure | the provider's own chat transformation |
| Messages | gemini, cohere, azure | Messages → chat, then as above, the answer back to Messages |
| Responses | anthropic, gemini, cohere | Responses → chat, then as above, the answer back to Responses |
| Messages | openai, the custom provider | Messages → OpenAI Responses (LiteLLM's bridge), the answer back |
That is where LiteLLM's own call paths send them; the translations are its own (proxy.translation),
only the call machinery around them is ours: one pooled aiohttp session (proxy.passthrough), the
same error mapping as same-format calls, and usage read from the provider's own answer
(proxy.provider_usage) and shown to the client as it is billed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from core.errors import GatewayError, UpstreamUnavailable
from core.providers import Target
from proxy import passthrough, sse
from proxy.answers import Completion, Stream, translation_error
from proxy.provider_usage import (
    ResponsesWatch,
    Watch,
    answer_usage,
    chat_usage_fields,
    messages_usage_fields,
    readable_answer,
    responses_usage_fields,
    watch_for,
)
from proxy.request_params import Route
from proxy.stream_adapters import MessagesAdapter, make_adapter
from proxy.translated_stream import ChatChunks, TranslatedAdapter, TranslatedSource, lines_of
from proxy.translation import chat, formats
from proxy.translation.endpoints import provider_endpoint
from proxy.usage_normalise import Usage, estimate_input_tokens, responses_usage, with_answer_tier

logger = logging.getLogger(__name__)

# The LiteLLM prefixes each route translates through the chat format (see the table above).
VIA_CHAT = {
    Route.CHAT: frozenset({"anthropic", "gemini", "cohere", "azure"}),
    Route.MESSAGES: frozenset({"gemini", "cohere", "azure"}),
    Route.RESPONSES: frozenset({"anthropic", "gemini", "cohere"}),
}
VIA_RESPONSES = {Route.MESSAGES: frozenset({"openai"})}


def translates(route: Route, target: Target) -> bool:
    prefix = target.litellm_model.partition("/")[0]
    return prefix in VIA_CHAT[route] or prefix in VIA_RESPONSES.get(route, ())


async def forward_translated(
    *, route: Route, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    if target.litellm_model.partition("/")[0] in VIA_RESPONSES.get(route, ()):
        return await forward_via_responses(target=target, body=body, stream=stream, timeout=timeout)
    return await forward_via_chat(route=route, target=target, body=body, stream=stream, timeout=timeout)


def call_for(url: str, headers: Mapping[str, str], payload: bytes, timeout: float, provider: str) -> passthrough.Call:
    return passthrough.Call(
        endpoint=passthrough.endpoint_for(url, headers), payload=payload, timeout=timeout, provider=provider
    )


# --- through the chat format ----------------------------------------------------------------------


async def forward_via_chat(
    *, route: Route, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    provider, _ = chat.provider_of(target.litellm_model)
    try:
        via: Any = None
        if route is Route.MESSAGES:
            via = await formats.messages_to_chat(body, target.litellm_model, provider)
        elif route is Route.RESPONSES:
            via = formats.responses_to_chat(body, target.litellm_model, provider)
        request = await chat.chat_request(
            litellm_model=target.litellm_model,
            api_key=target.api_key,
            api_base=target.api_base,
            api_version=target.api_version,
            params=body if via is None else via.params,
            stream=stream,
        )
    except Exception as exc:  # LiteLLM refuses what it cannot translate with many exception types
        raise translation_error(exc, target.provider) from None
    call = call_for(request.url, request.headers, request.payload(), timeout, target.provider)
    if not stream:
        raw, answer = await passthrough.complete(call)
        usage = answer_usage(provider, answer)
        raw = readable_answer(provider, answer, raw)
        return Completion(
            body=readable(lambda: chat_body(route, via, request, answer, raw, usage), target), usage=usage
        )
    source = await passthrough.open_stream(call)
    watch = watch_for(provider)
    chunks = ChatChunks(chat.chat_chunks(request, lines_of(source, watch), {}), watch, target.model, chat.stream_chunk)
    items: AsyncIterator[Any] = chunks
    if route is Route.MESSAGES:
        items = formats.chat_stream_to_messages(via, chunks)
    elif route is Route.RESPONSES:
        items = formats.chat_stream_to_responses(via, chunks, target.model)
    adapter = TranslatedAdapter(make_adapter(route, body, estimate_input_tokens(body)), watch)
    return Stream(TranslatedSource(items, source), adapter, target.provider)


def chat_body(
    route: Route, via: Any, request: chat.ChatRequest, answer: Any, raw: bytes, usage: Usage
) -> dict[str, Any]:
    """The client's answer from the provider's (`raw`, parsed as `answer`), its usage the one billed.

    A Responses answer's usage is the billed one alone, in OpenAI's fields (as a Messages answer's is in
    Anthropic's): LiteLLM's own usage translation is never shown, so plain-text answers can reuse their shape's
    translation (proxy.translation.templates)."""
    if route is Route.RESPONSES:
        read = functools.partial(chat.chat_answer, request, headers={})
        translated = formats.answer_to_responses(via, request, answer, raw, read)
        return with_usage(translated, responses_usage_fields(usage), replace=True)
    if route is Route.MESSAGES:
        translated = formats.chat_to_messages(via, chat.chat_answer(request, raw, {}))
        return with_usage(translated, messages_usage_fields(usage), replace=True)
    return with_usage(chat.chat_answer_body(request, answer, raw), chat_usage_fields(usage))


def with_usage(body: dict[str, Any], fields: dict[str, Any], *, replace: bool = False) -> dict[str, Any]:
    """The body with the billed counts in its `usage`; LiteLLM's other usage fields stay unless `replace`."""
    reported = body.get("usage")
    kept = dict(reported) if isinstance(reported, dict) and not replace else {}
    for name, value in fields.items():
        inner = kept.get(name)
        kept[name] = {**inner, **value} if isinstance(inner, dict) and isinstance(value, dict) else value
    kept.pop("cost", None)  # LiteLLM's own price guess; ours comes from the database
    body["usage"] = kept
    return body


def readable(shape: Any, target: Target) -> dict[str, Any]:
    """The translated answer; a provider answer LiteLLM cannot read is the provider's failure, not ours."""
    try:
        return shape()
    except GatewayError:
        raise
    except Exception as exc:  # LiteLLM's response transformations raise many types on an answer they cannot read
        logger.warning("provider %s: answer could not be translated: %s", target.provider, type(exc).__name__)
        raise UpstreamUnavailable("The provider's answer could not be read.") from None


# --- Messages through OpenAI's Responses API ------------------------------------------------------


async def forward_via_responses(
    *, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    try:
        sent = formats.messages_to_responses(body, target.litellm_model, target.model, stream)
    except Exception as exc:  # LiteLLM refuses what it cannot translate with many exception types
        raise translation_error(exc, target.provider) from None
    endpoint = provider_endpoint(Route.RESPONSES, "openai", target.api_base, target.api_key)
    call = passthrough.Call(endpoint=endpoint, payload=orjson.dumps(sent), timeout=timeout, provider=target.provider)
    if not stream:
        _, answer = await passthrough.complete(call)
        raw_usage = answer.get("usage")
        usage = with_answer_tier(responses_usage(raw_usage if isinstance(raw_usage, Mapping) else {}), answer)
        translated = readable(lambda: formats.responses_to_messages(answer), target)
        return Completion(body=with_usage(translated, messages_usage_fields(usage), replace=True), usage=usage)
    source = await passthrough.open_stream(call)
    watch = ResponsesWatch()
    items = formats.responses_stream_to_messages(responses_events(source, watch, target.model), target.model)
    adapter = TranslatedAdapter(MessagesAdapter(estimate_input_tokens(body)), watch)
    return Stream(TranslatedSource(items, source), adapter, target.provider)


async def responses_events(chunks: AsyncIterator[bytes], watch: Watch, model: str) -> AsyncIterator[Any]:
    """The provider's Responses SSE as LiteLLM's typed events, each shown to `watch` first."""
    framer = sse.Framer()
    async for chunk in chunks:
        for frame in framer.feed(chunk):
            _, data = passthrough.frame_parts(frame)
            event = passthrough.frame_json(data)
            if event is None:
                continue
            watch.data(event)
            yield formats.responses_event(model, event)
