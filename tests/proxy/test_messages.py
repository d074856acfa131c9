"""POST /v1/messages with the official anthropic SDK, any model, errors in Anthropic's format."""

from decimal import Decimal

import anthropic
import httpx
import pytest

from tests.proxy.helpers import expected_cost, set_price

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

MESSAGES = [{"role": "user", "content": "Say hello"}]


def sdk(gateway, key):
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


@pytest.mark.parametrize("model", ["claude-3-5-haiku-20241022", "gpt-4o-mini"])
def test_messages_create_works_for_any_model(gateway, customer, upstream, model):
    set_price(model)
    upstream.set(text="Hi from upstream", input_tokens=14, output_tokens=6)
    raw = sdk(gateway, customer.key).messages.with_raw_response.create(model=model, max_tokens=64, messages=MESSAGES)
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].text == "Hi from upstream"
    assert message.usage.output_tokens == 6
    row = gateway.usage(raw.headers["x-request-id"])
    assert (row.input_tokens, row.output_tokens) == (14, 6)
    assert row.cost_usd == expected_cost(input=14, output=6)


@pytest.mark.parametrize("model", ["claude-3-5-haiku-20241022", "gpt-4o-mini"])
def test_messages_stream_gives_the_final_message(gateway, customer, upstream, model):
    upstream.set(text="Streaming words here", chunks=3, input_tokens=9, output_tokens=4)
    with sdk(gateway, customer.key).messages.stream(model=model, max_tokens=64, messages=MESSAGES) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.content[0].text == "Streaming words here"
    assert events[0] == "message_start" and "message_stop" in events
    assert final.usage.output_tokens == 4


def test_bearer_and_anthropic_headers_are_accepted(gateway, customer, upstream):
    response = httpx.post(
        f"{gateway.url}/v1/messages",
        json={"model": "claude-3-5-haiku-20241022", "max_tokens": 10, "messages": MESSAGES},
        headers={
            "Authorization": f"Bearer {customer.key}",
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "prompt-caching-2024-07-31",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"


@pytest.mark.parametrize(
    ("setup", "exception"),
    [
        ("no_key", anthropic.AuthenticationError),
        ("budget", anthropic.APIStatusError),
        ("not_allowed", anthropic.PermissionDeniedError),
        ("unknown_model", anthropic.NotFoundError),
        ("upstream_429", anthropic.RateLimitError),
        ("upstream_500", anthropic.InternalServerError),
        ("bad_request", anthropic.BadRequestError),
    ],
)
def test_errors_arrive_in_anthropic_format_and_raise_the_matching_exception(
    gateway, make_customer, upstream, setup, exception
):
    set_price("claude-3-5-haiku-20241022")
    set_price("claude-opus-4-20250514")
    customer = make_customer(
        budget=Decimal(0) if setup == "budget" else None,
        allowed_models=["claude-opus-4-20250514"] if setup == "not_allowed" else None,
    )
    key = "gw-wrong" if setup == "no_key" else customer.key
    model = "no-such-model" if setup == "unknown_model" else "claude-3-5-haiku-20241022"
    if setup.startswith("upstream_"):
        upstream.set(error_status=int(setup.split("_")[1]))
    kwargs = {"max_tokens": 10, "messages": MESSAGES}
    if setup == "bad_request":
        kwargs["messages"] = "not a list"
    with pytest.raises(exception) as raised:
        sdk(gateway, key).messages.create(model=model, **kwargs)
    body = raised.value.body
    assert body["type"] == "error" and set(body["error"]) >= {"type", "message"}
    if setup == "budget":
        assert raised.value.status_code == 402
        assert body["error"]["type"] == "billing_error"


def test_dropped_messages_stream_still_leaves_a_usage_row(gateway, customer, upstream):
    set_price("claude-3-5-haiku-20241022")
    switches = upstream.set(chunks=4, hold_after=1, input_tokens=21, output_tokens=13, cache_read_tokens=5)
    body = {"model": "claude-3-5-haiku-20241022", "max_tokens": 50, "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": customer.key}) as response:
        request_id = response.headers["x-request-id"]
        next(response.iter_bytes())
    switches.release.set()
    row = gateway.usage(request_id)
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens) == (21, 13, 5)
    assert row.cost_usd == expected_cost(input=21, output=13, cache_read=5)
