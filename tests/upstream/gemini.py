"""Google's Gemini API (AI Studio): `generateContent` and `streamGenerateContent` under `/v1beta/models/<model>:`.

`usageMetadata`: `promptTokenCount` INCLUDES `cachedContentTokenCount` (cache reads);
`candidatesTokenCount` EXCLUDES `thoughtsTokenCount` (reasoning); `totalTokenCount` is their
sum. Gemini has no cache-write count in a generate call (caches are made by their own call), so
canonical cache writes are rendered as plain prompt tokens. A stream is SSE only with `?alt=sse`
(each event one whole GenerateContentResponse, CRLF-framed; the last carries `finishReason` and the
final counts); without it the API answers a JSON array.

Refused as Google documents it (its `google.rpc.Status` error body): no API key (`x-goog-api-key`
header or `key` query) is 403 PERMISSION_DENIED; an unknown top-level or `generationConfig` field,
empty `contents`, a role other than user/model, or a part without data is 400 INVALID_ARGUMENT.
`safety_block="prompt"` answers 200 with `promptFeedback.blockReason` and no candidates,
`"response"` a candidate that finished with SAFETY and no content.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.upstream.core import Call, Switches, is_text, paced, require, split_text

PATH = re.compile(r"/(v1beta|v1alpha|v1)/models/([^/:]+):(generateContent|streamGenerateContent)$")
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
FIELDS = frozenset(
    {
        "contents", "tools", "toolConfig", "tool_config", "safetySettings", "safety_settings", "systemInstruction",
        "system_instruction", "generationConfig", "generation_config", "cachedContent", "cached_content",
        "serviceTier", "service_tier",
    }
)  # fmt: skip
GENERATION_FIELDS = frozenset(
    {
        "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities",
        "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty",
        "frequencyPenalty", "responseLogprobs", "logprobs", "enableEnhancedCivicAnswers", "speechConfig",
        "thinkingConfig", "mediaResolution", "imageConfig",
    }
)  # fmt: skip
PART_DATA = frozenset(
    {
        "text", "inlineData", "inline_data", "fileData", "file_data", "functionCall", "function_call",
        "functionResponse", "function_response", "executableCode", "executable_code", "codeExecutionResult",
        "code_execution_result",
    }
)  # fmt: skip
SAFETY_RATINGS = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def error(status: int, message: str | None = None) -> JSONResponse:
    body = {
        "code": status,
        "message": message or f"Test upstream error {status}.",
        "status": STATUS.get(status, "UNKNOWN"),
    }
    return JSONResponse({"error": body}, status)


def context_error() -> JSONResponse:
    return error(400, "The input token count (250000) exceeds the maximum number of tokens allowed (1048576).")


def route(path: str) -> tuple[str, bool] | None:
    """(model, streams) of a Gemini path, else None."""
    found = PATH.search(path)
    return (found.group(2), found.group(3) == "streamGenerateContent") if found else None


def check(call: Call) -> None:
    body = call.body
    keyed = is_text(call.headers.get("x-goog-api-key")) or is_text(call.query.get("key"))
    message = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key."
    require(keyed, lambda: error(403, message))
    unknown = sorted(set(body) - FIELDS)
    require(
        not unknown,
        lambda: error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'),
    )
    config = body.get("generationConfig", body.get("generation_config")) or {}
    unknown = sorted(name for name in config if camel(name) not in GENERATION_FIELDS)
    require(
        not unknown,
        lambda: error(400, f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at 'generation_config'."),
    )
    contents = body.get("contents")
    require(
        isinstance(contents, list) and bool(contents),
        lambda: error(400, "* GenerateContentRequest.contents: contents is not specified"),
    )
    for content in contents:
        require(
            isinstance(content, dict) and content.get("role", "user") in ("user", "model"),
            lambda: error(400, "Please use a valid role: user, model."),
        )
        parts = content.get("parts")
        require(
            isinstance(parts, list) and bool(parts),
            lambda: error(400, "* GenerateContentRequest.contents.parts: contents.parts must not be empty."),
        )
        require(
            all(isinstance(p, dict) and PART_DATA & set(p) for p in parts),
            lambda: error(400, "* GenerateContentRequest.contents.parts.data: required oneof field 'data' must be set"),
        )


def usage(s: Switches, output: bool = True) -> dict[str, Any]:
    prompt = s.input_tokens + s.cache_read_tokens + s.cache_write_tokens
    found: dict[str, Any] = {
        "promptTokenCount": prompt,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if s.cache_read_tokens:
        found["cachedContentTokenCount"] = s.cache_read_tokens
        found["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": s.cache_read_tokens}]
    candidates = s.output_tokens - s.reasoning_tokens if output else 0
    found["candidatesTokenCount"] = candidates
    if output and s.reasoning_tokens:
        found["thoughtsTokenCount"] = s.reasoning_tokens
    found["totalTokenCount"] = prompt + (s.output_tokens if output else 0)
    return found


def candidate(parts: list[dict[str, Any]] | None, finish: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"index": 0}
    if parts is not None:
        found["content"] = {"parts": parts, "role": "model"}
    if finish is not None:
        found["finishReason"] = finish
    if finish == "SAFETY":
        found["safetyRatings"] = SAFETY_RATINGS
    return found


def answer(s: Switches, model: str, candidates: list[dict[str, Any]], usage_metadata: dict[str, Any]) -> dict[str, Any]:
    found = {"candidates": candidates, "usageMetadata": usage_metadata, "modelVersion": model}
    if s.usage_mode == "none":
        del found["usageMetadata"]
    return {**found, "responseId": "gemini-upstream"}


def blocked(s: Switches, model: str) -> dict[str, Any]:
    feedback = {"blockReason": "SAFETY", "safetyRatings": SAFETY_RATINGS}
    return {
        "promptFeedback": feedback,
        "usageMetadata": usage(s, output=False),
        "modelVersion": model,
        "responseId": "gemini-upstream",
    }


def thinks(body: dict[str, Any]) -> bool:
    config = body.get("generationConfig", body.get("generation_config")) or {}
    thinking = config.get("thinkingConfig", config.get("thinking_config")) or {}
    return bool(thinking.get("includeThoughts", thinking.get("include_thoughts")))


def generate_json(s: Switches, model: str, body: dict[str, Any]) -> dict[str, Any]:
    if s.safety_block == "prompt":
        return blocked(s, model)
    if s.safety_block == "response":
        return answer(s, model, [candidate(None, "SAFETY")], usage(s, output=False))
    parts = [{"text": "Thinking it over.", "thought": True}] if thinks(body) else []
    return answer(s, model, [candidate([*parts, {"text": s.text}], "STOP")], usage(s))


def generate_events(s: Switches, model: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
    if s.safety_block:
        return [generate_json(s, model, body)], []
    pieces = split_text(s.text, s.chunks)
    events: list[dict[str, Any]] = []
    if thinks(body):
        events.append(
            answer(s, model, [candidate([{"text": "Thinking it over.", "thought": True}], None)], usage(s, False))
        )
    content_at = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        content_at.append(len(events))
        counts = usage(s) if last else usage(s, output=False)
        events.append(answer(s, model, [candidate([{"text": piece}], "STOP" if last else None)], counts))
    return events, content_at


def reply(call: Call, model: str, streams: bool) -> Response:
    check(call)
    s = call.switches
    if not streams:
        return JSONResponse(generate_json(s, model, call.body))
    events, at = generate_events(s, model, call.body)
    if call.query.get("alt") != "sse":
        return Response(json.dumps(events), media_type="application/json")  # what the API sends without alt=sse
    frames = [f"data: {json.dumps(event)}\r\n\r\n".encode() for event in events]
    return StreamingResponse(paced(call.upstream, call.generation, frames, at), media_type="text/event-stream")
