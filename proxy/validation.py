"""Reads a proxy request body: JSON object or a 400; the parameters are checked by request_params."""

from typing import Any

import orjson

from gateway_project.errors import InvalidRequest
from proxy.request_params import Route, validate_body


def parse_body(raw: bytes, route: Route) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    validate_body(route, body)
    return body


def requested_output_tokens(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0
