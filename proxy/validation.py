"""Reads a proxy request body: JSON object or a 400; the parameters are checked by request_params."""

from collections.abc import Mapping
from typing import Any

import orjson

from core.errors import InvalidRequest
from core.parsers import MAX_DEPTH, nested_deeper_than
from proxy.request_params import Route, validate_body

# MAX_DEPTH: no real request nests this deep (OpenAI allows 10 levels in a tool schema); LiteLLM walks
# bodies recursively and fails on a few hundred levels, which would read as a provider failure.
TOO_DEEP = f"The request body is nested deeper than {MAX_DEPTH} levels."


def parse_body(raw: bytes, route: Route) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error) or "recursion" in str(error):  # orjson's own limit (1024 levels)
            raise InvalidRequest(TOO_DEEP) from None
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if nested_deeper_than(body, MAX_DEPTH):
        raise InvalidRequest(TOO_DEEP)
    validate_body(route, body)
    return body


def requested_output_tokens(body: Mapping[str, Any]) -> int:
    """The largest of the output caps the body sends (0 for none): a provider may honour any one of them."""
    caps = (body.get(name) for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"))
    return max((cap for cap in caps if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0), default=0)
