"""Money safety (issue 8): no free calls, no leaked holds, no overspend — each found hole, closed and proven."""

import asyncio
import socket
import time
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest
from django.db.models import Sum

from budgets.models import Hold
from proxy.forwarding import litellm_module
from tests.proxy.helpers import PRICES, expected_cost, set_price
from usage.models import UsageLog

MESSAGES = [{"role": "user", "content": "hi"}]
ROUTES = {
    "chat": ("/v1/chat/completions", {"messages": MESSAGES}),
    "responses": ("/v1/responses", {"input": "hi"}),
    "messages": ("/v1/messages", {"messages": MESSAGES, "max_tokens": 20}),
}


def post(gateway, key, route, model, **extra):
    path, body = ROUTES[route]
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{gateway.url}{path}", json={"model": model, **body, **extra}, headers=headers, timeout=30)


def burst(gateway, key, body, count):
    """`count` concurrent chat calls with the same body; their responses."""

    async def calls():
        async with httpx.AsyncClient(timeout=60) as client:
            headers = {"Authorization": f"Bearer {key}"}
            url = f"{gateway.url}/v1/chat/completions"
            return await asyncio.gather(*(client.post(url, json=body, headers=headers) for _ in range(count)))

    return asyncio.run(calls())


def ledger(customer):
    account = customer.refresh()
    rows = UsageLog.objects.filter(account=account)
    return account, rows.count(), rows.aggregate(total=Sum("cost_usd"))["total"] or 0


# 1. Free calls through a LiteLLM routing prefix ------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize(
    "model",
    [
        "openai/responses/gpt-4o-mini",
        "openai/o_series/gpt-4o-mini",
        "openai/openai/gpt-4o-mini",
        "openai/chat/gpt-4o-mini",
        "anthropic/bedrock/claude-3-5-haiku-20241022",
        "custom/responses/gpt-4o-mini",
        "custom/meta/responses/gpt-4o-mini",
        "custom/o_series/x",
        "gpt-4o-mini\u200b",
    ],
)
def test_routing_prefixes_are_refused_before_any_provider_call(gateway, make_customer, upstream, route, model):
    set_price("gpt-4o-mini")
    customer = make_customer(budget=Decimal("0.001"))
    response = post(gateway, customer.key, route, model)
    assert response.status_code == 404, response.text
    assert upstream.count == 0
    gateway.drain()
    assert customer.refresh().reserved_usd == 0


def test_many_concurrent_prefixed_calls_cost_nothing_because_none_is_made(gateway, make_customer, upstream):
    set_price("gpt-4o-mini")
    customer = make_customer(budget=Decimal("0.001"))

    responses = burst(gateway, customer.key, {"model": "openai/responses/gpt-4o-mini", "messages": MESSAGES}, 200)
    assert {r.status_code for r in responses} == {404}
    assert upstream.count == 0


@pytest.mark.parametrize("route", ["chat", "messages"])
@pytest.mark.wire  # ~100 calls, one per provider name: on the MongoDB stand-in they outlast the test's timeout
def test_custom_models_with_provider_segments_reach_the_upstream_under_the_priced_name(
    gateway, customer, upstream, route
):
    """Every LiteLLM provider name as a segment of a custom model: the upstream gets exactly that name, or none.

    What it proves is the model name on the wire; its calls' database work is the one call path the
    ledger and accounting tests prove on every engine, so PostgreSQL and MongoDB skip it (`wire`).
    """
    names = sorted({str(name) for name in litellm_module().provider_list})
    for name in names:
        bare = f"{name}/some-model"
        before = upstream.count
        response = post(gateway, customer.key, route, f"custom/{bare}")
        if response.status_code == 404:
            assert upstream.count == before
            continue
        assert response.status_code == 200, (name, response.text)
        assert upstream.last.body["model"] == bare, name


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_the_model_sent_upstream_is_the_one_priced(gateway, make_customer, upstream, route):
    model = "claude-3-5-haiku-20241022" if route == "messages" else "gpt-4o-mini"
    set_price(model)
    customer = make_customer(budget=Decimal("10"))
    upstream.set(input_tokens=10, output_tokens=4)
    response = post(gateway, customer.key, route, f" {model.upper()} ")
    assert response.status_code == 200, response.text
    assert upstream.last.body["model"].lower() == model
    row = gateway.usage(response.headers["x-request-id"])
    assert row.cost_usd == expected_cost(input=10, output=4) > 0


# 2. Unpriced models fail closed for budgeted accounts -----------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_unpriced_model_is_refused_to_a_budgeted_account(gateway, make_customer, upstream, route):
    customer = make_customer(budget=Decimal("5"))
    model = "claude-opus-4-20250514" if route == "messages" else "gpt-4o"
    response = post(gateway, customer.key, route, model)
    assert response.status_code == 403
    body = response.json()
    assert (body["error"].get("code") or body["error"]["type"]) in ("model_not_priced", "permission_error")
    assert "no price" in response.text
    assert upstream.count == 0
    assert gateway.usage(response.headers["x-request-id"]).status_code == 403


def test_sdks_see_the_unpriced_refusal_as_permission_denied(gateway, make_customer, upstream):
    customer = make_customer(budget=Decimal("5"))
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    asdk = anthropic.Anthropic(base_url=gateway.url, api_key=customer.key, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError):
        asdk.messages.create(model="claude-opus-4-20250514", max_tokens=5, messages=MESSAGES)


def test_unpriced_models_are_served_when_the_operator_allows_them_or_the_account_is_unlimited(
    gateway, make_customer, upstream, settings
):
    unlimited = make_customer()
    assert post(gateway, unlimited.key, "chat", "gpt-4o").status_code == 200
    settings.ALLOW_UNPRICED_MODELS = True
    budgeted = make_customer(budget=Decimal("5"))
    response = post(gateway, budgeted.key, "chat", "gpt-4o")
    assert response.status_code == 200
    assert gateway.usage(response.headers["x-request-id"]).cost_usd == 0
    assert budgeted.refresh().reserved_usd == 0


# 3. A client that disconnects before the first byte ------------------------------------------------------


def _cut(gateway, key, body, after):
    """Sends the request on a raw socket and closes it `after` seconds later, before any answer."""
    host, port = gateway.url.removeprefix("http://").split(":")
    payload = httpx.Request("POST", f"{gateway.url}/v1/chat/completions", json=body).content
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + payload)
        time.sleep(after)


@pytest.mark.parametrize("stream", [False, True])
def test_disconnect_before_the_first_byte_leaves_a_row_and_no_hold(gateway, make_customer, upstream, stream):
    set_price("gpt-4o-mini")
    customer = make_customer(budget=Decimal("0.05"))
    upstream.set(latency=0.6, input_tokens=10, output_tokens=5)
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 100, "stream": stream}
    for _ in range(3):
        _cut(gateway, customer.key, body, after=0.2)
    time.sleep(1.0)  # the calls go on without their clients and settle
    gateway.drain()
    account, rows, total = ledger(customer)
    assert rows == 3
    assert set(UsageLog.objects.filter(account=account).values_list("status_code", flat=True)) == {499}
    assert account.reserved_usd == 0 and not Hold.objects.exists()
    assert account.spent_usd == total == 3 * expected_cost(input=10, output=5)  # the provider answered: billed
    upstream.set(latency=0)
    assert post(gateway, customer.key, "chat", "gpt-4o-mini", max_tokens=100).status_code == 200


# 5. Exact money and bounded holds ---------------------------------------------------------------------------


def test_concurrent_huge_holds_leave_the_ledger_exact(gateway, make_customer, upstream):
    set_price("gpt-4o-mini")
    customer = make_customer(budget=Decimal("1000"))
    upstream.set(input_tokens=3, output_tokens=1)

    responses = burst(
        gateway, customer.key, {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 1_000_000, "n": 7}, 60
    )
    ok = sum(r.status_code == 200 for r in responses)
    assert ok and {r.status_code for r in responses} <= {200, 402}
    gateway.drain()
    account, rows, total = ledger(customer)
    assert rows == 60
    assert account.reserved_usd == 0  # exactly: floating point once left −0.40 here
    assert account.spent_usd == total == ok * expected_cost(input=3, output=1)


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("value", [0, 1_000_001, 2**62])
def test_output_ceilings_out_of_bounds_are_400(gateway, customer, upstream, route, value):
    name = {"chat": "max_tokens", "responses": "max_output_tokens", "messages": "max_tokens"}[route]
    response = post(gateway, customer.key, route, "gpt-4o-mini", **{name: value})
    assert response.status_code == 400, response.text
    assert upstream.count == 0


def test_a_hold_beyond_what_the_ledger_can_keep_is_400_not_500(gateway, make_customer, upstream):
    from pricing.services import cost_upsert

    cost_upsert(model="gpt-4o-mini", input_per_mtok=Decimal("1e9"), output_per_mtok=Decimal("1e12"))
    customer = make_customer(budget=Decimal("100"))
    response = post(gateway, customer.key, "chat", "gpt-4o-mini", max_tokens=1_000_000, n=128)
    assert response.status_code == 400, response.text
    assert "worst-case" in response.json()["error"]["message"]


# 6. No overspend without max_tokens; tpm without a check-then-add gap ------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_concurrent_calls_without_max_tokens_never_overspend(gateway, make_customer, upstream, stream):
    set_price("gpt-4o-mini")
    # gpt-4o-mini's ceiling is 16,384 output tokens (LiteLLM's model info): a hold of about $0.164 each.
    customer = make_customer(budget=Decimal("0.5"))
    upstream.set(input_tokens=1000, output_tokens=16_000)

    responses = burst(gateway, customer.key, {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": stream}, 100)
    gateway.drain()
    account, rows, total = ledger(customer)
    ok = sum(r.status_code == 200 for r in responses)
    assert 1 <= ok <= 3 and rows == 100
    assert account.spent_usd == total <= account.budget_usd
    assert account.reserved_usd == 0
    assert expected_cost(input=1000, output=16_000) * ok == total


def test_a_model_without_a_known_ceiling_is_held_and_capped_at_the_default(gateway, make_customer, upstream, settings):
    settings.DEFAULT_MAX_OUTPUT_TOKENS = 1000
    set_price("custom/my-model")
    customer = make_customer(budget=Decimal("10"))
    assert post(gateway, customer.key, "chat", "custom/my-model").status_code == 200
    assert upstream.last.body["max_tokens"] == 1000  # the bound the hold was computed for is sent


def test_tpm_reservations_are_seen_by_concurrent_requests(gateway, make_customer, upstream):
    customer = make_customer(tpm_limit=100)

    responses = burst(gateway, customer.key, {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 20}, 100)
    passed = sum(r.status_code == 200 for r in responses)
    # Each call reserves ~20 body tokens + 20 output tokens: a few fit in 100, never 100 of 100.
    assert 1 <= passed <= 5, passed
    assert {r.status_code for r in responses} == {200, 429}


assert PRICES  # the helpers' prices are what expected_cost uses
