"""Every provider on every route through the official SDKs: its own request, the answer, exact usage rows, errors.

One in-process gateway (tests/gateway.py) in front of the test upstream, which speaks each provider's
wire format and refuses what the real provider refuses (tests/upstream/). Each test runs the three
usage kinds (plain, cached, reasoning) of one route × provider × JSON-or-stream, so the matrix costs
one database setup per cell, not per call.
"""

from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest

from tests.proxy.helpers import expected_cost, set_price

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "cohere": "command-r-08-2024",
    "azure": "azure/my-deployment",
}
PRICED = {**MODELS, "azure": "my-deployment"}  # prices are looked up by the provider's own model name
KEYS = {"gemini": "gemini-upstream-key", "cohere": "cohere-upstream-key", "azure": "azure-upstream-key"}
GEMINI = "/v1beta/models/gemini-2.5-flash"
AZURE_CHAT = "/openai/deployments/my-deployment/chat/completions"
# Where each route's call lands, per provider (the translations of proxy/translated.py).
PATHS = {
    "openai": {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/responses"},
    "anthropic": {"chat": "/v1/messages", "responses": "/v1/messages", "messages": "/v1/messages"},
    "gemini": {route: GEMINI for route in ("chat", "responses", "messages")},
    "cohere": {route: "/v2/chat" for route in ("chat", "responses", "messages")},
    "azure": {"chat": AZURE_CHAT, "responses": "/openai/responses", "messages": AZURE_CHAT},
}
USAGE_KINDS = {
    "plain": {"input_tokens": 12, "output_tokens": 7},
    "cached": {"input_tokens": 10, "output_tokens": 7, "cache_read_tokens": 4, "cache_write_tokens": 6},
    "reasoning": {"input_tokens": 12, "output_tokens": 9, "reasoning_tokens": 3},
}
TEXT = "Hello through every provider."
ROUTES = ["chat", "responses", "messages"]
ROUTE_VALUES = {"chat": "chat.completions", "responses": "responses", "messages": "messages"}  # usage rows' route


@pytest.fixture
def every_provider(providers, monkeypatch):
    """OpenAI, Anthropic and the custom provider (tests/gateway.py), plus Google, Cohere and Azure at the upstream."""
    from core.providers import provider_registry

    monkeypatch.setenv("GOOGLE_API_KEY", KEYS["gemini"])
    monkeypatch.setenv("GOOGLE_API_BASE", providers.url)
    monkeypatch.setenv("COHERE_API_KEY", KEYS["cohere"])
    monkeypatch.setenv("COHERE_API_BASE", providers.url)
    monkeypatch.setenv("AZURE_API_KEY", KEYS["azure"])
    monkeypatch.setenv("AZURE_API_BASE", providers.url)
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
    provider_registry.cache_clear()
    return providers


@pytest.fixture
def priced(every_provider):
    for provider, model in PRICED.items():
        set_price(model, provider)


def billed(provider: str, counts: dict[str, int]) -> dict[str, int]:
    """What each provider's wire format can say of the upstream's canonical counts, as the gateway must bill it."""
    s = {"cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, **counts}
    if provider == "cohere":  # billed units only: no cache, no reasoning count
        billed_input = s["input_tokens"] + s["cache_read_tokens"] + s["cache_write_tokens"]
        return {"input": billed_input, "output": s["output_tokens"], "cache_read": 0, "cache_write": 0, "reasoning": 0}
    if provider == "anthropic":  # no reasoning count (thinking is inside output)
        return {"input": s["input_tokens"], "output": s["output_tokens"], "cache_read": s["cache_read_tokens"],
                "cache_write": s["cache_write_tokens"], "reasoning": 0}  # fmt: skip
    # OpenAI, Azure, Gemini: no cache-write count, so those tokens are plain input.
    return {"input": s["input_tokens"] + s["cache_write_tokens"], "output": s["output_tokens"],
            "cache_read": s["cache_read_tokens"], "cache_write": 0, "reasoning": s["reasoning_tokens"]}  # fmt: skip


def openai_sdk(gateway, customer):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0)


def anthropic_sdk(gateway, customer):
    return anthropic.Anthropic(base_url=gateway.url, api_key=customer.key, max_retries=0)


def call(route: str, gateway, customer, model: str, stream: bool) -> tuple[str, str, dict]:
    """(request id, answer text, client-visible usage) of one SDK call on `route`."""
    hello = [{"role": "user", "content": "Say hello."}]
    if route == "chat":
        completions = openai_sdk(gateway, customer).chat.completions
        if not stream:
            raw = completions.with_raw_response.create(model=model, messages=hello)
            answer = raw.parse()
            return raw.headers["x-request-id"], answer.choices[0].message.content, dumped(answer.usage)
        options = {"include_usage": True}
        with completions.with_streaming_response.create(
            model=model, messages=hello, stream=True, stream_options=options
        ) as response:
            chunks = list(response.parse())
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            return response.headers["x-request-id"], text, dumped(chunks[-1].usage)
    if route == "responses":
        responses = openai_sdk(gateway, customer).responses
        if not stream:
            raw = responses.with_raw_response.create(model=model, input="Say hello.")
            answer = raw.parse()
            return raw.headers["x-request-id"], answer.output_text, dumped(answer.usage)
        with responses.with_streaming_response.create(model=model, input="Say hello.", stream=True) as response:
            events = list(response.parse())
            text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            assert events[-1].type == "response.completed"
            return response.headers["x-request-id"], text, dumped(events[-1].response.usage)
    messages = anthropic_sdk(gateway, customer).messages
    if not stream:
        raw = messages.with_raw_response.create(model=model, max_tokens=64, messages=hello)
        answer = raw.parse()
        return raw.headers["x-request-id"], answer.content[0].text, dumped(answer.usage)
    with messages.with_streaming_response.create(model=model, max_tokens=64, messages=hello, stream=True) as response:
        events = list(response.parse())
        text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
        assert [e.type for e in events][-2:] == ["message_delta", "message_stop"]
        # As the SDK's own final message: message_start's counts, updated by those message_delta sends.
        usage = dumped(events[0].message.usage)
        usage.update({k: v for k, v in dumped(events[-2].usage).items() if v is not None})
        return response.headers["x-request-id"], text, usage


def dumped(usage: Any) -> dict:
    """The client-visible usage, {} for an answer that has none (a provider that reported none, passed on)."""
    return usage.model_dump() if usage is not None else {}


def shown(route: str, usage: dict) -> tuple[int, int]:
    """(prompt incl. cache, output) as the client's format shows them."""
    if route == "chat":
        return usage["prompt_tokens"], usage["completion_tokens"]
    if route == "responses":
        return usage["input_tokens"], usage["output_tokens"]
    cache = (usage.get("cache_read_input_tokens") or 0) + (usage.get("cache_creation_input_tokens") or 0)
    return (usage.get("input_tokens") or 0) + cache, usage["output_tokens"]


def key_header(provider: str, headers: dict[str, str]) -> str:
    names = {"anthropic": "x-api-key", "gemini": "x-goog-api-key", "azure": "api-key"}
    if provider in names:
        return headers[names[provider]]
    return headers["authorization"].removeprefix("Bearer ")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("route", ROUTES)
def test_each_usage_kind_is_billed_exactly(gateway, customer, every_provider, priced, route, provider, stream):
    upstream = every_provider
    for kind, counts in USAGE_KINDS.items():
        upstream.set(
            text=TEXT, chunks=3, **{"cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, **counts}
        )
        request_id, text, usage = call(route, gateway, customer, MODELS[provider], stream)
        assert text == TEXT, kind
        received = upstream.last
        assert received.path.startswith(PATHS[provider][route]), (kind, received.path)
        if provider in KEYS:
            assert key_header(provider, received.headers) == KEYS[provider]
        expect = billed(provider, counts)
        row = gateway.usage(request_id)
        got = (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_write_tokens, row.reasoning_tokens)
        assert got == tuple(expect.values()), kind
        cost = expected_cost(input=expect["input"], output=expect["output"], cache_read=expect["cache_read"],
                             cache_write=expect["cache_write"])  # fmt: skip
        assert row.cost_usd == cost, kind
        assert (row.status_code, row.streamed, row.provider, row.route) == (
            200,
            stream,
            provider,
            ROUTE_VALUES[route],
        ), kind
        prompt = expect["input"] + expect["cache_read"] + expect["cache_write"]
        assert shown(route, usage) == (prompt, expect["output"]), kind  # the client sees what it is billed
    assert customer.refresh().reserved_usd == Decimal(0)


OPENAI_ERRORS = {429: openai.RateLimitError, 400: openai.BadRequestError, 401: openai.AuthenticationError}
ANTHROPIC_ERRORS = {429: anthropic.RateLimitError, 400: anthropic.BadRequestError, 401: anthropic.AuthenticationError}


@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("route", ROUTES)
def test_provider_errors_reach_each_sdk_in_its_format(gateway, customer, every_provider, priced, route, provider):
    upstream = every_provider
    for status in (429, 400, 401, 503):
        said = f"Quota {status} for key {KEYS.get(provider, 'sk-upstream')}, try later."
        retry = {"retry-after": "7"} if status == 429 else {}
        upstream.set(error_status=status, error_headers=retry, error_message=said)
        expected = (ANTHROPIC_ERRORS if route == "messages" else OPENAI_ERRORS).get(status)
        if expected is None:  # a provider's 5xx is the gateway's 502
            expected = anthropic.InternalServerError if route == "messages" else openai.InternalServerError
        with pytest.raises(expected) as caught:
            call(route, gateway, customer, MODELS[provider], False)
        error: Any = caught.value
        gateway_status = 502 if status >= 500 else status
        assert error.status_code == gateway_status
        if route == "messages":
            assert error.body["type"] == "error" and error.body["error"]["type"]
        else:
            assert set(error.body) >= {"message", "type", "code"}
        if status == 429:
            assert error.response.headers["retry-after"] == "7"
        # The provider's own words reach the client (proxy.provider_errors), its key never does.
        message = error.body["error"]["message"] if route == "messages" else error.body["message"]
        assert f"Quota {status} for key [redacted], try later" in message, message
        assert KEYS.get(provider, "sk-upstream") not in str(error.body)
        row = gateway.usage(error.response.headers["x-request-id"])
        assert row.status_code == gateway_status and row.cost_usd == 0
    assert customer.refresh().reserved_usd == Decimal(0)


@pytest.mark.parametrize("route", ROUTES)
def test_a_gemini_safety_block_is_answered_in_each_route_and_bills_the_prompt(
    gateway, customer, every_provider, priced, route
):
    every_provider.set(safety_block="prompt", input_tokens=20)
    hello = [{"role": "user", "content": "Say hello."}]
    if route == "chat":
        raw = openai_sdk(gateway, customer).chat.completions.with_raw_response.create(
            model=MODELS["gemini"], messages=hello
        )
        assert raw.parse().choices[0].finish_reason == "content_filter"
    elif route == "responses":
        raw = openai_sdk(gateway, customer).responses.with_raw_response.create(
            model=MODELS["gemini"], input="Say hello."
        )
        assert raw.parse().status == "incomplete" and raw.parse().incomplete_details.reason == "content_filter"
    else:
        messages = anthropic_sdk(gateway, customer).messages
        raw = messages.with_raw_response.create(model=MODELS["gemini"], max_tokens=64, messages=hello)
        assert raw.parse().stop_reason == "refusal"
    row = gateway.usage(raw.headers["x-request-id"])
    assert (row.status_code, row.input_tokens, row.output_tokens) == (200, 20, 0)
    assert row.cost_usd == expected_cost(input=20, output=0)


def test_an_azure_content_filter_refusal_is_a_400_the_sdk_reads(gateway, customer, every_provider, priced):
    every_provider.set(safety_block="prompt")
    with pytest.raises(openai.BadRequestError) as caught:
        call("chat", gateway, customer, MODELS["azure"], False)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gemini-2.0-flash", "/models/gemini-2.0-flash:generateContent"),
        ("text-bison-001", "/models/text-bison-001:generateContent"),  # LiteLLM picks the API version (v1alpha here)
        ("chat-bison-001", "/models/chat-bison-001:generateContent"),
        ("command-r-plus", "/v2/chat"),
        ("command-a-03-2025", "/v2/chat"),
    ],
)
def test_provider_is_detected_from_the_model_name(gateway, customer, every_provider, model, path):
    set_price(model)
    request_id, _, _ = call("chat", gateway, customer, model, False)
    assert every_provider.last.path.endswith(path)
    assert gateway.usage(request_id).provider == ("cohere" if path == "/v2/chat" else "gemini")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", ["anthropic", "gemini", "cohere", "azure"])
@pytest.mark.parametrize("route", ROUTES)
def test_an_answer_without_usage_is_billed_from_an_estimate(
    gateway, customer, every_provider, priced, route, provider, stream
):
    """Issue 16 on every provider: no usage in the answer is never a free call, nor a failed one."""
    every_provider.set(text=TEXT, usage_mode="none")
    request_id, text, _ = call(route, gateway, customer, MODELS[provider], stream)
    assert text == TEXT
    row = gateway.usage(request_id)
    assert (row.status_code, row.usage_estimated) == (200, True)
    assert row.input_tokens > 0 and row.output_tokens == 5  # "Hello through every provider." in o200k_base
    assert row.cost_usd == expected_cost(input=row.input_tokens, output=row.output_tokens)
    assert customer.refresh().reserved_usd == Decimal(0)
