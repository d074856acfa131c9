"""A provider's own error message reaches the SDK in the route's format; its secrets never do."""

import anthropic
import openai
import pytest

from core.providers import provider_registry

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

MESSAGES = [{"role": "user", "content": "hi"}]
# What providers say; LiteLLM maps some messages to its own classes by their words ("rate limit" is a 429),
# so each status gets the kind of message a provider sends with it.
SAID = {
    429: "Rate limit reached for gpt-4o-mini in organization org-1 on tokens per min (TPM): Limit 100, Used 99.",
    400: "Invalid value for 'temperature': 3 is greater than the maximum of 2.",
}
SECRETS = ("sk-upstream-openai", "hunter2", "abc123", "eyJhbGciOiJIUzI1NiJ9")


def leaky(said: str) -> str:
    return (
        f"{said} Key sk-upstream-openai was used; see https://ops:hunter2@status.example.com/help?key=abc123&page=2 "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    )


def openai_sdk(gateway, customer):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0)


def anthropic_sdk(gateway, customer):
    return anthropic.Anthropic(base_url=gateway.url, api_key=customer.key, max_retries=0)


def assert_safe(text: str, said: str) -> None:
    assert said in text, text
    assert "[redacted]" in text
    for secret in SECRETS:
        assert secret not in text


# Each route with a model on its fast path (the provider's bytes) and one through LiteLLM's translation.
@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku-4-5"])
@pytest.mark.parametrize(("status", "exception"), [(429, openai.RateLimitError), (400, openai.BadRequestError)])
def test_openai_sdk_shows_the_providers_message(gateway, customer, upstream, caplog, model, status, exception):
    caplog.set_level("INFO")
    upstream.set(error_status=status, error_message=leaky(SAID[status]))
    with pytest.raises(exception) as raised:
        openai_sdk(gateway, customer).chat.completions.create(model=model, messages=MESSAGES)
    assert raised.value.status_code == status
    assert_safe(str(raised.value), SAID[status])
    assert f"refused the request (HTTP {status})" in raised.value.body["message"]
    for secret in SECRETS:
        assert secret not in caplog.text
    assert SAID[status] in caplog.text  # the warning says what the provider said, made safe too


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gpt-4o-mini"])
@pytest.mark.parametrize(("status", "exception"), [(429, anthropic.RateLimitError), (400, anthropic.BadRequestError)])
def test_anthropic_sdk_shows_the_providers_message(gateway, customer, upstream, model, status, exception):
    upstream.set(error_status=status, error_message=leaky(SAID[status]))
    with pytest.raises(exception) as raised:
        anthropic_sdk(gateway, customer).messages.create(model=model, max_tokens=10, messages=MESSAGES)
    assert raised.value.status_code == status
    assert raised.value.body["type"] == "error"
    assert_safe(str(raised.value), SAID[status])


def test_a_server_error_says_what_the_provider_said_as_a_502(gateway, customer, upstream):
    upstream.set(error_status=503, error_message="The engine is currently overloaded, please try again later.")
    with pytest.raises(openai.APIStatusError) as raised:
        openai_sdk(gateway, customer).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raised.value.status_code == 502
    assert "(HTTP 503): The engine is currently overloaded" in str(raised.value)


def test_a_configured_key_of_any_shape_is_redacted(gateway, customer, upstream, monkeypatch):
    monkeypatch.setenv("CUSTOM_API_KEY", "plain0secret0value")  # no known key pattern: only the literal catches it
    provider_registry.cache_clear()
    upstream.set(error_status=401, error_message="Invalid key plain0secret0value for this project.")
    with pytest.raises(openai.AuthenticationError) as raised:
        openai_sdk(gateway, customer).chat.completions.create(model="custom/llama-3", messages=MESSAGES)
    assert "Invalid key [redacted] for this project." in str(raised.value)
    assert "plain0secret0value" not in str(raised.value)
