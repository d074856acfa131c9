"""Where each provider's calls go and with which headers, as LiteLLM's provider configs and handlers build them.

Same-format calls (OpenAI chat and Responses on the openai provider and the custom one, Anthropic
Messages, Azure's Responses) resolve an `Endpoint` once per provider and base (`provider_endpoint`).
Translated chat calls build theirs per request in proxy.translation.chat from the helpers here.

Bases (the `<NAME>_API_BASE` variables), mapped to what LiteLLM takes as `api_base`:
- Anthropic: the API host; `/v1/messages` is appended unless the base already ends with it.
- Gemini: a bare host (`https://proxy.example`) keeps LiteLLM's own path (`/v1beta/models/<model>:…`,
  `/v1alpha` for Gemini 3); a base with a path is LiteLLM's convention, `<base>/models/<model>:…`
  (so `https://generativelanguage.googleapis.com/v1beta` is the default spelled out).
- Cohere: LiteLLM takes the full chat URL; a base that does not end with `/v2/chat` gets it appended.
- Azure: the resource endpoint (`https://<resource>.openai.azure.com`); chat goes to the deployment path
  `/openai/deployments/<deployment>/chat/completions?api-version=…` as the OpenAI SDK's `AzureOpenAI`
  client (which LiteLLM's azure provider drives) builds it; `AZURE_API_VERSION` as LiteLLM reads it,
  else LiteLLM's default.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote, urlsplit

from core.errors import UpstreamUnavailable
from proxy import passthrough
from proxy.passthrough import Endpoint
from proxy.request_params import Route
from proxy.translation.core import litellm_module

ANTHROPIC_DEFAULT = "https://api.anthropic.com"
ANTHROPIC_PATH = "/v1/messages"
# LiteLLM's default for its v2 Cohere route, set in `main._complete_cohere_chat` (no constant to import).
COHERE_DEFAULT = "https://api.cohere.com/v2/chat"
COHERE_PATH = "/v2/chat"


def anthropic_url(api_base: str | None) -> str:
    """`main._complete_anthropic`'s rule: the base, with `/v1/messages` appended unless it is there."""
    base = (api_base or ANTHROPIC_DEFAULT).rstrip("/")
    return base if base.endswith(ANTHROPIC_PATH) else base + ANTHROPIC_PATH


def cohere_url(api_base: str | None) -> str:
    base = (api_base or COHERE_DEFAULT).rstrip("/")
    return base if base.endswith(COHERE_PATH) else base + COHERE_PATH


def gemini_base(api_base: str | None, model: str) -> str | None:
    """The `api_base` to give LiteLLM: none for a bare host (its own path is kept, see gemini_default_host)."""
    if not api_base or urlsplit(api_base).path in ("", "/"):
        return None
    return api_base.rstrip("/")


def azure_api_version(api_version: str | None) -> str:
    return api_version or litellm_module().AZURE_DEFAULT_API_VERSION


def azure_resource(api_base: str | None) -> str:
    if not api_base:
        raise UpstreamUnavailable("The provider 'azure' has no AZURE_API_BASE.")
    base = api_base.rstrip("/")
    return base.removesuffix("/openai")


def azure_chat_url(api_base: str | None, deployment: str, api_version: str | None) -> str:
    resource = azure_resource(api_base)
    version = quote(azure_api_version(api_version), safe="")
    return f"{resource}/openai/deployments/{quote(deployment, safe='')}/chat/completions?api-version={version}"


# --- same-format endpoints, resolved once ---------------------------------------------------------


@functools.lru_cache(maxsize=64)  # keyed by configured providers only: bases and keys come from the environment
def provider_endpoint(
    route: Route, prefix: str, api_base: str | None, api_key: str, api_version: str | None = None
) -> Endpoint:
    """The URL and headers LiteLLM's provider config would use for this same-format route, resolved once."""
    litellm = litellm_module()
    provider = litellm.LlmProviders(prefix)
    if prefix == "azure":
        return azure_responses_endpoint(api_base, api_key, api_version)
    if route is Route.MESSAGES:
        return messages_endpoint(provider, api_base, api_key)
    return openai_endpoint(route, provider, api_base, api_key)


def azure_responses_endpoint(api_base: str | None, api_key: str, api_version: str | None) -> Endpoint:
    litellm_module()
    from litellm.types.router import GenericLiteLLMParams
    from litellm.utils import ProviderConfigManager

    litellm = litellm_module()
    config = ProviderConfigManager.get_provider_responses_api_config(provider=litellm.LlmProviders.AZURE, model="")
    if config is None:
        raise UpstreamUnavailable("The provider 'azure' has no Responses endpoint.")
    params = {"api_version": api_version} if api_version else {}
    url = config.get_complete_url(api_base=azure_resource(api_base), litellm_params=params)
    headers = config.validate_environment({}, "", GenericLiteLLMParams(api_key=api_key, api_base=api_base))
    return passthrough.endpoint_for(url, {**headers, "content-type": "application/json"})


def messages_endpoint(provider: Any, api_base: str | None, api_key: str) -> Endpoint:
    litellm_module()
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
    litellm_module()
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
