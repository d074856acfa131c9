"""The providers route: configured providers and their bases, never a key."""

import pytest

from core.providers import provider_registry


@pytest.fixture(autouse=True)
def _fresh_registry():
    provider_registry.cache_clear()
    yield
    provider_registry.cache_clear()


def test_no_provider_configured_is_an_empty_list(api):
    r = api.get("/api/providers/")
    assert r.status_code == 200
    assert r.json() == []


def test_it_lists_configured_providers_without_keys(api, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("ANTHROPIC_API_BASE", "http://127.0.0.1:9999")
    r = api.get("/api/providers/")
    assert r.json() == [
        {"name": "openai", "api_base": "https://api.openai.com/v1"},
        {"name": "anthropic", "api_base": "http://127.0.0.1:9999"},
    ]
    assert b"secret" not in r.content


def test_credentials_in_a_base_are_not_shown(api, monkeypatch):
    monkeypatch.setenv("CUSTOM_LLM_PROVIDER", "local")
    monkeypatch.setenv("CUSTOM_API_KEY", "k")
    monkeypatch.setenv("CUSTOM_API_BASE", "https://user:hunter2@llm.internal:8443/v1?api-key=hunter2#x")
    r = api.get("/api/providers/")
    assert r.json() == [{"name": "local", "api_base": "https://llm.internal:8443/v1"}]
    assert b"hunter2" not in r.content
