"""A model name the database could not store is a 400 on every route, and its row is still written."""

import httpx
import pytest

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

HELLO = [{"role": "user", "content": "hi"}]
ROUTES = {
    "/v1/chat/completions": {"messages": HELLO},
    "/v1/responses": {"input": "hi"},
    "/v1/messages": {"messages": HELLO, "max_tokens": 5},
}


def error_message(path: str, body: dict) -> str:
    if path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        return body["error"]["message"]
    assert body["error"]["type"] == "invalid_request_error"
    return body["error"]["message"]


@pytest.mark.parametrize("path", list(ROUTES))
@pytest.mark.parametrize("model", ["gpt-4o-mini\x00", "gpt\x00-4o-mini", "claude-haiku-4-5\x1b[31m", "gpt-4o\x7f"])
def test_control_characters_in_the_model_are_refused(gateway, customer, upstream, path, model):
    response = httpx.post(
        f"{gateway.url}{path}",
        json={"model": model, **ROUTES[path]},
        headers={"Authorization": f"Bearer {customer.key}"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert "control characters" in error_message(path, response.json())
    assert upstream.count == 0
    row = gateway.usage(response.headers["x-request-id"])
    assert row.status_code == 400 and "\x00" not in row.model
