"""An OpenAI chat request to each provider's own API, and its answer back, with LiteLLM's per-provider transformations.

The same steps LiteLLM's `completion()` and its provider handlers run, minus the call machinery:
`get_optional_params` (OpenAI parameters → the provider's, unsupported ones refused), then the
provider's `validate_environment` / URL / `transform_request`; the answer goes through the provider
config's `transform_response` (a `ModelResponse`), a stream through the provider's own
stream parser, fed the body's lines as they arrive. Per provider, as LiteLLM 1.106.2 dispatches it:
- anthropic: `AnthropicConfig` (`async_transform_request`, beta headers filtered), the chat handler's
  `ModelResponseIterator`; URL `<base>/v1/messages`.
- gemini (Google AI Studio): `async_transform_request_body` and `VertexGeminiConfig`, URL and key
  header from `VertexLLM.get_token_and_url`, the Gemini `ModelResponseIterator`.
- cohere / cohere_chat: `CohereV2ChatConfig` through the generic handler's steps.
- azure: `AzureOpenAIConfig.transform_request` (the body is OpenAI's); the answer is OpenAI chat JSON,
  read with `convert_to_model_response_object`, stream chunks as `ModelResponseStream`s.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.translation import templates
from proxy.translation.core import as_dict, http_response, litellm_module, quiet
from proxy.translation.endpoints import anthropic_url, azure_chat_url, cohere_url, gemini_base
from proxy.translation.params import config_for, optional_params


@dataclass
class ChatRequest:
    """One chat call translated for its provider: what to send, and what reading its answer needs."""

    provider: str  # LiteLLM's provider name (anthropic, gemini, cohere, cohere_chat, azure)
    model: str
    url: str
    headers: dict[str, str] = field(repr=False)
    data: dict[str, Any] = field(repr=False)
    messages: list[Any] = field(repr=False)
    optional_params: dict[str, Any] = field(repr=False)
    litellm_params: dict[str, Any] = field(repr=False)
    config: Any = field(repr=False)
    json_mode: bool = False

    def payload(self) -> bytes:
        return orjson.dumps(self.data)


@dataclass(frozen=True)
class ChatCall:
    """What a provider's request builder is given: where the call goes, and the client's OpenAI parameters."""

    provider: str
    model: str
    api_key: str = field(repr=False)
    api_base: str | None
    api_version: str | None
    params: Mapping[str, Any] = field(repr=False)
    stream: bool


@functools.lru_cache(maxsize=1024)  # bounded: model names come from clients
def provider_of(litellm_model: str) -> tuple[str, str]:
    """(LiteLLM's provider, its model name) for `prefix/model`, as `completion()` resolves them."""
    model, provider, _, _ = litellm_module().get_llm_provider(model=litellm_model)
    return provider, model


async def chat_request(
    *,
    litellm_model: str,
    api_key: str,
    api_base: str | None,
    api_version: str | None,
    params: Mapping[str, Any],
    stream: bool,
) -> ChatRequest:
    """The provider request for a validated OpenAI chat body (`params`); the body itself is never changed.

    Plain-text requests reuse their shape's translation (proxy.translation.templates)."""
    provider, model = provider_of(litellm_model)
    build = BUILDERS.get(provider)
    if build is None:
        raise LookupError(provider)
    call = ChatCall(provider, model, api_key, api_base, api_version, params, stream)
    return await templates.chat_request(call, build)


async def anthropic_request(call: ChatCall, messages: list[Any]) -> ChatRequest:
    """`AnthropicChatCompletion.completion`'s steps: its optional parameters, headers, translated body, betas."""
    litellm_module()
    from litellm.anthropic_beta_headers_manager import update_request_with_filtered_beta

    config = config_for(call.provider, call.model)
    messages = config.translate_developer_role_to_system_role(messages=messages)
    found = optional_params(call.provider, call.model, messages, call.params)
    found.pop("stream", None)
    json_mode = bool(found.pop("json_mode", False))
    sent = {**found, "is_vertex_request": False}  # what AnthropicChatCompletion.completion hands on
    url = anthropic_url(call.api_base)
    given: dict[str, Any] = {"model": call.model, "messages": messages, "optional_params": sent, "litellm_params": {}}
    headers = config.validate_environment(
        api_key=call.api_key, headers={}, api_base=url, **{**given, "model": effort_model(call.model, sent)}
    )
    data = await config.async_transform_request(**given, headers=headers)
    headers, data = update_request_with_filtered_beta(headers=headers, request_data=data, provider=call.provider)
    if call.stream:
        data["stream"] = True
    return ChatRequest(
        call.provider, call.model, url, headers, data, messages, found, given["litellm_params"], config, json_mode
    )


# Parameters whose presence makes Anthropic's effort beta header depend on the model (`is_effort_used`).
EFFORT_PARAMS = ("output_config", "reasoning_effort")


def effort_model(model: str, optional: Mapping[str, Any]) -> str:
    """The model name to give `AnthropicConfig.validate_environment`: blank unless the headers can depend on it.

    Given an API key (always, here), `validate_environment` reads the model for one answer only: whether the
    effort beta header is needed (`is_effort_used`), which is no for every model when the parameters carry
    neither of EFFORT_PARAMS. LiteLLM walks the model map before looking at the parameters (~0.35 ms a call,
    the largest step of a Claude request's build, measured), so the model is named only where it can matter.
    tests/proxy/test_translation_pins.py checks the headers equal those made with the model named.
    """
    return model if any(name in optional for name in EFFORT_PARAMS) else ""


async def gemini_request(call: ChatCall, messages: list[Any]) -> ChatRequest:
    """`VertexLLM.completion`'s steps for Google AI Studio: key header and URL, headers, the request body."""
    litellm_module()
    from litellm.llms.vertex_ai.gemini.transformation import async_transform_request_body

    config = config_for(call.provider, call.model)
    messages = config.translate_developer_role_to_system_role(messages=messages)
    found = optional_params(call.provider, call.model, messages, call.params)
    found.pop("stream", None)  # VertexLLM.completion takes it out before the transformation
    auth, url = gemini_url(call.model, call.api_key, call.api_base, call.stream)
    headers = gemini_config().validate_environment(
        api_key=dict(auth), headers=None, model=call.model, messages=messages, optional_params=found, litellm_params={}
    )
    litellm_params: dict[str, Any] = {}
    data = await async_transform_request_body(
        gemini_api_key=call.api_key,
        messages=messages,
        api_base=call.api_base,
        model=call.model,
        client=None,
        timeout=None,
        extra_headers=None,
        optional_params=copy.deepcopy(found),
        logging_obj=quiet(found),
        custom_llm_provider="gemini",
        litellm_params=litellm_params,
        vertex_project=None,
        vertex_location=None,
        vertex_auth_header=None,
    )
    config = gemini_config()  # the config VertexLLM reads answers with
    return ChatRequest(call.provider, call.model, url, headers, dict(data), messages, found, litellm_params, config)


@functools.cache
def gemini_config() -> Any:
    """`VertexGeminiConfig`, made once: like every config of params.config_for it holds no state of its own."""
    litellm_module()
    from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import VertexGeminiConfig

    return VertexGeminiConfig()


@functools.lru_cache(maxsize=256)  # bounded: model names come from clients
def gemini_url(model: str, api_key: str, api_base: str | None, stream: bool) -> tuple[tuple[tuple[str, str], ...], str]:
    """The key header and URL LiteLLM's Gemini handler would use (`VertexLLM.get_token_and_url`)."""
    litellm_module()
    from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import VertexLLM

    auth, url = VertexLLM().get_token_and_url(
        model=model,
        auth_header=None,
        gemini_api_key=api_key,
        vertex_project=None,
        vertex_location=None,
        vertex_credentials=None,
        stream=stream,
        custom_llm_provider="gemini",
        api_base=gemini_base(api_base, model),
    )
    headers: Any = auth or {}
    return tuple(dict(headers).items()), gemini_default_host(url, api_base)


def gemini_default_host(url: str, api_base: str | None) -> str:
    """A base of a bare host (`https://proxy.example`) keeps LiteLLM's default path (`/v1beta/models/...`)."""
    from urllib.parse import urlsplit

    if api_base and urlsplit(api_base).path in ("", "/"):
        parts = urlsplit(url)
        return api_base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return url


async def generic_request(call: ChatCall, messages: list[Any]) -> ChatRequest:
    """The steps of LiteLLM's generic HTTP handler (`BaseLLMHTTPHandler.completion`): Cohere's v2 config."""
    config = config_for(call.provider, call.model)
    messages = config.translate_developer_role_to_system_role(messages=messages)
    found = optional_params(call.provider, call.model, messages, call.params)
    json_mode = bool(found.pop("json_mode", False))
    found.pop("extra_body", None)
    base = cohere_url(call.api_base)
    given: dict[str, Any] = {"model": call.model, "optional_params": found, "litellm_params": {}}
    headers = config.validate_environment(headers={}, messages=messages, api_key=call.api_key, api_base=base, **given)
    url = config.get_complete_url(api_base=base, api_key=call.api_key, stream=call.stream, **given)
    data = config.transform_request(messages=messages, headers=headers, **given)
    if call.stream and config.supports_stream_param_in_request_body:
        data["stream"] = True
    return ChatRequest(
        call.provider, call.model, url, headers, data, messages, found, given["litellm_params"], config, json_mode
    )


async def azure_request(call: ChatCall, messages: list[Any]) -> ChatRequest:
    """OpenAI's format on Azure's deployment path: only the parameters are mapped (`AzureOpenAIConfig`)."""
    config = config_for(call.provider, call.model)
    found = optional_params(call.provider, call.model, messages, call.params, call.api_version)
    for name in ("stream", "stream_options", "max_retries"):
        found.pop(name, None)
    data = config.transform_request(
        model=call.model, messages=messages, optional_params=found, litellm_params={}, headers={}
    )
    if call.stream:  # Azure, like OpenAI, reports a stream's usage only when asked
        data.update(stream=True, stream_options={"include_usage": True})
    url = azure_chat_url(call.api_base, call.model, call.api_version)
    headers = {"api-key": call.api_key, "content-type": "application/json"}
    return ChatRequest(call.provider, call.model, url, headers, data, messages, found, {}, config)


BUILDERS = {
    "anthropic": anthropic_request,
    "gemini": gemini_request,
    "cohere": generic_request,
    "cohere_chat": generic_request,
    "azure": azure_request,
}


def chat_answer(request: ChatRequest, raw: bytes, headers: Mapping[str, str]) -> Any:
    """The provider's JSON answer as LiteLLM's `ModelResponse` (OpenAI's chat shape)."""
    litellm_module()
    from litellm.types.utils import ModelResponse

    if request.provider == "azure":
        from litellm.litellm_core_utils.llm_response_utils.convert_dict_to_response import (
            convert_to_model_response_object,
        )

        return convert_to_model_response_object(
            response_object=orjson.loads(raw),
            model_response_object=ModelResponse(),
            convert_tool_call_to_json_mode=request.json_mode,
            _response_headers=dict(headers),
        )
    return request.config.transform_response(
        model=request.model,
        raw_response=http_response(200, raw, headers),
        model_response=ModelResponse(),
        logging_obj=quiet(request.optional_params),
        request_data=request.data,
        messages=request.messages,
        optional_params=request.optional_params,
        litellm_params=request.litellm_params,
        encoding=None,
        api_key=None,
        json_mode=request.json_mode,
    )


def chat_answer_body(request: ChatRequest, answer: Mapping[str, Any], raw: bytes) -> dict[str, Any]:
    """The provider's JSON answer (`raw`, parsed as `answer`) as OpenAI chat JSON: LiteLLM's chat answer, dumped.

    A plain-text Claude or Gemini answer reuses its shape's translation (proxy.translation.templates) but for its
    usage, which LiteLLM reads from each answer's counts (`answer_usage`)."""
    reused = templates.reused_answer(
        "chat-answer", request, {}, answer, lambda given: as_dict(chat_answer(request, given, {}))
    )
    if reused is None:
        return as_dict(chat_answer(request, raw, {}))
    reused["usage"] = as_dict(answer_usage(request, answer))
    return reused


def answer_usage(request: ChatRequest, answer: Mapping[str, Any]) -> Any:
    """LiteLLM's usage of a plain-text answer, as its `transform_response` reads it (public parts of the same steps):
    - anthropic: `calculate_usage` (a text-only answer has no reasoning content);
    - gemini: `calculate_usage`, then the grounding counters, of which a text-only answer has none."""
    if request.provider == "anthropic":
        return request.config.calculate_usage(
            usage_object=answer["usage"],
            reasoning_content=None,
            completion_response=answer,
            speed=request.optional_params.get("speed"),
        )
    usage = request.config.calculate_usage(completion_response=answer)
    request.config.set_grounding_usage_counters(usage, [])
    return usage


def chat_chunks(request: ChatRequest, lines: AsyncIterator[str], headers: Mapping[str, str]) -> AsyncIterator[Any]:
    """The provider's stream parser over the body's lines: LiteLLM `ModelResponseStream`s (or its generic chunks)."""
    if request.provider == "anthropic":
        from litellm.llms.anthropic.chat.handler import ModelResponseIterator
        from litellm.llms.anthropic.chat.transformation import ANTHROPIC_TOOL_NAME_REVERSE_MAP_KEY

        reverse = request.litellm_params.get(ANTHROPIC_TOOL_NAME_REVERSE_MAP_KEY)
        return aiter(
            ModelResponseIterator(
                streaming_response=lines,
                sync_stream=False,
                json_mode=request.json_mode,
                speed=request.optional_params.get("speed"),
                tool_name_reverse_map=reverse if isinstance(reverse, dict) else None,
            )
        )
    if request.provider == "gemini":
        from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import ModelResponseIterator as Gemini

        parser = Gemini(
            streaming_response=lines,
            sync_stream=False,
            logging_obj=quiet(request.optional_params),
            response_headers=dict(headers),
        )
        return aiter(parser)
    if request.provider == "azure":
        return openai_chunks(lines)
    # LiteLLM's Cohere v2 parser reads one JSON event per line (v1's framing); the v2 API sends each
    # event as SSE (`event:` and `data:` lines), so the parser is handed each event's data alone.
    events = sse_data(lines) if request.provider in ("cohere", "cohere_chat") else lines
    return aiter(request.config.get_model_response_iterator(streaming_response=events, sync_stream=False))


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        if line.startswith("data:"):
            yield line[5:].strip()


async def openai_chunks(lines: AsyncIterator[str]) -> AsyncIterator[Any]:
    """OpenAI-format SSE lines (Azure's) as `ModelResponseStream`s, as LiteLLM's OpenAI handlers read them."""
    litellm_module()
    from litellm.types.utils import ModelResponseStream

    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if not data or data == "[DONE]":
            continue
        yield ModelResponseStream(**orjson.loads(data))


def stream_chunk(fields: Mapping[str, Any], chunk_id: str, created: int, model: str) -> Any:
    """A `ModelResponseStream` from LiteLLM's generic chunk (Cohere's parser), a finish reason, or a usage block."""
    litellm_module()
    from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices, Usage

    base: Any = {"id": chunk_id, "created": created, "model": model}
    if "text" not in fields and isinstance(fields.get("usage"), Mapping):
        return ModelResponseStream(**base, choices=[], usage=Usage(**fields["usage"]))
    tool = fields.get("tool_use")
    delta = Delta(
        content=fields.get("text") or None,
        tool_calls=[{**tool, "index": tool.get("index", 0)}] if isinstance(tool, Mapping) else None,
    )
    finish = fields.get("finish_reason") or None
    chunk = ModelResponseStream(**base, choices=[StreamingChoices(index=0, delta=delta, finish_reason=finish)])
    usage = fields.get("usage")
    if isinstance(usage, Mapping):
        chunk.usage = Usage(**usage)
    return chunk
