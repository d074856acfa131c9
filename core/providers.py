"""Provider registry read from the environment, and model name → provider resolution.

A provider is configured when its API key is set. Models resolve by an explicit
`provider/model` prefix (which always wins) or by the name patterns in ARCHITECTURE.md.
Keys never appear in a repr, a str or `configured_providers()`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from core.env import env_str
from core.errors import ModelNotFound


@dataclass(frozen=True)
class ProviderSpec:
    """A built-in provider: its env var prefix, LiteLLM's prefix, and its public default base."""

    name: str
    env_prefix: str
    litellm_prefix: str
    default_base: str | None


BUILTIN: tuple[ProviderSpec, ...] = (
    ProviderSpec("openai", "OPENAI", "openai", "https://api.openai.com/v1"),
    ProviderSpec("anthropic", "ANTHROPIC", "anthropic", "https://api.anthropic.com"),
    ProviderSpec("gemini", "GOOGLE", "gemini", "https://generativelanguage.googleapis.com"),
    ProviderSpec("cohere", "COHERE", "cohere", "https://api.cohere.com"),
    ProviderSpec("azure", "AZURE", "azure", None),
)

# Extra names a client may use as an explicit prefix.
ALIASES = {"google": "gemini"}

# Name patterns → provider, checked in order; the first match wins.
DETECTION: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt-", "o1", "o3", "o4", "chatgpt-"), "openai"),
    (("claude-",), "anthropic"),
    (("gemini-", "text-", "chat-"), "gemini"),
    (("command-",), "cohere"),
)


# A model name for a built-in provider is one plain name: LiteLLM reads slashes in it as routing
# (`openai/responses/gpt-4o-mini` reached the upstream as `gpt-4o-mini` but was priced as
# `responses/gpt-4o-mini`: no price, a free call). No built-in provider names a model with a slash.
PLAIN_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}")
# The custom provider's models may have slashes (`meta-llama/Llama-3.1-8B`), but LiteLLM's openai
# provider strips or routes on these segments wherever they stand, so a name holding one is refused.
ROUTING_SEGMENTS = frozenset({"responses", "o_series", "gpt5_series"})


def check_model_name(provider: str, custom: bool, bare: str, model: str) -> None:
    """Refuses names whose upstream model would differ from the name they are priced by."""
    if custom:
        segments = bare.split("/")
        valid = all(PLAIN_MODEL.fullmatch(segment) for segment in segments)
        if valid and not ROUTING_SEGMENTS & {segment.lower() for segment in segments}:
            return
    elif PLAIN_MODEL.fullmatch(bare):
        return
    raise ModelNotFound(f"The model '{model}' is not a model name the provider '{provider}' serves.")


@dataclass(frozen=True)
class Provider:
    """A configured provider. `api_base` None means LiteLLM's default for that provider."""

    name: str
    litellm_prefix: str
    api_key: str = field(repr=False)
    api_base: str | None
    display_base: str | None
    custom: bool = False
    api_version: str | None = None  # Azure's api-version (AZURE_API_VERSION); None: LiteLLM's default


@dataclass(frozen=True)
class Target:
    """Where one request goes: everything the forwarding service needs, the key kept out of repr."""

    provider: str
    model: str
    litellm_model: str
    api_key: str = field(repr=False)
    api_base: str | None
    api_version: str | None = None


@dataclass(frozen=True)
class Registry:
    providers: tuple[Provider, ...]

    def get(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def resolve(self, model: str) -> Target:
        model = model.strip()
        name, bare = split_model(model, self)
        provider = self.get(name) if name else None
        if provider is None or not bare:
            raise ModelNotFound(f"The model '{model}' does not exist or its provider is not configured.")
        check_model_name(provider.name, provider.custom, bare, model)
        return Target(
            provider=provider.name,
            model=bare,
            litellm_model=f"{provider.litellm_prefix}/{bare}",
            api_key=provider.api_key,
            api_base=provider.api_base,
            api_version=provider.api_version,
        )


def detect(model: str) -> str | None:
    lowered = model.lower()
    for prefixes, provider in DETECTION:
        if lowered.startswith(prefixes):
            return provider
    return None


def split_model(model: str, registry: Registry) -> tuple[str | None, str]:
    """`provider/model` with a known provider name wins; otherwise detect from the name."""
    head, sep, rest = model.partition("/")
    if sep:
        name = ALIASES.get(head.lower(), head.lower())
        if name in {spec.name for spec in BUILTIN} or registry.get(name) is not None:
            return name, rest
    return detect(model), model


def builtin_provider(spec: ProviderSpec) -> Provider | None:
    key = env_str(f"{spec.env_prefix}_API_KEY")
    if not key:
        return None
    base = env_str(f"{spec.env_prefix}_API_BASE") or None
    if base is not None and urlsplit(base).scheme not in ("http", "https"):
        # A Vertex AI project id is no Gemini base: LiteLLM's `vertex_ai` provider takes project, location
        # and service-account credentials, not an API key (docs/providers.md).
        raise ImproperlyConfigured(f"{spec.env_prefix}_API_BASE must be an http(s) URL, got {base!r}")
    version = env_str(f"{spec.env_prefix}_API_VERSION") or None if spec.name == "azure" else None
    return Provider(spec.name, spec.litellm_prefix, key, base, base or spec.default_base, api_version=version)


def custom_provider() -> Provider | None:
    """The custom OpenAI-compatible provider: needs its name, key and base (there is no default base)."""
    name = env_str("CUSTOM_LLM_PROVIDER").lower()
    key, base = env_str("CUSTOM_API_KEY"), env_str("CUSTOM_API_BASE")
    if not (name and key and base):
        return None
    if name in {spec.name for spec in BUILTIN} or name in ALIASES or "/" in name:
        raise ImproperlyConfigured(f"CUSTOM_LLM_PROVIDER must not be a built-in provider name, got {name!r}")
    # LiteLLM talks to any OpenAI-compatible server through its openai provider with our api_base.
    return Provider(name, "openai", key, base, base, custom=True)


@functools.cache
def provider_registry() -> Registry:
    """The registry built from the environment once; tests call `provider_registry.cache_clear()`."""
    found = [builtin_provider(spec) for spec in BUILTIN] + [custom_provider()]
    return Registry(providers=tuple(p for p in found if p is not None))


def credentials_provider(name: str) -> Provider | None:
    """The configured provider a deployment's `credentials` names (`custom`: the custom provider, whatever it is
    called), or None while that provider has no key in the environment."""
    registry = provider_registry()
    if name == "custom":
        return next((provider for provider in registry.providers if provider.custom), None)
    return registry.get(name)


def resolve_model(model: str) -> Target:
    """The target for a client's model name; raises ModelNotFound if unknown or not configured."""
    return provider_registry().resolve(model)


def configured_providers() -> list[tuple[str, str | None]]:
    """(name, api_base) of every configured provider, never a secret."""
    return [(p.name, p.display_base) for p in provider_registry().providers]
