"""The documented request parameters of each route, and validation of a client's body against them.

Only documented parameters pass: LiteLLM interprets many extra keyword arguments
(`api_base`, `mock_response`, `custom_llm_provider`, `fallbacks`, `litellm_*`,
`extra_headers`, cost overrides ...), so anything not on a route's allowlist is
refused with a 400 naming it. Wrong types of the common parameters are refused too.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Any

from django.conf import settings

from core.errors import InvalidRequest
from core.providers import provider_registry, split_model


class Route(StrEnum):
    CHAT = "chat.completions"
    RESPONSES = "responses"
    MESSAGES = "messages"


# `metadata` is left out of chat on purpose: acompletion treats it as LiteLLM's own
# logging metadata rather than sending it to the provider.
CHAT_PARAMS = frozenset(
    {
        "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
        "logprobs", "max_completion_tokens", "max_tokens", "modalities", "n", "parallel_tool_calls",
        "prediction", "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format",
        "safety_identifier", "seed", "service_tier", "stop", "store", "stream", "stream_options",
        "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
        "web_search_options",
    }
)  # fmt: skip

RESPONSES_PARAMS = frozenset(
    {
        "model", "input", "background", "conversation", "include", "instructions", "max_output_tokens",
        "max_tool_calls", "metadata", "parallel_tool_calls", "previous_response_id", "prompt",
        "prompt_cache_key", "reasoning", "safety_identifier", "service_tier", "store", "stream",
        "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p",
        "truncation", "user",
    }
)  # fmt: skip

# `mcp_servers` and `container` are left out: LiteLLM can act on them itself.
MESSAGES_PARAMS = frozenset(
    {
        "model", "messages", "max_tokens", "context_management", "metadata", "service_tier",
        "stop_sequences", "stream", "system", "temperature", "thinking", "tool_choice", "tools",
        "top_k", "top_p",
    }
)  # fmt: skip

ALLOWED = {Route.CHAT: CHAT_PARAMS, Route.RESPONSES: RESPONSES_PARAMS, Route.MESSAGES: MESSAGES_PARAMS}
REQUIRED = {
    Route.CHAT: ("model", "messages"),
    Route.RESPONSES: ("model", "input"),
    Route.MESSAGES: ("model", "messages", "max_tokens"),
}

NUMBER = (int, float)
# Expected JSON types of the common parameters (bool is excluded from numbers separately).
TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "messages": (list,),
    "input": (str, list),
    "instructions": (str,),
    "system": (str, list),
    "stream": (bool,),
    "stream_options": (dict,),
    "temperature": NUMBER,
    "top_p": NUMBER,
    "top_k": (int,),
    "frequency_penalty": NUMBER,
    "presence_penalty": NUMBER,
    "n": (int,),
    "seed": (int,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "max_output_tokens": (int,),
    "stop": (str, list),
    "stop_sequences": (list,),
    "tools": (list,),
    "metadata": (dict,),
    "user": (str,),
    "logit_bias": (dict,),
    "response_format": (dict,),
    "text": (dict,),
    "reasoning": (dict,),
    "thinking": (dict,),
    "previous_response_id": (str,),
    "background": (bool,),
    "service_tier": (str,),
    "context_management": (dict,),
}
# Keys LiteLLM reads from a call's `metadata` as its own (routing, logging, guardrails), some
# expecting objects: a client's string there makes LiteLLM fail or log a traceback per request.
LITELLM_METADATA = frozenset(
    {
        "model_info", "requester_metadata", "hidden_params", "headers", "tags", "guardrails",
        "applied_guardrails", "standard_logging_guardrail_information", "model_group", "model_group_size",
        "deployment", "raw_request", "previous_models", "endpoint", "caching_groups", "api_base",
        "base_model", "prompt_id", "trace_id", "session_id", "routing_decision", "requester_ip_address",
        "error_information", "client_disconnected", "batch_ignore_default_logging", "cold_storage_object_key",
        "user_agent",
    }
)  # fmt: skip
LITELLM_METADATA_PREFIXES = ("litellm", "user_api_key", "_")
# LiteLLM prefixes whose Responses API is the provider's own; for the others LiteLLM bridges
# through chat completions and would look `previous_response_id` up in a store it does not have.
NATIVE_RESPONSES = frozenset({"openai", "azure"})
STREAM_OPTIONS = frozenset({"include_usage", "include_obfuscation"})
TYPE_NAMES = {
    str: "a string",
    list: "an array",
    dict: "an object",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
}


def validate_body(route: Route, body: dict[str, Any]) -> None:
    """Raise InvalidRequest for an unknown parameter, a missing required one or a wrong type."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for name in body:
        if name not in ALLOWED[route]:
            raise InvalidRequest(f"Unrecognized request argument supplied: '{name}'.")
    for name in REQUIRED[route]:
        if body.get(name) is None:
            raise InvalidRequest(f"Missing required parameter: '{name}'.")
    for name, value in body.items():
        check_type(name, value)
    check_details(route, body)


def check_type(name: str, value: Any) -> None:
    expected = TYPES.get(name)
    if expected is None or value is None:
        return
    # bool is a subclass of int in Python but not a number in JSON.
    if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        names = " or ".join(dict.fromkeys(TYPE_NAMES[t] for t in expected))
        raise InvalidRequest(f"'{name}' must be {names.replace('an integer or a number', 'a number')}.")


def check_details(route: Route, body: dict[str, Any]) -> None:
    if not body["model"].strip():
        raise InvalidRequest("'model' must not be empty.")
    # The name is stored in the usage row, and PostgreSQL refuses a NUL in text.
    if any(unicodedata.category(char) == "Cc" for char in body["model"]):
        raise InvalidRequest("'model' must not contain control characters.")
    if route is not Route.RESPONSES and not body["messages"]:
        raise InvalidRequest("'messages' must not be empty.")
    check_items(route, body)
    options = body.get("stream_options")
    if options:
        unknown = sorted(set(options) - STREAM_OPTIONS)
        if unknown:
            raise InvalidRequest(f"Unrecognized stream option: '{unknown[0]}'.")
        if not body.get("stream"):
            raise InvalidRequest("'stream_options' is only allowed when 'stream' is true.")
    metadata = body.get("metadata")
    if metadata and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise InvalidRequest("'metadata' must map strings to strings.")
    if route is Route.MESSAGES and metadata and set(metadata) - {"user_id"}:
        raise InvalidRequest("'metadata' only accepts 'user_id'.")
    for key in metadata or ():
        if key in LITELLM_METADATA or key.startswith(LITELLM_METADATA_PREFIXES):
            raise InvalidRequest(f"'metadata' key '{key}' is reserved by the gateway.")
    if route is Route.RESPONSES and body.get("previous_response_id") is not None:
        check_previous_response(body["model"])
    if route is Route.RESPONSES and body.get("background"):
        raise InvalidRequest(
            "'background': true is not supported: the provider would do the work after answering, where this "
            "gateway cannot meter or bill it. Send the request without 'background' (stream it if it is long)."
        )
    if route is Route.MESSAGES and body.get("context_management") is not None:
        check_context_management(body["context_management"])
    check_bounds(body)


OUTPUT_LIMITS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
MAX_CHOICES = 128  # OpenAI's own ceiling for `n`


def check_bounds(body: dict[str, Any]) -> None:
    """Output ceilings and choice counts within bounds: the budget hold multiplies them, so they must be sane."""
    ceiling = settings.MAX_OUTPUT_TOKENS
    for name in OUTPUT_LIMITS:
        value = body.get(name)
        if value is not None and not 1 <= value <= ceiling:
            raise InvalidRequest(f"'{name}' must be between 1 and {ceiling}.")
    choices = body.get("n")
    if choices is not None and not 1 <= choices <= MAX_CHOICES:
        raise InvalidRequest(f"'n' must be between 1 and {MAX_CHOICES}.")


def check_context_management(value: dict[str, Any]) -> None:
    """Anthropic's context editing: LiteLLM reads `edits` as a list of objects and fails on anything else."""
    edits = value.get("edits", [])
    if not isinstance(edits, list) or not all(isinstance(edit, dict) for edit in edits):
        raise InvalidRequest("'context_management.edits' must be an array of objects.")
    for index, edit in enumerate(edits):
        if not isinstance(edit.get("type"), str):
            raise InvalidRequest(f"'context_management.edits[{index}].type' must be a string.")


def check_previous_response(model: str) -> None:
    registry = provider_registry()
    name, _ = split_model(model, registry)
    provider = registry.get(name) if name else None
    # An unknown or unconfigured model is left to admission's 404.
    if provider is not None and provider.litellm_prefix not in NATIVE_RESPONSES:
        raise InvalidRequest(
            f"'previous_response_id' needs an OpenAI model; '{model}' is served by {provider.name}. "
            "Send the earlier turns in 'input' instead."
        )


ROLES = {
    Route.CHAT: frozenset({"system", "developer", "user", "assistant", "tool", "function"}),
    Route.MESSAGES: frozenset({"user", "assistant"}),
}


def check_items(route: Route, body: dict[str, Any]) -> None:
    """The shape of each message (and input item, tool): LiteLLM turns a malformed one into an
    exception it reports as a provider failure, so a client's mistake must be caught here."""
    items = body.get("input") if route is Route.RESPONSES else body["messages"]
    field = "input" if route is Route.RESPONSES else "messages"
    for index, item in enumerate(items if isinstance(items, list) else []):
        where = f"'{field}[{index}]'"
        if route is Route.RESPONSES:
            if not isinstance(item, dict):
                raise InvalidRequest(f"{where} must be an object.")
            continue
        role = item.get("role") if isinstance(item, dict) else None
        if not isinstance(role, str) or role not in ROLES[route]:
            raise InvalidRequest(f"{where} must be an object with a 'role' of {', '.join(sorted(ROLES[route]))}.")
        content = item.get("content")
        if not (content is None or isinstance(content, str) or (isinstance(content, list) and _objects(content))):
            raise InvalidRequest(f"{where}'s 'content' must be a string or an array of objects.")
    for index, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"'tools[{index}]' must be an object.")


def _objects(values: list[Any]) -> bool:
    return all(isinstance(value, dict) for value in values)
