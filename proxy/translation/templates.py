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
translation equals a fresh one. Claude's plain-text JSON answers are reused the same way (the end of
this module).
"""

from __future__ import annotations

import copy
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeAlias

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


TEMPLATES: OrderedDict[Any, Kept] = OrderedDict()
Kept: TypeAlias = "Template | Filled | AnswerTemplate | Once | None"  # None: a shape that keeps none
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


def kept(key: Any) -> Kept | object:
    """The template kept for `key`, None if its shape keeps none, or MISSING if it was never made."""
    template = TEMPLATES.get(key, MISSING)
    if template is not MISSING:
        TEMPLATES.move_to_end(key)
    return template


def keep(key: Any, template: Kept) -> None:
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


# --- a provider's JSON answer → a chat or Responses answer (Claude's, proxy.translation.chat, proxy.translated) -
#
# What LiteLLM makes of a plain-text answer (Anthropic → chat, then → Responses) depends on the request's shape
# and parameters, the answer's fields other than its texts, its counts (in the usage block only: checked), and
# three values made per call: the chat answer's id (`chatcmpl-<uuid4>`), the time (`created`, `created_at`)
# and each Responses output item's id (`msg_<uuid4>`). The usage block is left to the caller (LiteLLM's own
# reading of each answer's counts on chat; the billed counts alone on Responses). The texts (and the answer's
# id and stop sequence) are marked like a request's; the per-call values become slots filled on every call.

ANSWER_MARKED = ("id", "content", "stop_sequence", "usage")  # the rest of an answer is part of its shape by value
# Parameters under which LiteLLM may read an answer's text (JSON mode, tool calls): such answers are never kept.
READS_TEXT = ("tools", "tool_choice", "response_format", "functions", "function_call", "json_mode")
UUID4 = re.compile(r"(.*?)[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
STAMPS = frozenset({"created", "created_at"})  # an answer's time: LiteLLM's `int(time.time())` as it reads it
COUNTS = (0, 10**9 + 7)  # the other counts a template is checked with: none, and more than any limit


class Once:
    """An answer shape seen once: its template is made (three translations) only if it comes again."""


ONCE = Once()


class Unfit(Exception):
    """Two translations of one shape differ where no per-call value can be."""


@dataclass(frozen=True)
class AnswerTemplate:
    """A translated answer cut at its markers: the answer's texts, then one slot per value made per call."""

    document: Filled
    slots: tuple[str | None, ...]  # a fresh id's prefix (`msg_`) for each slot, None for the time

    def fill(self, texts: list[str]) -> dict[str, Any]:
        values = [orjson.dumps(text) for text in texts]
        for prefix in self.slots:
            values.append(str(int(time.time())).encode() if prefix is None else orjson.dumps(f"{prefix}{uuid.uuid4()}"))
        result: dict[str, Any] = self.document.fill(values)
        return result


def reused_answer(
    kind: str, request: ChatRequest, more: Mapping[str, Any], answer: Any, translate: Callable[[bytes], dict[str, Any]]
) -> dict[str, Any] | None:
    """`answer` translated through its shape's template (its `usage` None: the caller's to fill), or None when it has
    none: then the caller translates it afresh. `more` is what else of the request the translation reads."""
    answer_format = ANSWER_FORMATS.get(request.provider)
    found = None if answer_format is None else answer_format.shape(answer)
    context = None if found is None else answer_context(request, more)
    if found is None or context is None:
        return None
    shape, texts = found
    key = (kind, request.provider, request.model, context, shape)
    template = kept(key)
    if template is MISSING:  # made on a shape's second answer: one seen once costs what it would without templates
        keep(key, ONCE)
        return None
    if template is ONCE and answer_format is not None:
        template = made_answer(answer_format, answer, translate)
        keep(key, template)
    return template.fill(texts) if isinstance(template, AnswerTemplate) else None


def answer_context(request: ChatRequest, more: Mapping[str, Any]) -> Any:
    """What of the request LiteLLM reads an answer with: the messages' shape and every parameter by value; None
    where it may read the answer's text."""
    if request.json_mode or any(name in request.optional_params for name in READS_TEXT):
        return None
    messages = shape_of({"messages": request.messages})
    rest = rest_of({"optional": request.optional_params, "litellm": request.litellm_params, "more": more})
    return None if messages is None or rest is None else (messages[0], rest)


def anthropic_answer_shape(answer: Any) -> tuple[Any, list[str]] | None:
    """A Messages answer's shape and its texts in order (its id, each text block's text, its stop sequence), or None
    unless its content is text blocks alone, its usage plain counts and every other field a plain value."""
    if type(answer) is not dict or type(answer.get("id")) is not str or type(answer.get("content")) is not list:
        return None
    texts: list[str] = []
    kinds = [text_kind(answer["id"], texts)]
    for block in answer["content"]:
        if type(block) is not dict or block.keys() != {"type", "text"} or block["type"] != "text":
            return None
        kinds.append(text_kind(block["text"], texts) if type(block["text"]) is str else None)
    stop = answer.get("stop_sequence", MISSING)
    kinds.append("none" if stop is None or stop is MISSING else text_kind(stop, texts) if type(stop) is str else None)
    counts = counts_shape(answer["usage"]) if type(answer.get("usage")) is dict else None
    fixed = tuple((name, value) for name, value in answer.items() if name not in ANSWER_MARKED)
    if None in kinds or counts is None or not all(plain(value) for _, value in fixed):
        return None
    return (tuple(answer), tuple(kinds), counts, fixed), texts


def anthropic_marked(answer: Mapping[str, Any], spaces: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The answer with its texts replaced by their markers, in `anthropic_answer_shape`'s order."""
    marked_answer = {**answer, "id": marker(answer["id"], spaces)}
    marked_answer["content"] = [{**block, "text": marker(block["text"], spaces)} for block in answer["content"]]
    if isinstance(answer.get("stop_sequence"), str):
        marked_answer["stop_sequence"] = marker(answer["stop_sequence"], spaces)
    return marked_answer


def anthropic_counted(answer: Mapping[str, Any], count: int) -> dict[str, Any]:
    return {**answer, "usage": with_counts(answer["usage"], count)}


GEMINI_OWN = ("candidates", "usageMetadata", "responseId")  # an answer's fields read per answer, not by value
GEMINI_VARIED = ("content", "avgLogprobs")  # a candidate's fields outside its shape: its texts, a per-call number
GEMINI_FINISHED = frozenset({"STOP", "MAX_TOKENS"})  # the finish reasons of an answer LiteLLM reads as plain


def gemini_answer_shape(answer: Any) -> tuple[Any, list[str]] | None:
    """A `generateContent` answer's shape and its texts in order (its response id, each text part's text), or None
    unless it has one candidate of text parts alone and plain counts; its other fields are part of it by value
    (the candidate's `avgLogprobs`, a number every answer has its own of, is checked not to matter)."""
    if type(answer) is not dict or type(answer.get("candidates")) is not list or len(answer["candidates"]) != 1:
        return None
    candidate = answer["candidates"][0]
    content = candidate.get("content") if type(candidate) is dict else None
    if type(content) is not dict or content.keys() != {"parts", "role"} or type(content["parts"]) is not list:
        return None
    texts: list[str] = []
    ident = answer.get("responseId", MISSING)
    kinds = ["none" if ident is MISSING else text_kind(ident, texts) if type(ident) is str else None]
    for part in content["parts"]:
        if type(part) is not dict or part.keys() != {"text"} or type(part["text"]) is not str:
            return None
        kinds.append(text_kind(part["text"], texts))
    if candidate.get("finishReason", "STOP") not in GEMINI_FINISHED or "promptFeedback" in answer:
        return None  # LiteLLM reads a flagged answer another way (its usage too)
    logprobs = candidate.get("avgLogprobs", MISSING)
    kinds.append("none" if logprobs is MISSING else "n" if type(logprobs) in (int, float) else None)
    counts = counts_shape(answer["usageMetadata"]) if type(answer.get("usageMetadata")) is dict else None
    fixed = rest_of(
        {"answer": {name: value for name, value in answer.items() if name not in GEMINI_OWN},
         "candidate": {name: value for name, value in candidate.items() if name not in GEMINI_VARIED},
         "role": content["role"], "names": [list(answer), list(candidate)]}
    )  # fmt: skip
    if None in kinds or counts is None or fixed is None:
        return None
    return (tuple(kinds), counts, fixed), texts


def gemini_marked(answer: Mapping[str, Any], spaces: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The answer with its texts replaced by their markers, in `gemini_answer_shape`'s order."""
    marked_answer = dict(answer)
    if "responseId" in answer:
        marked_answer["responseId"] = marker(answer["responseId"], spaces)
    candidate = answer["candidates"][0]
    parts = [{"text": marker(part["text"], spaces)} for part in candidate["content"]["parts"]]
    marked_answer["candidates"] = [{**candidate, "content": {**candidate["content"], "parts": parts}}]
    return marked_answer


def gemini_counted(answer: Mapping[str, Any], count: int) -> dict[str, Any]:
    candidate = answer["candidates"][0]
    if "avgLogprobs" in candidate:
        candidate = {**candidate, "avgLogprobs": -count / 7}
    return {**answer, "candidates": [candidate], "usageMetadata": with_counts(answer["usageMetadata"], count)}


@dataclass(frozen=True)
class AnswerFormat:
    """A provider's plain-text JSON answer: its shape and texts, the answer with markers for them, and the answer
    with every count (and other number of its own) set to one value."""

    shape: Callable[[Any], tuple[Any, list[str]] | None]
    marked: Callable[[Mapping[str, Any], list[tuple[bytes, bytes]]], dict[str, Any]]
    counted: Callable[[Mapping[str, Any], int], dict[str, Any]]


ANSWER_FORMATS = {
    "anthropic": AnswerFormat(anthropic_answer_shape, anthropic_marked, anthropic_counted),
    "gemini": AnswerFormat(gemini_answer_shape, gemini_marked, gemini_counted),
}


def plain(value: Any) -> bool:
    return value is None or type(value) in (str, int, bool, float)


def counts_shape(value: Any) -> Any:
    """A usage block's shape: its counts (integers) by place, every other value as it is; None if not plain."""
    if type(value) is int:
        return "n"
    if type(value) is dict:
        inner = tuple((name, counts_shape(item)) for name, item in value.items())
        return None if any(shape is None for _, shape in inner) else ("{", inner)
    if type(value) is list:  # Gemini's per-modality counts
        items = tuple(counts_shape(item) for item in value)
        return None if None in items else ("[", items)
    return ("=", value) if plain(value) else None


def with_counts(value: Any, count: int) -> Any:
    if type(value) is int:
        return count
    if type(value) is dict:
        return {name: with_counts(item, count) for name, item in value.items()}
    if type(value) is list:
        return [with_counts(item, count) for item in value]
    return value


def made_answer(
    answer_format: AnswerFormat, answer: Mapping[str, Any], translate: Callable[[bytes], dict[str, Any]]
) -> AnswerTemplate | None:
    """The translation of `answer`'s shape with markers for texts and slots for per-call values, if it reads the
    same with other counts and differs between runs only in those values; else None."""
    spaces: list[tuple[bytes, bytes]] = []
    marked_answer = answer_format.marked(answer, spaces)
    given = (marked_answer, *(answer_format.counted(marked_answer, count) for count in COUNTS))
    try:
        runs = [translate(orjson.dumps(one)) for one in given]
    except Exception:  # LiteLLM refuses an answer in many ways; its calls then get the refusal afresh
        return None
    for run in runs:
        if "usage" in run:
            run["usage"] = None  # the caller's to fill, where LiteLLM puts it
    slots: list[str | None] = []
    try:
        document = slotted(runs[0], runs[1:], slots, len(spaces), top=True)
        filled_document = cut(orjson.dumps(document), [*spaces, *[(b"", b"")] * len(slots)], all_texts=False)
    except (Unfit, TypeError):
        return None
    if filled_document is None or not set(range(len(spaces), len(spaces) + len(slots))) <= set(filled_document.order):
        return None
    return AnswerTemplate(filled_document, tuple(slots))


def slotted(value: Any, others: list[Any], slots: list[str | None], first: int, *, top: bool = False) -> Any:
    """`value` with a slot marker where it and `others` (the same answer translated again) hold a per-call value."""
    if any(type(other) is not type(value) for other in others):
        raise Unfit
    if type(value) is dict:
        if any(list(other) != list(value) for other in others):
            raise Unfit
        result = {}
        for name, item in value.items():
            if top and name in STAMPS and all(is_now(run[name]) for run in (value, *others)):
                result[name] = slot(None, slots, first)
            else:
                result[name] = slotted(item, [other[name] for other in others], slots, first)
        return result
    if type(value) is list:
        if any(len(other) != len(value) for other in others):
            raise Unfit
        return [slotted(item, [other[i] for other in others], slots, first) for i, item in enumerate(value)]
    if all(other == value for other in others):
        return value
    found = [UUID4.fullmatch(item) for item in (value, *others) if type(item) is str]
    prefixes = {match[1] for match in found if match}
    if len(found) == len(others) + 1 and all(found) and len(prefixes) == 1 and len({value, *others}) == len(found):
        return slot(prefixes.pop(), slots, first)
    raise Unfit


def is_now(value: Any) -> bool:
    return type(value) is int and abs(value - time.time()) < 5


def slot(prefix: str | None, slots: list[str | None], first: int) -> str:
    slots.append(prefix)
    return f"{MARK}{first + len(slots) - 1}x"
