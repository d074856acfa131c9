"""Parses and validates proxy request bodies; every problem is a 400 in the route's format."""

from typing import Any

import orjson

from gateway_project.errors import InvalidRequest
from proxy.forwarding import Route

# Fields each route requires, with the JSON types they must have.
_REQUIRED: dict[Route, dict[str, tuple[type, ...]]] = {
    Route.CHAT: {"model": (str,), "messages": (list,)},
    Route.RESPONSES: {"model": (str,), "input": (str, list)},
    Route.MESSAGES: {"model": (str,), "messages": (list,), "max_tokens": (int,)},
}
_TYPE_NAMES = {str: "a string", list: "an array", int: "an integer", bool: "a boolean", dict: "an object"}
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "stream": (bool,),
    "stream_options": (dict,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "max_output_tokens": (int,),
}


def _describe(types: tuple[type, ...]) -> str:
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def _check_type(name: str, value: Any, types: tuple[type, ...]) -> None:
    # bool is an int subclass in Python, never in JSON.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise InvalidRequest(f"`{name}` must be {_describe(types)}.")


def parse_body(raw: bytes, route: Route) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for name, types in _REQUIRED[route].items():
        if name not in body or body[name] is None:
            raise InvalidRequest(f"`{name}` is required.")
        _check_type(name, body[name], types)
    for name, types in _OPTIONAL.items():
        if body.get(name) is not None:
            _check_type(name, body[name], types)
    if not body["model"].strip():
        raise InvalidRequest("`model` must not be empty.")
    if route is not Route.RESPONSES and not body["messages"]:
        raise InvalidRequest("`messages` must not be empty.")
    return body


def requested_output_tokens(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0
