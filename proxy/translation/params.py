"""The provider's parameters for a client's OpenAI chat parameters: the steps of LiteLLM's `get_optional_params`.

Run from LiteLLM's own helpers, in its order, for the providers translated here (anthropic, gemini,
cohere, azure), with one difference: the model's list of supported parameters is looked up once per
model, where LiteLLM looks it up on every call through model-map and capability lookups (most of a
translated call's CPU, measured). tests/proxy/test_translation_pins.py checks the result equals
`get_optional_params`'s for each provider.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from proxy.translation.core import litellm_module

# Client parameters that never reach `get_optional_params`: ours to set, or read by us.
NOT_PROVIDER_PARAMS = frozenset({"model", "messages", "stream", "stream_options"})


@functools.lru_cache(maxsize=1024)  # bounded: model names come from clients
def config_for(provider: str, model: str) -> Any:
    """LiteLLM's chat config for the model, made once: its instances hold no state (their settings are class
    attributes), so one serves every call; tests/proxy/test_translation_pins.py checks none is left after a call."""
    litellm = litellm_module()
    from litellm.utils import ProviderConfigManager

    return ProviderConfigManager.get_provider_chat_config(model=model, provider=litellm.LlmProviders(provider))


def optional_params(
    provider: str, model: str, messages: list[Any], params: Mapping[str, Any], api_version: str | None = None
) -> dict[str, Any]:
    """The provider's parameters for the client's OpenAI ones, as `get_optional_params` makes them."""
    litellm = litellm_module()
    from litellm.constants import DEFAULT_CHAT_COMPLETION_PARAM_VALUES
    from litellm.utils import (
        add_provider_specific_params_to_optional_params,
        pre_process_non_default_params,
        pre_process_optional_params,
    )

    defaults = optional_param_defaults()
    given = {name: value for name, value in params.items() if name not in NOT_PROVIDER_PARAMS}
    passed = {**defaults, "model": model, "custom_llm_provider": provider, "messages": messages}
    passed.update({name: value for name, value in given.items() if name in defaults})
    special = {name: value for name, value in given.items() if name not in defaults}
    non_default = pre_process_non_default_params(
        passed_params=passed,
        special_params=special,
        custom_llm_provider=provider,
        additional_drop_params=None,
        model=model,
        provider_config=config_for(provider, model),
    )
    found = pre_process_optional_params(
        passed_params=passed, non_default_params=non_default, custom_llm_provider=provider
    )
    unsupported = unsupported_params(provider, model, non_default, passed)
    if unsupported and not litellm.drop_params:
        message = f"{provider} does not support parameters: {unsupported}, for model={model}."
        raise litellm.UnsupportedParamsError(status_code=500, message=message)
    for name in unsupported:
        non_default.pop(name, None)
    found = map_openai_params(provider, model, non_default, found, api_version)
    found = add_provider_specific_params_to_optional_params(
        optional_params=found,
        passed_params=passed,
        custom_llm_provider=provider,
        openai_params=list(DEFAULT_CHAT_COMPLETION_PARAM_VALUES.keys()),
        additional_drop_params=None,
    )
    return dict(found)


@functools.cache
def optional_param_defaults() -> dict[str, Any]:
    """`get_optional_params`'s named parameters and their defaults: what it hands its helpers as `passed_params`."""
    import inspect

    litellm_module()
    from litellm.utils import get_optional_params

    found = {
        name: parameter.default
        for name, parameter in inspect.signature(get_optional_params).parameters.items()
        if parameter.kind is not parameter.VAR_KEYWORD
    }
    found.pop("base_model", None)  # get_optional_params drops it from its passed_params too
    return found


@functools.lru_cache(maxsize=1024)  # bounded: model names come from clients
def supported_params(provider: str, model: str) -> frozenset[str]:
    litellm_module()
    from litellm.litellm_core_utils.get_supported_openai_params import get_supported_openai_params

    found = get_supported_openai_params(model=model, custom_llm_provider=provider)
    if found is None:
        found = get_supported_openai_params(model=model, custom_llm_provider="openai")
    return frozenset(found or ())


def unsupported_params(
    provider: str, model: str, non_default: Mapping[str, Any], passed: Mapping[str, Any]
) -> list[str]:
    """`get_optional_params`'s own check (`_check_valid_arg`)."""
    from litellm.utils import PROVIDER_UNVALIDATED_PARAMS

    supported = supported_params(provider, model)
    return [
        name
        for name in non_default
        if name not in supported
        and name not in PROVIDER_UNVALIDATED_PARAMS
        and not (name == "n" and passed.get("n") == 1)  # langchain sends n=1 as a default
    ]


def map_openai_params(
    provider: str, model: str, non_default: dict[str, Any], found: dict[str, Any], api_version: str | None
) -> dict[str, Any]:
    """The provider branch of `get_optional_params` for the providers translated here."""
    litellm = litellm_module()
    args: dict[str, Any] = {"non_default_params": non_default, "optional_params": found, "model": model}
    if provider == "anthropic":
        return dict(litellm.AnthropicConfig().map_openai_params(**args, drop_params=False))
    if provider == "gemini":
        return dict(litellm.GoogleAIStudioGeminiConfig().map_openai_params(**args, drop_params=False))
    if provider in ("cohere", "cohere_chat"):
        return dict(litellm.CohereChatConfig().map_openai_params(**args, drop_params=False))
    if litellm.AzureOpenAIO1Config().is_o_series_model(model=model):
        return dict(litellm.AzureOpenAIO1Config().map_openai_params(**args, drop_params=False))
    if litellm.AzureOpenAIGPT5Config.is_model_gpt_5_model(model=model):
        return dict(litellm.AzureOpenAIGPT5Config().map_openai_params(**args, drop_params=False))
    version = api_version or litellm.api_version or litellm.AZURE_DEFAULT_API_VERSION
    return dict(litellm.AzureOpenAIConfig().map_openai_params(**args, api_version=version, drop_params=False))
