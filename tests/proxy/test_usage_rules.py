"""Every answer is priced (issue 16): usage the provider leaves out is estimated, absurd usage is capped.

Each case runs on every route, as JSON and as a stream, on the same-format fast path, on LiteLLM's
path (GATEWAY_FAST_PATH off, or a cross-format model) and through a routed public name.
"""

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.conf import settings as django_settings

from budgets.models import Hold
from budgets.spool import spool_depth
from budgets.writer_state import writer_state
from proxy.forwarding import largest_context_window
from routing.services import deployment_create
from tests.proxy.helpers import expected_cost, set_price
from usage.models import UsageLog

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

PROMPT = [{"role": "user", "content": "Say hello to the test upstream, politely."}]
BODIES = {
    "chat": ("/v1/chat/completions", {"messages": PROMPT}),
    "responses": ("/v1/responses", {"input": "Say hello to the test upstream, politely."}),
    "messages": ("/v1/messages", {"messages": PROMPT, "max_tokens": 200}),
}
CAP = {"chat": "max_tokens", "responses": "max_output_tokens", "messages": "max_tokens"}
ANSWER_TOKENS = 6  # "Hello from the test upstream." in o200k_base
ROUTED = "house-model"
# (model, fast path on) per way of reaching the provider; "routed" calls the public name with one deployment.
PATHS = {
    "fast": {"chat": ("gpt-4o-mini", True), "responses": ("gpt-4o-mini", True), "messages": ("claude-haiku-4-5", True)},
    "litellm": {
        "chat": ("gpt-4o-mini", False),
        "responses": ("gpt-4o-mini", False),
        "messages": ("claude-haiku-4-5", False),
    },
    "cross": {
        "chat": ("claude-haiku-4-5", True),
        "responses": ("claude-haiku-4-5", True),
        "messages": ("gpt-4o-mini", True),
    },
    "routed": {"chat": (ROUTED, True), "responses": (ROUTED, True), "messages": (ROUTED, True)},
}


@pytest.fixture
def call(gateway, make_customer, upstream, settings):
    """Posts one call on a path and returns (response, its usage row, the customer)."""

    def post(route, path, stream, budget=Decimal("10"), **extra):
        model, fast = PATHS[path][route]
        settings.GATEWAY_FAST_PATH = fast
        for priced in ("gpt-4o-mini", "claude-haiku-4-5"):
            set_price(priced)
        if path == "routed":
            deployment_create(public_name=ROUTED, provider="openai", upstream_model="gpt-4o-mini")
        customer = make_customer(budget=budget)
        url, body = BODIES[route]
        headers = {"Authorization": f"Bearer {customer.key}"}
        payload = {"model": model, **body, "stream": stream, **extra}
        with httpx.stream("POST", gateway.url + url, json=payload, headers=headers, timeout=60) as response:
            response.read()
        return response, gateway.usage(response.headers["x-request-id"]), customer

    return post


def settled(customer):
    """The hold is gone, the spend is the row's, and nothing waits in the spool or the dead-letter file."""
    account = customer.refresh()
    rows = UsageLog.objects.filter(account=account)
    assert account.reserved_usd == 0 and not Hold.objects.filter(account=account).exists()
    assert account.spent_usd == sum((row.cost_usd for row in rows), Decimal(0))
    assert writer_state().down_since is None
    assert spool_depth() == 0 and not (Path(django_settings.SPOOL_DIR) / "dead.jsonl").exists()
    return account


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("route", list(BODIES))
def test_an_answer_without_usage_is_billed_from_an_estimate(call, upstream, route, path, stream):
    upstream.set(usage_mode="none")
    response, row, customer = call(route, path, stream)
    assert response.status_code == row.status_code == 200
    assert row.input_tokens > 0 and row.output_tokens > 0
    assert row.cost_usd == expected_cost(input=row.input_tokens, output=row.output_tokens) > 0
    # LiteLLM's whole call path counts a stream's missing usage itself (its count, not flagged); translated
    # calls (proxy.translated) are billed from the provider's own report, so estimated here like the fast path.
    litellm_stream = stream and path == "litellm"
    if not litellm_stream:
        assert row.usage_estimated
        assert row.output_tokens == ANSWER_TOKENS
    settled(customer)


@pytest.mark.parametrize("path", ["fast", "litellm", "cross"])
def test_an_anthropic_stream_whose_message_delta_has_no_usage_is_billed_its_output(call, upstream, path):
    upstream.set(usage_mode="no_delta", input_tokens=40, output_tokens=7, text="Hello from the test upstream. " * 4)
    route = "chat" if path == "cross" else "messages"
    model_path = "fast" if path == "cross" else path
    response, row, customer = call(route, "cross" if path == "cross" else model_path, True)
    assert response.status_code == 200
    assert row.input_tokens == 40  # message_start's count is kept
    assert row.output_tokens > 10  # the answer's text, never message_start's placeholder of 1
    assert row.usage_estimated
    assert row.cost_usd == expected_cost(input=40, output=row.output_tokens)
    settled(customer)


# Counts past any model's limits (the 1e30, 1e17 and 1e15 tokens), as floats and as integers.
ABSURD = [1e30, 1e17, 1e15, 10**30, 10**17, 10**15]


@pytest.mark.parametrize("count", ABSURD, ids=[repr(c) for c in ABSURD])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("route", list(BODIES))
def test_absurd_usage_is_capped_and_costs_at_most_the_hold(call, upstream, route, stream, count):
    upstream.set(input_tokens=count, output_tokens=count, cache_read_tokens=0)
    response, row, customer = call(route, "fast", stream, budget=Decimal("0.05"), **{CAP[route]: 100})
    assert response.status_code == 200, response.text
    assert row.status_code == 200 and row.usage_estimated
    # Past any model's limits: the largest window LiteLLM knows, the largest output a call may have.
    assert row.input_tokens + row.cache_read_tokens + row.cache_write_tokens == largest_context_window()
    assert row.output_tokens == 1_000_000
    account = settled(customer)
    assert 0 < row.cost_usd == account.spent_usd <= account.budget_usd  # at most what was held for it


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_absurd_usage_on_an_account_without_a_budget_costs_the_capped_counts(call, upstream, stream):
    upstream.set(input_tokens=1e30, output_tokens=10**30)
    response, row, customer = call("chat", "fast", stream, budget=None)
    assert response.status_code == 200
    assert (row.input_tokens, row.output_tokens) == (largest_context_window(), 1_000_000)
    assert row.cost_usd == expected_cost(input=largest_context_window(), output=1_000_000)
    settled(customer)


@pytest.mark.parametrize("route", list(BODIES))
def test_large_counts_within_any_models_limits_are_believed(call, upstream, route):
    upstream.set(input_tokens=5_000_000, output_tokens=150_000)
    response, row, _customer = call(route, "fast", False, budget=None)
    assert response.status_code == 200
    assert (row.input_tokens, row.output_tokens, row.usage_estimated) == (5_000_000, 150_000, False)
    assert row.cost_usd == expected_cost(input=5_000_000, output=150_000)


@pytest.mark.parametrize("count", [1e30, 10**30], ids=["float", "int"])
@pytest.mark.parametrize("path", ["litellm", "cross", "routed"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("route", list(BODIES))
def test_absurd_usage_never_breaks_a_call_on_any_path(call, upstream, route, path, stream, count):
    upstream.set(input_tokens=count, output_tokens=count)
    response, row, customer = call(route, path, stream, budget=Decimal("1"))
    assert response.status_code in (200, 502), response.text  # LiteLLM may refuse to read the answer: never a 500
    if response.status_code == 200:
        assert row.input_tokens <= largest_context_window() and row.output_tokens <= 1_000_000
        assert row.cost_usd > 0
    account = settled(customer)
    assert account.spent_usd <= account.budget_usd


@pytest.mark.parametrize("path", ["fast", "litellm"])
def test_an_interim_usage_chunk_is_not_what_a_chat_stream_is_billed(call, upstream, path):
    upstream.set(usage_mode="interim", input_tokens=50, output_tokens=900)
    response, row, customer = call("chat", path, True)
    assert response.status_code == 200
    assert (row.input_tokens, row.output_tokens) == (50, 900)
    assert not row.usage_estimated
    settled(customer)


def test_a_budget_is_never_overspent_by_an_absurd_report(call, upstream):
    upstream.set(input_tokens=1e15, output_tokens=1e15)
    response, _row, customer = call("chat", "fast", False, budget=Decimal("0.02"), max_tokens=10)
    assert response.status_code == 200
    account = settled(customer)
    # Its cost is at most its hold: an absurd report cannot take the account past its budget.
    assert 0 < account.spent_usd <= account.budget_usd


# The rules themselves, on numbers given here (no database, no gateway).


@pytest.mark.engine_independent
def test_an_input_past_its_bound_is_scaled_down_part_by_part():
    from proxy.usage_normalise import Usage
    from proxy.usage_rules import Bounds, usage_capped

    usage = Usage(input_tokens=3000, cache_read_tokens=1000, output_tokens=50, reasoning_tokens=80)
    capped = usage_capped(usage, Bounds(window=2000, output=40, model_window=2000))
    assert (capped.input_tokens, capped.cache_read_tokens) == (1500, 500)
    assert (capped.output_tokens, capped.reasoning_tokens) == (40, 40)
    assert capped.estimated
    within = Bounds(window=20, output=5, model_window=20)
    assert usage_capped(Usage(input_tokens=10, output_tokens=5), within).estimated is False


@pytest.mark.engine_independent
@pytest.mark.parametrize(
    ("output", "answer", "missing"),
    [
        (1, "Hello from the test upstream. " * 3, True),  # a message_start placeholder beside a real answer
        (1, "Hello from the test upstream.", False),  # short enough to be believed
        (2, "Hello from the test upstream. " * 3, False),  # only 0 and 1 are checked
        (0, "Hi", True),
        (0, "", False),
    ],
)
def test_an_output_count_too_small_for_its_text_is_not_believed(output, answer, missing):
    from proxy.usage_normalise import Usage
    from proxy.usage_rules import output_missing

    assert output_missing(Usage(output_tokens=output), answer) is missing


@pytest.mark.engine_independent
def test_the_text_of_each_routes_answer_is_what_an_estimate_counts():
    from proxy.request_params import Route
    from proxy.usage_rules import answer_text

    chat = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    ]}, "finish_reason": "stop"}]}  # fmt: skip
    assert answer_text(Route.CHAT, chat) == 'Hif{"a":1}'
    responses = {"output": [{"type": "message", "id": "m", "status": "completed", "content": [
        {"type": "output_text", "text": "Hi", "annotations": []}
    ]}]}  # fmt: skip
    assert answer_text(Route.RESPONSES, responses) == "Hi"
    messages = {
        "content": [{"type": "thinking", "thinking": "Hm", "signature": "x" * 99}, {"type": "text", "text": "Hi"}]
    }
    assert answer_text(Route.MESSAGES, messages) == "HmHi"
