"""Between the client formats: LiteLLM's own adapters for Messages ↔ chat, Responses ↔ chat and Messages ↔ Responses.

The same pieces LiteLLM's bridges run around `acompletion` / `aresponses`, with our transport in the middle:
- Messages → chat (azure, gemini, cohere): `prepare_native_messages` (block clean-up), the
  context-management polyfill, `LiteLLMMessagesToCompletionTransformationHandler._prepare_completion_kwargs`
  (private: the only builder of these kwargs; pinned), then `AnthropicAdapter` for the answer and its stream.
- Responses → chat (anthropic, gemini, cohere, azure off its own Responses API): `hoist_additional_tools`,
  `LiteLLMCompletionResponsesConfig` both ways, `LiteLLMCompletionStreamingIterator` for a stream.
- Messages → Responses (openai and the custom provider): `_build_responses_kwargs` (private; pinned),
  `OpenAIResponsesAPIConfig` for the body, `LiteLLMAnthropicToResponsesAPIAdapter` for the answer and
  `AnthropicResponsesStreamWrapper` for a stream. LiteLLM asks every openai-provider Responses call for
  `include: ["reasoning.encrypted_content"]`; OpenAI refuses that for models without reasoning (400
  "Encrypted content is not supported with this model.", param `include`), so it is asked for only where
  LiteLLM's model map says the model reasons.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.translation.core import as_dict, litellm_module, quiet

# Messages parameters the chat builder takes by name; any other goes on as the builder's extra kwargs.
MESSAGES_NAMED = frozenset(
    {
        "max_tokens", "metadata", "stop_sequences", "system", "temperature", "thinking", "tool_choice",
        "tools", "top_k", "top_p",
    }
)  # fmt: skip
MESSAGES_NOT_FORWARDED = frozenset({"model", "messages", "stream", "stream_options", "context_management"})
# ...and the Responses builder (which also takes context_management by name).
RESPONSES_BRIDGE_NAMED = MESSAGES_NAMED | {"context_management"}
ENCRYPTED_REASONING = "reasoning.encrypted_content"


def prepared_messages(body: Mapping[str, Any], litellm_model: str, provider: str) -> tuple[Any, Any]:
    """Messages and system after LiteLLM's block clean-up (`prepare_native_messages`), as every Messages call gets."""
    litellm_module()
    from litellm.llms.anthropic.pass_through.messages.utils import prepare_native_messages

    return prepare_native_messages(
        copy.deepcopy(body["messages"]),
        copy.deepcopy(body.get("system")),
        {},
        model=litellm_model,
        custom_llm_provider=provider,
        tools=body.get("tools"),
        api_base=None,
    )


# --- Messages → chat ------------------------------------------------------------------------------


@dataclass
class MessagesViaChat:
    """A Messages request as chat parameters, and what translating its answer back needs."""

    params: dict[str, Any] = field(repr=False)
    tool_names: dict[str, str]  # tool names LiteLLM shortened for OpenAI's 64-character limit → the client's
    polyfill: Any  # LiteLLM's context-management result, or None
    model: str  # the model name the stream's message_start reports


async def messages_to_chat(body: Mapping[str, Any], litellm_model: str, provider: str) -> MessagesViaChat:
    from litellm.llms.anthropic.pass_through.adapters import handler
    from litellm.llms.anthropic.pass_through.utils import local_model_name

    messages, system = prepared_messages(body, litellm_model, provider)
    polyfill = await handler._prepare_context_managed_request(  # as LiteLLM's own bridge does
        model=litellm_model,
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
    named = {name: value for name, value in body.items() if name in MESSAGES_NAMED}
    named["system"] = system
    extra = {name: value for name, value in body.items() if name not in MESSAGES_NAMED | MESSAGES_NOT_FORWARDED}
    extra["custom_llm_provider"] = provider
    build = handler.LiteLLMMessagesToCompletionTransformationHandler._prepare_completion_kwargs
    kwargs, tool_names = build(messages=messages, model=litellm_model, stream=False, extra_kwargs=extra, **named)
    params = {name: value for name, value in kwargs.items() if name not in ("model", "custom_llm_provider")}
    return MessagesViaChat(params, dict(tool_names), polyfill, local_model_name(litellm_model, provider))


def chat_to_messages(call: MessagesViaChat, answer: Any) -> dict[str, Any]:
    from litellm.llms.anthropic.pass_through.adapters.handler import ANTHROPIC_ADAPTER

    translated = ANTHROPIC_ADAPTER.translate_completion_output_params(
        answer, tool_name_mapping=call.tool_names, polyfill_result=call.polyfill
    )
    return as_dict(translated)


def chat_stream_to_messages(call: MessagesViaChat, chunks: Any) -> AsyncIterator[bytes]:
    """Anthropic SSE frames (bytes) made by LiteLLM's `AnthropicStreamWrapper` from chat chunks."""
    from litellm.llms.anthropic.pass_through.adapters.handler import ANTHROPIC_ADAPTER

    frames: Any = ANTHROPIC_ADAPTER.translate_completion_output_params_streaming(
        chunks, model=call.model, tool_name_mapping=call.tool_names, polyfill_result=call.polyfill, is_async=True
    )
    if frames is None:
        raise ValueError("no stream translation")
    return aiter(frames)


# --- Responses → chat -----------------------------------------------------------------------------


@dataclass
class ResponsesViaChat:
    """A Responses request as chat parameters, and what translating its answer back needs."""

    params: dict[str, Any] = field(repr=False)
    request_input: Any = field(repr=False)
    request: dict[str, Any] = field(repr=False)


def responses_to_chat(body: Mapping[str, Any], litellm_model: str, provider: str) -> ResponsesViaChat:
    litellm_module()
    from litellm.responses.additional_tools import hoist_additional_tools
    from litellm.responses.litellm_completion_transformation.transformation import LiteLLMCompletionResponsesConfig
    from litellm.responses.utils import ResponsesAPIRequestUtils

    given: dict[str, Any] = copy.deepcopy(dict(body))
    requested: Any = dict(ResponsesAPIRequestUtils.get_requested_response_api_optional_param(given))
    hoisted = hoist_additional_tools(given["input"], requested.get("tools"))
    if hoisted.hoisted:
        requested["tools"] = list(hoisted.tools)
    kwargs = LiteLLMCompletionResponsesConfig.transform_responses_api_request_to_chat_completion_request(
        model=litellm_model,
        input=hoisted.input,
        responses_api_request=requested,
        custom_llm_provider=provider,
        stream=False,
        extra_headers=None,
    )
    params = {name: value for name, value in kwargs.items() if name not in ("model", "custom_llm_provider")}
    return ResponsesViaChat(params, hoisted.input, requested)


def chat_to_responses(call: ResponsesViaChat, answer: Any) -> dict[str, Any]:
    from litellm.responses.litellm_completion_transformation.transformation import LiteLLMCompletionResponsesConfig

    request: Any = call.request
    translated = LiteLLMCompletionResponsesConfig.transform_chat_completion_response_to_responses_api_response(
        request_input=call.request_input, chat_completion_response=answer, responses_api_request=request
    )
    return as_dict(translated)


class ChunkSource:
    """What LiteLLM's Responses stream iterator reads of a `CustomStreamWrapper`: chunks, and no logging object."""

    logging_obj = None

    def __init__(self, chunks: AsyncIterator[Any]) -> None:
        self._chunks = chunks

    async def __anext__(self) -> Any:
        return await anext(self._chunks)


def chat_stream_to_responses(call: ResponsesViaChat, chunks: AsyncIterator[Any], model: str) -> AsyncIterator[Any]:
    """Responses stream events (LiteLLM's event objects) made by `LiteLLMCompletionStreamingIterator`."""
    from litellm.responses.litellm_completion_transformation.streaming_iterator import (
        LiteLLMCompletionStreamingIterator,
    )

    events = LiteLLMCompletionStreamingIterator(
        model=model,
        litellm_custom_stream_wrapper=ChunkSource(chunks),  # type: ignore[arg-type]
        request_input=call.request_input,
        responses_api_request=call.request,  # type: ignore[arg-type]
    )
    return aiter(events)


# --- Messages → Responses (openai) ----------------------------------------------------------------


def messages_to_responses(body: Mapping[str, Any], litellm_model: str, model: str, stream: bool) -> dict[str, Any]:
    """The OpenAI Responses body for a Messages request, as LiteLLM's Responses bridge builds it."""
    litellm = litellm_module()
    from litellm.llms.anthropic.pass_through.responses_adapters import handler
    from litellm.responses.utils import ResponsesAPIRequestUtils
    from litellm.types.router import GenericLiteLLMParams
    from litellm.utils import ProviderConfigManager

    messages, system = prepared_messages(body, litellm_model, "openai")
    named = {name: value for name, value in body.items() if name in RESPONSES_BRIDGE_NAMED}
    named["system"] = system
    extra = {name: value for name, value in body.items() if name not in RESPONSES_BRIDGE_NAMED | MESSAGES_NOT_FORWARDED}
    extra["custom_llm_provider"] = "openai"
    kwargs: Any = handler._build_responses_kwargs(
        messages=messages, model=litellm_model, stream=stream, extra_kwargs=extra, **named
    )
    include = [item for item in kwargs.get("include") or [] if item != ENCRYPTED_REASONING or reasons(model)]
    kwargs["include"] = include or None
    config: Any = ProviderConfigManager.get_provider_responses_api_config(
        provider=litellm.LlmProviders.OPENAI, model=model
    )
    requested = ResponsesAPIRequestUtils.get_requested_response_api_optional_param(kwargs)
    optional = ResponsesAPIRequestUtils.get_optional_params_responses_api(
        model=model, responses_api_provider_config=config, response_api_optional_params=requested
    )
    data = config.transform_responses_api_request(
        model=model,
        input=kwargs["input"],
        response_api_optional_request_params=optional,
        litellm_params=GenericLiteLLMParams(),
        headers={},
    )
    return {**dict(data), **({"stream": True} if stream else {})}


def reasons(model: str) -> bool:
    """Whether LiteLLM's model map says this openai-provider model reasons (and so accepts encrypted reasoning)."""
    try:
        return bool(litellm_module().supports_reasoning(model=model, custom_llm_provider="openai"))
    except Exception:  # a model the map does not know (the custom provider's): ask for nothing it may refuse
        return False


def responses_to_messages(answer: Mapping[str, Any]) -> dict[str, Any]:
    from litellm.llms.anthropic.pass_through.responses_adapters.transformation import (
        LiteLLMAnthropicToResponsesAPIAdapter,
    )
    from litellm.types.llms.openai import ResponsesAPIResponse

    response = ResponsesAPIResponse.model_validate(dict(answer))
    return as_dict(LiteLLMAnthropicToResponsesAPIAdapter().translate_response(response))


def responses_event(model: str, event: dict[str, Any]) -> Any:
    """One raw Responses stream event as LiteLLM's typed event, as its own Responses stream iterator makes them."""
    litellm = litellm_module()
    from litellm.utils import ProviderConfigManager

    config: Any = ProviderConfigManager.get_provider_responses_api_config(
        provider=litellm.LlmProviders.OPENAI, model=model
    )
    return config.transform_streaming_response(model=model, parsed_chunk=event, logging_obj=quiet())


def responses_stream_to_messages(events: AsyncIterator[Any], model: str) -> AsyncIterator[bytes]:
    """Anthropic SSE frames (bytes) made by LiteLLM's `AnthropicResponsesStreamWrapper` from Responses events."""
    from litellm.llms.anthropic.pass_through.responses_adapters.streaming_iterator import (
        AnthropicResponsesStreamWrapper,
    )

    return aiter(AnthropicResponsesStreamWrapper(responses_stream=events, model=model).async_anthropic_sse_wrapper())
