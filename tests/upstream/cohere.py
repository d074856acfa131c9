"""Cohere's v2 Chat API (`POST /v2/chat`), JSON and its typed SSE stream.

`usage` has two counts: `billed_units` (what Cohere charges: input and output tokens) and
`tokens` (what the model processed, including Cohere's prompt template: more input tokens than
billed). Canonical input and output are rendered as billed units; `tokens.input_tokens` adds
TEMPLATE_TOKENS. Cohere reports no cache or reasoning counts. A stream is `message-start`,
`content-start`, `content-delta`s, `content-end`, then `message-end` carrying `finish_reason` and
`usage`.

Refused as Cohere documents it: no `Authorization: Bearer` key (401), a missing `model` or
`messages`, a role other than system/user/assistant/tool (400), and any field the v2 Chat API does
not take (422 "unknown field: parameter 'X' is not a valid field").
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response

from tests.upstream.core import Call, Switches, is_text, require, respond, split_text

TEMPLATE_TOKENS = 64
FIELDS = frozenset(
    {
        "model", "messages", "stream", "tools", "strict_tools", "documents", "citation_options", "response_format",
        "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed", "frequency_penalty",
        "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking", "priority",
    }
)  # fmt: skip
ROLES = frozenset({"system", "user", "assistant", "tool"})


def error(status: int, message: str | None = None) -> JSONResponse:
    return JSONResponse({"id": "cohere-upstream-error", "message": message or f"Test upstream error {status}."}, status)


def context_error() -> JSONResponse:
    return error(400, "invalid request: too many tokens: the total number of tokens in the prompt cannot exceed 128000")


def check(call: Call) -> None:
    body = call.body
    bearer = call.headers.get("authorization", "")
    require(bearer.startswith("Bearer ") and len(bearer) > 7, lambda: error(401, "no api key supplied"))
    unknown = sorted(set(body) - FIELDS)
    message = "unknown field: parameter '{}' is not a valid field. For proper usage, please refer to https://docs.cohere.com/reference/chat"
    require(not unknown, lambda: error(422, message.format(unknown[0] if unknown else "")))
    require(is_text(body.get("model")), lambda: error(400, "invalid request: model must be specified"))
    messages = body.get("messages")
    require(
        isinstance(messages, list) and bool(messages), lambda: error(400, "invalid request: messages must not be empty")
    )
    roles_ok = all(isinstance(m, dict) and m.get("role") in ROLES for m in messages)
    require(roles_ok, lambda: error(400, "invalid request: role must be one of system, user, assistant, tool"))


def usage(s: Switches) -> dict[str, Any]:
    billed_input = s.input_tokens + s.cache_read_tokens + s.cache_write_tokens
    return {
        "billed_units": {"input_tokens": billed_input, "output_tokens": s.output_tokens},
        "tokens": {"input_tokens": billed_input + TEMPLATE_TOKENS, "output_tokens": s.output_tokens},
    }


def chat_json(s: Switches) -> dict[str, Any]:
    message = {"role": "assistant", "content": [{"type": "text", "text": s.text}]}
    answer = {"id": "cohere-upstream", "finish_reason": "COMPLETE", "message": message, "usage": usage(s)}
    if s.usage_mode == "none":
        del answer["usage"]
    return answer


def event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def chat_frames(s: Switches) -> tuple[list[bytes], list[int]]:
    start = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}
    frames = [
        event({"type": "message-start", "id": "cohere-upstream", "delta": start}),
        event({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
    ]
    end: dict[str, Any] = {"finish_reason": "COMPLETE"}
    if s.usage_mode != "none":
        end["usage"] = usage(s)
    content_at = []
    for piece in split_text(s.text, s.chunks):
        content_at.append(len(frames))
        frames.append(event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}))
    frames += [
        event({"type": "content-end", "index": 0}),
        event({"type": "message-end", "delta": end}),
    ]
    return frames, content_at


def reply(call: Call) -> Response:
    check(call)
    return respond(call, lambda: chat_json(call.switches), lambda: chat_frames(call.switches))
