"""Per-route stream adapters: LiteLLM stream items in, SSE frames in the client's wire format out.

Each adapter also watches the stream for the provider's usage and for its proper end,
and keeps the content seen so far so that a stream without usage (broken, or a provider that
sends none) can be estimated (proxy.usage_rules). The usage billed is the last one the stream
sends: a chat stream is complete only once a usage chunk has come at or after its `finish_reason`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from core.errors import UpstreamUnavailable
from proxy import sse
from proxy.request_params import Route
from proxy.usage_normalise import (
    Usage,
    chat_usage,
    merge_messages_usage,
    messages_usage,
    responses_usage,
    tokens_for_chars,
    with_answer_tier,
)


def item_dict(item: Any) -> dict[str, Any]:
    """A JSON-serialisable dict of one LiteLLM stream item (a pydantic model or a dict)."""
    if hasattr(item, "model_dump"):
        dumped = item.model_dump(mode="json", exclude_none=True, warnings=False)
    else:
        dumped = json.loads(json.dumps(item, default=str))
    return dumped if isinstance(dumped, dict) else {}


class Adapter:
    """What all routes share: the usage state and the end-of-stream check."""

    def __init__(self, input_estimate: int) -> None:
        self.input_estimate = input_estimate
        self.content_chars = 0
        self.texts: list[str] = []  # the answer's text as it came, for an estimate when no usage does
        self.reported: Usage | None = None  # the provider's own final count
        self.partial: Usage | None = None  # counts known before the end (Anthropic message_start)
        self.finished = False
        # An error event inside the stream (LiteLLM turns broken upstreams into one, with the
        # exception's text): the event is not forwarded; Stream raises our own error instead.
        self.failed = False

    @property
    def complete(self) -> bool:
        """The provider's terminal event and its final usage have both arrived: the call can be recorded."""
        return self.finished and self.reported is not None

    def usage(self) -> Usage:
        """The provider's last count; else what is known, the rest a rough estimate marked unreported."""
        if self.reported is not None:
            return self.reported
        output = tokens_for_chars(self.content_chars)
        partial = self.partial
        # LiteLLM's bridge for OpenAI models sends a message_start of zeros: no real count.
        if partial is not None and partial.input_tokens + partial.cache_read_tokens + partial.cache_write_tokens:
            return replace(partial, output_tokens=max(partial.output_tokens, output), output_reported=False)
        return Usage(
            input_tokens=self.input_estimate, output_tokens=output, input_reported=False, output_reported=False
        )

    def answer_text(self) -> str:
        return "".join(self.texts)

    def frames(self, item: Any) -> list[bytes]:
        raise NotImplementedError

    def finish(self, provider: str) -> list[bytes]:
        """Frames to close the stream with; a stream that ended without its last event is broken."""
        if self.failed or not self.finished:
            raise UpstreamUnavailable(f"The provider '{provider}' ended the stream early.")
        return []

    def count_text(self, *texts: Any) -> None:
        for text in texts:
            if isinstance(text, str) and text:
                self.content_chars += len(text)
                self.texts.append(text)


def choice_is_empty(choice: Mapping[str, Any]) -> bool:
    delta = choice.get("delta") or {}
    return not choice.get("finish_reason") and not any(delta.get(k) for k in ("content", "tool_calls", "refusal"))


class ChatAdapter(Adapter):
    """OpenAI chat chunks. Usage is always requested; its chunk is dropped unless the client asked."""

    def __init__(self, input_estimate: int, include_usage: bool) -> None:
        super().__init__(input_estimate)
        self.include_usage = include_usage
        self.usage_after_finish = False  # a usage chunk came at or after the finish_reason: the call's final count

    @property
    def complete(self) -> bool:
        return self.finished and self.usage_after_finish

    def note_usage(self, usage: dict[str, Any], chunk: dict[str, Any]) -> None:
        """The last usage chunk wins; one before the finish_reason is interim, never what completes the call."""
        self.reported = with_answer_tier(chat_usage(usage), chunk)
        self.usage_after_finish = self.finished

    def frames(self, item: Any) -> list[bytes]:
        chunk = item_dict(item)
        usage = chunk.pop("usage", None)
        choices = chunk.get("choices") or []
        for choice in choices:
            self.observe(choice)
        if not isinstance(usage, dict):
            return [sse.encode(chunk)]
        self.note_usage(usage, chunk)
        usage.pop("cost", None)  # LiteLLM's own price guess
        if all(choice_is_empty(choice) for choice in choices):
            if not self.include_usage:
                return []
            chunk["choices"] = []  # OpenAI's usage-only chunk has no choices
        if self.include_usage:
            chunk["usage"] = usage
        return [sse.encode(chunk)]

    def observe(self, choice: Mapping[str, Any]) -> None:
        delta = choice.get("delta") or {}
        self.count_text(delta.get("content"), delta.get("reasoning_content"), delta.get("refusal"))
        for call in delta.get("tool_calls") or []:
            self.count_text((call.get("function") or {}).get("arguments"))
        if choice.get("finish_reason"):
            self.finished = True

    def finish(self, provider: str) -> list[bytes]:
        return [*super().finish(provider), sse.DONE]


RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete"})
RESPONSES_FAILED = frozenset({"response.failed", "error"})


class ResponsesAdapter(Adapter):
    """OpenAI Responses events; the usage arrives with the terminal `response.*` event."""

    def frames(self, item: Any) -> list[bytes]:
        event = item_dict(item)
        kind = event.get("type")
        if isinstance(kind, str) and kind.endswith(".delta"):
            self.count_text(event.get("delta"))
        if kind in RESPONSES_TERMINAL or kind in RESPONSES_FAILED:
            response = event.get("response") or {}
            usage = response.get("usage")
            if isinstance(usage, dict):
                usage.pop("cost", None)
                self.reported = with_answer_tier(responses_usage(usage), response)
        if kind in RESPONSES_FAILED:
            self.failed = True
            return []
        self.finished = self.finished or kind in RESPONSES_TERMINAL
        return [sse.encode(event, kind if isinstance(kind, str) else None)]


class MessagesAdapter(Adapter):
    """Anthropic Messages SSE; LiteLLM passes the provider's raw bytes, cut here into whole frames."""

    def __init__(self, input_estimate: int) -> None:
        super().__init__(input_estimate)
        self.framer = sse.Framer()
        self.start_usage: dict[str, Any] = {}

    def frames(self, item: Any) -> list[bytes]:
        if isinstance(item, bytes | str):
            frames = self.framer.feed(item.encode() if isinstance(item, str) else item)
        else:
            event = item_dict(item)
            frames = [sse.encode(event, event.get("type"))]
        passed = []
        for frame in frames:
            self.observe(*sse.parse(frame))
            if self.failed:
                break
            passed.append(frame)
        return passed

    def observe(self, event: str | None, data: dict[str, Any] | None) -> None:
        if data is None:
            return
        kind = data.get("type") or event
        if kind == "message_start":
            self.start_usage = dict((data.get("message") or {}).get("usage") or {})
            self.partial = messages_usage(self.start_usage)
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            self.count_text(delta.get("text"), delta.get("thinking"), delta.get("partial_json"))
        elif kind == "message_delta":
            merged = merge_messages_usage(self.start_usage, data.get("usage") or {})
            self.reported = self.final_usage(merged)
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            self.failed = True

    def final_usage(self, merged: Mapping[str, Any]) -> Usage:
        return messages_usage(merged)

    def finish(self, provider: str) -> list[bytes]:
        rest = self.framer.rest()
        frames = self.frames(rest + b"\n\n") if rest.strip() else []
        return [*super().finish(provider), *frames]


def make_adapter(route: Route, body: Mapping[str, Any], input_estimate: int) -> Adapter:
    if route is Route.CHAT:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return ChatAdapter(input_estimate, include_usage)
    if route is Route.RESPONSES:
        return ResponsesAdapter(input_estimate)
    return MessagesAdapter(input_estimate)
