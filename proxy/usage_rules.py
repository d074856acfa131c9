"""What a call is billed for: counts past any real call are capped, counts the provider did not send are estimated.

Every answered call is priced (docs "Guarantees"), whatever its provider reports:
- **Absurd counts are capped.** An input side (uncached + cache reads + cache writes) past the largest
  context window of any model LiteLLM knows is scaled down to it; an output past the most any call may
  produce (GATEWAY_MAX_OUTPUT_TOKENS, or the call's own cap or its model's ceiling when larger, times the
  choices) is cut to that; parts (reasoning, audio, one-hour cache writes) never exceed their counts.
  Such a row is flagged, and costs at most the call's budget hold (proxy.accounting): a broken report
  never takes an account past its budget. Counts within those limits are believed.
- **Missing counts are estimated.** An input side the provider did not report, or reported as 0 (no
  call reads nothing), and an output it did not report, or reported as fewer tokens than the answer's
  text needs (a count of 0 beside any text, or of 1 beside more than `CHARS_PER_TOKEN_MAX` characters:
  an Anthropic stream whose `message_delta` has no usage leaves `message_start`'s placeholder of 1,
  which LiteLLM's translation passes on), are counted by tokenising the prompt's fields as JSON and the
  answer's text with LiteLLM's token counter (OpenAI's o200k_base encoding, whatever the model); the
  input at most what the hold assumed (the body's bytes within the model's window). Input the provider
  read from elsewhere (proxy.billing_modes) cannot be counted, so such a call's missing input is billed
  at the whole window it held. Text past `EXACT_CHARS` is extrapolated from its beginning: one estimate
  costs at most ~100 ms of CPU, in a pool thread.
Either way the usage row is flagged `usage_estimated`. Hidden reasoning cannot be seen in an answer's
text: a reasoning model's estimate counts only what it wrote.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from core.pool import in_pool
from core.providers import Target
from proxy.billing_modes import input_bound, request_modes
from proxy.forwarding import largest_context_window, model_limits, token_count
from proxy.request_params import Route
from proxy.usage_normalise import PROMPT_FIELDS, Usage, tokens_for_chars
from proxy.validation import requested_output_tokens

log = logging.getLogger(__name__)
EXACT_CHARS = 200_000
# No tokenizer packs 64 characters of text in one token: an output of 0 or 1 beside a longer answer is a
# placeholder or a misreport. Only those counts are checked, so an ordinary answer's text is never read.
CHARS_PER_TOKEN_MAX = 64
SUSPICIOUS_OUTPUT = 2
# Keys of an answer that are not its text: ids, kinds, states, and opaque blobs (thinking signatures).
NOT_TEXT = frozenset(
    {"id", "type", "role", "status", "index", "object", "finish_reason", "call_id", "signature", "data", "logprobs"}
)


@dataclass(frozen=True)
class Bounds:
    """What a call's counts are weighed against."""

    window: int  # the largest context window of any model LiteLLM knows: an input side past it is absurd
    output: int  # the most output any call may have (GATEWAY_MAX_OUTPUT_TOKENS, or a larger ceiling), times n
    model_window: int  # this model's own window (else the largest): no estimated input exceeds it


def call_bounds(*, route: Route, body: Mapping[str, Any], target: Target | None) -> Bounds:
    limits = model_limits(target.provider, target.model) if target is not None else None
    largest = largest_context_window()
    ceilings = (
        int(settings.MAX_OUTPUT_TOKENS),
        requested_output_tokens(body),
        limits.max_output_tokens if limits else 0,
    )
    choices = body.get("n") if route is Route.CHAT and isinstance(body.get("n"), int) else 1
    output = max(ceiling or 0 for ceiling in ceilings) * max(choices or 1, 1)
    return Bounds(window=largest, output=output, model_window=(limits.max_input_tokens if limits else None) or largest)


def input_side(usage: Usage) -> int:
    return usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens


def within(usage: Usage, bounds: Bounds) -> bool:
    return (
        input_side(usage) <= bounds.window
        and usage.output_tokens <= bounds.output
        and usage.reasoning_tokens <= usage.output_tokens
        and usage.audio_output_tokens <= usage.output_tokens
        and usage.audio_input_tokens <= usage.input_tokens
        and usage.cache_write_1h_tokens <= usage.cache_write_tokens
    )


def usage_capped(usage: Usage, bounds: Bounds) -> Usage:
    """The usage with every count within what any call could use; flagged capped (and estimated) if anything changed."""
    if within(usage, bounds):
        return usage
    capped = usage
    total = input_side(usage)
    if total > bounds.window:
        scale = bounds.window / total
        capped = replace(
            capped,
            input_tokens=math.floor(usage.input_tokens * scale),
            cache_read_tokens=math.floor(usage.cache_read_tokens * scale),
            cache_write_tokens=math.floor(usage.cache_write_tokens * scale),
        )
    capped = replace(capped, output_tokens=min(capped.output_tokens, bounds.output))
    capped = replace(
        capped,
        reasoning_tokens=min(capped.reasoning_tokens, capped.output_tokens),
        audio_output_tokens=min(capped.audio_output_tokens, capped.output_tokens),
        audio_input_tokens=min(capped.audio_input_tokens, capped.input_tokens),
        cache_write_1h_tokens=min(capped.cache_write_1h_tokens, capped.cache_write_tokens),
    )
    return replace(capped, estimated=True, capped=True)


def input_missing(usage: Usage) -> bool:
    return not usage.input_reported or input_side(usage) == 0


def output_missing(usage: Usage, answer: str) -> bool:
    return not usage.output_reported or usage.output_tokens * CHARS_PER_TOKEN_MAX < len(answer.strip())


def tokens_of(text: str) -> int:
    """Tokens of `text`, tokenised up to EXACT_CHARS and extrapolated beyond (CPU-bound)."""
    if len(text) <= EXACT_CHARS:
        return token_count(text)
    return math.ceil(token_count(text[:EXACT_CHARS]) * len(text) / EXACT_CHARS)


def prompt_text(body: Mapping[str, Any]) -> str:
    prompt = {name: body[name] for name in PROMPT_FIELDS if name in body}
    return json.dumps(prompt, ensure_ascii=False, default=str)


def rough_tokens(text: str) -> int:
    return tokens_for_chars(len(text))


def usage_estimate(
    usage: Usage,
    *,
    route: Route,
    body: Mapping[str, Any],
    raw_size: int,
    answer: str,
    bounds: Bounds,
    count: Callable[[str], int] = tokens_of,
) -> Usage:
    """The missing parts counted by tokenising the prompt and the answer (CPU-bound: run it in a pool thread)."""
    estimated = replace(usage, estimated=True, input_reported=True, output_reported=True)
    if input_missing(usage):
        cached = usage.cache_read_tokens + usage.cache_write_tokens
        unbounded = bool(request_modes(route, body).unbounded)
        held = input_bound(raw_size=raw_size, window=bounds.model_window, unbounded=unbounded)
        # Input read from elsewhere (a stored conversation, a URL) cannot be counted: billed at what was held.
        tokens = held if unbounded else min(count(prompt_text(body)), held)
        estimated = replace(estimated, input_tokens=max(tokens - cached, 0))
    if output_missing(usage, answer):
        estimated = replace(estimated, output_tokens=min(count(answer), bounds.output))
    return estimated


@dataclass(frozen=True)
class Answered:
    """What the rules need to know of an answered call; `answer_of` gives its text, read only when needed."""

    route: Route
    body: Mapping[str, Any]
    target: Target | None
    raw_size: int  # the body's size in bytes
    answer_of: Callable[[], str]

    def checked(self, usage: Usage) -> tuple[Usage, Bounds, str | None]:
        """The usage capped, its bounds, and the answer's text if a count is missing (else None)."""
        bounds = call_bounds(route=self.route, body=self.body, target=self.target)
        capped = usage_capped(usage, bounds)
        if not (input_missing(capped) or not capped.output_reported or capped.output_tokens < SUSPICIOUS_OUTPUT):
            return capped, bounds, None
        answer = self.answer_of()
        return capped, bounds, answer if input_missing(capped) or output_missing(capped, answer) else None

    def request(self) -> dict[str, Any]:
        return {"route": self.route, "body": self.body, "raw_size": self.raw_size}


async def usage_billed(usage: Usage, answered: Answered) -> Usage:
    """The usage to bill for an answered call: capped, and estimated where the provider sent no count."""
    capped, bounds, answer = answered.checked(usage)
    if answer is None:
        return capped
    try:
        return await in_pool(usage_estimate, capped, answer=answer, bounds=bounds, **answered.request())
    except Exception:  # the tokenizer failing must never cost the call its row: the rough count, then
        log.exception("tokenising an answer for its estimate failed")
        return usage_estimate(capped, answer=answer, bounds=bounds, count=rough_tokens, **answered.request())


def usage_billed_now(usage: Usage, answered: Answered) -> Usage:
    """`usage_billed` without leaving the event loop (a call cancelled at shutdown): the rough estimate."""
    capped, bounds, answer = answered.checked(usage)
    if answer is None:
        return capped
    return usage_estimate(capped, answer=answer, bounds=bounds, count=rough_tokens, **answered.request())


# --- the text of a JSON answer ---------------------------------------------------------------------


def answer_text(route: Route, answer: Mapping[str, Any]) -> str:
    """The text a JSON answer carries (messages, tool arguments, reasoning summaries), for an estimate."""
    if route is Route.CHAT:
        parts: Any = [choice.get("message") for choice in answer.get("choices") or [] if isinstance(choice, Mapping)]
    elif route is Route.RESPONSES:
        parts = answer.get("output")
    else:
        parts = answer.get("content")
    return "".join(_strings(parts))


def _strings(value: Any, key: str = "") -> Iterator[str]:
    if key in NOT_TEXT:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from _strings(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
