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

Parts billed at prices of their own are kept apart as well (they stay inside the counts above):
audio tokens (OpenAI `*_tokens_details.audio_tokens`), cache writes kept one hour (Anthropic
`cache_creation.ephemeral_1h_input_tokens`, LiteLLM's `cache_creation_token_details`), and the
service tier the provider says served the call. A count the provider did not send is marked
unreported, so that proxy.usage_rules estimates it instead of billing 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Far beyond any real call, and small enough for every later sum; proxy.usage_rules caps counts much lower.
COUNT_LIMIT = 10**15


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0  # uncached input only
    output_tokens: int = 0  # includes reasoning tokens
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0  # part of input_tokens
    audio_output_tokens: int = 0  # part of output_tokens
    cache_write_1h_tokens: int = 0  # part of cache_write_tokens
    service_tier: str = (
        ""  # as the provider reports it ("default", "priority", "flex", "standard" ...); "" if it does not
    )
    # Whether the provider sent the input side's count and the output count; equality compares counts only.
    input_reported: bool = field(default=True, compare=False)
    output_reported: bool = field(default=True, compare=False)
    estimated: bool = field(default=False, compare=False)  # set by proxy.usage_rules: counts are the gateway's
    capped: bool = field(default=False, compare=False)  # ...because the provider's were past what any call can use


def is_count(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def count(value: Any) -> int:
    """A token count from a JSON value; anything else (None, bool, text, NaN) counts as 0, an infinity as the limit."""
    if not is_count(value):
        return 0
    if math.isinf(value):
        return COUNT_LIMIT if value > 0 else 0
    return min(max(0, int(value)), COUNT_LIMIT)


def tier(value: Any) -> str:
    return value[:32] if isinstance(value, str) else ""


def details(usage: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = usage.get(name)
    return value if isinstance(value, Mapping) else {}


def one_hour_writes(*places: Mapping[str, Any]) -> int:
    """Cache writes kept an hour: Anthropic's `cache_creation`, or LiteLLM's `cache_creation_token_details`."""
    for place in places:
        for name in ("cache_creation", "cache_creation_token_details"):
            found = details(place, name).get("ephemeral_1h_input_tokens")
            if is_count(found):
                return count(found)
    return 0


def chat_usage(usage: Mapping[str, Any]) -> Usage:
    prompt = details(usage, "prompt_tokens_details")
    completion = details(usage, "completion_tokens_details")
    cache_read = count(prompt.get("cached_tokens")) or count(usage.get("cache_read_input_tokens"))
    cache_write = count(usage.get("cache_creation_input_tokens")) or count(prompt.get("cache_creation_tokens"))
    return Usage(
        input_tokens=max(0, count(usage.get("prompt_tokens")) - cache_read - cache_write),
        output_tokens=count(usage.get("completion_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=count(completion.get("reasoning_tokens")),
        audio_input_tokens=count(prompt.get("audio_tokens")),
        audio_output_tokens=count(completion.get("audio_tokens")),
        cache_write_1h_tokens=one_hour_writes(usage, prompt),
        service_tier=tier(usage.get("service_tier")),
        input_reported=is_count(usage.get("prompt_tokens")),
        output_reported=is_count(usage.get("completion_tokens")),
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
        cache_write_1h_tokens=one_hour_writes(usage, inputs),
        service_tier=tier(usage.get("service_tier")),
        input_reported=is_count(usage.get("input_tokens")),
        output_reported=is_count(usage.get("output_tokens")),
    )


def messages_usage(usage: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=count(usage.get("input_tokens")),
        output_tokens=count(usage.get("output_tokens")),
        cache_read_tokens=count(usage.get("cache_read_input_tokens")),
        cache_write_tokens=count(usage.get("cache_creation_input_tokens")),
        cache_write_1h_tokens=one_hour_writes(usage),
        service_tier=tier(usage.get("service_tier")),
        input_reported=is_count(usage.get("input_tokens")),
        output_reported=is_count(usage.get("output_tokens")),
    )


def merge_messages_usage(start: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """A stream's usage: `message_start`'s counts, overridden by any count `message_delta` reports.

    `message_start` carries a placeholder output count (1): only `message_delta`'s counts the output,
    so without one the output is left unreported.
    """
    merged = {name: value for name, value in start.items() if name != "output_tokens"}
    merged.update({name: value for name, value in delta.items() if value is not None})
    return merged


def with_answer_tier(usage: Usage, answer: Mapping[str, Any]) -> Usage:
    """OpenAI reports the tier beside the usage (`service_tier` of the answer), not inside it."""
    served = tier(answer.get("service_tier"))
    if not served or usage.service_tier:
        return usage
    return replace(usage, service_tier=served)


def tokens_for_chars(chars: int) -> int:
    """A rough count (~4 characters a token) for when the provider's count never arrived."""
    return math.ceil(chars / 4)


def estimate_tokens(text: str) -> int:
    return tokens_for_chars(len(text))


PROMPT_FIELDS = ("messages", "input", "system", "instructions", "tools")


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    prompt = {name: body[name] for name in PROMPT_FIELDS if name in body}
    return estimate_tokens(json.dumps(prompt, ensure_ascii=False, default=str))
