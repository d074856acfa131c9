"""OpenAI's Chat Completions and Responses wire formats, and Azure OpenAI's deployment paths around them.

OpenAI counts cached reads inside `prompt_tokens` / `input_tokens` (`cached_tokens` = cache reads)
and has no cache-write field: cache writes are billed as ordinary input there.

Refused as the providers document it (each with the provider's own error body):
- no `Authorization: Bearer` key (OpenAI, the custom provider) or `api-key` header (Azure): 401;
- Azure without the `api-version` query parameter: 404 "Resource not found";
- a missing `model` (not on Azure, where the deployment is in the path), or `messages` / `input` missing;
- `stream_options` on a request that does not stream;
- `max_tokens` on the o-series and gpt-5 chat models (they take `max_completion_tokens`);
- Responses `include: ["reasoning.encrypted_content"]` or `reasoning` for a model without reasoning
  ("Encrypted content is not supported with this model.", param `include`).
Azure's content filter: `safety_block="prompt"` is its 400 `content_filter` error, `"response"` a 200
whose choice finished with `content_filter`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from starlette.responses import JSONResponse, Response

from tests.upstream.core import (
    PAUSE,
    Call,
    Switches,
    is_text,
    openai_usage_numbers,
    require,
    respond,
    split_text,
    sse,
    with_tier,
)

ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
# Models with reasoning: the only ones whose Responses requests may ask for reasoning or its encrypted content.
REASONING_MODELS = ("o1", "o3", "o4", "gpt-5")
NOT_REASONING = ("gpt-5-chat",)
CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def reasons(model: str) -> bool:
    return model.startswith(REASONING_MODELS) and not model.startswith(NOT_REASONING)


def error(status: int, message: str | None = None, *, param: str | None = None, code: Any = None) -> JSONResponse:
    kind, default_code = ERROR_TYPES.get(status, ("server_error", None))
    body = {"message": message or f"Test upstream error {status}.", "type": kind, "param": param}
    return JSONResponse({"error": {**body, "code": code if code is not None else default_code}}, status)


def azure_error(status: int, message: str | None = None) -> JSONResponse:
    """Azure's own errors carry the status as a string code."""
    return JSONResponse(
        {"error": {"code": str(status), "message": message or f"Test upstream error {status}."}}, status
    )


def context_error() -> JSONResponse:
    message = "This model's maximum context length is 128000 tokens. However, your messages resulted in 250000 tokens."
    return error(400, message, param="messages", code="context_length_exceeded")


def content_filter_error() -> JSONResponse:
    result = {"hate": {"filtered": True, "severity": "high"}, "violence": {"filtered": False, "severity": "safe"}}
    body = {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": result},
    }
    return JSONResponse({"error": body}, 400)


# --- checks ------------------------------------------------------------------------------------


def check_auth(call: Call, azure: bool) -> None:
    if azure:
        require(is_text(call.headers.get("api-key")), lambda: azure_error(401, "Access denied due to invalid key."))
        require(is_text(call.query.get("api-version")), lambda: azure_error(404, "Resource not found"))
        return
    bearer = call.headers.get("authorization", "")
    require(bearer.startswith("Bearer ") and len(bearer) > 7, lambda: error(401, "You didn't provide an API key."))


def check_chat(call: Call, azure: bool) -> None:
    body = call.body
    require(
        azure or is_text(body.get("model")), lambda: error(400, "you must provide a model parameter", param="model")
    )
    messages = body.get("messages")
    require(isinstance(messages, list) and bool(messages), lambda: error(400, "messages is required", param="messages"))
    roles_ok = all(isinstance(m, dict) and m.get("role") in CHAT_ROLES for m in messages)
    require(roles_ok, lambda: error(400, "Invalid value for 'role'.", param="messages"))
    streams = body.get("stream") is True
    require(
        streams or body.get("stream_options") is None,
        lambda: error(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled."),
    )
    model = str(body.get("model", ""))
    require(
        not (reasons(model) and "max_tokens" in body),
        lambda: error(
            400, "Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead.", param="max_tokens"
        ),
    )


def check_responses(call: Call) -> None:
    body = call.body
    model = body.get("model")
    require(is_text(model), lambda: error(400, "Missing required parameter: 'model'.", param="model"))
    require("input" in body, lambda: error(400, "Missing required parameter: 'input'.", param="input"))
    include = body.get("include") or []
    asks_encrypted = isinstance(include, list) and "reasoning.encrypted_content" in include
    require(
        not asks_encrypted or reasons(str(model)),
        lambda: error(400, "Encrypted content is not supported with this model.", param="include"),
    )
    require(
        body.get("reasoning") is None or reasons(str(model)),
        lambda: error(
            400, "Unsupported parameter: 'reasoning.effort' is not supported with this model.", param="reasoning.effort"
        ),
    )
    streams = body.get("stream") is True
    require(streams or body.get("stream_options") is None, lambda: error(400, "stream_options needs stream"))


# --- Chat Completions --------------------------------------------------------------------------


def chat_usage(s: Switches) -> dict[str, Any]:
    prompt, completion = openai_usage_numbers(s)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": s.cache_read_tokens, "audio_tokens": s.audio_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": s.reasoning_tokens, "audio_tokens": s.audio_output_tokens},
    }


def chat_json(s: Switches, model: str, finish: str = "stop") -> dict[str, Any]:
    text = None if finish == "content_filter" else s.text
    answer = {
        "id": "chatcmpl-upstream",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": chat_usage(s),
    }
    if s.usage_mode == "none":
        del answer["usage"]
    return with_tier(answer, s)


def chat_frames(s: Switches, model: str, include_usage: bool, finish: str = "stop") -> tuple[list[bytes], list[int]]:
    base = {"id": "chatcmpl-upstream", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    base = with_tier(base, s)
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]})

    frames = [chunk({"role": "assistant", "content": ""})]
    content_at = []
    for piece in split_text(s.text, s.chunks) if finish != "content_filter" else []:
        content_at.append(len(frames))
        frames.append(chunk({"content": piece}))
    if include_usage and s.usage_mode == "interim":
        frames.append(sse({**base, "choices": [], "usage": chat_usage(dataclasses.replace(s, output_tokens=1))}))
    frames.append(chunk({}, finish))
    if include_usage and s.usage_mode == "interim":
        # The real count comes a moment after the finish_reason, in a read of its own (as a provider may
        # send it): the gateway must wait for it, not settle on the interim one.
        frames.append(PAUSE)
    if include_usage and s.usage_mode != "none":
        frames.append(sse({**base, "choices": [], "usage": chat_usage(s)}))
    frames.append(sse("[DONE]"))
    return frames, content_at


# --- Responses ---------------------------------------------------------------------------------


def responses_usage(s: Switches) -> dict[str, Any]:
    prompt, completion = openai_usage_numbers(s)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": s.cache_read_tokens},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": s.reasoning_tokens},
        "total_tokens": prompt + completion,
    }


def output_message(text: str, status: str) -> dict[str, Any]:
    content = (
        [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status == "completed" else []
    )
    return {"id": "msg_upstream", "type": "message", "status": status, "role": "assistant", "content": content}


def responses_json(s: Switches, model: str, status: str = "completed") -> dict[str, Any]:
    done = status == "completed"
    answer = {
        "id": "resp_upstream",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [output_message(s.text, status)] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": responses_usage(s) if done and s.usage_mode != "none" else None,
        "user": None,
        "metadata": {},
    }
    return with_tier(answer, s)


def responses_frames(s: Switches, model: str) -> tuple[list[bytes], list[int]]:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": responses_json(s, model, "in_progress")},
        {"type": "response.in_progress", "response": responses_json(s, model, "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": output_message("", "in_progress")},
    ]
    where = {"item_id": "msg_upstream", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    events.append({"type": "response.content_part.added", **where, "part": part})
    content_at = []
    for piece in split_text(s.text, s.chunks):
        content_at.append(len(events))
        events.append({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
    events += [
        {"type": "response.output_text.done", **where, "text": s.text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": {**part, "text": s.text}},
        {"type": "response.output_item.done", "output_index": 0, "item": output_message(s.text, "completed")},
        {"type": "response.completed", "response": responses_json(s, model)},
    ]
    frames = [sse({**event, "sequence_number": n}, event["type"]) for n, event in enumerate(events)]
    return frames, content_at


# --- replies -------------------------------------------------------------------------------------


def azure_deployment(path: str) -> str | None:
    """The deployment of an Azure chat path (`/openai/deployments/<name>/chat/completions`)."""
    _, sep, rest = path.partition("/openai/deployments/")
    return rest.split("/", 1)[0] if sep else None


def reply_chat(call: Call, azure: bool) -> Response:
    check_auth(call, azure)
    check_chat(call, azure)
    s, body = call.switches, call.body
    if azure and s.safety_block == "prompt":
        return content_filter_error()
    finish = "content_filter" if azure and s.safety_block == "response" else "stop"
    model = str(body.get("model") or azure_deployment(call.path) or "")
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return respond(call, lambda: chat_json(s, model, finish), lambda: chat_frames(s, model, include_usage, finish))


def reply_responses(call: Call, azure: bool) -> Response:
    check_auth(call, azure)
    check_responses(call)
    s, model = call.switches, str(call.body["model"])
    if call.body.get("background"):
        # OpenAI's background mode: answered at once, the work (and its usage) comes later.
        return JSONResponse({**responses_json(s, model, "queued"), "background": True})
    return respond(call, lambda: responses_json(s, model), lambda: responses_frames(s, model))
