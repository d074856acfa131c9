"""What a request asks of the provider beyond its own bytes: billing modes with prices of their own, and
inputs the provider reads from elsewhere (its storage, a URL, a server-side tool).

Admission reads these for accounts with a budget: the hold's worst case uses the dearest rate the
request can incur and, when it has input the body does not bound, the model's whole context window;
a mode the model has no price for is refused rather than billed at a cheaper rate (docs "Guarantees").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ModelNotPriced
from pricing.selectors import Modes, Price, tier_rates
from proxy.request_params import Route

# Tiers a provider may pick by itself (OpenAI's `auto`, Anthropic's default), and the ones that name standard.
AUTO_TIERS = frozenset({"", "auto"})
STANDARD_TIERS = frozenset({"default", "standard", "standard_only"})
# Responses fields whose input the provider reads from its own storage, however small the body.
STORED_INPUTS = ("previous_response_id", "conversation", "prompt")
# Tool types the client runs itself (their results come back in a later body); any other runs at the provider.
CLIENT_TOOLS = ("function", "custom", "bash", "text_editor", "computer")
# Where a body holds what the model reads; tool schemas (`parameters`, `input_schema`) are not read as input.
PROMPT_FIELDS = ("messages", "input", "system", "instructions", "tools")
SCHEMAS = frozenset({"parameters", "input_schema", "schema"})


def input_bound(*, raw_size: int, window: int, unbounded: bool) -> int:
    """The most input tokens a call can read: its body's bytes (no tokenizer makes more tokens than bytes)
    within the model's window, or the whole window when it reads input the body does not hold."""
    return window if unbounded else min(raw_size, window)


@dataclass(frozen=True)
class RequestModes:
    tier: str = ""  # the service_tier asked for, lower-cased ("" when none)
    audio_input: bool = False
    audio_output: bool = False
    cache_1h: bool = False
    unbounded: str = ""  # the first field that makes the provider read input the body does not hold

    def hold_modes(self) -> Modes:
        """The modes for the hold: a tier the provider may pick itself (auto) may be priority."""
        if self.tier in AUTO_TIERS:
            tiers: tuple[str, ...] = ("", "priority")
        elif self.tier == "priority":
            tiers = ("priority",)
        else:  # standard, and flex (never dearer than standard)
            tiers = ("",)
        return Modes(tiers=tiers, audio_input=self.audio_input, audio_output=self.audio_output, cache_1h=self.cache_1h)


def request_modes(route: Route, body: Mapping[str, Any]) -> RequestModes:
    tier = body.get("service_tier")
    modalities = body.get("modalities")
    audio_output = body.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities)
    facts = _walk(body)
    unbounded = (
        next((name for name in STORED_INPUTS if body.get(name) is not None), "") if route is Route.RESPONSES else ""
    )
    if not unbounded and body.get("web_search_options") is not None:
        unbounded = "web_search_options"
    unbounded = unbounded or server_tool(body)
    return RequestModes(
        tier=tier.strip().lower() if isinstance(tier, str) else "",
        audio_input="input_audio" in facts,
        audio_output=audio_output,
        cache_1h="cache_1h" in facts,
        unbounded=unbounded or next((fact for fact in facts if fact not in ("input_audio", "cache_1h")), ""),
    )


def _walk(body: Mapping[str, Any]) -> dict[str, None]:
    """Facts found in the prompt fields, in order: "input_audio", "cache_1h", or the name of an unbounded input."""
    found: dict[str, None] = {}
    stack = [body[name] for name in reversed(PROMPT_FIELDS) if name in body]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, Mapping):
            for fact in _facts(item):
                found.setdefault(fact, None)
            stack.extend(value for key, value in item.items() if key not in SCHEMAS and isinstance(value, list | dict))
    return found


def _facts(item: Mapping[str, Any]) -> Iterator[str]:
    kind = item.get("type")
    if kind == "input_audio":
        yield "input_audio"
    cache = item.get("cache_control")
    if isinstance(cache, Mapping) and cache.get("ttl") == "1h":
        yield "cache_1h"
    if kind == "item_reference":
        yield "item_reference"
    for name in ("file_id", "file_url"):
        if item.get(name) is not None:
            yield name
    image = item.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    if isinstance(url, str) and not url.startswith("data:"):
        yield "image_url"
    source = item.get("source")
    if isinstance(source, Mapping) and source.get("type") in ("url", "file"):
        yield f"source ({source.get('type')})"


def server_tool(body: Mapping[str, Any]) -> str:
    """The first tool the provider runs itself (web search, file search, code execution ...), as 'tools (type)'."""
    for tool in body.get("tools") or ():
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        if isinstance(kind, str) and not kind.startswith(CLIENT_TOOLS):
            return f"tools ({kind})"
    return ""


def modes_check(*, model: str, modes: RequestModes, price: Price | None) -> None:
    """Refuses (403 model_not_priced) a billing mode the model has no price for: for accounts with a budget."""
    if price is None:
        return
    missing = ""
    if modes.tier not in AUTO_TIERS | STANDARD_TIERS | {"flex"}:
        if modes.tier != "priority" or tier_rates(price, "priority") is None:
            missing = f"the service tier '{modes.tier}' ('service_tier')"
    elif modes.cache_1h and price.cache_write_1h_per_mtok is None:
        missing = "one-hour cache writes ('cache_control': {'ttl': '1h'})"
    elif modes.audio_input and price.input_audio_per_mtok is None:
        missing = "audio input ('input_audio')"
    elif modes.audio_output and price.output_audio_per_mtok is None:
        missing = "audio output ('modalities': ['audio'])"
    if missing:
        raise ModelNotPriced(
            f"The model '{model}' has no price for {missing} on this gateway, so accounts with a budget cannot "
            "use it. Ask an operator to add that price, or leave the option out."
        )
