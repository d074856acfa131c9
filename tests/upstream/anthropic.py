"""Anthropic's Messages wire format.

`input_tokens` EXCLUDES `cache_read_input_tokens` and `cache_creation_input_tokens`; there is no
separate reasoning field (thinking tokens are inside `output_tokens`).

Refused as Anthropic documents it: no key (`x-api-key`, or a bearer token as the SDK 2.x sends it: 401
authentication_error), no
`anthropic-version` header, a missing `model` / `max_tokens` / `messages`, a message role other
than user or assistant, and any top-level field the Messages API does not take ("Extra inputs are
not permitted").
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from tests.upstream.core import Call, Switches, is_text, require, respond, split_text, sse, with_tier

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature",
        "top_k", "top_p", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
        "context_management", "output_config", "output_format", "inference_geo",
    }
)  # fmt: skip


def error(status: int, message: str | None = None) -> JSONResponse:
    kind = ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": message or f"Test upstream error {status}."}}
    return JSONResponse(body, status)


def context_error() -> JSONResponse:
    return error(400, "prompt is too long: 250000 tokens > 200000 maximum")


def check(call: Call) -> None:
    headers, body = call.headers, call.body
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    require(is_text(headers.get("x-api-key")) or is_text(bearer), lambda: error(401, "x-api-key header is required"))
    require(is_text(headers.get("anthropic-version")), lambda: error(400, "anthropic-version: header is required"))
    extra = sorted(set(body) - FIELDS)
    require(not extra, lambda: error(400, f"{extra[0] if extra else ''}: Extra inputs are not permitted"))
    require(is_text(body.get("model")), lambda: error(400, "model: Field required"))
    max_tokens = body.get("max_tokens")
    require(isinstance(max_tokens, int) and max_tokens >= 1, lambda: error(400, "max_tokens: Field required"))
    messages = body.get("messages")
    require(isinstance(messages, list) and bool(messages), lambda: error(400, "messages: Field required"))
    roles_ok = all(isinstance(m, dict) and m.get("role") in ("user", "assistant") for m in messages)
    require(
        roles_ok, lambda: error(400, "messages: Input tag found using 'role' does not match any of the expected tags")
    )


def usage(s: Switches) -> dict[str, Any]:
    found: dict[str, Any] = {
        "input_tokens": s.input_tokens,
        "cache_creation_input_tokens": s.cache_write_tokens,
        "cache_read_input_tokens": s.cache_read_tokens,
        "output_tokens": s.output_tokens,
    }
    if s.cache_write_1h_tokens:
        one_hour = s.cache_write_1h_tokens
        found["cache_creation"] = {
            "ephemeral_5m_input_tokens": s.cache_write_tokens - one_hour,
            "ephemeral_1h_input_tokens": one_hour,
        }
    return with_tier(found, s)


def messages_json(s: Switches, model: str) -> dict[str, Any]:
    answer = {
        "id": "msg_upstream",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": s.text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage(s),
    }
    if s.usage_mode == "none":
        del answer["usage"]
    return answer


def messages_frames(s: Switches, model: str) -> tuple[list[bytes], list[int]]:
    start = {**messages_json(s, model), "content": [], "stop_reason": None}
    start["usage"] = {**usage(s), "output_tokens": 1}
    if s.usage_mode == "none":
        del start["usage"]
    end: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}}
    if s.usage_mode not in ("none", "no_delta"):
        end["usage"] = {"output_tokens": s.output_tokens}
    frames = [
        sse({"type": "message_start", "message": start}, "message_start"),
        sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    content_at = []
    for piece in split_text(s.text, s.chunks):
        content_at.append(len(frames))
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        frames.append(sse(delta, "content_block_delta"))
    frames += [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(end, "message_delta"),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return frames, content_at


def reply(call: Call) -> Response:
    check(call)
    s, model = call.switches, str(call.body["model"])
    return respond(call, lambda: messages_json(s, model), lambda: messages_frames(s, model))
