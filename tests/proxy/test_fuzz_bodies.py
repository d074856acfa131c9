"""Whatever JSON a client sends to a proxy route, the answer is never a 5xx from the gateway."""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.wire  # the route's wire format: its database use is the one call path (pyproject.toml)

ROUTES = {
    "/v1/chat/completions": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "gpt-4o-mini", "input": "hi"},
    "/v1/messages": {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
# A valid body with one field replaced, removed or added: close enough to pass the first checks.
mutations = st.tuples(
    st.sampled_from(
        [
            "model",
            "messages",
            "input",
            "max_tokens",
            "stream",
            "temperature",
            "tools",
            "extra",
            "0.role",
            "0.content",
            "0.name",
            "0.tool_calls",
        ]
    ),
    st.one_of(st.just("<delete>"), json_values),
)


def mutate(body: dict, name: str, value: object) -> dict:
    body = {**body}
    if name.startswith("0."):  # a field of the first message (or input item)
        field = "input" if "input" in body else "messages"
        first = {"role": "user", "content": "hi"} if field == "input" else dict(body[field][0])
        target, name = first, name[2:]
        body[field] = [first]
    else:
        target = body
    if value == "<delete>":
        target.pop(name, None)
    else:
        target[name] = value
    return body


@pytest.mark.parametrize("path", list(ROUTES))
def test_mutated_bodies_never_get_a_server_error(gateway, customer, upstream, path):
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(mutation=mutations)
    def check(mutation):
        body = mutate(ROUTES[path], *mutation)
        response = httpx.post(f"{gateway.url}{path}", json=body, headers={"x-api-key": customer.key}, timeout=30)
        assert response.status_code < 500, (body, response.text)
        assert response.headers["x-request-id"]
        if response.status_code >= 400:
            error = response.json()
            assert error["type"] == "error" if path == "/v1/messages" else "error" in error

    check()
    gateway.drain()
