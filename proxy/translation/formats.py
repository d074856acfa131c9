"""Between the client formats: LiteLLM's own adapters for Messages ↔ chat, Responses ↔ chat and Messages ↔ Responses.

The same pieces LiteLLM's bridges run around `acompletion` / `aresponses`, with our transport in the middle:
- Messages → chat (azure, gemini, cohere): `prepare_native_messages` (block clean-up), the
  context-management polyfill, `LiteLLMMessagesToCompletionTransformationHandler._prepare_completion_kwargs`
  (private: the only builder of these kwargs; pinned), then `AnthropicAdapter` for the answer and its stream.
- Responses → chat (anthropic, gemini, cohere, azure off its own Responses API): `hoist_additional_tools`,
  `LiteLLMCompletionResponsesConfig` both ways, `LiteLLMCompletionStreamingIterator` for a stream.
- Messages → Responses (openai and the custom provider): the steps of `_build_responses_kwargs` from their
  public parts (`LiteLLMAnthropicToResponsesAPIAdapter.translate_request`; pinned to it), `OpenAIResponsesAPIConfig`
  for the body, `LiteLLMAnthropicToResponsesAPIAdapter` for the answer and
  `AnthropicResponsesStreamWrapper` for a stream. LiteLLM asks every openai-provider Responses call for
  `include: ["reasoning.encrypted_content"]`; OpenAI refuses that for models without reasoning (400
  "Encrypted content is not supported with this model.", param `include`), so it is asked for only where
  LiteLLM's model map says the model reasons.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.translation import templates
from proxy.translation.core import as_dict, litellm_module, quiet

# Messages parameters the chat builder takes by name; any other goes on as the builder's extra kwargs.
MESSAGES_NAMED = frozenset(
    {
        "max_tokens", "metadata", "stop_sequences", "system", "temperature", "thinking", "tool_choice",
        "tools", "top_k", "top_p",
    }
)  # fmt: skip
MESSAGES_NOT_FORWARDED = frozenset({"model", "messages", "stream", "stream_options", "context_management"})
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
    litellm_module()
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
    litellm_module()
    from litellm.llms.anthropic.pass_through.adapters.handler import ANTHROPIC_ADAPTER

    translated = ANTHROPIC_ADAPTER.translate_completion_output_params(
        answer, tool_name_mapping=call.tool_names, polyfill_result=call.polyfill
    )
    return as_dict(translated)


def chat_stream_to_messages(call: MessagesViaChat, chunks: Any) -> AsyncIterator[bytes]:
    """Anthropic SSE frames (bytes) made by LiteLLM's `AnthropicStreamWrapper` from chat chunks."""
    litellm_module()
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

    given: dict[str, Any] = copy.deepcopy(dict(body))
    requested: Any = requested_responses_params(given)
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


def requested_responses_params(body: Mapping[str, Any]) -> dict[str, Any]:
    """`ResponsesAPIRequestUtils.get_requested_response_api_optional_param` for a validated body (pinned to it):
    the optional Responses parameters that are set, OpenAI metadata as LiteLLM converts it."""
    litellm_module()
    from litellm.utils import add_openai_metadata

    found = {name: value for name, value in body.items() if name in responses_params() and value is not None}
    found.pop("input", None)
    if "metadata" in found:
        converted = add_openai_metadata(found["metadata"] if isinstance(found["metadata"], dict) else None)
        if converted is None:
            found.pop("metadata")
        else:
            found["metadata"] = converted
    return found


def chat_to_responses(call: ResponsesViaChat, answer: Any) -> dict[str, Any]:
    litellm_module()
    from litellm.responses.litellm_completion_transformation.transformation import LiteLLMCompletionResponsesConfig

    request: Any = call.request
    translated = LiteLLMCompletionResponsesConfig.transform_chat_completion_response_to_responses_api_response(
        request_input=call.request_input, chat_completion_response=answer, responses_api_request=request
    )
    return as_dict(translated)


def answer_to_responses(
    call: ResponsesViaChat, request: Any, answer: Any, raw: bytes, read: Callable[[bytes], Any]
) -> dict[str, Any]:
    """A provider's JSON answer (`raw`, parsed as `answer`) as a Responses one: `read` (the provider's chat answer),
    then `chat_to_responses`; plain-text answers reuse their shape's translation (proxy.translation.templates).
    Its `usage` is the caller's to fill."""

    def translate(given: bytes) -> dict[str, Any]:
        return chat_to_responses(call, read(given))

    reused = templates.reused_answer("responses-answer", request, call.request, answer, translate)
    return translate(raw) if reused is None else reused


class ChunkSource:
    """What LiteLLM's Responses stream iterator reads of a `CustomStreamWrapper`: chunks, and a logging object.

    A quiet one: with none at all, LiteLLM's stream builder prices the answer from its cost map.
    """

    def __init__(self, chunks: AsyncIterator[Any]) -> None:
        self._chunks = chunks
        self.logging_obj = quiet()

    async def __anext__(self) -> Any:
        return await anext(self._chunks)


def chat_stream_to_responses(call: ResponsesViaChat, chunks: AsyncIterator[Any], model: str) -> AsyncIterator[Any]:
    """Responses stream events (LiteLLM's event objects) made by `LiteLLMCompletionStreamingIterator`."""
    litellm_module()
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


# The Messages fields LiteLLM's Responses bridge (`_build_responses_kwargs`) hands its adapter; the other named
# ones (stop_sequences, top_k) it drops, and any other field goes on as it is (service_tier).
RESPONSES_BRIDGE_FIELDS = (
    "context_management", "output_config", "metadata", "system", "temperature", "thinking", "tool_choice",
    "tools", "top_p", "output_format",
)  # fmt: skip
RESPONSES_BRIDGE_DROPPED = frozenset({"stop_sequences", "top_k"})


def messages_to_responses(body: Mapping[str, Any], litellm_model: str, model: str, stream: bool) -> dict[str, Any]:
    """The OpenAI Responses body for a Messages request; plain-text requests reuse their shape's translation
    (proxy.translation.templates)."""
    return templates.messages_to_responses(
        body,
        (litellm_model, model, stream),
        lambda given: translate_messages_to_responses(given, litellm_model, model, stream),
    )


def translate_messages_to_responses(
    body: Mapping[str, Any], litellm_model: str, model: str, stream: bool
) -> dict[str, Any]:
    """The OpenAI Responses body for a Messages request: the steps of LiteLLM's bridge (`_build_responses_kwargs`,
    then `aresponses`' parameter mapping and `transform_responses_api_request`), from their public parts.

    Run here rather than through `_build_responses_kwargs`, which is private and decides the
    `include` itself (for every openai model: see the module docstring); tests pin the result to it.
    """
    litellm_module()
    from litellm.llms.anthropic.pass_through.responses_adapters.transformation import (
        LiteLLMAnthropicToResponsesAPIAdapter,
    )
    from litellm.llms.anthropic.pass_through.utils import normalize_reasoning_effort_value
    from litellm.types.llms.anthropic import AnthropicMessagesRequest

    messages, system = prepared_messages(body, litellm_model, "openai")
    request: dict[str, Any] = {"model": litellm_model, "messages": messages, "max_tokens": body["max_tokens"]}
    given = {**body, "system": system}
    request.update({name: given[name] for name in RESPONSES_BRIDGE_FIELDS if given.get(name) is not None})
    adapter = LiteLLMAnthropicToResponsesAPIAdapter()
    kwargs: dict[str, Any] = adapter.translate_request(
        AnthropicMessagesRequest(**request),  # type: ignore[typeddict-item]
        include_encrypted_reasoning=reasons(model),
    )
    reasoning = kwargs.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        effort = normalize_reasoning_effort_value(
            reasoning["effort"], model=litellm_model, custom_llm_provider="openai"
        )
        kwargs["reasoning"] = {**reasoning, "effort": effort}
    skipped = {*RESPONSES_BRIDGE_FIELDS, *RESPONSES_BRIDGE_DROPPED, "model", "messages", "max_tokens", "stream"}
    kwargs.update({name: value for name, value in body.items() if name not in skipped and name not in kwargs})
    return responses_body(model, kwargs, stream)


def responses_body(model: str, kwargs: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    """`aresponses`' steps for the openai provider: its optional parameters, mapped, then its request body."""
    litellm = litellm_module()
    from litellm.types.router import GenericLiteLLMParams
    from litellm.utils import ProviderConfigManager

    config: Any = ProviderConfigManager.get_provider_responses_api_config(
        provider=litellm.LlmProviders.OPENAI, model=model
    )
    requested = {name: value for name, value in kwargs.items() if name in responses_params() and value is not None}
    unknown = sorted(set(requested) - responses_supported(model))
    if unknown:
        raise litellm.UnsupportedParamsError(status_code=400, message=f"openai does not support {unknown}")
    optional = config.map_openai_params(response_api_optional_params=requested, model=model, drop_params=False)
    data = config.transform_responses_api_request(
        model=model,
        input=kwargs["input"],
        response_api_optional_request_params=dict(optional),
        litellm_params=GenericLiteLLMParams(),
        headers={},
    )
    return {**dict(data), **({"stream": True} if stream else {})}


@functools.cache
def responses_params() -> frozenset[str]:
    """The optional Responses parameters (`ResponsesAPIOptionalRequestParams`): LiteLLM reads them per call."""
    from typing import get_type_hints

    litellm_module()
    from litellm.types.llms.openai import ResponsesAPIOptionalRequestParams

    return frozenset(get_type_hints(ResponsesAPIOptionalRequestParams))


@functools.lru_cache(maxsize=1024)  # bounded: model names come from clients
def responses_supported(model: str) -> frozenset[str]:
    litellm = litellm_module()
    from litellm.utils import ProviderConfigManager

    config: Any = ProviderConfigManager.get_provider_responses_api_config(
        provider=litellm.LlmProviders.OPENAI, model=model
    )
    return frozenset(config.get_supported_openai_params(model))


@functools.lru_cache(maxsize=1024)  # bounded: model names come from clients
def reasons(model: str) -> bool:
    """Whether LiteLLM's model map says this openai-provider model reasons (and so accepts encrypted reasoning)."""
    try:
        return bool(litellm_module().supports_reasoning(model=model, custom_llm_provider="openai"))
    except Exception:  # a model the map does not know (the custom provider's): ask for nothing it may refuse
        return False


def responses_to_messages(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A Responses answer as a Messages one, its `usage` left out (zeros): the caller puts the billed counts there.

    LiteLLM's adapter reads the answer's usage for the Messages usage block only (two pydantic conversions,
    ~0.03 ms a call), which proxy.translated replaces whole; tests/proxy/test_translation_pins.py checks that the
    rest of the answer is the same with the usage given."""
    litellm_module()
    from litellm.llms.anthropic.pass_through.responses_adapters.transformation import (
        LiteLLMAnthropicToResponsesAPIAdapter,
    )
    from litellm.types.llms.openai import ResponsesAPIResponse

    response = ResponsesAPIResponse.model_validate({name: value for name, value in answer.items() if name != "usage"})
    return as_dict(LiteLLMAnthropicToResponsesAPIAdapter().translate_response(response))


# The events `AnthropicResponsesStreamWrapper` reads with `getattr` only (the others it reads as dicts too).
TYPED_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def responses_event(model: str, event: dict[str, Any]) -> Any:
    """One raw Responses stream event as LiteLLM's stream wrapper reads it: the terminal ones typed, as LiteLLM's
    own Responses stream iterator makes them (`transform_streaming_response`), the others as they are."""
    if event.get("type") not in TYPED_EVENTS:
        return event
    litellm = litellm_module()
    from litellm.utils import ProviderConfigManager

    config: Any = ProviderConfigManager.get_provider_responses_api_config(
        provider=litellm.LlmProviders.OPENAI, model=model
    )
    return config.transform_streaming_response(model=model, parsed_chunk=event, logging_obj=quiet())


def responses_stream_to_messages(events: AsyncIterator[Any], model: str) -> AsyncIterator[bytes]:
    """Anthropic SSE frames (bytes) made by LiteLLM's `AnthropicResponsesStreamWrapper` from Responses events."""
    litellm_module()
    from litellm.llms.anthropic.pass_through.responses_adapters.streaming_iterator import (
        AnthropicResponsesStreamWrapper,
    )

    return aiter(AnthropicResponsesStreamWrapper(responses_stream=events, model=model).async_anthropic_sse_wrapper())
