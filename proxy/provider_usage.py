"""Each provider's own usage fields, read from its raw answer or stream, in canonical form (proxy.usage_normalise).

Translated calls are billed from what the provider itself reported, never from LiteLLM's
translation of it: LiteLLM 1.106.2 reads Cohere's `tokens` (what the model processed, prompt
template included) where Cohere bills `billed_units`, misses its stream's `message-end` event (usage
and finish reason) entirely, and folds reasoning counts into fields the other formats lack.
- Gemini `usageMetadata`: `promptTokenCount` includes `cachedContentTokenCount` (cache reads) and
  `toolUsePromptTokenCount` is input too; `thoughtsTokenCount` is reasoning, outside
  `candidatesTokenCount` unless prompt + candidates + tool prompt already make `totalTokenCount`
  (LiteLLM's own test, `is_candidate_token_count_inclusive`).
- Cohere v2 `usage.billed_units` (input, output); `tokens` only where billed units are absent.
- Anthropic and OpenAI-format (Azure) answers: proxy.usage_normalise's readers.
A stream watcher sees every data line of the provider's stream before LiteLLM parses it, keeps the
latest usage and notes the provider's own end (its terminal event or finish reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from proxy.usage_normalise import (
    Usage,
    chat_usage,
    count,
    details,
    is_count,
    merge_messages_usage,
    messages_usage,
    responses_usage,
    with_answer_tier,
)

# Cohere's finish reasons → OpenAI's, for streams whose `message-end` LiteLLM does not read.
COHERE_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR": "stop",
    "TIMEOUT": "stop",
}


def gemini_usage(meta: Mapping[str, Any]) -> Usage:
    prompt, cached = count(meta.get("promptTokenCount")), count(meta.get("cachedContentTokenCount"))
    tool_prompt, candidates = count(meta.get("toolUsePromptTokenCount")), count(meta.get("candidatesTokenCount"))
    thoughts, total = count(meta.get("thoughtsTokenCount")), count(meta.get("totalTokenCount"))
    inclusive = bool(thoughts) and prompt + candidates + tool_prompt == total
    return Usage(
        input_tokens=max(0, prompt + tool_prompt - cached),
        output_tokens=candidates if inclusive else candidates + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
        input_reported=is_count(meta.get("promptTokenCount")),
        # Gemini leaves `candidatesTokenCount` out when nothing was generated (a blocked prompt); the total says so.
        output_reported=is_count(meta.get("candidatesTokenCount")) or is_count(meta.get("totalTokenCount")),
    )


def cohere_usage(usage: Mapping[str, Any]) -> Usage:
    billed = details(usage, "billed_units") or details(usage, "tokens")
    return Usage(
        input_tokens=count(billed.get("input_tokens")),
        output_tokens=count(billed.get("output_tokens")),
        input_reported=is_count(billed.get("input_tokens")),
        output_reported=is_count(billed.get("output_tokens")),
    )


def answer_usage(provider: str, answer: Mapping[str, Any]) -> Usage:
    """The canonical usage of a provider's JSON answer (LiteLLM's provider name)."""
    if provider == "gemini":
        meta = answer.get("usageMetadata")
        return gemini_usage(meta if isinstance(meta, Mapping) else {})
    usage = answer.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    if provider in ("cohere", "cohere_chat"):
        return cohere_usage(usage)
    if provider == "anthropic":
        return messages_usage(usage)
    return with_answer_tier(chat_usage(usage), answer)  # Azure: the tier beside the usage


# Where each provider's JSON answer carries its usage, and a count of nothing in that place's shape.
BLANK_USAGE: dict[str, tuple[str, dict[str, Any]]] = {
    "anthropic": ("usage", {"input_tokens": 0, "output_tokens": 0}),
    "gemini": ("usageMetadata", {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0}),
    "cohere": ("usage", {"billed_units": {"input_tokens": 0, "output_tokens": 0}}),
    "cohere_chat": ("usage", {"billed_units": {"input_tokens": 0, "output_tokens": 0}}),
    "azure": ("usage", {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
}


def readable_answer(provider: str, answer: Mapping[str, Any], raw: bytes) -> bytes:
    """The answer as LiteLLM's response transformation can read it: those fail on an answer without usage
    (Anthropic's, Gemini's, Cohere's raise), so a blank count stands in. Nobody bills it: the call is billed
    from `answer_usage`, which marks the missing counts unreported (proxy.usage_rules estimates them)."""
    name, blank = BLANK_USAGE.get(provider, ("usage", {}))
    if not blank or isinstance(answer.get(name), Mapping):
        return raw
    return orjson.dumps({**answer, name: blank})


class Watch:
    """Reads one provider's stream lines for its usage and its own end; `failed` when it reports an error."""

    def __init__(self) -> None:
        self.partial: Usage | None = None  # the latest count, final once the provider's stream has ended
        self.finished = False
        self.failed = False
        self.finish_reason: str | None = None  # OpenAI's name, where LiteLLM's parser misses the provider's

    @property
    def usage(self) -> Usage | None:
        """The provider's final count: known once its stream has ended with one."""
        return self.partial if self.finished else None

    def line(self, line: str) -> None:
        if not line.startswith("data:"):
            return
        try:
            data = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            return  # "[DONE]", or a fragment LiteLLM's parser accumulates itself
        if isinstance(data, dict):
            self.data(data)

    def data(self, data: dict[str, Any]) -> None:
        raise NotImplementedError


class AnthropicWatch(Watch):
    def __init__(self) -> None:
        super().__init__()
        self.start: dict[str, Any] = {}

    def data(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "message_start":
            self.start = dict((data.get("message") or {}).get("usage") or {})
            self.partial = messages_usage(self.start)
        elif kind == "message_delta":
            self.partial = messages_usage(merge_messages_usage(self.start, data.get("usage") or {}))
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            self.failed = True


class GeminiWatch(Watch):
    def data(self, data: dict[str, Any]) -> None:
        if "error" in data:
            self.failed = True
            return
        meta = data.get("usageMetadata")
        if isinstance(meta, Mapping):
            self.partial = gemini_usage(meta)
        blocked = (data.get("promptFeedback") or {}).get("blockReason")
        candidates = data.get("candidates") or []
        if blocked or any(isinstance(c, dict) and c.get("finishReason") for c in candidates):
            self.finished = True


class CohereWatch(Watch):
    def data(self, data: dict[str, Any]) -> None:
        if data.get("type") != "message-end":
            return
        delta = data.get("delta") or {}
        usage = delta.get("usage")
        if isinstance(usage, Mapping):
            self.partial = cohere_usage(usage)
        reason = delta.get("finish_reason")
        self.finish_reason = COHERE_FINISH.get(str(reason).upper(), "stop") if reason else "stop"
        self.failed = str(reason).upper() == "ERROR"
        self.finished = True


class OpenAIChatWatch(Watch):
    """The usage billed is the last one at or after the finish_reason (one before it is interim); the stream
    ends there, or at `[DONE]` for a provider that sends no final usage."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = False  # the finish_reason has come
        self.final = False  # ...and a usage at or after it

    @property
    def usage(self) -> Usage | None:
        return self.partial if self.finished and self.final else None

    def line(self, line: str) -> None:
        if line.strip() == "data: [DONE]":
            self.finished = True
            return
        super().line(line)

    def data(self, data: dict[str, Any]) -> None:
        if "error" in data and not data.get("choices"):
            self.failed = True
            return
        if any(isinstance(c, dict) and c.get("finish_reason") for c in data.get("choices") or []):
            self.ended = True
        usage = data.get("usage")
        if isinstance(usage, Mapping):
            self.partial = with_answer_tier(chat_usage(usage), data)
            self.final = self.finished = self.ended


class ResponsesWatch(Watch):
    """OpenAI Responses events (the Messages bridge for openai models), fed whole by proxy.translated."""

    def data(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            response = data.get("response") or {}
            usage = response.get("usage")
            if isinstance(usage, Mapping):
                self.partial = with_answer_tier(responses_usage(usage), response)
            self.finished = kind != "response.failed"
        self.failed = self.failed or kind in ("response.failed", "error")


WATCHES: dict[str, type[Watch]] = {
    "anthropic": AnthropicWatch,
    "gemini": GeminiWatch,
    "cohere": CohereWatch,
    "cohere_chat": CohereWatch,
    "azure": OpenAIChatWatch,
}


def watch_for(provider: str) -> Watch:
    return WATCHES[provider]()


# --- the canonical count as each client format shows it -------------------------------------------


def chat_usage_fields(usage: Usage) -> dict[str, Any]:
    """OpenAI chat `usage`: the prompt includes cache reads and writes, the completion includes reasoning."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def responses_usage_fields(usage: Usage) -> dict[str, Any]:
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": prompt + usage.output_tokens,
    }


def messages_usage_fields(usage: Usage) -> dict[str, Any]:
    """Anthropic `usage`: input excludes the cache counts, which appear only when there are any."""
    found: dict[str, Any] = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    if usage.cache_read_tokens:
        found["cache_read_input_tokens"] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        found["cache_creation_input_tokens"] = usage.cache_write_tokens
    return found
