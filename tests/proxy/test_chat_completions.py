"""POST /v1/chat/completions end to end: official openai SDK → gateway (uvicorn) → test upstream."""

import asyncio

import httpx
import openai
import pytest

from tests.proxy.helpers import expected_cost, set_price

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

MESSAGES = [{"role": "user", "content": "Say hello"}]


def client(gateway, customer, **kwargs):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0, **kwargs)


def test_sdk_gets_the_upstream_answer_and_the_call_is_billed_exactly(gateway, customer, upstream):
    set_price("gpt-4o-mini")
    upstream.set(text="Hello there!", input_tokens=20, output_tokens=9, cache_read_tokens=6)
    raw = client(gateway, customer).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello there!"

    row = gateway.usage(raw.headers["x-request-id"])
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_write_tokens) == (20, 9, 6, 0)
    assert row.cost_usd == expected_cost(input=20, output=9, cache_read=6)
    assert row.status_code == 200 and not row.streamed
    assert row.provider == "openai" and row.route == "chat.completions"
    assert customer.refresh().spent_usd == row.cost_usd
    assert customer.account.reserved_usd == 0


async def test_async_sdk_streams_and_the_stream_is_billed(gateway, customer, upstream):
    await asyncio.to_thread(set_price, "gpt-4o-mini")
    upstream.set(text="One two three four", chunks=4, input_tokens=11, output_tokens=5)
    async with openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0) as sdk:
        response = await sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in response.parse()]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "One two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5

    row = await asyncio.to_thread(gateway.usage, response.headers["x-request-id"])
    assert (row.input_tokens, row.output_tokens) == (11, 5)
    assert row.streamed and row.status_code == 200
    assert row.cost_usd == expected_cost(input=11, output=5)
    account = await asyncio.to_thread(customer.refresh)
    assert account.spent_usd == row.cost_usd


def test_stream_without_include_usage_hides_the_usage_chunk_but_bills_it(gateway, customer, upstream):
    set_price("gpt-4o-mini")
    upstream.set(input_tokens=30, output_tokens=4)
    with client(gateway, customer).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        request_id = response.headers["x-request-id"]
        chunks = list(response.parse())
    assert chunks and all(chunk.usage is None for chunk in chunks)
    assert upstream.last.body["stream_options"] == {"include_usage": True}
    row = gateway.usage(request_id)
    assert (row.input_tokens, row.output_tokens) == (30, 4)


def test_first_chunk_arrives_before_the_upstream_finishes(gateway, customer, upstream):
    switches = upstream.set(chunks=4, hold_after=1)
    stream = client(gateway, customer).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    iterator = iter(stream)
    first = next(iterator)
    while not first.choices or not first.choices[0].delta.content:
        first = next(iterator)
    assert not switches.release.is_set()  # the upstream is still holding the rest back
    switches.release.set()
    rest = "".join(c.choices[0].delta.content or "" for c in iterator if c.choices)
    assert first.choices[0].delta.content + rest == upstream.switches.text


def test_client_disconnect_mid_stream_still_leaves_a_usage_row(gateway, customer, upstream):
    set_price("gpt-4o-mini")
    switches = upstream.set(chunks=4, hold_after=1, input_tokens=15, output_tokens=8)
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {customer.key}"}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=headers) as response:
        request_id = response.headers["x-request-id"]
        port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        next(response.iter_bytes())  # the first chunk, then the client goes away
    # Released only once the gateway knows: earlier, on a loaded machine, the rest could reach the
    # gateway before the disconnect did, and the call ended as an ordinary 200.
    gateway.wait_client_gone(port)
    switches.release.set()
    row = gateway.usage(request_id)
    assert (row.input_tokens, row.output_tokens) == (15, 8)  # the provider's own count, read after we left
    assert row.cost_usd == expected_cost(input=15, output=8)
    assert row.status_code == 499 and row.streamed


@pytest.mark.parametrize(
    ("model", "path", "auth_header", "secret"),
    [
        ("gpt-4o-mini", "/v1/chat/completions", "authorization", "Bearer sk-upstream-openai"),
        ("openai/gpt-4o", "/v1/chat/completions", "authorization", "Bearer sk-upstream-openai"),
        ("claude-3-5-haiku-20241022", "/v1/messages", "x-api-key", "sk-upstream-anthropic"),
        ("custom/my-model", "/custom/v1/chat/completions", "authorization", "Bearer sk-upstream-custom"),
    ],
)
def test_each_model_reaches_the_right_upstream_with_the_right_key(
    gateway, customer, upstream, model, path, auth_header, secret
):
    upstream.set(text="routed")
    completion = client(gateway, customer).chat.completions.create(model=model, messages=MESSAGES, max_tokens=50)
    assert completion.choices[0].message.content == "routed"
    assert upstream.count == 1
    assert upstream.last.path == path
    assert upstream.last.headers[auth_header] == secret
    assert customer.key not in str(upstream.last.headers)  # the gateway key never goes upstream


def test_x_api_key_header_is_accepted(gateway, customer, upstream):
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers={"x-api-key": customer.key})
    assert response.status_code == 200
    assert gateway.usage(response.headers["x-request-id"]).status_code == 200


def test_models_lists_what_configured_providers_serve(gateway, customer):
    models = client(gateway, customer).models.list()
    ids = {model.id for model in models.data}
    assert any(i.startswith("gpt-") for i in ids)
    assert any(i.startswith("claude-") for i in ids)
    assert not any(i.startswith("gemini") for i in ids)  # Google is not configured here


@pytest.mark.parametrize("accept", ["text/event-stream", "application/xml", "*/*"])
def test_any_accept_header_is_answered_not_406(gateway, customer, upstream, accept):
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {customer.key}", "Accept": accept}
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "[DONE]" in response.text
