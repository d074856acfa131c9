"""LiteLLM's request translation run once per request shape, its output reused with each call's own texts put in.

What LiteLLM's chat transformations (proxy.translation.chat) make of a request depends on its shape:
the provider settings, each message's role and kind of content, and every parameter. The texts of the
messages they carry through unchanged. So for a request whose messages are plain text (roles system,
developer, user, assistant; a string or text parts), the translation runs once with a unique marker
in each text's place, is checked, and kept: a later call of the same shape gets that output with its
own texts where the markers were. That is most of a translated call's CPU (LiteLLM's transformations
walk the model map and build pydantic objects on every call; ~0.1 ms for a Claude request, measured).

A translation is kept only when each marker comes out once, whole, as a JSON string of the body (and at
most once in the messages handed to the answer's transformation), and nowhere else. One that drops, joins,
splits, strips, copies or looks into a text is not kept; calls of that shape are translated afresh
each time, as are requests with anything else in their messages (tools, images, cache control, names).
A text's kind is part of its shape (empty, leading or trailing whitespace), so that a rule that reads
those (Anthropic's trailing-whitespace rule) sees a marker of the same kind.
tests/proxy/test_translation_templates.py checks over generated requests, per provider, that a reused
translation equals a fresh one.
"""

from __future__ import annotations

import copy
import re
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from proxy.translation.chat import ChatCall, ChatRequest

# Unique to this process: a client cannot put it in a text but by a 1 in 2**48 chance, and if it did the
# check below would refuse the template (the marker would appear more often than the texts).
MARK = f"gw{secrets.token_hex(6)}t"
MARKED = re.compile(rb'"( ?)' + MARK.encode() + rb'(\d+)x( ?)"')
ROLES = frozenset({"system", "developer", "user", "assistant"})
LIMIT = 1024  # shapes kept; bounded because shapes come from clients
Build = Callable[["ChatCall", list[Any]], Awaitable["ChatRequest"]]


@dataclass(frozen=True)
class Filled:
    """A JSON document cut at its markers: the text of marker `order[i]` goes after `segments[i]`."""

    segments: tuple[bytes, ...]
    order: tuple[int, ...]

    def fill(self, texts: list[bytes]) -> Any:
        parts = [self.segments[0]]
        for index, segment in zip(self.order, self.segments[1:], strict=True):
            parts += (texts[index], segment)
        return orjson.loads(b"".join(parts))


@dataclass(frozen=True)
class Template:
    request: ChatRequest  # the marked translation: everything but its data and messages is reused as it is
    data: Filled
    messages: Filled
    params: bytes  # optional_params and litellm_params, as JSON: each call gets its own copy


TEMPLATES: OrderedDict[Any, Template | Filled | None] = OrderedDict()
MISSING = object()


def shape_of(params: Mapping[str, Any]) -> tuple[Any, list[str]] | None:
    """The messages' shape and their texts in order, or None when a message is more than plain text."""
    messages = params.get("messages")
    if type(messages) is not list:
        return None
    shape: list[Any] = []
    texts: list[str] = []
    for message in messages:
        if type(message) is not dict or len(message) != 2 or message.get("role") not in ROLES:
            return None
        kind = content_kind(message.get("content"), texts)
        if kind is None:
            return None
        shape.append((message["role"], kind))
    return tuple(shape), texts


def content_kind(content: Any, texts: list[str]) -> Any:
    """A content's shape (a string, or a list of text parts), its texts added to `texts`; None if not plain text."""
    if type(content) is str:
        return text_kind(content, texts)
    if type(content) is not list:
        return None
    kinds = [part_kind(part, texts) for part in content]
    return None if None in kinds else tuple(kinds)


def part_kind(part: Any, texts: list[str]) -> Any:
    if type(part) is not dict or len(part) != 2 or part.get("type") != "text":
        return None
    text = part.get("text")
    return text_kind(text, texts) if type(text) is str else None


def text_kind(text: str, texts: list[str]) -> Any:
    """'' for an empty text (kept as it is); else whether it starts and ends with whitespace. Whitespace alone: None."""
    if not text:
        return ""
    if text.isspace():
        return None
    texts.append(text)
    return (text[0].isspace(), text[-1].isspace())


def marker(text: str, spaces: list[tuple[bytes, bytes]]) -> str:
    """The next marker for `text`: same kind (its ends' whitespace noted in `spaces`); an empty text stays empty."""
    if not text:
        return text
    ends = (b" " if text[0].isspace() else b"", b" " if text[-1].isspace() else b"")
    spaces.append(ends)
    return f"{ends[0].decode()}{MARK}{len(spaces) - 1}x{ends[1].decode()}"


def marked_content(content: Any, spaces: list[tuple[bytes, bytes]]) -> Any:
    if isinstance(content, str):
        return marker(content, spaces)
    return [{**part, "text": marker(part["text"], spaces)} for part in content]


def marked(params: Mapping[str, Any], spaces: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """`params` with each non-empty text of its messages replaced by its marker, in order."""
    messages = [{**message, "content": marked_content(message["content"], spaces)} for message in params["messages"]]
    return {**params, "messages": messages}


def rest_of(params: Mapping[str, Any], *names: str) -> bytes | None:
    """Every parameter but `names`, as sorted JSON (part of a shape's key); None if JSON cannot hold one."""
    try:
        return orjson.dumps({name: value for name, value in params.items() if name not in names},
                            option=orjson.OPT_SORT_KEYS)  # fmt: skip
    except TypeError:
        return None


def kept(key: Any) -> Template | Filled | object | None:
    """The template kept for `key`, None if its shape keeps none, or MISSING if it was never made."""
    template = TEMPLATES.get(key, MISSING)
    if template is not MISSING:
        TEMPLATES.move_to_end(key)
    return template


def keep(key: Any, template: Template | Filled | None) -> None:
    TEMPLATES[key] = template
    if len(TEMPLATES) > LIMIT:
        TEMPLATES.popitem(last=False)


async def chat_request(call: ChatCall, build: Build) -> ChatRequest:
    """The provider request for `call`, from its shape's kept translation when it has one."""
    found = shape_of(call.params)
    rest = None if found is None else rest_of(call.params, "messages")
    if found is None or rest is None:
        return await fresh(call, build)
    shape, texts = found
    key = ("chat", call.provider, call.model, call.api_key, call.api_base, call.api_version, call.stream, shape, rest)
    template = kept(key)
    if template is MISSING:
        template = await made(call, build)
        keep(key, template)
    if not isinstance(template, Template):
        return await fresh(call, build)
    return filled(template, [orjson.dumps(text) for text in texts])


async def fresh(call: ChatCall, build: Build) -> ChatRequest:
    messages = copy.deepcopy(list(call.params["messages"]))  # LiteLLM's transformations edit them in place
    return await build(call, messages)


def filled(template: Template, texts: list[bytes]) -> ChatRequest:
    params = orjson.loads(template.params)
    return replace(
        template.request,
        headers=dict(template.request.headers),
        data=template.data.fill(texts),
        messages=template.messages.fill(texts),
        optional_params=params["optional"],
        litellm_params=params["litellm"],
    )


async def made(call: ChatCall, build: Build) -> Template | None:
    """The translation of `call`'s shape with markers for texts, if it passes every check; else None."""
    spaces: list[tuple[bytes, bytes]] = []
    try:
        request = await fresh(replace(call, params=marked(call.params, spaces)), build)
        data = cut(orjson.dumps(request.data), spaces)
        messages = cut(orjson.dumps(request.messages), spaces, all_texts=False)
        params = orjson.dumps({"optional": request.optional_params, "litellm": request.litellm_params})
    except Exception:  # LiteLLM refuses a shape in many ways; its calls then get the refusal afresh
        return None
    if data is None or messages is None or MARK.encode() in params or MARK in request.url + repr(request.headers):
        return None
    return Template(request, data, messages, params)


def cut(document: bytes, spaces: list[tuple[bytes, bytes]], *, all_texts: bool = True) -> Filled | None:
    """`document` cut at its markers, if each is there once and whole (its whitespace too), and nothing else is.

    With `all_texts` false a marker may also be missing (LiteLLM takes the system prompt out of the messages
    it hands the answer's transformation for some providers)."""
    matches = list(MARKED.finditer(document))
    order = [int(match[2]) for match in matches]
    if len(set(order)) != len(order) or document.count(MARK.encode()) != len(order):
        return None
    if (sorted(order) != list(range(len(spaces)))) if all_texts else any(index >= len(spaces) for index in order):
        return None
    if any((match[1], match[3]) != spaces[index] for index, match in zip(order, matches, strict=True)):
        return None
    segments, start = [], 0
    for match in matches:
        segments.append(document[start : match.start()])
        start = match.end()
    segments.append(document[start:])
    return Filled(tuple(segments), tuple(order))


# --- Messages → OpenAI Responses (proxy.translation.formats.messages_to_responses) ----------------


def messages_to_responses(
    body: Mapping[str, Any], key: tuple[Any, ...], translate: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """`translate(body)` (a Messages body to a Responses one), from its shape's kept translation when it has one.

    The shape is the messages' and the system prompt's (a string or text blocks), with every other field
    by value, and `key` (the model and whether it streams)."""
    found = shape_of(body)
    system = body.get("system")
    system_texts: list[str] = []
    system_kind = "none" if system is None else content_kind(system, system_texts)
    rest = None if found is None or system_kind is None else rest_of(body, "messages", "system")
    if found is None or rest is None:
        return translate(body)
    shape, texts = found
    full_key = ("messages-to-responses", *key, system_kind, shape, rest)
    template = kept(full_key)
    if template is MISSING:
        spaces: list[tuple[bytes, bytes]] = []
        given = body if system is None else {**body, "system": marked_content(system, spaces)}
        try:
            template = cut(orjson.dumps(translate(marked(given, spaces))), spaces)
        except Exception:  # LiteLLM refuses a shape in many ways; its calls then get the refusal afresh
            template = None
        keep(full_key, template)
    if not isinstance(template, Filled):
        return translate(body)
    result: dict[str, Any] = template.fill([orjson.dumps(text) for text in system_texts + texts])
    return result
