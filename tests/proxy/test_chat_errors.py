"""Every row of the contract's error table that applies to /v1/chat/completions."""

import time
import uuid
from datetime import timedelta
from decimal import Decimal

import httpx
import openai
import pytest
from django.utils import timezone

from accounts.services import account_update
from keys.models import APIKey
from keys.services import key_revoke, key_update
from tests.proxy.helpers import set_price

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

MESSAGES = [{"role": "user", "content": "hi"}]
BODY = {"model": "gpt-4o-mini", "messages": MESSAGES}


def post(gateway, key, body=BODY, **kwargs):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    kwargs.setdefault("json", body)
    return httpx.post(f"{gateway.url}/v1/chat/completions", headers=headers, timeout=30, **kwargs)


def assert_openai_error(response, status, code=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    assert error["message"]
    if code:
        assert error["code"] == code
    assert response.headers["x-request-id"]
    return error


@pytest.mark.parametrize(
    ("content", "message_part"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"messages": []}', "Missing required parameter: 'model'"),
        (b'{"model": "gpt-4o-mini"}', "Missing required parameter: 'messages'"),
        (b'{"model": 42, "messages": []}', "'model' must be a string"),
        (b'{"model": "gpt-4o-mini", "messages": "hi"}', "'messages' must be an array"),
        (b'{"model": "gpt-4o-mini", "messages": []}', "'messages' must not be empty"),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role":"user","content":"x"}], "stream": "yes"}',
            "'stream' must be a boolean",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role":"user","content":"x"}], "temperature": true}',
            "'temperature' must be a number",
        ),
    ],
)
def test_malformed_bodies_are_400(gateway, customer, upstream, content, message_part):
    response = post(gateway, customer.key, body=None, content=content, json=None)
    error = assert_openai_error(response, 400)
    assert message_part in error["message"]
    assert upstream.count == 0
    assert gateway.usage(response.headers["x-request-id"]).status_code == 400


def test_litellm_only_parameters_are_refused(gateway, customer, upstream):
    response = post(gateway, customer.key, body={**BODY, "api_base": "http://127.0.0.1:9/steal"})
    assert_openai_error(response, 400)
    assert upstream.count == 0


def test_missing_key_is_401(gateway, upstream):
    assert_openai_error(post(gateway, None), 401, "invalid_api_key")


def test_unknown_key_is_401(gateway, upstream):
    assert_openai_error(post(gateway, "gw-nope"), 401)


def test_revoked_key_is_refused(gateway, customer, upstream):
    assert post(gateway, customer.key).status_code == 200
    key_revoke(key=APIKey.objects.get(account=customer.account))
    assert_openai_error(post(gateway, customer.key), 401)


def test_expired_key_is_refused(gateway, customer, upstream):
    # An expiry in the past is refused when saved: this one passes while the key exists.
    expires_at = timezone.now() + timedelta(seconds=1)
    key_update(key=APIKey.objects.get(account=customer.account), expires_at=expires_at)
    time.sleep(max((expires_at - timezone.now()).total_seconds(), 0) + 0.05)
    assert_openai_error(post(gateway, customer.key), 401)


def test_inactive_account_is_refused(gateway, customer, upstream):
    assert post(gateway, customer.key).status_code == 200
    account_update(account=customer.account, is_active=False)
    assert_openai_error(post(gateway, customer.key), 401)
    assert upstream.count == 1


def test_model_outside_the_allow_list_is_403(gateway, make_customer, upstream):
    set_price("gpt-4o")
    customer = make_customer(allowed_models=["gpt-4o"])
    assert_openai_error(post(gateway, customer.key), 403, "model_not_allowed")
    assert post(gateway, customer.key, body={**BODY, "model": "gpt-4o"}).status_code == 200


@pytest.mark.parametrize("model", ["no-such-model", "gemini-1.5-pro", "mistral/whatever"])
def test_unknown_model_or_unconfigured_provider_is_404(gateway, customer, upstream, model):
    assert_openai_error(post(gateway, customer.key, body={**BODY, "model": model}), 404, "model_not_found")
    assert upstream.count == 0


def test_body_over_the_limit_is_413(gateway, customer, upstream, settings):
    huge = "x" * (settings.MAX_REQUEST_BYTES + 10)
    response = post(gateway, customer.key, body={**BODY, "messages": [{"role": "user", "content": huge}]})
    assert_openai_error(response, 413)
    assert upstream.count == 0


def test_exhausted_budget_is_402_before_any_provider_call(gateway, make_customer, upstream):
    from tests.budgets.ledger_helpers import settle

    set_price("gpt-4o-mini")
    customer = make_customer(budget=Decimal("0.01"))
    settle([(uuid.uuid4(), customer.account.pk, Decimal("0.01"))])
    response = post(gateway, customer.key)
    assert_openai_error(response, 402, "budget_exceeded")
    assert upstream.count == 0
    row = gateway.usage(response.headers["x-request-id"])
    assert row.status_code == 402 and row.cost_usd == 0


def test_sdk_sees_budget_refusal(gateway, make_customer, upstream):
    set_price("gpt-4o-mini")
    customer = make_customer(budget=Decimal("0"))
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as raised:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raised.value.status_code == 402


def test_a_budget_refusal_says_which_budget_what_is_left_and_what_the_call_needed(gateway, make_customer, upstream):
    set_price("gpt-4o-mini")
    customer = make_customer(budget=Decimal("0.0001"))
    sdk = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=customer.key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as raised:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=1000)
    error = raised.value
    assert error.status_code == 402 and error.body["code"] == "budget_exceeded"
    budget = error.body["budget"]
    assert (budget["scope"], budget["user_id"]) == ("account", customer.account.user_id)
    assert (budget["budget_usd"], budget["remaining_usd"], budget["reserved_usd"]) == ("0.0001", "0.0001", "0")
    assert Decimal(budget["needed_usd"]) > Decimal("0.0001")
    text = str(error)  # what a developer sees in a traceback
    assert f"account '{customer.account.user_id}'" in text and "has 0.0001 USD left" in text
    assert f"needs up to {budget['needed_usd']} USD" in text
    assert upstream.count == 0


def test_key_rpm_limit_is_429_with_retry_after(gateway, make_customer, upstream):
    customer = make_customer(rpm_limit=2)
    assert post(gateway, customer.key).status_code == 200
    assert post(gateway, customer.key).status_code == 200
    response = post(gateway, customer.key)
    assert_openai_error(response, 429, "rate_limit_exceeded")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert upstream.count == 2


def test_key_tpm_limit_is_429_once_the_tokens_are_used(gateway, make_customer, upstream):
    customer = make_customer(tpm_limit=10)
    upstream.set(input_tokens=8, output_tokens=5)
    response = post(gateway, customer.key)
    assert response.status_code == 200
    gateway.usage(response.headers["x-request-id"])  # accounting done: 13 tokens counted
    response = post(gateway, customer.key)
    assert_openai_error(response, 429)
    assert response.headers["retry-after"]


@pytest.mark.parametrize(("upstream_status", "status"), [(500, 502), (503, 502), (429, 429), (400, 400), (401, 401)])
def test_provider_errors_map_to_the_contract(gateway, customer, upstream, upstream_status, status, caplog):
    caplog.set_level("DEBUG")
    upstream.set(error_status=upstream_status)
    response = post(gateway, customer.key)
    assert_openai_error(response, status)
    assert upstream.count == 1  # no hidden retries
    assert gateway.usage(response.headers["x-request-id"]).status_code == status
    for secret in ("sk-upstream-openai", customer.key):  # neither key in the answer nor in any log line
        assert secret not in response.text
        assert secret not in caplog.text


def test_provider_timeout_is_504(gateway, customer, upstream, settings):
    settings.UPSTREAM_TIMEOUT = 1
    upstream.set(hang=True)
    assert_openai_error(post(gateway, customer.key), 504, "upstream_timeout")


def test_provider_dropping_the_stream_ends_it_with_an_error_and_a_usage_row(gateway, customer, upstream):
    upstream.set(chunks=4, drop_after=2)
    body = {**BODY, "stream": True}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {customer.key}"}
    ) as response:
        text = b"".join(response.iter_bytes()).decode()
        request_id = response.headers["x-request-id"]
    assert '"error"' in text
    row = gateway.usage(request_id)
    assert row.status_code == 502 and row.streamed
    assert row.output_tokens > 0  # counted from what arrived before the drop


def test_get_on_a_post_route_is_405_in_openai_format(gateway, customer):
    response = httpx.get(f"{gateway.url}/v1/chat/completions", headers={"Authorization": f"Bearer {customer.key}"})
    assert_openai_error(response, 405)


def test_chunked_body_over_the_limit_is_413_without_reading_it_all(gateway, customer, upstream, settings):
    chunk = b"x" * 65536
    sent = 0

    def body():
        nonlocal sent
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        while sent < settings.MAX_REQUEST_BYTES * 3:
            sent += len(chunk)
            yield chunk
        yield b'"}]}'

    response = post(gateway, customer.key, json=None, content=body())
    assert_openai_error(response, 413)
    assert upstream.count == 0


def test_messages_route_answers_413_in_anthropic_format(gateway, customer, upstream, settings):
    huge = "x" * (settings.MAX_REQUEST_BYTES + 10)
    response = httpx.post(
        f"{gateway.url}/v1/messages",
        json={"model": "claude-3-5-haiku-20241022", "max_tokens": 5, "messages": [{"role": "user", "content": huge}]},
        headers={"x-api-key": customer.key},
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/models/%0A", "/v1/chat/completions%0A"])
def test_an_unknown_v1_route_is_a_404_in_openai_format(gateway, path):
    # %0A: a line break, which no route pattern's `.` matches; it fell through to Django's HTML page.
    response = httpx.post(f"{gateway.url}{path}", json={})
    assert_openai_error(response, 404, "not_found")
