"""Forwarding service: the only module that imports LiteLLM.

`forward()` sends one validated request to its target provider through LiteLLM and
returns our own types: a `Completion` (body in the client route's wire format plus
canonical `Usage`) or a `Stream` of complete SSE frames in that format. Every LiteLLM
or provider failure becomes one of our `GatewayError`s with a message we wrote.
LiteLLM is imported lazily by `litellm_module()`, so importing this module is cheap.
Messages requests for openai-provider models run LiteLLM's Responses bridge from its
parts (`bridge_parts()`, used by proxy.messages_bridge), and those LiteLLM bridges through
chat completions (azure, gemini, cohere) its chat bridge (`chat_bridge_parts()`, used by
proxy.chat_bridge), both to keep the reasoning count.
Same-format calls (OpenAI chat and Responses on the openai provider and the custom one, Anthropic
Messages on anthropic) skip LiteLLM's call path when `settings.GATEWAY_FAST_PATH` is on: the body goes
as bytes through proxy.passthrough, to the URL and with the headers LiteLLM's provider configs give,
resolved once per provider and base (`provider_endpoint()`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx
from django.conf import settings

from core.errors import (
    ContextWindowExceeded,
    GatewayError,
    InvalidRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from core.providers import Target
from proxy import passthrough
from proxy.chat_bridge import ChatBridgeParts, chat_call, usage_of_chunk
from proxy.messages_bridge import BridgedSource, BridgeParts, UsageTap, is_bridged, responses_kwargs, usage_of
from proxy.passthrough import Endpoint
from proxy.provider_errors import explained, provider_said
from proxy.request_params import Route, validate_body
from proxy.stream_adapters import Adapter, BridgedMessagesAdapter, make_adapter
from proxy.usage_normalise import (
    Usage,
    chat_usage,
    estimate_input_tokens,
    messages_usage,
    responses_usage,
    with_answer_tier,
)

__all__ = ["Completion", "Route", "Stream", "Usage", "forward", "forwarding_close", "known_models", "validate_body"]

logger = logging.getLogger(__name__)

CHAT_MODES = frozenset({"chat", "responses"})
# LiteLLM's cost map names some of our providers differently.
COST_MAP_PROVIDERS = {"cohere": ("cohere", "cohere_chat"), "gemini": ("gemini",)}


@functools.cache
def litellm_module() -> ModuleType:
    """LiteLLM, imported once on first use with its network and banner side effects off."""
    # Without this the import downloads the model cost map from GitHub.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    # ...and without this the first Anthropic call fetches a beta-headers config from GitHub.
    os.environ["LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"] = "True"
    import litellm

    litellm.suppress_debug_info = True  # else a banner is printed on every failure
    # 1.106.2 has no telemetry switch. The one callback registered only marks a call as sent (`Attempt`).
    litellm.input_callback.append(contact_hook())
    return litellm


@dataclass
class Attempt:
    """One forwarding attempt on LiteLLM's path: whether LiteLLM got as far as sending it to the provider.

    A failure before that is the request's own (a shape LiteLLM cannot translate), never the provider's:
    a 400 for the client, and no mark against a deployment's health (proxy.routed).
    """

    contacted: bool = False


# The attempt being forwarded in this context; LiteLLM's helper threads and tasks copy the context, so they see it.
ATTEMPT: ContextVar[Attempt | None] = ContextVar("gateway_forward_attempt", default=None)


@functools.cache
def contact_hook() -> Any:
    """A LiteLLM input callback: LiteLLM calls `log_pre_api_call` just before its request to the provider."""
    from litellm.integrations.custom_logger import CustomLogger

    class ContactHook(CustomLogger):  # type: ignore[misc]
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            attempt = ATTEMPT.get()
            if attempt is not None:
                attempt.contacted = True

    return ContactHook()


@functools.cache
def bridge_parts() -> BridgeParts:
    """LiteLLM's Messages → Responses bridge pieces, for proxy.messages_bridge (see why there)."""
    litellm = litellm_module()
    from litellm.llms.anthropic.pass_through.messages.utils import prepare_native_messages
    from litellm.llms.anthropic.pass_through.responses_adapters import handler, streaming_iterator, transformation

    return BridgeParts(
        prepare_messages=prepare_native_messages,
        build_kwargs=handler._build_responses_kwargs,  # the builder LiteLLM's own bridge uses
        aresponses=litellm.aresponses,
        translate_response=transformation.LiteLLMAnthropicToResponsesAPIAdapter().translate_response,
        stream_wrapper=streaming_iterator.AnthropicResponsesStreamWrapper,
    )


@functools.cache
def chat_bridge_parts() -> ChatBridgeParts:
    """LiteLLM's Messages → chat completions bridge pieces, for proxy.chat_bridge (see why there)."""
    litellm = litellm_module()
    from litellm.llms.anthropic.pass_through.adapters import handler
    from litellm.llms.anthropic.pass_through.messages.utils import prepare_native_messages
    from litellm.llms.anthropic.pass_through.utils import local_model_name

    bridge = handler.LiteLLMMessagesToCompletionTransformationHandler
    return ChatBridgeParts(
        prepare_messages=prepare_native_messages,
        prepare_context=handler._prepare_context_managed_request,  # as LiteLLM's own bridge does
        build_kwargs=bridge._prepare_completion_kwargs,
        acompletion=litellm.acompletion,
        translate_response=handler.ANTHROPIC_ADAPTER.translate_completion_output_params,
        translate_stream=handler.ANTHROPIC_ADAPTER.translate_completion_output_params_streaming,
        provider_of=lambda model: litellm.get_llm_provider(model=model)[1],
        local_model=local_model_name,
    )


@functools.lru_cache(maxsize=1024)  # bounded: model names come from clients
def is_chat_bridged(litellm_model: str) -> bool:
    """Whether `anthropic_messages` would bridge this model through chat completions (LiteLLM's own test)."""
    litellm = litellm_module()
    from litellm.llms.anthropic.pass_through.messages import handler
    from litellm.utils import ProviderConfigManager

    try:
        model, provider, _, _ = litellm.get_llm_provider(model=litellm_model)
        native = ProviderConfigManager.get_provider_anthropic_messages_config(
            model=model, provider=litellm.LlmProviders(provider)
        )
    except Exception:  # an unknown model or provider: leave it to anthropic_messages to refuse
        return False
    return native is None and not handler._should_route_to_responses_api(provider, litellm_model, model)


@dataclass
class Completion:
    body: dict[str, Any]  # the full response, in the client route's wire format
    usage: Usage
    # The provider's own JSON bytes when the fast path answered (`body` is the same, parsed):
    # a view may send these as they are instead of serialising `body` again. None on LiteLLM's path.
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
        return self._adapter.complete

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
                except Exception as exc:  # LiteLLM and httpx raise many types mid-stream
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
    """Release the provider connection of a LiteLLM stream, whichever wrapper it came in."""
    for candidate in (source, getattr(source, "response", None)):
        closer = getattr(candidate, "aclose", None)
        if callable(closer):
            try:
                await closer()
            except Exception as exc:  # closing a broken stream may fail again; nothing left to do
                logger.debug("closing a provider stream failed: %s", type(exc).__name__)
            return


async def forward(
    *, route: Route, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    """Send one request to `target` and return its answer in the route's wire format."""
    # The views validate before admission already; checking again here keeps forward() from ever
    # handing LiteLLM a client-chosen api_base or similar, whoever calls it (microseconds).
    validate_body(route, body)
    if settings.GATEWAY_FAST_PATH and same_format(route, target, body):
        return await forward_direct(route=route, target=target, body=body, stream=stream, timeout=timeout)
    token = ATTEMPT.set(Attempt())
    try:
        return await forward_litellm(route=route, target=target, body=body, stream=stream, timeout=timeout)
    finally:
        ATTEMPT.reset(token)


async def forward_litellm(
    *, route: Route, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    """LiteLLM's path: its translation for cross-format calls, its bridges for Messages to other providers."""
    if route is Route.MESSAGES and is_bridged(target.litellm_model):
        return await forward_bridged(target=target, body=body, stream=stream, timeout=timeout)
    if route is Route.MESSAGES and is_chat_bridged(target.litellm_model):
        return await forward_chat_bridged(target=target, body=body, stream=stream, timeout=timeout)
    call = entry_point(route)
    try:
        result = await call(**call_kwargs(route, target, body, stream, timeout))
    except Exception as exc:  # every LiteLLM/provider failure becomes one of ours
        raise provider_error(exc, target.provider) from None
    if stream:
        adapter = make_adapter(route, body, estimate_input_tokens(body))
        return Stream(result, adapter, target.provider)
    return completion(route, result)


# --- same-format fast path (proxy.passthrough) -------------------------------------------------

SAME_FORMAT = {Route.CHAT: "openai", Route.RESPONSES: "openai", Route.MESSAGES: "anthropic"}
NORMALISE = {Route.CHAT: chat_usage, Route.RESPONSES: responses_usage, Route.MESSAGES: messages_usage}


def same_format(route: Route, target: Target, body: Mapping[str, Any]) -> bool:
    """Whether the client's wire format is the provider's own, so that nothing needs translating."""
    if target.litellm_model.partition("/")[0] != SAME_FORMAT[route]:
        return False
    return route is not Route.MESSAGES or passthrough.messages_are_plain(body)


async def forward_direct(
    *, route: Route, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    """The body as bytes to the provider's own endpoint, the answer read without LiteLLM."""
    prefix = SAME_FORMAT[route]
    endpoint = provider_endpoint(route, prefix, target.api_base, target.api_key)
    renames = chat_renames(target.model) if route is Route.CHAT else ()
    if route is Route.RESPONSES and isinstance(body.get("previous_response_id"), str):
        body = {**body, "previous_response_id": original_response_id(body["previous_response_id"])}
    payload = passthrough.request_bytes(route=route, body=body, model=target.model, stream=stream, renames=renames)
    call = passthrough.Call(endpoint=endpoint, payload=payload, timeout=timeout, provider=target.provider)
    if not stream:
        raw, answer = await passthrough.complete(call)
        usage = answer.get("usage")
        normalised = NORMALISE[route](usage if isinstance(usage, Mapping) else {})
        return Completion(body=answer, usage=with_answer_tier(normalised, answer), raw=raw)
    source = await passthrough.open_stream(call)
    return Stream(source, passthrough.raw_adapter(route, body, estimate_input_tokens(body)), target.provider)


@functools.lru_cache(maxsize=64)  # keyed by configured providers only: bases and keys come from the environment
def provider_endpoint(route: Route, prefix: str, api_base: str | None, api_key: str) -> Endpoint:
    """The URL and headers LiteLLM's provider config would use for this route, resolved once."""
    litellm = litellm_module()
    provider = litellm.LlmProviders(prefix)
    if route is Route.MESSAGES:
        return messages_endpoint(provider, api_base, api_key)
    return openai_endpoint(route, provider, api_base, api_key)


def messages_endpoint(provider: Any, api_base: str | None, api_key: str) -> Endpoint:
    from litellm.utils import ProviderConfigManager

    config = ProviderConfigManager.get_provider_anthropic_messages_config(model="", provider=provider)
    if config is None:
        raise UpstreamUnavailable(f"The provider '{provider.value}' has no Messages endpoint.")
    url = config.get_complete_url(api_base=api_base, api_key=api_key, model="", optional_params={}, litellm_params={})
    # With no optional params this is the fixed set: key, anthropic-version, content-type (no beta header;
    # bodies that would need one keep LiteLLM's path, see passthrough.messages_are_plain).
    headers, _ = config.validate_anthropic_messages_environment(
        headers={}, model="", messages=[], optional_params={}, litellm_params={}, api_key=api_key, api_base=api_base
    )
    return passthrough.endpoint_for(url, headers)


def openai_endpoint(route: Route, provider: Any, api_base: str | None, api_key: str) -> Endpoint:
    from litellm.types.router import GenericLiteLLMParams
    from litellm.utils import ProviderConfigManager

    responses = ProviderConfigManager.get_provider_responses_api_config(provider=provider, model="")
    chat = ProviderConfigManager.get_provider_chat_config(model="", provider=provider)
    if responses is None or chat is None:
        raise UpstreamUnavailable(f"The provider '{provider.value}' has no OpenAI endpoints.")
    # The Responses config knows LiteLLM's default base (env OPENAI_BASE_URL, else api.openai.com/v1);
    # the chat config's own default lacks the /v1 its SDK client adds.
    responses_url = responses.get_complete_url(api_base=api_base, litellm_params={})
    if route is Route.RESPONSES:
        params = GenericLiteLLMParams(api_key=api_key, api_base=api_base)
        return passthrough.endpoint_for(responses_url, responses.validate_environment({}, "", params))
    base = responses_url.removesuffix("/responses")
    url = chat.get_complete_url(api_base=base, api_key=api_key, model="", optional_params={}, litellm_params={})
    headers = chat.validate_environment(
        headers={}, model="", messages=[], optional_params={}, litellm_params={}, api_key=api_key, api_base=base
    )
    return passthrough.endpoint_for(url, headers)


@functools.lru_cache(maxsize=1024)  # bounded: model names come from clients
def chat_renames(model: str) -> tuple[tuple[str, str], ...]:
    """Chat parameters LiteLLM's config for this openai-provider model renames (max_tokens on o-series, gpt-5)."""
    litellm = litellm_module()
    from litellm.utils import ProviderConfigManager

    config = ProviderConfigManager.get_provider_chat_config(model=model, provider=litellm.LlmProviders.OPENAI)
    if config is None:
        return ()
    try:
        mapped = config.map_openai_params(
            non_default_params={"max_tokens": 1}, optional_params={}, model=model, drop_params=False
        )
    except Exception:  # a config that refuses the probe renames nothing we could know of
        return ()
    renamed = [name for name in mapped if name != "max_tokens"]
    return (("max_tokens", renamed[0]),) if len(renamed) == 1 and "max_tokens" not in mapped else ()


def original_response_id(response_id: str) -> str:
    """The provider's own id of a response LiteLLM's path answered (it encodes its ids), as LiteLLM decodes it."""
    litellm_module()
    from litellm.responses.utils import ResponsesAPIRequestUtils

    return ResponsesAPIRequestUtils.decode_previous_response_id_to_original_previous_response_id(response_id)


async def forwarding_close() -> None:
    """Close the fast path's shared HTTP session of this event loop (call at ASGI lifespan shutdown)."""
    await passthrough.close_session()


async def forward_bridged(*, target: Target, body: dict[str, Any], stream: bool, timeout: float) -> Completion | Stream:
    """A Messages request for an openai-provider model, bridged to the Responses API (proxy.messages_bridge)."""
    parts = bridge_parts()
    try:
        result = await parts.aresponses(**responses_kwargs(parts, body, own_params(target, stream, timeout)))
        if not stream:
            return bridged_completion(parts, result)
    except Exception as exc:  # every LiteLLM/provider failure becomes one of ours
        raise provider_error(exc, target.provider) from None
    adapter = BridgedMessagesAdapter(estimate_input_tokens(body))
    tap = UsageTap(result, adapter.record_usage)
    frames = parts.stream_wrapper(responses_stream=tap, model=target.model).async_anthropic_sse_wrapper()
    return Stream(BridgedSource(frames, tap, close_source), adapter, target.provider)


def bridged_completion(parts: BridgeParts, result: Any) -> Completion:
    """The body as LiteLLM's bridge translates it; the usage from the Responses answer, reasoning included."""
    return bridged_body(parts.translate_response(result), responses_usage(usage_of(result)))


def bridged_body(translated: Any, usage: Usage) -> Completion:
    """A bridged answer: LiteLLM's Anthropic body and the usage read before its translation."""
    answer = as_dict(translated)
    reported = answer.get("usage")
    if isinstance(reported, dict):
        reported.pop("cost", None)  # LiteLLM's own price guess, if it ever adds one
    return Completion(body=answer, usage=usage)


async def forward_chat_bridged(
    *, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    """A Messages request LiteLLM bridges through chat completions (proxy.chat_bridge)."""
    parts = chat_bridge_parts()
    try:
        call = await chat_call(parts, body, own_params(target, stream, timeout))
        result = await parts.acompletion(**call.kwargs)
        if not stream:
            answer = parts.translate_response(result, tool_name_mapping=call.tool_names, polyfill_result=call.polyfill)
            return bridged_body(answer, chat_usage(usage_of(result)))
        adapter = BridgedMessagesAdapter(estimate_input_tokens(body), chat_usage)
        tap = UsageTap(result, adapter.record_usage, usage_of_chunk)
        frames = parts.translate_stream(
            tap, model=call.model, tool_name_mapping=call.tool_names, polyfill_result=call.polyfill, is_async=True
        )
    except Exception as exc:  # every LiteLLM/provider failure becomes one of ours
        raise provider_error(exc, target.provider) from None
    return Stream(BridgedSource(frames, tap, close_source), adapter, target.provider)


def entry_point(route: Route) -> Callable[..., Awaitable[Any]]:
    litellm = litellm_module()
    calls = {
        Route.CHAT: litellm.acompletion,
        Route.RESPONSES: litellm.aresponses,
        Route.MESSAGES: litellm.anthropic_messages,
    }
    return calls[route]


def call_kwargs(route: Route, target: Target, body: dict[str, Any], stream: bool, timeout: float) -> dict[str, Any]:
    """The client's (validated) parameters plus ours; the client can never set the latter."""
    kwargs = {name: value for name, value in body.items() if name not in ("model", "stream", "stream_options")}
    kwargs.update(own_params(target, stream, timeout))
    options = dict(body.get("stream_options") or {})
    if route is Route.CHAT and stream:
        options["include_usage"] = True  # OpenAI streams carry usage only when asked
    if stream and options:
        kwargs["stream_options"] = options
    return kwargs


def own_params(target: Target, stream: bool, timeout: float) -> dict[str, Any]:
    return {
        "model": target.litellm_model,
        "api_key": target.api_key,
        "api_base": target.api_base,
        "max_retries": 0,  # LiteLLM's openai provider otherwise retries 429/5xx twice, silently
        "timeout": timeout,
        "stream": stream,
    }


def completion(route: Route, result: Any) -> Completion:
    body = as_dict(result)
    usage = body.get("usage")
    if isinstance(usage, dict):
        usage.pop("cost", None)  # LiteLLM's own price guess; ours comes from the database
    usage = usage if isinstance(usage, Mapping) else {}
    normalise = {Route.CHAT: chat_usage, Route.RESPONSES: responses_usage, Route.MESSAGES: messages_usage}[route]
    return Completion(body=body, usage=with_answer_tier(normalise(usage), body))


def as_dict(result: Any) -> dict[str, Any]:
    """A JSON-serialisable dict of a LiteLLM result (a pydantic model or a plain dict)."""
    if hasattr(result, "model_dump"):
        dumped = result.model_dump(mode="json", exclude_none=True, warnings=False)
    else:
        dumped = json.loads(json.dumps(result, default=str))
    if not isinstance(dumped, dict):
        raise UpstreamUnavailable("The provider's answer could not be read.")
    return dumped


def provider_error(exc: Exception, provider: str) -> GatewayError:
    """Our error for a LiteLLM/provider failure: the provider's own message made safe, never LiteLLM's text."""
    if isinstance(exc, GatewayError):
        return exc
    litellm = litellm_module()
    status = getattr(exc, "status_code", None)
    attempt = ATTEMPT.get()
    if attempt is not None and not attempt.contacted and not (isinstance(status, int) and 400 <= status < 500):
        # LiteLLM's own text here is about its internals (`'str' object has no attribute 'get'`): not shown.
        logger.warning("LiteLLM refused a request for %s before sending it: %s", provider, type(exc).__name__)
        return InvalidRequest(
            f"The request could not be sent to the provider '{provider}': one of its parameters has a shape "
            "the gateway cannot translate. Check the parameters against the route's documentation."
        )
    said = litellm_said(exc)
    logger.warning("provider %s failed: %s: %s", provider, type(exc).__name__, said or "(no message)")
    if isinstance(exc, litellm.Timeout | httpx.TimeoutException | TimeoutError):
        return UpstreamTimeout(f"The provider '{provider}' did not answer in time.")
    if isinstance(exc, litellm.ContextWindowExceededError):
        sentence = f"The provider '{provider}' says the input is longer than the model's context window."
        message = explained(sentence, said)
        return ContextWindowExceeded(status if isinstance(status, int) and 400 <= status < 500 else 400, message)
    if isinstance(status, int) and 400 <= status < 500:
        message = explained(f"The provider '{provider}' refused the request (HTTP {status}).", said)
        return UpstreamError(status, message, headers=retry_after(exc))
    shown = f" (HTTP {status})" if isinstance(status, int) else ""
    return UpstreamUnavailable(explained(f"The provider '{provider}' failed to answer{shown}.", said))


# `OpenAIException - `, `AzureException APIError - `: what LiteLLM writes before the provider's answer.
_LITELLM_PREFIX = re.compile(r"[A-Za-z]+Exception(?: [A-Za-z]+)? - ")
_LITELLM_SUFFIX = re.compile(r"\.?\s*Handle with `litellm\.\w+`\.?$")


def litellm_said(exc: Exception) -> str:
    """What the provider said, from a LiteLLM exception: its parsed body, else the text after LiteLLM's prefixes
    (`litellm.RateLimitError: RateLimitError: OpenAIException - <the provider's answer>. Handle with …`)."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping) and (said := provider_said(body)):
        return said
    text = str(getattr(exc, "message", "") or "")
    prefixes = list(_LITELLM_PREFIX.finditer(text))
    if not prefixes:
        return ""  # LiteLLM's own words, not the provider's
    answer = _LITELLM_SUFFIX.sub("", text[prefixes[-1].end() :].strip())
    if len(answer) > 2 and answer[0] == "b" and answer[1] in "'\"" and answer[-1] == answer[1]:
        answer = answer[2:-1]  # a body LiteLLM quoted as Python bytes: b'{...}'
    return provider_said(answer)


def retry_after(exc: Exception) -> dict[str, str]:
    """The provider's retry-after header, kept only if it is a plain number of seconds."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    return passthrough.retry_after(headers)


def known_models(provider: str) -> list[str]:
    """Chat models LiteLLM's bundled cost map knows for that provider (for GET /v1/models)."""
    return list(cost_map_models(provider))


@functools.cache
def cost_map_models(provider: str) -> tuple[str, ...]:
    names = COST_MAP_PROVIDERS.get(provider, (provider,))
    found = set()
    for key, info in litellm_module().model_cost.items():
        if isinstance(info, Mapping) and info.get("litellm_provider") in names and info.get("mode") in CHAT_MODES:
            head, sep, rest = key.partition("/")
            found.add(rest if sep and head in names else key)
    return tuple(sorted(found))


@dataclass(frozen=True)
class ModelLimits:
    """A model's context window and output ceiling as LiteLLM's model info gives them; None where unknown."""

    max_input_tokens: int | None = None
    max_output_tokens: int | None = None


@functools.lru_cache(maxsize=4096)  # bounded: model names come from clients
def model_limits(provider: str, model: str) -> ModelLimits:
    """What the budget hold's worst case needs: from LiteLLM's bundled map (`provider/model`, then `model`)."""
    names = COST_MAP_PROVIDERS.get(provider, (provider,))
    cost_map = litellm_module().model_cost
    for key in (*(f"{name}/{model}" for name in names), model):
        info = cost_map.get(key)
        if isinstance(info, Mapping) and info.get("litellm_provider") in names:
            return ModelLimits(_positive(info.get("max_input_tokens")), _positive(info.get("max_output_tokens")))
    return ModelLimits()


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@functools.cache
def largest_context_window() -> int:
    """The largest context window in LiteLLM's bundled map: no call to any model it knows reads more."""
    windows = (
        _positive(info.get("max_input_tokens"))
        for info in litellm_module().model_cost.values()
        if isinstance(info, Mapping)
    )
    return max((window for window in windows if window), default=DEFAULT_CONTEXT_WINDOW)


# What `largest_context_window` falls back to should the map have no windows at all (Llama 4 Scout's 10M).
DEFAULT_CONTEXT_WINDOW = 10_485_760
# The encoding estimates are made with, whatever the model: OpenAI's o200k_base, which LiteLLM bundles (no download).
ESTIMATE_ENCODING_MODEL = "gpt-4o"


def token_count(text: str) -> int:
    """Tokens in `text` by LiteLLM's token counter (o200k_base). CPU-bound: call it off the event loop."""
    if not text:
        return 0
    return int(litellm_module().token_counter(model=ESTIMATE_ENCODING_MODEL, text=text))
