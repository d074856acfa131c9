"""LiteLLM's request translation run once per request shape, its output reused with each call's own texts put in.

What LiteLLM's chat transformations (proxy.translation.chat) make of a request depends on its shape:
the provider settings, each message's role and kind of content, and every parameter. The texts of the
messages they carry through unchanged. So for a request whose messages are plain text (roles system,
developer, user, assistant; a string or text parts), the translation runs once with a unique marker
in each text's place, is checked, and kept: a later call of the same shape gets that output with its
own texts where the markers were. That is most of a translated call's CPU (LiteLLM's transformations
walk the model map and build pydantic objects on every call; ~0.1 ms for a Claude request, measured).

A translation is kept only when each marker comes out once, whole, as a JSON string of the body and
of the messages handed to the answer's transformation, and nowhere else. One that drops, joins,
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


TEMPLATES: OrderedDict[Any, Template | None] = OrderedDict()


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
        content = message.get("content")
        if type(content) is str:
            kind = text_kind(content, texts)
        elif type(content) is list:
            kinds = [part_kind(part, texts) for part in content]
            kind = None if None in kinds else tuple(kinds)
        else:
            return None
        if kind is None:
            return None
        shape.append((message["role"], kind))
    return tuple(shape), texts


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


def marked(params: Mapping[str, Any], spaces: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """`params` with each non-empty text replaced by its marker, of the same kind (`spaces`: each one's ends)."""

    def mark(text: str) -> str:
        if not text:
            return text
        ends = (b" " if text[0].isspace() else b"", b" " if text[-1].isspace() else b"")
        spaces.append(ends)
        return f"{ends[0].decode()}{MARK}{len(spaces) - 1}x{ends[1].decode()}"

    messages = []
    for message in params["messages"]:
        content = message["content"]
        if isinstance(content, str):
            messages.append({**message, "content": mark(content)})
        else:
            messages.append({**message, "content": [{**part, "text": mark(part["text"])} for part in content]})
    return {**params, "messages": messages}


async def chat_request(call: ChatCall, build: Build) -> ChatRequest:
    """The provider request for `call`, from its shape's kept translation when it has one."""
    found = shape_of(call.params)
    if found is None:
        return await fresh(call, build)
    shape, texts = found
    try:
        rest = orjson.dumps({name: value for name, value in call.params.items() if name != "messages"},
                            option=orjson.OPT_SORT_KEYS)  # fmt: skip
    except TypeError:  # a parameter JSON cannot hold: not a shape to keep
        return await fresh(call, build)
    key = (call.provider, call.model, call.api_key, call.api_base, call.api_version, call.stream, shape, rest)
    if key in TEMPLATES:
        template = TEMPLATES[key]
        TEMPLATES.move_to_end(key)
    else:
        template = await made(call, build)
        TEMPLATES[key] = template
        if len(TEMPLATES) > LIMIT:
            TEMPLATES.popitem(last=False)
    if template is None:
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
        messages = cut(orjson.dumps(request.messages), spaces)
        params = orjson.dumps({"optional": request.optional_params, "litellm": request.litellm_params})
    except Exception:  # LiteLLM refuses a shape in many ways; its calls then get the refusal afresh
        return None
    if data is None or messages is None or MARK.encode() in params or MARK in request.url + repr(request.headers):
        return None
    return Template(request, data, messages, params)


def cut(document: bytes, spaces: list[tuple[bytes, bytes]]) -> Filled | None:
    """`document` cut at its markers, if each is there once and whole (its whitespace too), and nothing else is."""
    matches = list(MARKED.finditer(document))
    order = [int(match[2]) for match in matches]
    if sorted(order) != list(range(len(spaces))) or document.count(MARK.encode()) != len(spaces):
        return None
    if any((match[1], match[3]) != spaces[index] for index, match in zip(order, matches, strict=True)):
        return None
    segments, start = [], 0
    for match in matches:
        segments.append(document[start : match.start()])
        start = match.end()
    segments.append(document[start:])
    return Filled(tuple(segments), tuple(order))
