"""Forwarding service: one validated request to its provider, the answer in the client route's wire format.

`forward()` returns our own types: a `Completion` (body in the client route's wire format plus
canonical `Usage`) or a `Stream` of complete SSE frames in that format (proxy.answers). Every
provider failure becomes one of our `GatewayError`s with a message we wrote. With
`settings.GATEWAY_FAST_PATH` on (the default) every call goes over one pooled aiohttp session:
- same-format calls (OpenAI chat and Responses on the openai provider and the custom one, plain
  Anthropic Messages on anthropic, Responses on Azure) as bytes through proxy.passthrough, to the URL
  and with the headers LiteLLM's provider configs give (proxy.translation.endpoints);
- cross-format calls through LiteLLM's own per-provider and per-format transformations
  (proxy.translated), without its call machinery.
Only Anthropic Messages bodies LiteLLM rewrites per request (thinking, context management, server
tools) take LiteLLM's `anthropic_messages` call path, as does every call with the switch off (the
escape hatch: LiteLLM's whole `acompletion` / `aresponses` / `anthropic_messages`, reasoning counts of
bridged calls not kept). LiteLLM is imported only by proxy.translation (lazily), so importing this
module is cheap.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.providers import Target
from proxy import passthrough, translated
from proxy.answers import Completion, Stream, provider_error
from proxy.request_params import Route, validate_body
from proxy.stream_adapters import make_adapter
from proxy.translation.core import ATTEMPT, Attempt, as_dict, litellm_module
from proxy.translation.endpoints import chat_renames, original_response_id, provider_endpoint
from proxy.usage_normalise import (
    Usage,
    chat_usage,
    estimate_input_tokens,
    messages_usage,
    responses_usage,
    with_answer_tier,
)

__all__ = [
    "Completion",
    "Route",
    "Stream",
    "Usage",
    "forward",
    "forwarding_close",
    "known_models",
    "litellm_module",
    "provider_endpoint",
    "validate_body",
]

logger = logging.getLogger(__name__)

CHAT_MODES = frozenset({"chat", "responses"})
# LiteLLM's cost map names some of our providers differently.
COST_MAP_PROVIDERS = {"cohere": ("cohere", "cohere_chat"), "gemini": ("gemini",)}


async def forward(
    *, route: Route, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    """Send one request to `target` and return its answer in the route's wire format."""
    # The views validate before admission already; checking again here keeps forward() from ever
    # handing LiteLLM a client-chosen api_base or similar, whoever calls it (microseconds).
    validate_body(route, body)
    if settings.GATEWAY_FAST_PATH:
        if same_format(route, target, body):
            return await forward_direct(route=route, target=target, body=body, stream=stream, timeout=timeout)
        if translated.translates(route, target):
            return await translated.forward_translated(
                route=route, target=target, body=body, stream=stream, timeout=timeout
            )
    call = entry_point(route)
    token = ATTEMPT.set(Attempt())  # whether LiteLLM got as far as sending it (proxy.answers.provider_error)
    try:
        result = await call(**call_kwargs(route, target, body, stream, timeout))
    except Exception as exc:  # every LiteLLM/provider failure becomes one of ours
        raise provider_error(exc, target.provider) from None
    finally:
        ATTEMPT.reset(token)
    if stream:
        adapter = make_adapter(route, body, estimate_input_tokens(body))
        return Stream(result, adapter, target.provider)
    return completion(route, result)


# --- same-format fast path (proxy.passthrough) -------------------------------------------------

# The LiteLLM prefixes whose own wire format each route is (Azure's Responses API is OpenAI's).
SAME_FORMAT = {
    Route.CHAT: frozenset({"openai"}),
    Route.RESPONSES: frozenset({"openai", "azure"}),
    Route.MESSAGES: frozenset({"anthropic"}),
}
NORMALISE = {Route.CHAT: chat_usage, Route.RESPONSES: responses_usage, Route.MESSAGES: messages_usage}


def same_format(route: Route, target: Target, body: Mapping[str, Any]) -> bool:
    """Whether the client's wire format is the provider's own, so that nothing needs translating."""
    if target.litellm_model.partition("/")[0] not in SAME_FORMAT[route]:
        return False
    return route is not Route.MESSAGES or passthrough.messages_are_plain(body)


async def forward_direct(
    *, route: Route, target: Target, body: dict[str, Any], stream: bool, timeout: float
) -> Completion | Stream:
    """The body as bytes to the provider's own endpoint, the answer read without LiteLLM."""
    prefix = target.litellm_model.partition("/")[0]
    endpoint = provider_endpoint(route, prefix, target.api_base, target.api_key, target.api_version)
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


async def forwarding_close() -> None:
    """Close the fast path's shared HTTP session of this event loop (call at ASGI lifespan shutdown)."""
    await passthrough.close_session()


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
    return Completion(body=body, usage=with_answer_tier(NORMALISE[route](usage), body))


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
