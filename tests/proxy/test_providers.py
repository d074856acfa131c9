"""Provider registry: detection rules, explicit prefixes, unconfigured providers, no secret in reprs."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.errors import ModelNotFound
from core.providers import configured_providers, provider_registry, resolve_model

# The provider registry reads the environment only.
pytestmark = pytest.mark.engine_independent

SECRETS = {
    "OPENAI_API_KEY": "sk-openai-secret",
    "ANTHROPIC_API_KEY": "sk-ant-secret",
    "GOOGLE_API_KEY": "google-secret",
    "COHERE_API_KEY": "cohere-secret",
    "AZURE_API_KEY": "azure-secret",
    "CUSTOM_API_KEY": "custom-secret",
}


@pytest.fixture
def env(monkeypatch):
    """Set provider env vars and rebuild the cached registry around the test."""

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        provider_registry.cache_clear()

    provider_registry.cache_clear()
    yield apply
    provider_registry.cache_clear()


@pytest.fixture
def all_configured(env):
    env(**SECRETS, CUSTOM_LLM_PROVIDER="custom", CUSTOM_API_BASE="http://llm.internal/v1")


@pytest.mark.parametrize(
    ("model", "provider", "litellm_model"),
    [
        ("gpt-4o", "openai", "openai/gpt-4o"),
        ("o1-mini", "openai", "openai/o1-mini"),
        ("o3", "openai", "openai/o3"),
        ("o4-mini", "openai", "openai/o4-mini"),
        ("chatgpt-4o-latest", "openai", "openai/chatgpt-4o-latest"),
        ("claude-sonnet-4-5", "anthropic", "anthropic/claude-sonnet-4-5"),
        ("gemini-2.0-flash", "gemini", "gemini/gemini-2.0-flash"),
        ("text-bison", "gemini", "gemini/text-bison"),
        ("chat-bison", "gemini", "gemini/chat-bison"),
        ("command-r-plus", "cohere", "cohere/command-r-plus"),
    ],
)
def test_models_are_detected_by_name(all_configured, model, provider, litellm_model):
    target = resolve_model(model)
    assert (target.provider, target.model, target.litellm_model) == (provider, model, litellm_model)


@pytest.mark.parametrize(
    ("model", "provider", "bare", "litellm_model"),
    [
        ("openai/gpt-4o", "openai", "gpt-4o", "openai/gpt-4o"),
        ("anthropic/claude-3-haiku", "anthropic", "claude-3-haiku", "anthropic/claude-3-haiku"),
        ("openai/claude-lookalike", "openai", "claude-lookalike", "openai/claude-lookalike"),
        ("anthropic/gpt-4o", "anthropic", "gpt-4o", "anthropic/gpt-4o"),
        ("google/gemini-pro", "gemini", "gemini-pro", "gemini/gemini-pro"),
        ("azure/my-deployment", "azure", "my-deployment", "azure/my-deployment"),
        ("custom/my-model", "custom", "my-model", "openai/my-model"),
        ("custom/org/model-x", "custom", "org/model-x", "openai/org/model-x"),
    ],
)
def test_explicit_prefix_wins(all_configured, model, provider, bare, litellm_model):
    target = resolve_model(model)
    assert (target.provider, target.model, target.litellm_model) == (provider, bare, litellm_model)


def test_target_carries_key_and_base(env):
    env(OPENAI_API_KEY="sk-openai-secret", OPENAI_API_BASE="http://upstream/v1")
    target = resolve_model("gpt-4o")
    assert target.api_key == "sk-openai-secret"
    assert target.api_base == "http://upstream/v1"


def test_custom_provider_uses_its_own_key_and_base(all_configured):
    target = resolve_model("custom/my-model")
    assert (target.api_key, target.api_base) == ("custom-secret", "http://llm.internal/v1")


@pytest.mark.parametrize("model", ["llama-3", "mistral/large", "", "openai/", "custom/"])
def test_unknown_model_is_not_found(all_configured, model):
    with pytest.raises(ModelNotFound):
        resolve_model(model)


def test_unconfigured_provider_is_not_found(env):
    env(OPENAI_API_KEY="sk-openai-secret")
    with pytest.raises(ModelNotFound):
        resolve_model("claude-3-haiku")
    with pytest.raises(ModelNotFound):
        resolve_model("anthropic/claude-3-haiku")
    with pytest.raises(ModelNotFound):
        resolve_model("custom/my-model")


def test_nothing_configured_without_keys(env):
    env()
    assert configured_providers() == []
    with pytest.raises(ModelNotFound):
        resolve_model("gpt-4o")


def test_configured_providers_lists_bases_without_secrets(all_configured):
    listed = configured_providers()
    assert [name for name, _ in listed] == ["openai", "anthropic", "gemini", "cohere", "azure", "custom"]
    assert ("openai", "https://api.openai.com/v1") in listed
    assert ("custom", "http://llm.internal/v1") in listed
    assert not any(secret in repr(listed) for secret in SECRETS.values())


def test_no_repr_or_str_shows_a_key(all_configured):
    registry = provider_registry()
    shown = [repr(registry), str(registry)]
    for model in ["gpt-4o", "claude-3", "gemini-pro", "command-r", "azure/dep", "custom/m"]:
        target = resolve_model(model)
        shown += [repr(target), str(target), f"{target}", f"{target!r}"]
    for provider in registry.providers:
        shown += [repr(provider), str(provider)]
    assert not any(secret in text for secret in SECRETS.values() for text in shown)


def test_registry_is_cached_until_cleared(env):
    env(OPENAI_API_KEY="sk-openai-secret")
    assert provider_registry() is provider_registry()
    env(ANTHROPIC_API_KEY="sk-ant-secret")
    assert resolve_model("claude-3").provider == "anthropic"


def test_custom_name_may_not_shadow_a_builtin(env):
    env(CUSTOM_LLM_PROVIDER="openai", CUSTOM_API_KEY="k", CUSTOM_API_BASE="http://x/v1")
    with pytest.raises(ImproperlyConfigured):
        provider_registry()


@pytest.mark.parametrize("base", ["my-gcp-project", "projects/my-project/locations/us-central1", "ftp://x"])
def test_a_base_that_is_not_an_http_url_is_refused_at_configuration(env, base):
    env(GOOGLE_API_KEY="google-secret", GOOGLE_API_BASE=base)
    with pytest.raises(ImproperlyConfigured) as caught:
        provider_registry()
    assert "GOOGLE_API_BASE" in str(caught.value)
    assert "google-secret" not in str(caught.value)


def test_azure_api_version_is_carried_to_its_targets(env):
    env(AZURE_API_KEY="azure-secret", AZURE_API_BASE="https://res.openai.azure.com", AZURE_API_VERSION="2024-10-21")
    assert resolve_model("azure/my-deployment").api_version == "2024-10-21"
    env(AZURE_API_VERSION="")
    assert resolve_model("azure/my-deployment").api_version is None
