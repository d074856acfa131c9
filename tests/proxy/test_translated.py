"""forward() for cross-format calls (proxy.translated) against the test upstream, one provider wire format each."""

import pytest

from core.errors import ContextWindowExceeded, InvalidRequest, UpstreamError, UpstreamUnavailable
from core.providers import resolve_model
from proxy.forwarding import Route, Usage, forward
from tests.proxy.helpers import AZURE_VERSION, TRANSLATED
from tests.proxy.test_forwarding import (
    BODIES,
    KEYS,
    MODELS,
    call,
    collect,
    events,
    expected_usage,
    set_usage,
)

pytestmark = [pytest.mark.engine_independent, pytest.mark.usefixtures("closed_session")]


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "cohere", "azure"])
async def test_chat_stream_with_include_usage_ends_with_the_billed_usage_chunk(provider_upstream, provider):
    set_usage(provider_upstream, provider)
    stream = await call(Route.CHAT, provider, stream=True, stream_options={"include_usage": True})
    parsed = [d for _, d in events(await collect(stream)) if isinstance(d, dict)]
    with_usage = [d for d in parsed if d.get("usage")]
    assert len(with_usage) == 1 and with_usage[0] is parsed[-1] and with_usage[0]["choices"] == []
    usage = expected_usage(provider)
    assert (
        with_usage[0]["usage"]["prompt_tokens"]
        == usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    )
    assert with_usage[0]["usage"]["completion_tokens_details"]["reasoning_tokens"] == usage.reasoning_tokens
    assert {d["id"] for d in parsed} == {parsed[0]["id"]}
    assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(d["model"] == resolve_model(MODELS[provider]).model for d in parsed)


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_gets_its_own_path_key_and_body(provider_upstream, stream):
    body = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "system", "content": "Be brief."}, *BODIES[Route.CHAT]["messages"]],
    }
    body.update(temperature=0.3, max_tokens=40, **({"stream": True} if stream else {}))
    result = await forward(route=Route.CHAT, target=resolve_model(body["model"]), body=body, stream=stream, timeout=10)
    if stream:
        await collect(result)
    received = provider_upstream.last
    method = "streamGenerateContent" if stream else "generateContent"
    assert received.path == f"/v1beta/models/gemini-2.5-flash:{method}"
    assert received.query == ({"alt": "sse"} if stream else {})
    assert received.headers["x-goog-api-key"] == KEYS["gemini"]
    assert "key" not in received.query and "authorization" not in received.headers
    assert received.body["contents"] == [{"role": "user", "parts": [{"text": "Say something."}]}]
    assert received.body["system_instruction"] == {"parts": [{"text": "Be brief."}]}
    assert received.body["generationConfig"] == {"temperature": 0.3, "max_output_tokens": 40}


@pytest.mark.parametrize("stream", [False, True])
async def test_cohere_gets_v2_chat_with_its_bearer_key(provider_upstream, stream):
    result = await call(Route.CHAT, "cohere", stream=stream, temperature=0.3, max_tokens=40)
    if stream:
        await collect(result)
    received = provider_upstream.last
    assert received.path == "/v2/chat"
    assert received.headers["authorization"] == f"Bearer {KEYS['cohere']}"
    assert received.body["model"] == "command-r"
    assert received.body["messages"] == [{"role": "user", "content": "Say something."}]
    assert (received.body["temperature"], received.body["max_tokens"]) == (0.3, 40)
    assert received.body.get("stream", False) is stream


@pytest.mark.parametrize("stream", [False, True])
async def test_azure_gets_the_deployment_path_version_and_api_key(provider_upstream, stream):
    result = await call(Route.CHAT, "azure", stream=stream)
    if stream:
        await collect(result)
    received = provider_upstream.last
    assert received.path == "/openai/deployments/my-deployment/chat/completions"
    assert received.query == {"api-version": AZURE_VERSION}
    assert received.headers["api-key"] == KEYS["azure"]
    assert "authorization" not in received.headers
    if stream:
        assert received.body["stream_options"] == {"include_usage": True}


async def test_azure_responses_are_same_format_on_its_responses_path(provider_upstream):
    set_usage(provider_upstream, "azure")
    body = {"model": MODELS["azure"], **BODIES[Route.RESPONSES]}
    result = await forward(
        route=Route.RESPONSES, target=resolve_model(body["model"]), body=body, stream=False, timeout=10
    )
    assert result.raw is not None  # the provider's own bytes
    assert result.usage == expected_usage("azure")
    assert (
        provider_upstream.last.path.endswith("/responses")
        and provider_upstream.last.headers["api-key"] == KEYS["azure"]
    )
    assert provider_upstream.last.body["model"] == "my-deployment"


@pytest.mark.parametrize(("model", "included"), [("gpt-4o", False), ("gpt-4o-mini", False), ("o3-mini", True)])
async def test_encrypted_reasoning_is_asked_for_only_where_the_model_reasons(provider_upstream, model, included):
    body = {"model": model, **BODIES[Route.MESSAGES]}
    await forward(route=Route.MESSAGES, target=resolve_model(model), body=body, stream=False, timeout=10)
    assert ("reasoning.encrypted_content" in (provider_upstream.last.body.get("include") or [])) is included


@pytest.mark.parametrize(("route", "provider"), TRANSLATED)
@pytest.mark.parametrize("stream", [False, True])
async def test_provider_errors_map_as_same_format_ones(provider_upstream, route, provider, stream):
    provider_upstream.set(error_status=429, error_headers={"retry-after": "7"})
    with pytest.raises(UpstreamError) as caught:
        await call(route, provider, stream=stream)
    assert caught.value.status() == 429 and caught.value.headers == {"retry-after": "7"}
    provider_upstream.set(error_status=500, error_headers={})
    with pytest.raises(UpstreamUnavailable):
        await call(route, provider, stream=stream)
    assert provider_upstream.count == 2  # no retries


@pytest.mark.parametrize("provider", ["gemini", "cohere", "azure", "anthropic"])
@pytest.mark.parametrize("status", [400, 401])
async def test_client_errors_keep_the_status_and_the_providers_words_without_its_key(
    provider_upstream, provider, status
):
    provider_upstream.set(error_status=status, error_message=f"No: key {KEYS[provider]} is refused.")
    with pytest.raises(UpstreamError) as caught:
        await call(Route.CHAT, provider)
    assert caught.value.status() == status
    assert caught.value.message.endswith(f"(HTTP {status}): No: key [redacted] is refused."), caught.value.message


@pytest.mark.parametrize("provider", ["gemini", "cohere", "azure"])
async def test_context_window_refusals_are_recognised(provider_upstream, provider):
    provider_upstream.set(context_models={resolve_model(MODELS[provider]).model})
    with pytest.raises(ContextWindowExceeded):
        await call(Route.CHAT, provider)


async def test_an_unsupported_parameter_is_the_clients_400_and_nothing_is_sent(provider_upstream):
    with pytest.raises(InvalidRequest) as caught:
        await call(Route.CHAT, "cohere", logit_bias={"50256": -100})
    assert "cohere" in caught.value.message
    assert provider_upstream.count == 0


@pytest.mark.parametrize("block", ["prompt", "response"])
@pytest.mark.parametrize("route", list(Route))
@pytest.mark.parametrize("stream", [False, True])
async def test_a_gemini_safety_block_is_the_routes_own_refusal_and_bills_the_prompt(
    provider_upstream, block, route, stream
):
    provider_upstream.set(safety_block=block, input_tokens=15)
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


async def test_azure_content_filter_refusal_is_a_400_and_a_filtered_answer_a_200(provider_upstream):
    provider_upstream.set(safety_block="prompt")
    with pytest.raises(UpstreamError) as caught:
        await call(Route.CHAT, "azure")
    assert caught.value.status() == 400
    provider_upstream.set(safety_block="response")
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
async def test_each_base_is_honoured_as_documented(provider_upstream, providers_at, variable, base, model, path):
    providers_at({variable: f"{provider_upstream.url}{base}"})
    body = {"model": model, **BODIES[Route.CHAT]}
    await forward(route=Route.CHAT, target=resolve_model(model), body=body, stream=False, timeout=10)
    assert provider_upstream.last.path == path


@pytest.mark.parametrize("route", [Route.CHAT, Route.MESSAGES])
async def test_an_azure_interim_usage_chunk_never_completes_the_stream(provider_upstream, route):
    provider_upstream.set(usage_mode="interim", input_tokens=50, output_tokens=900)
    stream = await call(route, "azure", stream=True)
    billed = None
    async for _ in stream:
        if stream.completed and billed is None:
            billed = stream.usage  # what the gateway records, the moment the stream says it is complete
    assert billed == stream.usage and (billed.input_tokens, billed.output_tokens) == (50, 900)
