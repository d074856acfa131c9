"""The same-format fast path (proxy.passthrough through forward()) against the real test upstream."""

import asyncio
import base64
import json
import subprocess
import sys

import orjson
import pytest

from core.errors import UpstreamError
from core.providers import resolve_model
from proxy import passthrough
from proxy.forwarding import Completion, Route, Stream, forward, forwarding_close, provider_endpoint
from tests.upstream import messages_frames

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

KEYS = {"openai": "sk-upstream-openai", "anthropic": "sk-upstream-anthropic", "custom": "sk-upstream-custom"}
HELLO = [{"role": "user", "content": "Say something."}]
BODIES = {
    Route.CHAT: {"model": "gpt-4o", "messages": HELLO, "temperature": 0.5, "max_tokens": 20},
    Route.RESPONSES: {"model": "gpt-4o", "input": "Say something.", "max_output_tokens": 20},
    Route.MESSAGES: {"model": "claude-haiku-4-5", "messages": HELLO, "max_tokens": 20, "system": "Be brief."},
}
PATHS = {Route.CHAT: "/v1/chat/completions", Route.RESPONSES: "/v1/responses", Route.MESSAGES: "/v1/messages"}
# What aiohttp sends besides the provider's own headers: no SDK's telemetry headers, nothing of the client's.
TRANSPORT_HEADERS = {"host", "content-length", "user-agent", "accept", "accept-encoding"}
PROVIDER_HEADERS = {
    Route.CHAT: {"authorization": f"Bearer {KEYS['openai']}", "content-type": "application/json"},
    Route.RESPONSES: {"authorization": f"Bearer {KEYS['openai']}", "content-type": "application/json"},
    Route.MESSAGES: {
        "x-api-key": KEYS["anthropic"],
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    },
}


@pytest.fixture(autouse=True)
async def closed_session(settings):
    """The fast path on whatever GATEWAY_FAST_PATH says; each test's loop closes its shared session."""
    settings.GATEWAY_FAST_PATH = True
    yield
    await forwarding_close()


async def call(route, body, *, stream=False, timeout=10.0):
    return await forward(route=route, target=resolve_model(body["model"]), body=body, stream=stream, timeout=timeout)


def data_of(frames):
    datas = []
    for frame in frames:
        for line in frame.decode().splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                datas.append(json.loads(line[len("data: ") :]))
    return datas


@pytest.mark.parametrize("route", list(Route))
async def test_same_format_body_goes_as_sent_with_the_providers_own_headers(providers, route):
    result = await call(route, BODIES[route])
    received = providers.last
    assert received.path == PATHS[route]
    assert received.body == BODIES[route]  # nothing added, nothing dropped
    assert set(received.headers) == TRANSPORT_HEADERS | set(PROVIDER_HEADERS[route])
    assert {name: received.headers[name] for name in PROVIDER_HEADERS[route]} == PROVIDER_HEADERS[route]
    assert "aiohttp" in received.headers["user-agent"]
    assert isinstance(result, Completion)
    assert result.raw is not None
    assert orjson.loads(result.raw) == result.body


@pytest.mark.parametrize("route", list(Route))
async def test_switched_off_the_same_call_goes_through_litellm(providers, settings, route):
    settings.GATEWAY_FAST_PATH = False
    result = await call(route, BODIES[route])
    assert result.raw is None
    assert "aiohttp" not in providers.last.headers.get("user-agent", "")
    assert providers.last.path == PATHS[route]


@pytest.mark.parametrize(
    ("route", "body"),
    [
        (Route.CHAT, {**BODIES[Route.CHAT], "model": "claude-haiku-4-5"}),
        (Route.MESSAGES, {**BODIES[Route.MESSAGES], "model": "gpt-4o"}),
        (Route.RESPONSES, {**BODIES[Route.RESPONSES], "model": "claude-haiku-4-5"}),
        (Route.MESSAGES, {**BODIES[Route.MESSAGES], "thinking": {"type": "enabled", "budget_tokens": 1024}}),
        (Route.MESSAGES, {**BODIES[Route.MESSAGES], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
    ],
)
async def test_cross_format_and_rewritten_calls_keep_the_litellm_path(providers, route, body):
    result = await call(route, body)
    assert isinstance(result, Completion)
    assert result.raw is None


async def test_custom_provider_gets_the_bare_model_its_base_and_key(providers):
    body = {"model": "custom/my-model", "messages": HELLO}
    result = await call(Route.CHAT, body)
    assert result.raw is not None
    assert providers.last.path == "/custom/v1/chat/completions"
    assert providers.last.headers["authorization"] == f"Bearer {KEYS['custom']}"
    assert providers.last.body == {"model": "my-model", "messages": HELLO}


async def test_explicit_provider_prefix_is_not_sent(providers):
    await call(Route.MESSAGES, {**BODIES[Route.MESSAGES], "model": "anthropic/claude-haiku-4-5"})
    assert providers.last.body["model"] == "claude-haiku-4-5"


@pytest.mark.parametrize(("model", "sent"), [("o3-mini", "max_completion_tokens"), ("gpt-4o", "max_tokens")])
async def test_max_tokens_is_renamed_where_litellm_renames_it(providers, model, sent):
    await call(Route.CHAT, {"model": model, "messages": HELLO, "max_tokens": 20})
    assert providers.last.body == {"model": model, "messages": HELLO, sent: 20}


async def test_a_response_id_from_the_litellm_path_is_decoded_for_the_provider(providers):
    encoded = "litellm:custom_llm_provider:openai;model_id:;response_id:resp_abc123"
    litellm_id = "resp_" + base64.b64encode(encoded.encode()).decode()
    await call(Route.RESPONSES, {**BODIES[Route.RESPONSES], "previous_response_id": litellm_id})
    assert providers.last.body["previous_response_id"] == "resp_abc123"
    await call(Route.RESPONSES, {**BODIES[Route.RESPONSES], "previous_response_id": "resp_plain"})
    assert providers.last.body["previous_response_id"] == "resp_plain"


async def test_chat_stream_always_asks_for_usage_and_keeps_the_clients_options(providers):
    body = {**BODIES[Route.CHAT], "stream": True, "stream_options": {"include_obfuscation": False}}
    stream = await call(Route.CHAT, body, stream=True)
    frames = [frame async for frame in stream]
    assert providers.last.body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert not any("usage" in data for data in data_of(frames))
    assert frames[-1] == b"data: [DONE]\n\n"
    assert stream.usage_reported and stream.usage.input_tokens == 12


async def test_messages_stream_is_the_providers_own_bytes(providers):
    providers.set(text="abcdefghijklmnop", chunks=4)
    body = {**BODIES[Route.MESSAGES], "stream": True}
    stream = await call(Route.MESSAGES, body, stream=True)
    frames = [frame async for frame in stream]
    expected, _ = messages_frames(providers.switches, "claude-haiku-4-5")
    assert frames == expected
    assert stream.usage_reported and stream.usage.output_tokens == 7


@pytest.mark.parametrize("route", list(Route))
async def test_each_frame_is_relayed_alone_as_soon_as_it_arrives(providers, route):
    providers.set(text="abcdefghijklmnop", chunks=4, hold_after=1)
    stream = await call(route, {**BODIES[route], "stream": True}, stream=True)
    assert isinstance(stream, Stream)
    frames, iterator = [], aiter(stream)
    while not any("abcd" in frame.decode() for frame in frames):  # the upstream holds back the rest meanwhile
        frames.append(await asyncio.wait_for(anext(iterator), timeout=5))
    assert not any("efgh" in frame.decode() for frame in frames)
    providers.switches.release.set()
    frames += [frame async for frame in iterator]
    assert all(frame.count(b"\n\n") == 1 and frame.endswith(b"\n\n") for frame in frames)  # never batched
    assert stream.usage_reported


async def test_non_numeric_retry_after_is_dropped(providers):
    providers.set(error_status=429, error_headers={"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"})
    with pytest.raises(UpstreamError) as caught:
        await call(Route.CHAT, BODIES[Route.CHAT])
    assert caught.value.status() == 429
    assert caught.value.headers == {}


async def test_one_session_per_loop_reused_until_closed(providers):
    await call(Route.CHAT, BODIES[Route.CHAT])
    session = passthrough.shared_session()
    await call(Route.MESSAGES, BODIES[Route.MESSAGES])
    assert passthrough.shared_session() is session
    await forwarding_close()
    assert session.closed
    await call(Route.CHAT, BODIES[Route.CHAT])
    assert passthrough.shared_session() is not session


async def test_endpoint_is_resolved_once_and_keeps_the_key_out_of_repr(providers):
    provider_endpoint.cache_clear()
    for _ in range(3):
        await call(Route.CHAT, BODIES[Route.CHAT])
    assert provider_endpoint.cache_info().misses == 1
    endpoint = provider_endpoint(Route.CHAT, "openai", f"{providers.url}/v1", KEYS["openai"])
    assert KEYS["openai"] not in repr(endpoint)
    call_ = passthrough.Call(endpoint=endpoint, payload=b"{}", timeout=1.0, provider="openai")
    assert KEYS["openai"] not in repr(call_)


def test_the_fast_path_module_does_not_import_litellm():
    code = "import sys, proxy.passthrough; assert 'litellm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=".")
