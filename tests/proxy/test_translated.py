"""forward() for cross-format calls (proxy.translated) against the test upstream, one provider wire format each."""

import asyncio
import json

import pytest

from core.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from core.providers import provider_registry, resolve_model
from proxy.forwarding import Completion, Route, Stream, Usage, forward, forwarding_close
from tests.proxy.test_forwarding import BODIES, body_text, collect, events, streamed_text

pytestmark = pytest.mark.engine_independent

KEYS = {
    "openai": "sk-openai-test",
    "anthropic": "sk-ant-test",
    "gemini": "gemini-test-key",
    "cohere": "cohere-test-key",
    "azure": "azure-test-key",
}
MODELS = {
    "openai": "gpt-4o",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "cohere": "command-r",
    "azure": "azure/my-deployment",
}
# Every cross-format pair the gateway translates (proxy.translated's table).
TRANSLATED = [
    (Route.CHAT, "anthropic"),
    (Route.CHAT, "gemini"),
    (Route.CHAT, "cohere"),
    (Route.CHAT, "azure"),
    (Route.MESSAGES, "gemini"),
    (Route.MESSAGES, "cohere"),
    (Route.MESSAGES, "azure"),
    (Route.MESSAGES, "openai"),
    (Route.RESPONSES, "anthropic"),
    (Route.RESPONSES, "gemini"),
    (Route.RESPONSES, "cohere"),
]
AZURE_VERSION = "2024-10-21"
TEXT = "The quick brown fox jumps."


@pytest.fixture(autouse=True)
async def closed_session():
    yield
    await forwarding_close()


@pytest.fixture
def providers(upstream, monkeypatch):
    """Every built-in provider pointed at the test upstream, each base as an operator would write it."""
    monkeypatch.setenv("OPENAI_API_KEY", KEYS["openai"])
    monkeypatch.setenv("OPENAI_API_BASE", f"{upstream.url}/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEYS["anthropic"])
    monkeypatch.setenv("ANTHROPIC_API_BASE", upstream.url)
    monkeypatch.setenv("GOOGLE_API_KEY", KEYS["gemini"])
    monkeypatch.setenv("GOOGLE_API_BASE", upstream.url)  # a bare host: LiteLLM's own /v1beta/models/... path
    monkeypatch.setenv("COHERE_API_KEY", KEYS["cohere"])
    monkeypatch.setenv("COHERE_API_BASE", upstream.url)  # /v2/chat appended
    monkeypatch.setenv("AZURE_API_KEY", KEYS["azure"])
    monkeypatch.setenv("AZURE_API_BASE", upstream.url)
    monkeypatch.setenv("AZURE_API_VERSION", AZURE_VERSION)
    provider_registry.cache_clear()
    yield upstream
    provider_registry.cache_clear()


async def call(route, provider, *, stream=False, timeout=10.0, **extra):
    body = {"model": MODELS[provider], **BODIES[route], **({"stream": True} if stream else {}), **extra}
    return await forward(route=route, target=resolve_model(body["model"]), body=body, stream=stream, timeout=timeout)


def set_usage(upstream, provider):
    """Every count each provider's wire format can carry."""
    counts = {"input_tokens": 11, "output_tokens": 9}
    if provider == "anthropic":
        counts.update(cache_read_tokens=4, cache_write_tokens=6)
    elif provider != "cohere":
        counts.update(cache_read_tokens=4, reasoning_tokens=3)
    upstream.set(**counts)


def expected(provider) -> Usage:
    if provider == "anthropic":
        return Usage(input_tokens=11, output_tokens=9, cache_read_tokens=4, cache_write_tokens=6)
    if provider == "cohere":
        return Usage(input_tokens=11, output_tokens=9)  # billed units, not the template-padded `tokens`
    return Usage(input_tokens=11, output_tokens=9, cache_read_tokens=4, reasoning_tokens=3)


def shown_usage(route, provider, usage) -> dict:
    """The counts a client sees in the answer: the ones billed, in its own format."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    if route is Route.CHAT:
        return {"prompt_tokens": prompt, "completion_tokens": usage.output_tokens}
    if route is Route.RESPONSES:
        return {"input_tokens": prompt, "output_tokens": usage.output_tokens}
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


@pytest.mark.parametrize(("route", "provider"), TRANSLATED)
async def test_json_answer_is_in_the_route_format_with_the_providers_own_usage(providers, route, provider):
    set_usage(providers, provider)
    providers.set(text=TEXT)
    result = await call(route, provider)
    assert isinstance(result, Completion)
    assert body_text(route, result.body) == TEXT
    assert result.usage == expected(provider)
    usage = result.body["usage"]
    assert {name: usage[name] for name in shown_usage(route, provider, result.usage)} == shown_usage(
        route, provider, result.usage
    )
    assert "cost" not in usage
    json.dumps(result.body)


@pytest.mark.parametrize(("route", "provider"), TRANSLATED)
async def test_stream_is_in_the_route_format_with_the_providers_own_usage(providers, route, provider):
    set_usage(providers, provider)
    providers.set(text=TEXT, chunks=4)
    stream = await call(route, provider, stream=True)
    assert isinstance(stream, Stream)
    frames = await collect(stream)
    assert all(frame.endswith(b"\n\n") for frame in frames)
    assert streamed_text(route, frames) == TEXT
    assert stream.completed and stream.usage == expected(provider)
    if route is Route.CHAT:
        assert events(frames)[-1] == (None, "[DONE]")
        assert not any(isinstance(d, dict) and d.get("usage") for _, d in events(frames))  # not asked for
    elif route is Route.MESSAGES:
        assert [event for event, _ in events(frames)][-2:] == ["message_delta", "message_stop"]
        assert events(frames)[-2][1]["usage"]["output_tokens"] == 9
    else:
        assert events(frames)[-1][1]["type"] == "response.completed"
        assert events(frames)[-1][1]["response"]["usage"]["output_tokens"] == 9


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "cohere", "azure"])
async def test_chat_stream_with_include_usage_ends_with_the_billed_usage_chunk(providers, provider):
    set_usage(providers, provider)
    stream = await call(Route.CHAT, provider, stream=True, stream_options={"include_usage": True})
    parsed = [d for _, d in events(await collect(stream)) if isinstance(d, dict)]
    with_usage = [d for d in parsed if d.get("usage")]
    assert len(with_usage) == 1 and with_usage[0] is parsed[-1] and with_usage[0]["choices"] == []
    usage = expected(provider)
    assert (
        with_usage[0]["usage"]["prompt_tokens"]
        == usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    )
    assert with_usage[0]["usage"]["completion_tokens_details"]["reasoning_tokens"] == usage.reasoning_tokens
    assert {d["id"] for d in parsed} == {parsed[0]["id"]}
    assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(d["model"] == resolve_model(MODELS[provider]).model for d in parsed)


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_gets_its_own_path_key_and_body(providers, stream):
    body = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "system", "content": "Be brief."}, *BODIES[Route.CHAT]["messages"]],
    }
    body.update(temperature=0.3, max_tokens=40, **({"stream": True} if stream else {}))
    result = await forward(route=Route.CHAT, target=resolve_model(body["model"]), body=body, stream=stream, timeout=10)
    if stream:
        await collect(result)
    received = providers.last
    method = "streamGenerateContent" if stream else "generateContent"
    assert received.path == f"/v1beta/models/gemini-2.5-flash:{method}"
    assert received.query == ({"alt": "sse"} if stream else {})
    assert received.headers["x-goog-api-key"] == KEYS["gemini"]
    assert "key" not in received.query and "authorization" not in received.headers
    assert received.body["contents"] == [{"role": "user", "parts": [{"text": "Say something."}]}]
    assert received.body["system_instruction"] == {"parts": [{"text": "Be brief."}]}
    assert received.body["generationConfig"] == {"temperature": 0.3, "max_output_tokens": 40}


@pytest.mark.parametrize("stream", [False, True])
async def test_cohere_gets_v2_chat_with_its_bearer_key(providers, stream):
    result = await call(Route.CHAT, "cohere", stream=stream, temperature=0.3, max_tokens=40)
    if stream:
        await collect(result)
    received = providers.last
    assert received.path == "/v2/chat"
    assert received.headers["authorization"] == f"Bearer {KEYS['cohere']}"
    assert received.body["model"] == "command-r"
    assert received.body["messages"] == [{"role": "user", "content": "Say something."}]
    assert (received.body["temperature"], received.body["max_tokens"]) == (0.3, 40)
    assert received.body.get("stream", False) is stream


@pytest.mark.parametrize("stream", [False, True])
async def test_azure_gets_the_deployment_path_version_and_api_key(providers, stream):
    result = await call(Route.CHAT, "azure", stream=stream)
    if stream:
        await collect(result)
    received = providers.last
    assert received.path == "/openai/deployments/my-deployment/chat/completions"
    assert received.query == {"api-version": AZURE_VERSION}
    assert received.headers["api-key"] == KEYS["azure"]
    assert "authorization" not in received.headers
    if stream:
        assert received.body["stream_options"] == {"include_usage": True}


async def test_azure_responses_are_same_format_on_its_responses_path(providers):
    set_usage(providers, "azure")
    body = {"model": MODELS["azure"], **BODIES[Route.RESPONSES]}
    result = await forward(
        route=Route.RESPONSES, target=resolve_model(body["model"]), body=body, stream=False, timeout=10
    )
    assert result.raw is not None  # the provider's own bytes
    assert result.usage == expected("azure")
    assert providers.last.path.endswith("/responses") and providers.last.headers["api-key"] == KEYS["azure"]
    assert providers.last.body["model"] == "my-deployment"


@pytest.mark.parametrize(("model", "included"), [("gpt-4o", False), ("gpt-4o-mini", False), ("o3-mini", True)])
async def test_encrypted_reasoning_is_asked_for_only_where_the_model_reasons(providers, model, included):
    body = {"model": model, **BODIES[Route.MESSAGES]}
    await forward(route=Route.MESSAGES, target=resolve_model(model), body=body, stream=False, timeout=10)
    assert ("reasoning.encrypted_content" in (providers.last.body.get("include") or [])) is included


@pytest.mark.parametrize(("route", "provider"), TRANSLATED)
@pytest.mark.parametrize("stream", [False, True])
async def test_provider_errors_map_as_same_format_ones(providers, route, provider, stream):
    providers.set(error_status=429, error_headers={"retry-after": "7"})
    with pytest.raises(UpstreamError) as caught:
        await call(route, provider, stream=stream)
    assert caught.value.status() == 429 and caught.value.headers == {"retry-after": "7"}
    providers.set(error_status=500, error_headers={})
    with pytest.raises(UpstreamUnavailable):
        await call(route, provider, stream=stream)
    assert providers.count == 2  # no retries


@pytest.mark.parametrize("provider", ["gemini", "cohere", "azure", "anthropic"])
@pytest.mark.parametrize("status", [400, 401])
async def test_client_errors_keep_the_status_and_never_the_providers_text(providers, provider, status):
    providers.set(error_status=status)
    with pytest.raises(UpstreamError) as caught:
        await call(Route.CHAT, provider)
    assert caught.value.status() == status
    assert "Test upstream error" not in caught.value.message and KEYS[provider] not in caught.value.message


@pytest.mark.parametrize("provider", ["gemini", "cohere", "azure"])
async def test_context_window_refusals_are_recognised(providers, provider):
    providers.set(context_models={resolve_model(MODELS[provider]).model})
    with pytest.raises(ContextWindowExceeded):
        await call(Route.CHAT, provider)


@pytest.mark.parametrize("provider", ["gemini", "cohere"])
async def test_a_hanging_provider_times_out(providers, provider):
    providers.set(hang=True)
    with pytest.raises(UpstreamTimeout):
        await collect(await call(Route.CHAT, provider, stream=True, timeout=0.5))


@pytest.mark.parametrize(("route", "provider"), TRANSLATED)
async def test_frames_are_forwarded_as_they_arrive(providers, route, provider):
    providers.set(text="abcdefghijklmnop", chunks=4, hold_after=1)
    stream = await call(route, provider, stream=True)
    frames: list[bytes] = []
    iterator = aiter(stream)
    while streamed_text(route, frames) != "abcd":  # the upstream is holding back the rest
        frames.append(await asyncio.wait_for(anext(iterator), timeout=5))
    providers.switches.release.set()
    frames += [frame async for frame in iterator]
    assert streamed_text(route, frames) == "abcdefghijklmnop"


@pytest.mark.parametrize(("route", "provider"), TRANSLATED)
async def test_dropped_stream_raises_ours_and_keeps_an_estimate(providers, route, provider):
    providers.set(text="abcdefghijklmnop", chunks=4, drop_after=2)
    stream = await call(route, provider, stream=True)
    frames = []
    with pytest.raises(UpstreamUnavailable):
        async for frame in stream:
            frames.append(frame)
    assert streamed_text(route, frames) == "abcdefgh"
    assert not stream.completed
    assert stream.usage.output_tokens >= 2 and stream.usage.input_tokens > 0


async def test_an_unsupported_parameter_is_the_clients_400_and_nothing_is_sent(providers):
    with pytest.raises(InvalidRequest) as caught:
        await call(Route.CHAT, "cohere", logit_bias={"50256": -100})
    assert "cohere" in caught.value.message
    assert providers.count == 0


@pytest.mark.parametrize("block", ["prompt", "response"])
@pytest.mark.parametrize("route", list(Route))
@pytest.mark.parametrize("stream", [False, True])
async def test_a_gemini_safety_block_is_the_routes_own_refusal_and_bills_the_prompt(providers, block, route, stream):
    providers.set(safety_block=block, input_tokens=15)
    result = await call(route, "gemini", stream=stream)
    if stream:
        last = [data for _, data in events(await collect(result)) if isinstance(data, dict)]
        body = last[-2] if route is Route.MESSAGES else last[-1].get("response", last[-1])
        assert result.completed
    else:
        body = result.body
    if route is Route.CHAT:
        assert body["choices"][0]["finish_reason"] == "content_filter"
    elif route is Route.MESSAGES:
        assert (body.get("delta") or body)["stop_reason"] == "refusal"
    else:
        assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "content_filter"}
    assert result.usage == Usage(input_tokens=15, output_tokens=0)


async def test_azure_content_filter_refusal_is_a_400_and_a_filtered_answer_a_200(providers):
    providers.set(safety_block="prompt")
    with pytest.raises(UpstreamError) as caught:
        await call(Route.CHAT, "azure")
    assert caught.value.status() == 400
    providers.set(safety_block="response")
    result = await call(Route.CHAT, "azure")
    assert result.body["choices"][0]["finish_reason"] == "content_filter"
    assert result.usage.input_tokens == 12


@pytest.mark.parametrize(
    ("variable", "base", "model", "path"),
    [
        (
            "GOOGLE_API_BASE",
            "/gemini-proxy/v1beta",
            "gemini-2.5-flash",
            "/gemini-proxy/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        ("GOOGLE_API_BASE", "", "gemini-3-pro-preview", "/v1alpha/models/gemini-3-pro-preview:generateContent"),
        ("COHERE_API_BASE", "/cohere-proxy", "command-r", "/cohere-proxy/v2/chat"),
        ("COHERE_API_BASE", "/cohere-proxy/v2/chat", "command-r", "/cohere-proxy/v2/chat"),
        ("ANTHROPIC_API_BASE", "/anthropic-proxy", "claude-haiku-4-5", "/anthropic-proxy/v1/messages"),
        ("AZURE_API_BASE", "/openai", "azure/my-deployment", "/openai/deployments/my-deployment/chat/completions"),
    ],
)
async def test_each_base_is_honoured_as_documented(providers, monkeypatch, variable, base, model, path):
    monkeypatch.setenv(variable, f"{providers.url}{base}")
    provider_registry.cache_clear()
    body = {"model": model, **BODIES[Route.CHAT]}
    await forward(route=Route.CHAT, target=resolve_model(model), body=body, stream=False, timeout=10)
    assert providers.last.path == path
