"""Token usage as LiteLLM reports it on each route, normalised to the gateway's canonical form.

Canonical (ARCHITECTURE "Canonical token accounting"): `input_tokens` is uncached input
only; cache reads and writes are counted apart; `output_tokens` includes reasoning.

Conventions of LiteLLM 1.106.2, measured against the test upstream for OpenAI and
Anthropic models (see tests/proxy/test_forwarding.py):
- chat (`acompletion`), every provider: `prompt_tokens` INCLUDES cache reads
  (`prompt_tokens_details.cached_tokens`) and, for Anthropic models, cache writes
  (`cache_creation_input_tokens`, also `prompt_tokens_details.cache_creation_tokens`):
  LiteLLM re-adds them to Anthropic's own `input_tokens`. Both are subtracted.
- responses (`aresponses`): `input_tokens` INCLUDES `input_tokens_details.cached_tokens`
  and, for Anthropic models, `input_tokens_details.cache_write_tokens`. Both are subtracted.
- messages (`anthropic_messages`): Anthropic's convention on every model; `input_tokens`
  EXCLUDES `cache_read_input_tokens` and `cache_creation_input_tokens`.
  In a stream, `message_start` carries input and cache counts and `message_delta` the
  final output count.
Calls the gateway translates itself (proxy.translated) are billed from the provider's own
answer instead (proxy.provider_usage), reasoning counts included.
OpenAI reports no cache writes; Anthropic reports no reasoning count (its thinking
tokens are inside `output_tokens`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0  # uncached input only
    output_tokens: int = 0  # includes reasoning tokens
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


def count(value: Any) -> int:
    """A token count from a JSON value; anything else (None, bool, text) counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


def details(usage: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = usage.get(name)
    return value if isinstance(value, Mapping) else {}


def chat_usage(usage: Mapping[str, Any]) -> Usage:
    prompt = details(usage, "prompt_tokens_details")
    cache_read = count(prompt.get("cached_tokens")) or count(usage.get("cache_read_input_tokens"))
    cache_write = count(usage.get("cache_creation_input_tokens")) or count(prompt.get("cache_creation_tokens"))
    return Usage(
        input_tokens=max(0, count(usage.get("prompt_tokens")) - cache_read - cache_write),
        output_tokens=count(usage.get("completion_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=count(details(usage, "completion_tokens_details").get("reasoning_tokens")),
    )


def responses_usage(usage: Mapping[str, Any]) -> Usage:
    inputs = details(usage, "input_tokens_details")
    cache_read = count(inputs.get("cached_tokens"))
    cache_write = count(inputs.get("cache_write_tokens")) or count(inputs.get("cache_creation_tokens"))
    return Usage(
        input_tokens=max(0, count(usage.get("input_tokens")) - cache_read - cache_write),
        output_tokens=count(usage.get("output_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=count(details(usage, "output_tokens_details").get("reasoning_tokens")),
    )


def messages_usage(usage: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=count(usage.get("input_tokens")),
        output_tokens=count(usage.get("output_tokens")),
        cache_read_tokens=count(usage.get("cache_read_input_tokens")),
        cache_write_tokens=count(usage.get("cache_creation_input_tokens")),
    )


def merge_messages_usage(start: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """A stream's usage: `message_start`'s counts, overridden by any count `message_delta` reports."""
    merged = dict(start)
    merged.update({name: value for name, value in delta.items() if value is not None})
    return merged


def tokens_for_chars(chars: int) -> int:
    """A rough count (~4 characters a token) for when the provider's count never arrived."""
    return math.ceil(chars / 4)


def estimate_tokens(text: str) -> int:
    return tokens_for_chars(len(text))


PROMPT_FIELDS = ("messages", "input", "system", "instructions", "tools")


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    prompt = {name: body[name] for name in PROMPT_FIELDS if name in body}
    return estimate_tokens(json.dumps(prompt, ensure_ascii=False, default=str))
