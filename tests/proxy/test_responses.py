"""POST /v1/responses with the official openai SDK, streaming and not, any model."""

import openai
import pytest

from tests.proxy.helpers import expected_cost, set_price

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)


def sdk(gateway, key):
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku-20241022"])
def test_responses_create_works_for_any_model(gateway, customer, upstream, model):
    set_price(model)
    upstream.set(text="Responses API answer", input_tokens=17, output_tokens=8)
    raw = sdk(gateway, customer.key).responses.with_raw_response.create(model=model, input="Say hello")
    response = raw.parse()
    assert response.output_text == "Responses API answer"
    row = gateway.usage(raw.headers["x-request-id"])
    assert (row.input_tokens, row.output_tokens) == (17, 8)
    assert row.cost_usd == expected_cost(input=17, output=8)
    assert row.route == "responses"


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku-20241022"])
def test_responses_stream_ends_with_response_completed(gateway, customer, upstream, model):
    upstream.set(text="Streamed answer", chunks=3)
    events = list(sdk(gateway, customer.key).responses.create(model=model, input="Say hello", stream=True))
    types = [event.type for event in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text == "Streamed answer"


def test_responses_errors_are_in_openai_format(gateway, customer, upstream):
    with pytest.raises(openai.NotFoundError) as raised:
        sdk(gateway, customer.key).responses.create(model="no-such-model", input="x")
    assert raised.value.body["code"] == "model_not_found"
