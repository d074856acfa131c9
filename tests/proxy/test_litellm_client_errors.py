"""Client mistakes LiteLLM itself would trip over are 400s in the route's format, never a 502."""

import json

import httpx
import pytest

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

HELLO = [{"role": "user", "content": "hi"}]


def schema_text(levels: int) -> str:
    """A JSON schema `levels` objects deep, as text: json.dumps itself cannot nest that far."""
    return '{"type":"object","properties":{"a":' * levels + '{"type":"string"}' + "}}" * levels


def tools_body(path: str, model: str, levels: int) -> str:
    schema = schema_text(levels)
    if path == "/v1/chat/completions":
        base, tool = {"messages": HELLO}, f'{{"type":"function","function":{{"name":"f","parameters":{schema}}}}}'
    elif path == "/v1/responses":
        base, tool = {"input": "hi"}, f'{{"type":"function","name":"f","parameters":{schema}}}'
    else:
        base, tool = {"messages": HELLO, "max_tokens": 5}, f'{{"name":"f","input_schema":{schema}}}'
    return json.dumps({"model": model, **base})[:-1] + f',"tools":[{tool}]}}'


def post(gateway, customer, path, content):
    headers = {"Authorization": f"Bearer {customer.key}", "content-type": "application/json"}
    if not isinstance(content, (str, bytes)):
        content = json.dumps(content)
    return httpx.post(f"{gateway.url}{path}", content=content, headers=headers, timeout=60)


def error_of(path, response, status=400):
    assert response.status_code == status, response.text
    body = response.json()
    if path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    else:
        assert body["error"]["type"] == "invalid_request_error"
    return body["error"]["message"]


ROUTES = ["/v1/chat/completions", "/v1/responses", "/v1/messages"]
MODELS = ["gpt-4o-mini", "claude-haiku-4-5"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("path", ROUTES)
def test_a_tool_schema_1000_levels_deep_is_400(gateway, customer, upstream, path, model):
    response = post(gateway, customer, path, tools_body(path, model, 500))  # two JSON levels per schema level
    assert "nested deeper than 64 levels" in error_of(path, response)
    assert upstream.count == 0
    assert gateway.usage(response.headers["x-request-id"]).status_code == 400


@pytest.mark.parametrize("path", ROUTES)
def test_a_body_beyond_the_parsers_depth_is_400(gateway, customer, upstream, path):
    response = post(gateway, customer, path, b'{"model": [' + b"[" * 100_000)
    assert "nested deeper than 64 levels" in error_of(path, response)


@pytest.mark.parametrize("path", ROUTES)
def test_a_tool_schema_of_ordinary_depth_passes(gateway, customer, upstream, path):
    response = post(gateway, customer, path, tools_body(path, "gpt-4o-mini", 12))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("key", ["model_info", "requester_metadata", "tags", "headers", "user_api_key_alias"])
def test_metadata_keys_litellm_reads_are_refused(gateway, customer, upstream, model, key):
    response = post(gateway, customer, "/v1/responses", {"model": model, "input": "hi", "metadata": {key: "x"}})
    assert f"'{key}' is reserved" in error_of("/v1/responses", response)
    assert upstream.count == 0


def test_ordinary_metadata_passes(gateway, customer, upstream):
    body = {"model": "gpt-4o-mini", "input": "hi", "metadata": {"order": "42"}}
    assert post(gateway, customer, "/v1/responses", body).status_code == 200
    assert upstream.last.body["metadata"] == {"order": "42"}


@pytest.mark.parametrize("stream", [False, True])
def test_previous_response_id_on_a_claude_model_is_400(gateway, customer, upstream, stream):
    body = {"model": "claude-haiku-4-5", "input": "hi", "previous_response_id": "resp_123", "stream": stream}
    response = post(gateway, customer, "/v1/responses", body)
    assert "needs an OpenAI model" in error_of("/v1/responses", response)
    assert upstream.count == 0


def test_previous_response_id_on_an_openai_model_is_forwarded(gateway, customer, upstream):
    body = {"model": "gpt-4o-mini", "input": "hi", "previous_response_id": "resp_123"}
    assert post(gateway, customer, "/v1/responses", body).status_code == 200
    assert upstream.last.body["previous_response_id"] == "resp_123"


# Issue 16: shapes LiteLLM raised on before sending anything (answered 502, and counted against deployments).
CONTEXT_MANAGEMENT = [
    "x",
    5,
    0,
    1.5,
    True,
    [],
    ["x"],
    {"edits": "x"},
    {"edits": 5},
    {"edits": None},
    {"edits": {}},
    {"edits": [5]},
    {"edits": ["x"]},
    {"edits": [None]},
    {"edits": [[]]},
    {"edits": [{}]},
    {"edits": [{"type": 5}]},
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("value", CONTEXT_MANAGEMENT, ids=[json.dumps(v) for v in CONTEXT_MANAGEMENT])
def test_context_management_of_a_wrong_shape_is_400(gateway, customer, upstream, value, model):
    body = {"model": model, "messages": HELLO, "max_tokens": 5, "context_management": value}
    response = post(gateway, customer, "/v1/messages", body)
    assert "context_management" in error_of("/v1/messages", response)
    assert upstream.count == 0
    assert gateway.usage(response.headers["x-request-id"]).status_code == 400


def test_a_well_formed_context_management_is_forwarded(gateway, customer, upstream):
    edits = {"edits": [{"type": "clear_tool_uses_20250919", "keep": {"type": "tool_uses", "value": 3}}]}
    body = {"model": "claude-haiku-4-5", "messages": HELLO, "max_tokens": 5, "context_management": edits}
    assert post(gateway, customer, "/v1/messages", body).status_code == 200
    assert upstream.last.body["context_management"] == edits


@pytest.mark.parametrize("stream", [False, True])
def test_anything_litellm_fails_on_before_sending_is_the_clients_400(gateway, customer, upstream, stream):
    # Not caught by our validation: LiteLLM's bridge to the Responses API reads `tool_choice` as an object.
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 5, "tool_choice": "x", "stream": stream}
    response = post(gateway, customer, "/v1/messages", body)
    # LiteLLM's call path and the translated one (proxy.translated) say the same.
    assert "could not be sent to the provider" in error_of("/v1/messages", response)
    assert upstream.count == 0


def test_one_tenants_junk_never_cools_down_a_deployment(gateway, make_customer, upstream, settings):
    from routing.health import health_report
    from routing.services import deployment_create, policy_set

    settings.ROUTING_FAILURES = 2
    first = deployment_create(public_name="house", provider="openai", upstream_model="gpt-4o-mini")
    second = deployment_create(public_name="house", provider="openai", upstream_model="gpt-4o")
    policy_set(public_name="house", attempts=3, fallbacks=["claude-haiku-4-5"])
    junk, other = make_customer(), make_customer()
    bodies = [{"context_management": value} for value in CONTEXT_MANAGEMENT] + [{"tool_choice": "x"}] * 6
    for extra in bodies:
        body = {"model": "house", "messages": HELLO, "max_tokens": 5, **extra}
        error_of("/v1/messages", post(gateway, junk, "/v1/messages", body))
    assert upstream.count == 0
    gateway.drain()
    for deployment in (first, second):
        health = health_report(deployment_id=str(deployment.pk))
        assert health.cooling_until == 0 and not health.recent_errors
    answer = post(gateway, other, "/v1/messages", {"model": "house", "messages": HELLO, "max_tokens": 5})
    assert answer.status_code == 200
    assert upstream.last.body["model"] in ("gpt-4o-mini", "gpt-4o")  # a deployment of the name, not the fallback
