"""Routed public names end to end: weights, retries, fallbacks, streams, names seen by the SDKs, rows per attempt."""

import asyncio
import json
from collections import Counter
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from routing.services import deployment_create, policy_set
from tests.proxy.helpers import expected_cost, set_price
from usage.models import UsageLog

PUBLIC = "team-model"
A, B = "gpt-4o-mini", "gpt-4.1-mini"  # two deployments: distinct upstream models the upstream can fail apart
HELLO = [{"role": "user", "content": "Say hello"}]


def two_deployments(weight_a: int = 1, weight_b: int = 1) -> None:
    deployment_create(public_name=PUBLIC, provider="openai", upstream_model=A, weight=weight_a)
    deployment_create(public_name=PUBLIC, provider="openai", upstream_model=B, weight=weight_b)


def sdk(gateway, key):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


def models_received(upstream) -> Counter[str]:
    return Counter(request.body["model"] for request in upstream.requests)


def rows_of(gateway, customer):
    gateway.drain()
    return list(UsageLog.objects.filter(account=customer.account).order_by("created_at"))


async def burst(url: str, key: str, count: int, concurrency: int = 20) -> list[httpx.Response]:
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=60) as client:

        async def one() -> httpx.Response:
            async with limit:
                return await client.post("/v1/chat/completions", json={"model": PUBLIC, "messages": HELLO})

        return await asyncio.gather(*(one() for _ in range(count)))


@pytest.mark.timeout(300)
def test_traffic_splits_by_weight(gateway, customer, upstream):
    two_deployments(weight_a=3, weight_b=1)
    answers = asyncio.run(burst(gateway.url, customer.key, 400))
    assert {answer.status_code for answer in answers} == {200}
    received = models_received(upstream)
    assert sum(received.values()) == 400
    # 75 % ± 10 points: a split that ignored the weights (50 %) or inverted them (25 %) fails. 400 calls
    # keep a fair split inside it (± 40 calls is 4.6 standard deviations: a false failure ~1 in 250,000).
    assert 260 <= received[A] <= 340, received
    assert {answer.json()["model"] for answer in answers} == {PUBLIC}


def test_a_deployment_answering_500_sends_every_call_to_the_other(gateway, customer, upstream, settings):
    two_deployments()
    upstream.set(model_errors={A: 500})
    answers = asyncio.run(burst(gateway.url, customer.key, 40, concurrency=4))
    assert [answer.status_code for answer in answers] == [200] * 40  # no client-visible error
    received = models_received(upstream)
    assert received[B] == 40
    # A is tried until it cools down (GATEWAY_ROUTING_FAILURES, give or take calls in flight), then skipped.
    assert 1 <= received[A] <= settings.ROUTING_FAILURES + 4
    rows = rows_of(gateway, customer)
    answered = {str(answer.headers["x-request-id"]) for answer in answers}
    heads = [row for row in rows if row.attempt_of is None]
    assert {str(row.id) for row in heads} == answered
    assert all(row.upstream_model == B and row.status_code == 200 for row in heads)
    failed = [row for row in rows if row.attempt_of is not None]
    assert len(failed) == received[A]  # rows = attempts
    assert all(str(row.attempt_of) in answered and row.status_code == 502 and row.cost_usd == 0 for row in failed)
    assert all(row.upstream_model == A and row.attempt == 1 for row in failed)


def test_both_deployments_failing_fall_back_to_the_next_name(gateway, make_customer, upstream):
    two_deployments()
    policy_set(public_name=PUBLIC, attempts=3, fallbacks=["gpt-4o"])  # a plain name: auto-detected
    for model in (A, B):
        set_price(model)
    set_price("gpt-4o")
    customer = make_customer(budget=Decimal("10"))
    upstream.set(model_errors={A: 503, B: 429}, input_tokens=20, output_tokens=10)
    raw = sdk(gateway, customer.key).chat.completions.with_raw_response.create(
        model=PUBLIC, messages=HELLO, max_tokens=50
    )
    completion = raw.parse()
    assert completion.model == PUBLIC
    assert [request.body["model"] for request in upstream.requests][-1] == "gpt-4o"
    assert sorted(request.body["model"] for request in upstream.requests) == sorted([A, B, "gpt-4o"])
    rows = rows_of(gateway, customer)
    head = next(row for row in rows if str(row.id) == raw.headers["x-request-id"])
    assert (head.status_code, head.upstream_model, head.attempt, head.attempt_of) == (200, "gpt-4o", 3, None)
    assert head.cost_usd == expected_cost(input=20, output=10)
    attempts = sorted((row.attempt, row.status_code) for row in rows if row.attempt_of == head.id)
    assert [number for number, _ in attempts] == [1, 2]
    assert {status for _, status in attempts} == {502, 429}
    account = customer.refresh()
    assert account.spent_usd == sum(row.cost_usd for row in rows) and account.reserved_usd == 0


def test_every_attempt_failing_answers_the_last_error_with_its_row(gateway, customer, upstream):
    two_deployments()
    upstream.set(model_errors={A: 500, B: 500})
    answer = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {customer.key}"},
        json={"model": PUBLIC, "messages": HELLO},
    )
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "upstream_unavailable"
    rows = rows_of(gateway, customer)
    assert len(rows) == upstream.count == 2
    head = next(row for row in rows if str(row.id) == answer.headers["x-request-id"])
    assert head.attempt == 2 and [row.attempt_of for row in rows if row is not head] == [head.id]


def test_input_too_long_switches_to_the_context_window_fallback(gateway, customer, upstream):
    deployment_create(public_name=PUBLIC, provider="openai", upstream_model=A)
    deployment_create(public_name="long-model", provider="openai", upstream_model="gpt-4.1")
    policy_set(public_name=PUBLIC, context_fallback="long-model")
    upstream.set(context_models={A})
    completion = sdk(gateway, customer.key).chat.completions.create(model=PUBLIC, messages=HELLO)
    assert completion.model == PUBLIC
    assert [request.body["model"] for request in upstream.requests] == [A, "gpt-4.1"]


def test_a_refusal_of_the_request_is_not_retried(gateway, customer, upstream):
    two_deployments()
    upstream.set(error_status=400)
    answer = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {customer.key}"},
        json={"model": PUBLIC, "messages": HELLO},
    )
    assert answer.status_code == 400 and upstream.count == 1
    assert len(rows_of(gateway, customer)) == 1


def test_a_stream_failing_after_its_first_byte_is_not_retried(gateway, customer, upstream):
    two_deployments()
    upstream.set(chunks=4, drop_after=1)
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {customer.key}"},
        json={"model": PUBLIC, "messages": HELLO, "stream": True},
        timeout=30,
    ) as answer:
        text = answer.read().decode()
        request_id = answer.headers["x-request-id"]
    frames = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    assert json.loads(frames[0])["model"] == PUBLIC  # the first bytes reached the client...
    assert json.loads(frames[-1])["error"]["code"] == "upstream_unavailable"  # ...then the error frame
    assert upstream.count == 1  # no second deployment was tried
    rows = rows_of(gateway, customer)
    assert [(str(row.id), row.status_code, row.attempt_of) for row in rows] == [(request_id, 502, None)]


def test_openai_sdk_sees_only_the_public_name(gateway, customer, upstream):
    two_deployments()
    client = sdk(gateway, customer.key)
    assert client.chat.completions.create(model=PUBLIC, messages=HELLO).model == PUBLIC
    chunks = list(client.chat.completions.create(model=PUBLIC, messages=HELLO, stream=True))
    assert chunks and {chunk.model for chunk in chunks} == {PUBLIC}
    assert client.responses.create(model=PUBLIC, input="Say hello").model == PUBLIC
    events = list(client.responses.create(model=PUBLIC, input="Say hello", stream=True))
    completed = [event for event in events if event.type == "response.completed"]
    assert completed and completed[0].response.model == PUBLIC
    assert {event.response.model for event in events if hasattr(event, "response")} == {PUBLIC}


@pytest.mark.parametrize("upstream_model", ["claude-3-5-haiku-20241022", "gpt-4o-mini"], ids=["same", "bridged"])
def test_anthropic_sdk_sees_only_the_public_name(gateway, customer, upstream, upstream_model):
    provider = "anthropic" if upstream_model.startswith("claude") else "openai"
    deployment_create(public_name="house-claude", provider=provider, upstream_model=upstream_model)
    client = anthropic.Anthropic(base_url=gateway.url, api_key=customer.key, max_retries=0)
    message = client.messages.create(model="house-claude", max_tokens=64, messages=HELLO)
    assert message.model == "house-claude"
    with client.messages.stream(model="house-claude", max_tokens=64, messages=HELLO) as stream:
        starts = [event.message.model for event in stream if event.type == "message_start"]
        final = stream.get_final_message()
    assert starts == ["house-claude"] and final.model == "house-claude"
    assert {request.body["model"] for request in upstream.requests} == {upstream_model}


def test_models_list_names_the_public_names(gateway, customer, upstream):
    two_deployments()
    ids = [model.id for model in sdk(gateway, customer.key).models.list()]
    assert PUBLIC in ids and A in ids  # the routed name beside the auto-detected ones


def test_a_name_without_deployments_keeps_auto_detection(gateway, customer, upstream):
    two_deployments()
    completion = sdk(gateway, customer.key).chat.completions.create(model=B, messages=HELLO)
    assert completion.model == B and upstream.last.body["model"] == B
    row = rows_of(gateway, customer)[0]
    assert (row.upstream_model, row.attempt, row.attempt_of) == ("", 1, None)


# Issue 16: a routed public name is routed however the client spells it.
SPELLINGS = ["gpt-4o-mini", "openai/gpt-4o-mini", "GPT-4o-mini", " gpt-4o-mini", "gpt-4o-mini ", "OpenAI/GPT-4O-MINI"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": HELLO}),
        ("/v1/responses", {"input": "Say hello"}),
        ("/v1/messages", {"messages": HELLO, "max_tokens": 20}),
    ],
)
def test_every_spelling_of_a_routed_name_is_routed(gateway, make_customer, upstream, path, body, stream):
    # The name of a model the provider serves, put in front of another deployment: routing must win.
    deployment_create(public_name="gpt-4o-mini", provider="openai", upstream_model="gpt-4.1-mini")
    set_price("gpt-4.1-mini")
    customer = make_customer(budget=Decimal("5"), allowed_models=["gpt-4o-mini"])
    for spelling in SPELLINGS:
        headers = {"authorization": f"Bearer {customer.key}"}
        payload = {"model": spelling, **body, "stream": stream}
        response = httpx.post(f"{gateway.url}{path}", json=payload, headers=headers, timeout=30)
        assert response.status_code == 200, (spelling, response.text)
        assert upstream.last.body["model"] == "gpt-4.1-mini", spelling
        row = rows_of(gateway, customer)[-1]
        assert row.upstream_model == "gpt-4.1-mini", spelling


def test_capacity_and_fallbacks_apply_to_every_spelling(gateway, customer, upstream):
    deployment_create(public_name="gpt-4o-mini", provider="openai", upstream_model="gpt-4.1-mini")
    policy_set(public_name="gpt-4o-mini", attempts=2, fallbacks=["gpt-4.1-nano"])
    upstream.set(model_errors={"gpt-4.1-mini": 500})
    for spelling in SPELLINGS:
        answer = sdk(gateway, customer.key).chat.completions.create(model=spelling, messages=HELLO)
        assert answer.model == "gpt-4o-mini"  # the public name, as the table spells it
        assert upstream.last.body["model"] == "gpt-4.1-nano", spelling
