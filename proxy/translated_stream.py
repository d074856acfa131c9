"""Streams of translated calls: the provider's bytes as lines, LiteLLM's parsed chunks made whole, and their accounting.

A translated stream is a pipeline, each stage pulling from the one before as frames arrive (none is
held back): the pooled connection's bytes → `lines_of` (whole lines; each data line is shown to the
provider's usage watch, proxy.provider_usage, before LiteLLM parses it) → the provider's stream parser
(proxy.translation.chat) → `ChatChunks` → for Messages and Responses clients LiteLLM's format adapter
(proxy.translation.formats) → `TranslatedAdapter` (the client route's SSE frames).

`ChatChunks` does for LiteLLM's parsed chunks what LiteLLM's `CustomStreamWrapper` does before
handing them on, and no more: one id and the client's model name on every chunk, the assistant role
on the first, empty chunks dropped, usage kept off the content chunks and sent once at the end as its
own chunk (OpenAI's `include_usage` shape), counted from the provider's own report; a finish reason
the parser missed (Cohere's `message-end`) taken from the provider's event.
"""

from __future__ import annotations

import codecs
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from core.errors import UpstreamUnavailable
from proxy.provider_usage import Watch, chat_usage_fields
from proxy.stream_adapters import Adapter
from proxy.usage_normalise import Usage, tokens_for_chars

logger = logging.getLogger(__name__)
CONTENT_FIELDS = ("content", "tool_calls", "function_call", "reasoning_content", "thinking_blocks", "images", "audio")


async def lines_of(chunks: AsyncIterator[bytes], watch: Watch) -> AsyncIterator[str]:
    """The body's lines as they arrive (without their endings), each shown to `watch` first."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    rest = ""
    async for chunk in chunks:
        rest += decoder.decode(chunk)
        *whole, rest = rest.split("\n")
        for line in whole:
            line = line.removesuffix("\r")
            watch.line(line)
            yield line
    rest += decoder.decode(b"", final=True)
    if rest.strip():
        watch.line(rest)
        yield rest


def has_content(delta: Any) -> bool:
    # Read from the instance's own fields: LiteLLM's Delta deletes its unset ones, and `getattr` on a missing
    # pydantic field goes through a slow failing `__getattr__` (most of a chunk's cost, measured).
    fields = {**vars(delta), **(getattr(delta, "__pydantic_extra__", None) or {})}
    return any(fields.get(name) for name in CONTENT_FIELDS)


GENERIC_FIELDS = ("text", "tool_use", "finish_reason", "usage", "is_finished")


class ChatChunks:
    """LiteLLM's parsed chat chunks (`ModelResponseStream`s) made whole for the client and the format adapters."""

    def __init__(self, parsed: AsyncIterator[Any], watch: Watch, model: str, make: Callable[..., Any]) -> None:
        self._parsed = parsed
        self._watch = watch
        self._model = model
        self._make = make  # proxy.translation.chat.stream_chunk: a ModelResponseStream from fields
        self._id = f"chatcmpl-{uuid.uuid4()}"
        self._created = int(time.time())
        self._started = False
        self._finished = False
        self._reported: Any = None  # the last usage LiteLLM's parser read, for a provider our watch cannot read
        self._tail: list[Any] | None = None

    def __aiter__(self) -> ChatChunks:
        return self

    async def __anext__(self) -> Any:
        while self._tail is None:
            try:
                item = await anext(self._parsed)
            except StopAsyncIteration:
                self._tail = self._ending()
                break
            chunk = self._whole(item)
            if chunk is not None:
                return chunk
        if not self._tail:
            raise StopAsyncIteration
        return self._tail.pop(0)

    def _whole(self, item: Any) -> Any:
        if item is None:
            return None
        if isinstance(item, dict):  # LiteLLM's generic chunk (Cohere's parser; Anthropic's for lines without data)
            if not any(item.get(name) for name in GENERIC_FIELDS):
                return None
            item = self._make(item, self._id, self._created, self._model)
        usage = getattr(item, "usage", None)
        if usage is not None:
            self._reported = usage
            item.usage = None
        choices = getattr(item, "choices", None) or []
        if not choices or not (has_content(choices[0].delta) or choices[0].finish_reason):
            return None
        item.id, item.created, item.model = self._id, self._created, self._model
        if not self._started:
            self._started = True
            choices[0].delta.role = "assistant"
        self._finished = self._finished or bool(choices[0].finish_reason)
        return item

    def _ending(self) -> list[Any]:
        """After the provider's last event: a finish the parser missed, then the usage chunk."""
        if not self._watch.finished:
            return []  # broken off: no made-up ending (TranslatedAdapter.finish raises)
        tail = []
        if not self._finished:
            reason = self._watch.finish_reason or "stop"
            tail.append(self._make({"finish_reason": reason}, self._id, self._created, self._model))
        usage = self._watch.usage
        fields = chat_usage_fields(usage) if usage is not None else self._reported
        if fields is not None:
            tail.append(self._make({"usage": fields}, self._id, self._created, self._model))
        return tail


class TranslatedAdapter(Adapter):
    """The client route's adapter, its usage and end taken from the provider's own events (the watch)."""

    def __init__(self, client: Adapter, watch: Watch) -> None:
        super().__init__(client.input_estimate)
        self.client = client
        self.watch = watch

    def frames(self, item: Any) -> list[bytes]:
        passed = self.client.frames(item)
        self._sync()
        return passed

    def _sync(self) -> None:
        self.reported = self.watch.usage
        self.finished = self.watch.finished and self.client.finished
        self.failed = self.client.failed or self.watch.failed
        self.content_chars = self.client.content_chars

    def answer_text(self) -> str:
        """The client's text so far (the estimate of proxy.usage_rules when the provider sends no usage)."""
        return self.client.answer_text()

    def usage(self) -> Usage:
        """The provider's final count; else what it counted so far, the rest a rough estimate marked unreported
        (proxy.usage_rules estimates it properly)."""
        self._sync()
        if self.reported is not None:
            return self.reported
        partial = self.watch.partial
        # Counted from the client's frames only: the counts in them are LiteLLM's, not the provider's.
        output = tokens_for_chars(self.client.content_chars)
        if partial is not None and partial.input_tokens + partial.cache_read_tokens + partial.cache_write_tokens:
            return replace(partial, output_tokens=max(partial.output_tokens, output), output_reported=False)
        return Usage(
            input_tokens=self.input_estimate, output_tokens=output, input_reported=False, output_reported=False
        )

    def finish(self, provider: str) -> list[bytes]:
        self._sync()
        if self.failed or not self.watch.finished:
            raise UpstreamUnavailable(f"The provider '{provider}' ended the stream early.")
        return self.client.finish(provider)


class TranslatedSource:
    """The client-format items of a translated stream; closing it releases the provider's connection."""

    def __init__(self, items: AsyncIterator[Any], body: Any) -> None:
        self._items = items
        self._body = body  # proxy.passthrough.ResponseBody

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items

    async def aclose(self) -> None:
        closer = getattr(self._items, "aclose", None)
        if callable(closer):
            try:
                await closer()
            except Exception as exc:  # closing a half-read translation may fail again; the connection still goes
                logger.debug("closing a translated stream failed: %s", type(exc).__name__)
        await self._body.aclose()
