"""Canonical accounting for every route × provider × stream, with cached and reasoning tokens.

Costs are computed here from the prices this test sets, independently of the gateway's
pricing code. A cached token billed at the input price, or counted twice, fails a case.
"""

from decimal import Decimal

import httpx
import pytest

from pricing.services import cost_upsert

PRICE = {"in": Decimal("3"), "out": Decimal("15"), "cw": Decimal("3.75"), "cr": Decimal("0.30")}

# What each provider can report (OpenAI has no cache-write count; Anthropic no reasoning count).
USAGE = {
    "openai": {
        "input_tokens": 100,
        "output_tokens": 40,
        "cache_read_tokens": 60,
        "cache_write_tokens": 0,
        "reasoning_tokens": 16,
    },
    "anthropic": {
        "input_tokens": 100,
        "output_tokens": 40,
        "cache_read_tokens": 60,
        "cache_write_tokens": 25,
        "reasoning_tokens": 0,
    },
}
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-20250514"}
ROUTES = {
    "chat.completions": (
        "/v1/chat/completions",
        lambda m, s: {"model": m, "messages": [{"role": "user", "content": "hi"}], "stream": s},
    ),
    "responses": ("/v1/responses", lambda m, s: {"model": m, "input": "hi", "stream": s}),
    "messages": (
        "/v1/messages",
        lambda m, s: {"model": m, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], "stream": s},
    ),
}


def expected_cost(u):
    total = (
        u["input_tokens"] * PRICE["in"]
        + u["output_tokens"] * PRICE["out"]
        + u["cache_write_tokens"] * PRICE["cw"]
        + u["cache_read_tokens"] * PRICE["cr"]
    )
    return (total / Decimal(1_000_000)).quantize(Decimal("1e-10"))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_usage_is_stored_canonically_and_priced_exactly(gateway, customer, upstream, route, provider, stream):
    model = MODELS[provider]
    cost_upsert(
        model=model,
        input_per_mtok=PRICE["in"],
        output_per_mtok=PRICE["out"],
        cache_write_per_mtok=PRICE["cw"],
        cache_read_per_mtok=PRICE["cr"],
    )
    usage = USAGE[provider]
    upstream.set(**usage)
    path, body = ROUTES[route]
    with httpx.stream(
        "POST",
        gateway.url + path,
        json=body(model, stream),
        headers={"Authorization": f"Bearer {customer.key}"},
        timeout=30,
    ) as response:
        payload = response.read()
        assert response.status_code == 200, payload
        request_id = response.headers["x-request-id"]
    row = gateway.usage(request_id)
    stored = {name: getattr(row, name) for name in usage}
    assert stored == usage
    assert row.cost_usd == expected_cost(usage)
    assert row.streamed is stream
    assert customer.refresh().spent_usd == row.cost_usd
