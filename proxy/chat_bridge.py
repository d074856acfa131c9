"""Anthropic Messages requests that LiteLLM bridges through chat completions, run by us to keep the reasoning count."""

# Why not `litellm.anthropic_messages`: for providers without a native Messages API (azure,
# gemini, cohere) LiteLLM 1.106.2 runs `LiteLLMMessagesToCompletionTransformationHandler`
# (litellm/llms/anthropic/pass_through/adapters/handler.py): Messages → chat request
# (`_prepare_completion_kwargs`), `acompletion`, then `translate_completion_output_params`
# for a JSON answer or `translate_completion_output_params_streaming` for a stream. Its
# usage translation (`translate_openai_usage_to_anthropic_usage_delta`) keeps cache reads
# apart correctly but drops `completion_tokens_details.reasoning_tokens`, which our
# accounting stores apart. So we run the same pieces, in the order
# `async_anthropic_messages_handler` runs them, and read the chat usage before it is
# converted. The client gets the same body and SSE events. LiteLLM is never imported
# here: `proxy.forwarding` hands the pieces over as a `ChatBridgeParts`.

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from proxy.messages_bridge import field, prepared_messages

# Messages parameters `_prepare_completion_kwargs` takes by name; any other one is forwarded
# verbatim onto the chat request, as LiteLLM's handler does with its extra kwargs.
NAMED_PARAMS = frozenset(
    {
        "max_tokens", "metadata", "stop_sequences", "system", "temperature", "thinking",
        "tool_choice", "tools", "top_k", "top_p",
    }
)  # fmt: skip
# `context_management` is applied before the translation (LiteLLM's polyfill), never sent on.
NOT_FORWARDED = frozenset({"model", "messages", "stream", "stream_options", "context_management"})


@dataclass(frozen=True)
class ChatBridgeParts:
    """The LiteLLM functions the chat-completions bridge runs on."""

    prepare_messages: Callable[..., tuple[Any, Any]]
    prepare_context: Callable[..., Awaitable[Any]]
    build_kwargs: Callable[..., tuple[Mapping[str, Any], dict[str, str]]]
    acompletion: Callable[..., Awaitable[Any]]
    translate_response: Callable[..., Any]
    translate_stream: Callable[..., Any]
    provider_of: Callable[[str], str]
    local_model: Callable[[str, object], str]


@dataclass(frozen=True)
class ChatBridgeCall:
    """One translated request: the `acompletion` kwargs and what the answer's translation needs."""

    kwargs: dict[str, Any]
    tool_names: dict[str, str]  # tool names LiteLLM shortened for OpenAI's limit → the client's
    polyfill: Any  # LiteLLM's context-management result, or None
    model: str  # the model name the stream's message_start reports


async def chat_call(parts: ChatBridgeParts, body: Mapping[str, Any], ours: Mapping[str, Any]) -> ChatBridgeCall:
    """The chat request for a validated Messages body plus our own call settings.

    `ours` holds model, api_key, api_base, max_retries, timeout and stream; the client cannot set them.
    """
    model = ours["model"]
    provider = parts.provider_of(model)
    messages, system = prepared_messages(parts.prepare_messages, body, ours, provider)
    polyfill = await parts.prepare_context(
        model=model,
        messages=messages,
        tools=body.get("tools"),
        system=system,
        context_management_spec=body.get("context_management"),
        litellm_metadata=None,
        additional_drop_params=None,
        llm_router=None,  # LiteLLM looks for its proxy server's router, which never runs here
    )
    if polyfill is not None:
        messages, system = polyfill.messages, polyfill.system
    named = {name: value for name, value in body.items() if name in NAMED_PARAMS}
    named["system"] = system
    extra = {name: value for name, value in body.items() if name not in NAMED_PARAMS | NOT_FORWARDED}
    extra.update({name: value for name, value in ours.items() if name not in ("model", "stream")})
    extra["custom_llm_provider"] = provider
    kwargs, tool_names = parts.build_kwargs(
        messages=messages, model=model, stream=ours["stream"], extra_kwargs=extra, **named
    )
    return ChatBridgeCall(dict(kwargs), tool_names, polyfill, parts.local_model(model, provider))


def usage_of_chunk(chunk: Any) -> Mapping[str, Any] | None:
    """The raw chat usage a stream chunk carries (the include_usage chunk), else None."""
    usage = field(chunk, "usage")
    if usage is not None and hasattr(usage, "model_dump"):
        usage = usage.model_dump(mode="json", exclude_none=True, warnings=False)
    return usage if isinstance(usage, Mapping) and usage else None
