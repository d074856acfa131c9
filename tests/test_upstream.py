"""The test upstream speaks each provider's wire format, checked with httpx and the official SDKs."""

import json
import threading
from typing import Any

import anthropic
import httpx
import openai
import pytest

# The test upstream itself, spoken to over HTTP only.
pytestmark = pytest.mark.engine_independent

CHAT = [{"role": "user", "content": "hi"}]
OPENAI_KEY = {"authorization": "Bearer sk-test-openai"}
ANTHROPIC_KEY = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}


def sse_events(text: str) -> list[tuple[str | None, str]]:
    events = []
    for frame in text.strip().split("\n\n"):
        event, data = None, ""
        for line in frame.splitlines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        events.append((event, data))
    return events


def openai_client(upstream, prefix: str = "") -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test-openai", base_url=f"{upstream.url}{prefix}/v1", max_retries=0)


def anthropic_client(upstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", base_url=upstream.url, max_retries=0)


def test_chat_json_counts_cached_tokens_inside_prompt(upstream):
    upstream.set(text="Hi there", input_tokens=10, cache_read_tokens=4, output_tokens=9, reasoning_tokens=3)
    reply = openai_client(upstream).chat.completions.create(model="gpt-4o", messages=CHAT)
    assert reply.choices[0].message.content == "Hi there"
    assert reply.usage.prompt_tokens == 14
    assert reply.usage.prompt_tokens_details.cached_tokens == 4
    assert reply.usage.completion_tokens == 9
    assert reply.usage.completion_tokens_details.reasoning_tokens == 3
    assert upstream.last.path == "/v1/chat/completions"
    assert upstream.last.headers["authorization"] == "Bearer sk-test-openai"
    assert upstream.last.body["model"] == "gpt-4o"


def test_chat_stream_has_usage_chunk_only_when_asked(upstream):
    upstream.set(text="abcdef", chunks=3)
    client = openai_client(upstream)
    chunks: list[Any] = list(client.chat.completions.create(model="gpt-4o", messages=CHAT, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abcdef"
    assert all(c.usage is None for c in chunks)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 12


def test_chat_stream_ends_with_done(upstream):
    body = {"model": "gpt-4o", "messages": CHAT, "stream": True}
    text = httpx.post(f"{upstream.url}/v1/chat/completions", json=body, headers=OPENAI_KEY).text
    assert sse_events(text)[-1] == (None, "[DONE]")


def test_custom_prefix_is_recorded(upstream):
    openai_client(upstream, "/custom").chat.completions.create(model="my-model", messages=CHAT)
    assert upstream.last.path == "/custom/v1/chat/completions"


def test_messages_json_excludes_cache_from_input(upstream):
    upstream.set(text="Bonjour", input_tokens=10, cache_read_tokens=4, cache_write_tokens=6, output_tokens=8)
    reply = anthropic_client(upstream).messages.create(model="claude-x", max_tokens=10, messages=CHAT)
    assert reply.content[0].text == "Bonjour"
    assert reply.usage.input_tokens == 10
    assert reply.usage.cache_read_input_tokens == 4
    assert reply.usage.cache_creation_input_tokens == 6
    # anthropic SDK 2.x sends the key as a bearer token; older clients (and LiteLLM) use x-api-key
    headers = upstream.last.headers
    assert "sk-ant-test" in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))
    assert upstream.last.path == "/v1/messages"


def test_messages_stream_has_the_exact_event_sequence(upstream):
    upstream.set(text="abcd", chunks=2, cache_write_tokens=6, output_tokens=8)
    body = {"model": "claude-x", "max_tokens": 10, "messages": CHAT, "stream": True}
    text = httpx.post(f"{upstream.url}/v1/messages", json=body, headers=ANTHROPIC_KEY).text
    names = [event for event, _ in sse_events(text)]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = json.loads(sse_events(text)[0][1])
    assert start["message"]["usage"]["cache_creation_input_tokens"] == 6
    assert json.loads(sse_events(text)[-2][1])["usage"] == {"output_tokens": 8}


def test_messages_stream_through_the_sdk(upstream):
    upstream.set(text="streamed", cache_read_tokens=5)
    with anthropic_client(upstream).messages.stream(model="claude-x", max_tokens=10, messages=CHAT) as stream:
        assert "".join(stream.text_stream) == "streamed"
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == 5
    assert final.usage.output_tokens == 7


def test_responses_json_and_stream(upstream):
    upstream.set(text="Howdy", input_tokens=10, cache_read_tokens=2, reasoning_tokens=4, output_tokens=9)
    client = openai_client(upstream)
    reply = client.responses.create(model="gpt-4o", input="hi")
    assert reply.output_text == "Howdy"
    assert reply.usage.input_tokens == 12
    assert reply.usage.input_tokens_details.cached_tokens == 2
    assert reply.usage.output_tokens_details.reasoning_tokens == 4
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    assert events[0].type == "response.created"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Howdy"
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage.input_tokens_details.cached_tokens == 2


@pytest.mark.parametrize(
    ("path", "status", "kind"),
    [
        ("/v1/chat/completions", 429, "requests"),
        ("/v1/responses", 500, "server_error"),
        ("/v1/messages", 429, "rate_limit_error"),
        ("/v1/messages", 500, "api_error"),
    ],
)
def test_errors_use_the_provider_body(upstream, path, status, kind):
    upstream.set(error_status=status, error_headers={"retry-after": "3"})
    response = httpx.post(f"{upstream.url}{path}", json={"model": "m"})
    assert response.status_code == status
    assert response.headers["retry-after"] == "3"
    body = response.json()
    if path == "/v1/messages":
        assert body["type"] == "error"
        assert body["error"]["type"] == kind
    else:
        assert body["error"]["type"] == kind


def test_openai_sdk_raises_on_rate_limit(upstream):
    upstream.set(error_status=429)
    with pytest.raises(openai.RateLimitError):
        openai_client(upstream).chat.completions.create(model="gpt-4o", messages=CHAT)
    assert upstream.count == 1


def test_hang_times_out(upstream):
    upstream.set(hang=True)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{upstream.url}/v1/chat/completions", json={"model": "m"}, timeout=0.3)


def test_latency_delays_the_answer(upstream):
    upstream.set(latency=0.3)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{upstream.url}/v1/chat/completions", json={"model": "m", "messages": CHAT}, timeout=0.1)


def test_drop_breaks_the_stream_after_n_chunks(upstream):
    upstream.set(text="abcdef", chunks=3, drop_after=1)
    body = {"model": "gpt-4o", "messages": CHAT, "stream": True}
    received = []
    url = f"{upstream.url}/v1/chat/completions"
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("POST", url, json=body, headers=OPENAI_KEY) as r:
        for line in r.iter_lines():
            received.append(line)
    assert any('"ab"' in line for line in received)
    assert not any('"cd"' in line for line in received)


def test_hold_sends_first_chunks_then_waits(upstream):
    upstream.set(text="abcdef", chunks=3, hold_after=1)
    body = {"model": "gpt-4o", "messages": CHAT, "stream": True}
    got_first = threading.Event()
    with httpx.stream("POST", f"{upstream.url}/v1/chat/completions", json=body, headers=OPENAI_KEY) as r:
        lines = r.iter_lines()
        for line in lines:
            if '"ab"' in line:
                got_first.set()
                break
        assert got_first.is_set()
        upstream.switches.release.set()
        rest = list(lines)
    assert [line for line in rest if line][-1] == "data: [DONE]"


def test_records_reset_between_tests(upstream):
    assert upstream.count == 0
    assert upstream.switches.error_status is None


# --- Gemini, Cohere, Azure, and the documented refusals ----------------------------------------

GEMINI_KEY = {"x-goog-api-key": "gemini-test-key"}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
COHERE_KEY = {"authorization": "Bearer cohere-test-key"}


def test_gemini_json_counts_cached_inside_prompt_and_thoughts_apart(upstream):
    upstream.set(text="Hallo", input_tokens=10, cache_read_tokens=4, output_tokens=9, reasoning_tokens=3)
    url = f"{upstream.url}/v1beta/models/gemini-2.5-flash:generateContent"
    answer = httpx.post(url, json=GEMINI_BODY, headers=GEMINI_KEY).json()
    assert answer["candidates"][0]["content"]["parts"] == [{"text": "Hallo"}]
    assert answer["candidates"][0]["finishReason"] == "STOP"
    usage = answer["usageMetadata"]
    assert (usage["promptTokenCount"], usage["cachedContentTokenCount"]) == (14, 4)
    assert (usage["candidatesTokenCount"], usage["thoughtsTokenCount"], usage["totalTokenCount"]) == (6, 3, 23)


def test_gemini_stream_is_sse_only_with_alt_sse(upstream):
    upstream.set(text="abcdef", chunks=3)
    url = f"{upstream.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    text = httpx.post(f"{url}?alt=sse", json=GEMINI_BODY, headers=GEMINI_KEY).text
    events = [json.loads(data) for _, data in sse_events(text.replace("\r\n", "\n"))]
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events) == "abcdef"
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 7
    as_array = httpx.post(url, json=GEMINI_BODY, headers=GEMINI_KEY).json()
    assert isinstance(as_array, list) and len(as_array) == 3


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({}, GEMINI_BODY, 403, "PERMISSION_DENIED"),
        (GEMINI_KEY, {**GEMINI_BODY, "labels": {"a": "b"}}, 400, "INVALID_ARGUMENT"),
        (GEMINI_KEY, {**GEMINI_BODY, "generationConfig": {"max_tokens": 5}}, 400, "INVALID_ARGUMENT"),
        (GEMINI_KEY, {"contents": []}, 400, "INVALID_ARGUMENT"),
        (GEMINI_KEY, {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, 400, "INVALID_ARGUMENT"),
    ],
)
def test_gemini_refuses_what_google_refuses(upstream, headers, body, status, reason):
    response = httpx.post(f"{upstream.url}/v1beta/models/gemini-2.5-flash:generateContent", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["status"] == reason


def test_gemini_safety_blocks(upstream):
    url = f"{upstream.url}/v1beta/models/gemini-2.5-flash:generateContent"
    upstream.set(safety_block="prompt")
    blocked = httpx.post(url, json=GEMINI_BODY, headers=GEMINI_KEY).json()
    assert blocked["promptFeedback"]["blockReason"] == "SAFETY" and "candidates" not in blocked
    upstream.set(safety_block="response")
    stopped = httpx.post(url, json=GEMINI_BODY, headers=GEMINI_KEY).json()
    assert stopped["candidates"][0]["finishReason"] == "SAFETY" and "content" not in stopped["candidates"][0]


def test_cohere_json_bills_units_apart_from_processed_tokens(upstream):
    upstream.set(text="Salut", input_tokens=10, output_tokens=5)
    body = {"model": "command-r", "messages": CHAT}
    answer = httpx.post(f"{upstream.url}/v2/chat", json=body, headers=COHERE_KEY).json()
    assert answer["message"]["content"] == [{"type": "text", "text": "Salut"}]
    assert answer["finish_reason"] == "COMPLETE"
    assert answer["usage"]["billed_units"] == {"input_tokens": 10, "output_tokens": 5}
    assert answer["usage"]["tokens"]["input_tokens"] > 10


def test_cohere_stream_ends_with_message_end_and_usage(upstream):
    upstream.set(text="abcd", chunks=2)
    body = {"model": "command-r", "messages": CHAT, "stream": True}
    events = sse_events(httpx.post(f"{upstream.url}/v2/chat", json=body, headers=COHERE_KEY).text)
    names = [event for event, _ in events]
    assert names == ["message-start", "content-start", "content-delta", "content-delta", "content-end", "message-end"]
    end = json.loads(events[-1][1])
    assert end["delta"]["finish_reason"] == "COMPLETE"
    assert end["delta"]["usage"]["billed_units"] == {"input_tokens": 12, "output_tokens": 7}


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"model": "command-r", "messages": CHAT}, 401),
        (COHERE_KEY, {"model": "command-r", "messages": CHAT, "num_generations": 1}, 422),
        (COHERE_KEY, {"messages": CHAT}, 400),
    ],
)
def test_cohere_refuses_what_cohere_refuses(upstream, headers, body, status):
    response = httpx.post(f"{upstream.url}/v2/chat", json=body, headers=headers)
    assert response.status_code == status
    assert "message" in response.json()


def test_azure_deployment_path_needs_api_version_and_api_key(upstream):
    path = f"{upstream.url}/openai/deployments/my-deployment/chat/completions"
    body = {"messages": CHAT}
    assert httpx.post(path, json=body, headers={"api-key": "k"}).status_code == 404
    assert httpx.post(f"{path}?api-version=2024-10-21", json=body).status_code == 401
    answer = httpx.post(f"{path}?api-version=2024-10-21", json=body, headers={"api-key": "k"}).json()
    assert answer["model"] == "my-deployment"
    assert upstream.last.query == {"api-version": "2024-10-21"}


def test_azure_content_filter(upstream):
    path = f"{upstream.url}/openai/deployments/d/chat/completions?api-version=2024-10-21"
    upstream.set(safety_block="prompt")
    refused = httpx.post(path, json={"messages": CHAT}, headers={"api-key": "k"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "content_filter"
    upstream.set(safety_block="response")
    filtered = httpx.post(path, json={"messages": CHAT}, headers={"api-key": "k"}).json()
    assert filtered["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize(
    ("model", "status"), [("gpt-4o-mini", 400), ("gpt-4.1", 400), ("o3-mini", 200), ("gpt-5", 200)]
)
def test_responses_encrypted_reasoning_only_for_reasoning_models(upstream, model, status):
    body = {"model": model, "input": "hi", "include": ["reasoning.encrypted_content"]}
    response = httpx.post(f"{upstream.url}/v1/responses", json=body, headers=OPENAI_KEY)
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"] == {
            "message": "Encrypted content is not supported with this model.",
            "type": "invalid_request_error",
            "param": "include",
            "code": None,
        }


@pytest.mark.parametrize(
    ("headers", "extra", "status"),
    [
        ({"anthropic-version": "2023-06-01"}, {}, 401),
        ({"x-api-key": "k"}, {}, 400),
        (ANTHROPIC_KEY, {"stream_options": {"include_usage": True}}, 400),
    ],
)
def test_anthropic_refuses_what_anthropic_refuses(upstream, headers, extra, status):
    body = {"model": "claude-x", "max_tokens": 10, "messages": CHAT, **extra}
    response = httpx.post(f"{upstream.url}/v1/messages", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["type"] == "error"


def test_openai_refuses_stream_options_without_stream_and_max_tokens_on_o_series(upstream):
    url = f"{upstream.url}/v1/chat/completions"
    body = {"model": "gpt-4o", "messages": CHAT, "stream_options": {"include_usage": True}}
    assert httpx.post(url, json=body, headers=OPENAI_KEY).status_code == 400
    assert httpx.post(url, json={"model": "gpt-4o", "messages": CHAT}).status_code == 401
    body = {"model": "o3-mini", "messages": CHAT, "max_tokens": 5}
    assert httpx.post(url, json=body, headers=OPENAI_KEY).json()["error"]["param"] == "max_tokens"


# Issue 16: the upstream can misreport usage, queue background responses, honour one output cap, report a tier.


def test_usage_can_be_left_out_of_every_answer(upstream):
    upstream.set(usage_mode="none")
    client = openai_client(upstream)
    assert client.chat.completions.create(model="gpt-4o", messages=CHAT).usage is None
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(chunk.usage is None for chunk in chunks)
    assert client.responses.create(model="gpt-4o", input="hi").usage is None
    body = {"model": "claude", "messages": CHAT, "max_tokens": 5}
    raw = httpx.post(f"{upstream.url}/v1/messages", json=body, headers=ANTHROPIC_KEY)
    assert "usage" not in raw.json()
    stream = httpx.post(f"{upstream.url}/v1/messages", json={**body, "stream": True}, headers=ANTHROPIC_KEY)
    assert all("usage" not in json.loads(data) for _, data in sse_events(stream.text))


def test_message_delta_can_come_without_usage(upstream):
    upstream.set(usage_mode="no_delta")
    body = {"model": "claude", "messages": CHAT, "max_tokens": 5, "stream": True}
    events = dict(sse_events(httpx.post(f"{upstream.url}/v1/messages", json=body, headers=ANTHROPIC_KEY).text))
    assert "usage" not in json.loads(events["message_delta"])
    assert json.loads(events["message_start"])["message"]["usage"]["input_tokens"] == 12


def test_an_interim_usage_chunk_comes_before_the_finish_reason(upstream):
    upstream.set(usage_mode="interim", output_tokens=9)
    chunks = list(
        openai_client(upstream).chat.completions.create(
            model="gpt-4o", messages=CHAT, stream=True, stream_options={"include_usage": True}
        )
    )
    usages = [(index, chunk.usage.completion_tokens) for index, chunk in enumerate(chunks) if chunk.usage]
    finish = next(index for index, chunk in enumerate(chunks) if chunk.choices and chunk.choices[0].finish_reason)
    assert [tokens for _, tokens in usages] == [1, 9]
    assert usages[0][0] < finish < usages[1][0]


def test_absurd_counts_are_sent_as_written(upstream):
    upstream.set(input_tokens=1e30, output_tokens=10**17)
    body = {"model": "gpt-4o", "messages": CHAT}
    usage = httpx.post(f"{upstream.url}/v1/chat/completions", json=body, headers=OPENAI_KEY).json()
    assert usage["usage"]["prompt_tokens"] == 1e30 and usage["usage"]["completion_tokens"] == 10**17


def test_background_responses_are_queued_without_usage(upstream):
    answer = openai_client(upstream).responses.create(model="gpt-4o", input="hi", background=True)
    assert (answer.status, answer.usage, answer.output, answer.background) == ("queued", None, [], True)


@pytest.mark.parametrize("cap", ["max_tokens", "max_completion_tokens"])
def test_the_upstream_honours_the_output_cap_it_is_told_to(upstream, cap):
    upstream.set(honour_cap=cap)
    body = {"model": "gpt-4o", "messages": CHAT, "max_tokens": 300, "max_completion_tokens": 2}
    usage = httpx.post(f"{upstream.url}/v1/chat/completions", json=body, headers=OPENAI_KEY).json()["usage"]
    assert usage["completion_tokens"] == body[cap]


def test_tiers_audio_and_one_hour_writes_are_reported(upstream):
    upstream.set(audio_input_tokens=3, audio_output_tokens=4, cache_write_tokens=10, cache_write_1h_tokens=6)
    chat = openai_client(upstream).chat.completions.create(model="gpt-4o", messages=CHAT, service_tier="priority")
    assert chat.service_tier == "priority"
    assert chat.usage.prompt_tokens_details.audio_tokens == 3
    assert chat.usage.completion_tokens_details.audio_tokens == 4
    upstream.set(service_tier="priority")
    message = anthropic_client(upstream).messages.create(model="claude", max_tokens=5, messages=CHAT)
    assert message.usage.service_tier == "priority"
    assert message.usage.cache_creation.ephemeral_1h_input_tokens == 6
    assert message.usage.cache_creation.ephemeral_5m_input_tokens == 4
