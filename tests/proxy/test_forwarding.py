"""forward() through LiteLLM against the real test upstream: every route × provider × stream."""

import asyncio
import json
import subprocess
import sys

import pytest

from core.errors import InvalidRequest, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from core.providers import resolve_model
from proxy.forwarding import (
    Completion,
    Route,
    Stream,
    Usage,
    forward,
    known_models,
    validate_body,
)
from tests.proxy.helpers import PROVIDER_KEYS, PROVIDER_MODELS, TRANSLATED

# Forwarding against the test upstream, with no account, key or row: the suite's engine plays no part.
pytestmark = [pytest.mark.engine_independent, pytest.mark.usefixtures("closed_session")]

KEYS, MODELS = PROVIDER_KEYS, PROVIDER_MODELS
TEXT = "The quick brown fox jumps."
BODIES = {
    Route.CHAT: {"messages": [{"role": "user", "content": "Say something."}]},
    Route.RESPONSES: {"input": "Say something."},
    Route.MESSAGES: {"messages": [{"role": "user", "content": "Say something."}], "max_tokens": 50},
}
# Where each provider's request lands. LiteLLM bridges Anthropic-format requests for
# OpenAI models through the Responses API.
PATHS = {
    ("openai", Route.CHAT): "/v1/chat/completions",
    ("openai", Route.RESPONSES): "/v1/responses",
    ("openai", Route.MESSAGES): "/v1/responses",
    ("anthropic", Route.CHAT): "/v1/messages",
    ("anthropic", Route.RESPONSES): "/v1/messages",
    ("anthropic", Route.MESSAGES): "/v1/messages",
}
ALL = [(route, provider) for route in Route for provider in ("openai", "anthropic")]
# Messages for an Azure deployment: LiteLLM bridges them through chat completions.
WITH_AZURE = [*ALL, (Route.MESSAGES, "azure")]
# Same-format and translated calls alike (tests/proxy/test_translated.py tests what only translated ones do).
EVERY = [*WITH_AZURE, *(pair for pair in TRANSLATED if pair not in WITH_AZURE)]
AZURE_PATH = "/openai/deployments/my-deployment/chat/completions"


def body_for(route, provider, **extra):
    return {"model": MODELS[provider], **BODIES[route], **extra}


async def call(route, provider, *, stream=False, timeout=10.0, **extra):
    body = body_for(route, provider, **({"stream": True} if stream else {}), **extra)
    return await forward(route=route, target=resolve_model(body["model"]), body=body, stream=stream, timeout=timeout)


async def collect(stream: Stream) -> list[bytes]:
    return [frame async for frame in stream]


def events(frames: list[bytes]) -> list[tuple[str | None, object]]:
    parsed = []
    for frame in frames:
        event, data = None, None
        for line in frame.decode().splitlines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                raw = line[len("data: ") :]
                data = raw if raw == "[DONE]" else json.loads(raw)
        parsed.append((event, data))
    return parsed


def streamed_text(route, frames) -> str:
    datas = [data for _, data in events(frames) if isinstance(data, dict)]
    if route is Route.CHAT:
        return "".join(c["delta"].get("content") or "" for d in datas for c in d["choices"])
    if route is Route.RESPONSES:
        return "".join(d["delta"] for d in datas if d["type"] == "response.output_text.delta")
    return "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta")


def body_text(route, body) -> str:
    if route is Route.CHAT:
        return body["choices"][0]["message"]["content"]
    if route is Route.RESPONSES:
        return body["output"][0]["content"][0]["text"]
    return body["content"][0]["text"]


def set_usage(upstream, provider):
    """Every count each provider's wire format can carry."""
    counts = {"input_tokens": 11, "output_tokens": 9}
    if provider == "anthropic":
        counts.update(cache_read_tokens=4, cache_write_tokens=6)
    elif provider != "cohere":
        counts.update(cache_read_tokens=4, reasoning_tokens=3)
    upstream.set(**counts)


def expected_usage(provider) -> Usage:
    if provider == "anthropic":
        return Usage(input_tokens=11, output_tokens=9, cache_read_tokens=4, cache_write_tokens=6)
    if provider == "cohere":
        return Usage(input_tokens=11, output_tokens=9)  # billed units, not the template-padded `tokens`
    # Messages for OpenAI and Azure models: LiteLLM's bridges drop the reasoning count; ours keep it.
    return Usage(input_tokens=11, output_tokens=9, cache_read_tokens=4, reasoning_tokens=3)


def shown_usage(route, provider, usage) -> dict:
    """The counts a client sees in the answer: the ones billed, in its own format."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    if route is Route.CHAT:
        return {"prompt_tokens": prompt, "completion_tokens": usage.output_tokens}
    if route is Route.RESPONSES:
        return {"input_tokens": prompt, "output_tokens": usage.output_tokens}
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


@pytest.mark.parametrize(("route", "provider"), EVERY)
async def test_json_answer_is_in_the_route_format_with_the_providers_own_usage_as_billed(
    provider_upstream, route, provider
):
    set_usage(provider_upstream, provider)
    provider_upstream.set(text=TEXT)
    result = await call(route, provider)
    assert isinstance(result, Completion)
    assert body_text(route, result.body) == TEXT
    assert result.usage == expected_usage(provider)
    usage = result.body["usage"]
    assert {name: usage[name] for name in shown_usage(route, provider, result.usage)} == shown_usage(
        route, provider, result.usage
    )
    assert "cost" not in usage
    json.dumps(result.body)


@pytest.mark.parametrize(("route", "provider"), EVERY)
async def test_stream_is_in_the_route_format_with_the_providers_own_usage(provider_upstream, route, provider):
    set_usage(provider_upstream, provider)
    provider_upstream.set(text=TEXT, chunks=4)
    stream = await call(route, provider, stream=True)
    assert isinstance(stream, Stream)
    frames = await collect(stream)
    assert all(frame.endswith(b"\n\n") for frame in frames)
    assert streamed_text(route, frames) == TEXT
    assert stream.completed and stream.usage == expected_usage(provider)
    if route is Route.CHAT:
        assert events(frames)[-1] == (None, "[DONE]")
        assert not any(isinstance(d, dict) and d.get("usage") for _, d in events(frames))  # not asked for
    elif route is Route.MESSAGES:
        assert [event for event, _ in events(frames)][-2:] == ["message_delta", "message_stop"]
        assert events(frames)[-2][1]["usage"]["output_tokens"] == 9
    else:
        assert events(frames)[-1][1]["type"] == "response.completed"
        assert events(frames)[-1][1]["response"]["usage"]["output_tokens"] == 9


@pytest.mark.parametrize(("route", "provider"), ALL)
async def test_the_right_key_reaches_the_right_path(provider_upstream, route, provider):
    await call(route, provider)
    received = provider_upstream.last
    assert received.path == PATHS[provider, route]
    if provider == "anthropic":
        assert received.headers["x-api-key"] == KEYS["anthropic"]
        assert "authorization" not in received.headers
    else:
        assert received.headers["authorization"] == f"Bearer {KEYS['openai']}"
    assert received.body["model"] == MODELS[provider]


@pytest.mark.parametrize("route", [Route.CHAT, Route.RESPONSES])
async def test_custom_provider_gets_its_own_base_and_key(provider_upstream, route):
    result = await call(route, "custom")
    assert provider_upstream.last.path == f"/custom/v1/{'chat/completions' if route is Route.CHAT else 'responses'}"
    assert provider_upstream.last.headers["authorization"] == f"Bearer {KEYS['custom']}"
    assert provider_upstream.last.body["model"] == "my-model"
    assert result.usage.input_tokens == 12


@pytest.mark.parametrize("stream", [False, True])
async def test_custom_provider_messages_go_to_its_responses_endpoint_with_reasoning(provider_upstream, stream):
    provider_upstream.set(input_tokens=11, output_tokens=9, cache_read_tokens=4, reasoning_tokens=3, text=TEXT)
    result = await call(Route.MESSAGES, "custom", stream=stream)
    if stream:
        assert streamed_text(Route.MESSAGES, await collect(result)) == TEXT
    else:
        assert body_text(Route.MESSAGES, result.body) == TEXT
        assert result.body["usage"] == {"input_tokens": 11, "output_tokens": 9, "cache_read_input_tokens": 4}
    assert provider_upstream.last.path == "/custom/v1/responses"
    assert provider_upstream.last.headers["authorization"] == f"Bearer {KEYS['custom']}"
    assert provider_upstream.last.body["model"] == "my-model"
    assert result.usage == Usage(input_tokens=11, output_tokens=9, cache_read_tokens=4, reasoning_tokens=3)


async def test_bridged_messages_stream_keeps_anthropic_events_and_usage(provider_upstream):
    set_usage(provider_upstream, "openai")
    stream = await call(Route.MESSAGES, "openai", stream=True, system="Be brief.", temperature=0.5)
    parsed = events(await collect(stream))
    kinds = [event for event, _ in parsed]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert parsed[-2][1]["usage"] == {"input_tokens": 11, "output_tokens": 9, "cache_read_input_tokens": 4}
    assert provider_upstream.last.body["instructions"] == "Be brief."
    assert provider_upstream.last.body["temperature"] == 0.5
    assert provider_upstream.last.body["stream"] is True


async def test_bridged_messages_stream_closed_early_leaves_an_estimate(provider_upstream):
    provider_upstream.set(text="abcdefghijklmnop", chunks=4, hold_after=2, reasoning_tokens=3)
    stream = await call(Route.MESSAGES, "openai", stream=True)
    frames = []
    async for frame in stream:
        frames.append(frame)
        if streamed_text(Route.MESSAGES, frames) == "abcdefgh":
            break
    await stream.aclose()
    provider_upstream.switches.release.set()
    assert not stream.usage_reported
    assert stream.usage.output_tokens == 2
    assert stream.usage.reasoning_tokens == 0


@pytest.mark.parametrize("stream", [False, True])
async def test_azure_messages_are_bridged_through_chat_with_reasoning(provider_upstream, stream):
    set_usage(provider_upstream, "azure")
    provider_upstream.set(text=TEXT)
    result = await call(Route.MESSAGES, "azure", stream=stream)
    if stream:
        parsed = events(await collect(result))
        assert parsed[-2][1]["usage"] == {"input_tokens": 11, "output_tokens": 9, "cache_read_input_tokens": 4}
        assert provider_upstream.last.body["stream_options"] == {"include_usage": True}
    else:
        assert result.body["usage"] == {"input_tokens": 11, "output_tokens": 9, "cache_read_input_tokens": 4}
        assert result.body["type"] == "message" and result.body["model"] == "my-deployment"
    assert result.usage == Usage(input_tokens=11, output_tokens=9, cache_read_tokens=4, reasoning_tokens=3)
    assert provider_upstream.last.path == AZURE_PATH
    assert provider_upstream.last.headers["api-key"] == KEYS["azure"]
    assert "authorization" not in provider_upstream.last.headers
    assert provider_upstream.last.body["model"] == "my-deployment"


async def test_azure_messages_stream_keeps_anthropic_events(provider_upstream):
    provider_upstream.set(text=TEXT, chunks=4, reasoning_tokens=2)
    stream = await call(Route.MESSAGES, "azure", stream=True, system="Be brief.", temperature=0.5)
    parsed = events(await collect(stream))
    assert [event for event, _ in parsed] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(event == data["type"] for event, data in parsed)
    assert parsed[0][1]["message"]["model"] == "my-deployment"
    assert parsed[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert stream.usage == Usage(input_tokens=12, output_tokens=7, reasoning_tokens=2)
    assert provider_upstream.last.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert provider_upstream.last.body["temperature"] == 0.5
    assert provider_upstream.count == 1


@pytest.mark.parametrize(("route", "provider"), [(Route.CHAT, "anthropic"), (Route.MESSAGES, "openai")])
@pytest.mark.parametrize("stream", [False, True])
async def test_litellms_call_path_passes_on_the_providers_words_not_its_own(
    provider_upstream, settings, route, provider, stream
):
    """The escape hatch (and Messages bodies LiteLLM rewrites): the provider's words, unwrapped from LiteLLM's text."""
    settings.GATEWAY_FAST_PATH = False
    said = f"Slow down, key {KEYS[provider]}."
    provider_upstream.set(error_status=429, error_headers={"retry-after": "7"}, error_message=said)
    with pytest.raises(UpstreamError) as caught:
        await collect(await call(route, provider, stream=stream))
    assert caught.value.status() == 429 and caught.value.headers == {"retry-after": "7"}
    assert caught.value.message.endswith("(HTTP 429): Slow down, key [redacted]."), caught.value.message
    assert "Exception" not in caught.value.message and "litellm" not in caught.value.message


@pytest.mark.parametrize(("route", "provider"), WITH_AZURE)
@pytest.mark.parametrize("stream", [False, True])
async def test_server_error_is_unavailable_without_retries(provider_upstream, route, provider, stream):
    provider_upstream.set(error_status=500)
    with pytest.raises(UpstreamUnavailable) as caught:
        result = await call(route, provider, stream=stream)
        await collect(result)
    assert provider_upstream.count == 1
    # The provider's own words, inside ours (proxy.provider_errors), never LiteLLM's wrapping.
    assert caught.value.message.endswith("failed to answer (HTTP 500): Test upstream error 500.")


@pytest.mark.parametrize(("route", "provider"), WITH_AZURE)
async def test_rate_limit_keeps_status_and_retry_after_without_retries(provider_upstream, route, provider):
    provider_upstream.set(error_status=429, error_headers={"retry-after": "7"})
    with pytest.raises(UpstreamError) as caught:
        await call(route, provider)
    assert provider_upstream.count == 1
    assert caught.value.status() == 429
    assert caught.value.headers == {"retry-after": "7"}


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_client_errors_keep_the_provider_status(provider_upstream, status):
    provider_upstream.set(error_status=status)
    with pytest.raises(UpstreamError) as caught:
        await call(Route.CHAT, "openai")
    assert caught.value.status() == status
    assert KEYS["openai"] not in caught.value.message
    assert caught.value.message.endswith(f"refused the request (HTTP {status}): Test upstream error {status}.")


async def test_service_unavailable_is_502(provider_upstream):
    provider_upstream.set(error_status=503)
    with pytest.raises(UpstreamUnavailable) as caught:
        await call(Route.MESSAGES, "anthropic")
    assert caught.value.status() == 502


@pytest.mark.parametrize(("route", "provider"), [*WITH_AZURE, (Route.CHAT, "gemini"), (Route.CHAT, "cohere")])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_hanging_provider_times_out(provider_upstream, route, provider, stream):
    provider_upstream.set(hang=True)
    with pytest.raises(UpstreamTimeout):
        result = await call(route, provider, stream=stream, timeout=0.5)
        await collect(result)


@pytest.mark.parametrize(("route", "provider"), EVERY)
async def test_dropped_stream_raises_ours_and_keeps_an_estimate(provider_upstream, route, provider):
    provider_upstream.set(text="abcdefghijklmnop", chunks=4, drop_after=2)
    stream = await call(route, provider, stream=True)
    frames = []
    with pytest.raises(UpstreamUnavailable):
        async for frame in stream:
            frames.append(frame)
    assert streamed_text(route, frames) == "abcdefgh"
    assert not stream.completed and stream.usage.input_tokens > 0
    if (route, provider) in WITH_AZURE:  # no count arrived before the cut: an estimate
        assert not stream.usage_reported
        assert stream.usage.output_tokens == 2  # 8 characters received, ~4 a token
    else:  # Gemini counts in every chunk: its count so far
        assert stream.usage.output_tokens >= 2


async def test_anthropic_stream_cut_short_keeps_the_reported_input(provider_upstream):
    provider_upstream.set(text="abcdefghijklmnop", chunks=4, drop_after=2, input_tokens=30, cache_read_tokens=5)
    stream = await call(Route.MESSAGES, "anthropic", stream=True)
    with pytest.raises(UpstreamUnavailable):
        await collect(stream)
    assert stream.usage == Usage(input_tokens=30, output_tokens=2, cache_read_tokens=5)


@pytest.mark.parametrize(("route", "provider"), EVERY)
async def test_frames_are_forwarded_as_they_arrive(provider_upstream, route, provider):
    provider_upstream.set(text="abcdefghijklmnop", chunks=4, hold_after=1)
    stream = await call(route, provider, stream=True)
    frames = []
    iterator = aiter(stream)
    while streamed_text(route, frames) != "abcd":  # the upstream is holding back the rest
        frames.append(await asyncio.wait_for(anext(iterator), timeout=5))
    provider_upstream.switches.release.set()
    frames += [frame async for frame in iterator]
    assert streamed_text(route, frames) == "abcdefghijklmnop"


async def test_client_stopping_early_leaves_an_estimate(provider_upstream):
    provider_upstream.set(text="abcdefghijklmnop", chunks=4, hold_after=2)
    stream = await call(Route.CHAT, "openai", stream=True)
    frames = []
    async for frame in stream:
        frames.append(frame)
        if streamed_text(Route.CHAT, frames) == "abcdefgh":
            break
    await stream.aclose()
    assert not stream.usage_reported
    assert stream.usage.output_tokens == 2


async def test_chat_stream_without_include_usage_has_no_usage_chunk(provider_upstream):
    stream = await call(Route.CHAT, "openai", stream=True)
    frames = await collect(stream)
    assert not any(isinstance(d, dict) and "usage" in d for _, d in events(frames))
    assert events(frames)[-1] == (None, "[DONE]")
    assert provider_upstream.last.body["stream_options"] == {"include_usage": True}
    assert stream.usage_reported


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_chat_stream_with_include_usage_has_one_usage_chunk(provider_upstream, provider):
    provider_upstream.set(input_tokens=20, cache_read_tokens=5)
    stream = await call(Route.CHAT, provider, stream=True, stream_options={"include_usage": True})
    parsed = [d for _, d in events(await collect(stream)) if isinstance(d, dict)]
    with_usage = [d for d in parsed if "usage" in d]
    assert len(with_usage) == 1
    assert with_usage[0] is parsed[-1]
    assert with_usage[0]["choices"] == []
    assert with_usage[0]["usage"]["prompt_tokens_details"]["cached_tokens"] == 5
    assert "cost" not in with_usage[0]["usage"]


@pytest.mark.parametrize(
    "param",
    [
        "api_base",
        "api_key",
        "base_url",
        "mock_response",
        "custom_llm_provider",
        "litellm_logging_obj",
        "fallbacks",
        "num_retries",
        "max_retries",
        "headers",
        "extra_headers",
        "extra_body",
        "input_cost_per_token",
        "metadata",
        "timeout",
    ],
)
async def test_litellm_only_params_are_refused(provider_upstream, param):
    body = body_for(Route.CHAT, "openai", **{param: "x"})
    with pytest.raises(InvalidRequest) as caught:
        await forward(route=Route.CHAT, target=resolve_model("gpt-4o"), body=body, stream=False, timeout=5)
    assert param in caught.value.message
    assert provider_upstream.count == 0


@pytest.mark.parametrize(
    ("route", "body"),
    [
        (Route.CHAT, {"model": "gpt-4o", "messages": "hi"}),
        (Route.CHAT, {"model": "gpt-4o"}),
        (Route.CHAT, {"model": "gpt-4o", "messages": [], "temperature": "hot"}),
        (Route.CHAT, {"model": "gpt-4o", "messages": [], "stream": "yes"}),
        (Route.CHAT, {"model": "gpt-4o", "messages": [], "stream": True, "stream_options": {"api_base": "x"}}),
        (Route.MESSAGES, {"model": "claude-haiku-4-5", "messages": []}),
        (Route.MESSAGES, {"model": "claude-haiku-4-5", "messages": [], "max_tokens": True}),
        (Route.MESSAGES, {"model": "c", "messages": [], "max_tokens": 5, "metadata": {"tags": "x"}}),
        (Route.RESPONSES, {"model": "gpt-4o", "input": 5}),
        (Route.RESPONSES, {"model": 5, "input": "hi"}),
    ],
)
def test_wrong_bodies_are_refused(route, body):
    with pytest.raises(InvalidRequest):
        validate_body(route, body)


def test_documented_params_pass():
    hello = [{"role": "user", "content": "hi"}]
    validate_body(Route.CHAT, {"model": "gpt-4o", "messages": hello, "temperature": 0.5, "max_tokens": 10, "user": "u"})
    validate_body(Route.RESPONSES, {"model": "gpt-4o", "input": [], "metadata": {"a": "b"}, "reasoning": {}})
    validate_body(Route.MESSAGES, {"model": "c", "messages": hello, "max_tokens": 5, "metadata": {"user_id": "u"}})


def test_known_models_come_from_the_cost_map():
    assert "gpt-4o" in known_models("openai")
    assert any(name.startswith("claude-") for name in known_models("anthropic"))
    assert all("/" not in name for name in known_models("gemini"))
    assert known_models("custom") == []


def test_importing_the_module_does_not_import_litellm():
    code = "import sys, proxy.forwarding; assert 'litellm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=".")
