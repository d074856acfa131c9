"""What a request asks of the provider is held and billed for (issue 16): every output cap, inputs the body
does not hold, work after the answer (refused), service tiers, one-hour cache writes and audio."""

from decimal import Decimal

import httpx
import pytest

from routing.services import deployment_create
from tests.proxy.helpers import PRICES, expected_cost, set_price

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

HELLO = [{"role": "user", "content": "hi"}]
PATHS = {
    "chat": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO}),
    "responses": ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi"}),
    "messages": ("/v1/messages", {"model": "claude-haiku-4-5", "messages": HELLO, "max_tokens": 500}),
}
MILLION = Decimal(1_000_000)


def post(gateway, key, route, **body):
    path, base = PATHS[route]
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("POST", gateway.url + path, json={**base, **body}, headers=headers, timeout=60) as response:
        response.read()
    return response


def error_text(response):
    body = response.json()
    return body["error"]["message"]


# --- two output caps -------------------------------------------------------------------------


CAPS = [("max_tokens", "max_completion_tokens"), ("max_completion_tokens", "max_tokens")]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "litellm"])
@pytest.mark.parametrize(("large", "small"), CAPS, ids=["max_tokens", "max_completion_tokens"])
def test_the_hold_covers_the_largest_output_cap_sent(gateway, make_customer, upstream, settings, fast, large, small):
    settings.GATEWAY_FAST_PATH = fast
    set_price("gpt-4o-mini")
    upstream.set(honour_cap=large, input_tokens=10)
    caps = {large: 5000, small: 1}
    # 5,000 output tokens at $10/M are $0.05: a hold of the smaller cap (1 token) would admit it on $0.02.
    poor = make_customer(budget=Decimal("0.02"))
    refused = post(gateway, poor.key, "chat", **caps)
    assert refused.status_code == 402, refused.text
    assert upstream.count == 0
    enough = make_customer(budget=Decimal("0.06"))
    response = post(gateway, enough.key, "chat", **caps)
    assert response.status_code == 200, response.text
    row = gateway.usage(response.headers["x-request-id"])
    assert row.output_tokens == 5000  # the upstream honoured the larger cap
    account = enough.refresh()
    assert account.spent_usd == row.cost_usd == expected_cost(input=10, output=5000) <= account.budget_usd
    assert account.reserved_usd == 0


# --- inputs the body does not hold -----------------------------------------------------------

UNBOUNDED = [
    ("responses", {"previous_response_id": "resp_123"}),
    ("responses", {"conversation": "conv_123"}),
    ("responses", {"prompt": {"id": "pmpt_123", "version": "2"}}),
    ("responses", {"input": [{"type": "item_reference", "id": "msg_123"}]}),
    ("responses", {"tools": [{"type": "web_search_preview"}]}),
    (
        "chat",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a"}}]}]},
    ),
    ("chat", {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-123"}}]}]}),
    ("chat", {"web_search_options": {}}),
    (
        "messages",
        {
            "messages": [
                {"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]}
            ]
        },
    ),
    ("messages", {"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]}),
]


@pytest.mark.parametrize(("route", "extra"), UNBOUNDED, ids=[f"{r}-{next(iter(e))}" for r, e in UNBOUNDED])
def test_inputs_the_body_does_not_hold_are_held_at_the_context_window(gateway, make_customer, upstream, route, extra):
    set_price(PATHS[route][1]["model"])
    # A whole window (128,000 or 200,000 tokens) at the dearest input price ($3.125/M) is over $0.40.
    poor = make_customer(budget=Decimal("0.2"))
    refused = post(gateway, poor.key, route, **extra)
    assert refused.status_code == 402, refused.text
    assert "worst case" in refused.text
    assert upstream.count == 0
    upstream.set(input_tokens=60_000, output_tokens=10)  # what the provider read from its storage, or the web
    rich = make_customer(budget=Decimal("1"))
    response = post(gateway, rich.key, route, **extra)
    assert response.status_code == 200, response.text
    row = gateway.usage(response.headers["x-request-id"])
    assert (row.input_tokens, row.usage_estimated) == (60_000, False)  # within the window: believed
    account = rich.refresh()
    assert account.spent_usd == row.cost_usd == expected_cost(input=60_000, output=10) <= account.budget_usd


def test_the_same_body_without_such_an_input_is_held_at_its_size(gateway, make_customer, upstream):
    set_price("gpt-4o-mini")
    customer = make_customer(budget=Decimal("0.2"))
    assert post(gateway, customer.key, "responses", max_output_tokens=100).status_code == 200


# --- work after the answer ------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "litellm"])
def test_background_responses_are_refused_before_any_provider_call(
    gateway, make_customer, upstream, settings, fast, stream
):
    settings.GATEWAY_FAST_PATH = fast
    set_price("gpt-4o-mini")
    for customer in (make_customer(), make_customer(budget=Decimal("5"))):
        response = post(gateway, customer.key, "responses", background=True, stream=stream)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert "'background'" in error_text(response)
        assert gateway.usage(response.headers["x-request-id"]).cost_usd == 0
    assert upstream.count == 0
    assert post(gateway, customer.key, "responses", background=False, stream=stream).status_code == 200


def test_background_on_a_routed_name_is_refused_too(gateway, customer, upstream):
    deployment_create(public_name="house", provider="openai", upstream_model="gpt-4o-mini")
    response = post(gateway, customer.key, "responses", model="house", background=True)
    assert response.status_code == 400 and "'background'" in error_text(response)
    assert upstream.count == 0


# --- service tiers -----------------------------------------------------------------------------

PRIORITY = {
    "input_priority_per_mtok": Decimal("5"),
    "output_priority_per_mtok": Decimal("20"),
    "cache_read_priority_per_mtok": Decimal("2.5"),
}
FLEX = {"input_flex_per_mtok": Decimal("1.25"), "output_flex_per_mtok": Decimal("5")}


def billed(gateway, response):
    assert response.status_code == 200, response.text
    return gateway.usage(response.headers["x-request-id"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "litellm"])
@pytest.mark.parametrize("route", ["chat", "responses"])
def test_priority_calls_are_billed_at_priority_prices(gateway, make_customer, upstream, settings, route, fast, stream):
    settings.GATEWAY_FAST_PATH = fast
    set_price("gpt-4o-mini", **PRIORITY, **FLEX)
    upstream.set(input_tokens=1000, output_tokens=100)
    customer = make_customer(budget=Decimal("5"))
    row = billed(gateway, post(gateway, customer.key, route, service_tier="priority", stream=stream))
    assert row.cost_usd == (1000 * 5 + 100 * 20) / MILLION
    row = billed(gateway, post(gateway, customer.key, route, service_tier="flex", stream=stream))
    assert row.cost_usd == (Decimal(1000) * Decimal("1.25") + 100 * 5) / MILLION
    row = billed(gateway, post(gateway, customer.key, route, service_tier="default", stream=stream))
    assert row.cost_usd == expected_cost(input=1000, output=100)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_tier_the_provider_chose_itself_is_billed(gateway, make_customer, upstream, stream):
    set_price("gpt-4o-mini", **PRIORITY)
    upstream.set(input_tokens=1000, output_tokens=100, service_tier="priority")  # the project's default tier
    customer = make_customer(budget=Decimal("5"))
    row = billed(gateway, post(gateway, customer.key, "chat", stream=stream))
    assert row.cost_usd == (1000 * 5 + 100 * 20) / MILLION


@pytest.mark.parametrize("route", ["chat", "responses", "messages"])
def test_priority_without_a_price_is_refused_to_a_budgeted_account(gateway, make_customer, upstream, route):
    model = PATHS[route][1]["model"]
    set_price(model)
    tier = "priority"
    refused = post(gateway, make_customer(budget=Decimal("5")).key, route, service_tier=tier)
    assert refused.status_code == 403, refused.text
    assert "service_tier" in refused.text and "no price" in refused.text
    assert upstream.count == 0
    unlimited = make_customer()
    upstream.set(input_tokens=1000, output_tokens=100)
    row = billed(gateway, post(gateway, unlimited.key, route, service_tier=tier))
    assert row.cost_usd == expected_cost(input=1000, output=100)  # no priority price: standard, for this account


def test_the_hold_uses_the_priority_rate(gateway, make_customer, upstream):
    set_price("gpt-4o-mini", **PRIORITY)
    # 10,000 output tokens: $0.10 at standard, $0.20 at priority; a budget of $0.15 fits only the former.
    customer = make_customer(budget=Decimal("0.15"))
    refused = post(gateway, customer.key, "chat", service_tier="priority", max_tokens=10_000)
    assert refused.status_code == 402, refused.text
    auto = post(gateway, customer.key, "chat", max_tokens=10_000)  # auto: the provider may pick priority
    assert auto.status_code == 402, auto.text
    assert post(gateway, customer.key, "chat", service_tier="default", max_tokens=10_000).status_code == 200


def test_anthropic_priority_tier_is_billed_at_its_price(gateway, make_customer, upstream):
    set_price("claude-haiku-4-5", **PRIORITY)
    upstream.set(input_tokens=1000, output_tokens=100, service_tier="priority")
    row = billed(gateway, post(gateway, make_customer(budget=Decimal("5")).key, "messages", service_tier="auto"))
    assert row.cost_usd == (1000 * 5 + 100 * 20) / MILLION


# --- one-hour cache writes and audio ---------------------------------------------------------

ONE_HOUR_SYSTEM = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("route", ["messages", "chat"])
def test_one_hour_cache_writes_are_billed_at_their_price(gateway, make_customer, upstream, route, stream):
    model = "claude-haiku-4-5"
    set_price(model, cache_write_1h_per_mtok=Decimal("5"))
    upstream.set(input_tokens=10, output_tokens=10, cache_write_tokens=1000, cache_write_1h_tokens=800)
    customer = make_customer(budget=Decimal("5"))
    if route == "messages":
        response = post(gateway, customer.key, route, system=ONE_HOUR_SYSTEM, stream=stream)
    else:  # through LiteLLM's translation to Anthropic
        system = {"role": "system", "content": ONE_HOUR_SYSTEM}
        response = post(gateway, customer.key, route, model=model, messages=[system, *HELLO], stream=stream)
    row = billed(gateway, response)
    assert row.cache_write_tokens == 1000
    expected = (10 * PRICES["input"] + 10 * PRICES["output"] + 200 * PRICES["cache_write"] + 800 * 5) / MILLION
    assert row.cost_usd == expected.quantize(Decimal("1e-10"))


def test_one_hour_cache_writes_without_a_price_are_refused_to_a_budgeted_account(gateway, make_customer, upstream):
    set_price("claude-haiku-4-5")
    refused = post(gateway, make_customer(budget=Decimal("5")).key, "messages", system=ONE_HOUR_SYSTEM)
    assert refused.status_code == 403 and "ttl" in refused.text
    assert refused.json()["error"]["type"] == "permission_error"
    assert upstream.count == 0


AUDIO = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "litellm"])
def test_audio_tokens_are_billed_at_audio_prices(gateway, make_customer, upstream, settings, fast, stream):
    settings.GATEWAY_FAST_PATH = fast
    model = "gpt-4o-audio-preview"
    set_price(model, input_audio_per_mtok=Decimal("40"), output_audio_per_mtok=Decimal("80"))
    upstream.set(input_tokens=100, audio_input_tokens=60, output_tokens=1000, audio_output_tokens=900)
    customer = make_customer(budget=Decimal("5"))
    row = billed(gateway, post(gateway, customer.key, "chat", model=model, stream=stream, **AUDIO))
    expected = (40 * PRICES["input"] + 60 * 40 + 100 * PRICES["output"] + 900 * 80) / MILLION
    assert row.cost_usd == expected


def test_audio_without_a_price_is_refused_to_a_budgeted_account(gateway, make_customer, upstream):
    set_price("gpt-4o-mini")
    refused = post(gateway, make_customer(budget=Decimal("5")).key, "chat", **AUDIO)
    assert refused.status_code == 403 and "audio" in error_text(refused)
    spoken = [
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}
    ]
    refused = post(gateway, make_customer(budget=Decimal("5")).key, "chat", messages=spoken)
    assert refused.status_code == 403 and "audio input" in error_text(refused)
    assert upstream.count == 0
