"""LiteLLM itself, imported once with its side effects off, and the small stand-ins its transformations need.

Every function of this package calls `litellm_module()` before importing any LiteLLM module: a first
import without it downloads LiteLLM's cost map and beta-header config from GitHub.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@functools.cache
def litellm_module() -> ModuleType:
    """LiteLLM, imported once on first use with its network and banner side effects off."""
    # Without this the import downloads the model cost map from GitHub.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    # ...and without this the first Anthropic call fetches a beta-headers config from GitHub.
    os.environ["LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS"] = "True"
    import litellm

    litellm.suppress_debug_info = True  # else a banner is printed on every failure
    # 1.106.2 has no telemetry switch. The one callback registered only marks a call as sent (`Attempt`).
    if contact_hook() not in litellm.input_callback:
        litellm.input_callback.append(contact_hook())
    return litellm


@dataclass
class Attempt:
    """One forwarding attempt on LiteLLM's own call path: whether LiteLLM got as far as sending it.

    A failure before that is the request's own (a shape LiteLLM cannot translate), never the provider's:
    a 400 for the client, and no mark against a deployment's health (proxy.routed).
    """

    contacted: bool = False


# The attempt being forwarded in this context; LiteLLM's helper threads and tasks copy the context, so they see it.
ATTEMPT: ContextVar[Attempt | None] = ContextVar("gateway_forward_attempt", default=None)


@functools.cache
def contact_hook() -> Any:
    """A LiteLLM input callback: LiteLLM calls `log_pre_api_call` just before its request to the provider."""
    from litellm.integrations.custom_logger import CustomLogger

    class ContactHook(CustomLogger):  # type: ignore[misc]
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            attempt = ATTEMPT.get()
            if attempt is not None:
                attempt.contacted = True

    return ContactHook()


class QuietLogging:
    """What LiteLLM's transformations read of a call's logging object, and nothing that logs.

    `transform_response` calls `post_call`; Gemini's stream parser reads `optional_params` (to tell a
    function call); the stream builders read `model_call_details`. LiteLLM's real logging object runs
    callbacks, cost lookups and a background worker per call, which is the cost this path avoids.
    tests/proxy/test_translation_pins.py fails loudly if a transformation starts to read anything else.
    """

    def __init__(self, optional_params: Mapping[str, Any] | None = None) -> None:
        self.optional_params = dict(optional_params or {})
        self.model_call_details: dict[str, Any] = {}

    def pre_call(self, *args: Any, **kwargs: Any) -> None:
        return None

    def post_call(self, *args: Any, **kwargs: Any) -> None:
        return None

    def response_cost_calculator(self, *args: Any, **kwargs: Any) -> None:
        return None  # our prices come from the database


def quiet(optional_params: Mapping[str, Any] | None = None) -> Any:
    """A `QuietLogging`, typed loosely: LiteLLM's signatures name its own logging class."""
    return QuietLogging(optional_params)


def http_response(status: int, content: bytes, headers: Mapping[str, str] | None = None) -> Any:
    """An `httpx.Response` holding bytes read over our transport: what LiteLLM's `transform_response` reads."""
    import httpx

    return httpx.Response(status, content=content, headers=dict(headers or {}), request=REQUEST())


@functools.cache
def REQUEST() -> Any:
    import httpx

    return httpx.Request("POST", "http://gateway.invalid/")


def as_dict(result: Any) -> dict[str, Any]:
    """A JSON-serialisable dict of a LiteLLM result (a pydantic model or a plain dict)."""
    if hasattr(result, "model_dump"):
        dumped = result.model_dump(mode="json", exclude_none=True, warnings=False)
    else:
        dumped = json.loads(json.dumps(result, default=str))
    if not isinstance(dumped, dict):
        raise TypeError("not an object")
    return dumped
