"""A reused translation (proxy.translation.templates) equals LiteLLM's fresh one, for every provider and shape.

Each generated request is first translated through its shape's kept template (made, if need be, from
another request of that shape with other texts), then afresh by LiteLLM's transformations; every part
of the two must be equal: URL, headers, body, the messages and parameters the answer is read with.
"""

import asyncio
import re
import secrets

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.translation import chat, templates
from proxy.translation.core import litellm_module

pytestmark = pytest.mark.engine_independent

TARGETS = [  # (LiteLLM model, API base, API version)
    ("anthropic/claude-haiku-4-5", "http://127.0.0.1:9/anthropic", None),
    ("anthropic/claude-sonnet-4-5", None, None),
    ("gemini/gemini-2.5-flash", "http://127.0.0.1:9/gemini", None),
    ("cohere/command-r-08-2024", "http://127.0.0.1:9/cohere", None),
    ("cohere_chat/command-a-03-2025", None, None),
    ("azure/my-deployment", "https://example-resource.openai.azure.com", "2024-10-21"),
]
# Texts LiteLLM could treat differently by their value: whitespace at either end, empty, newlines, quotes and
# escapes, URLs and data URIs, markup, non-ASCII, and this process's own marker.
TRICKY = ["", " ", "\n", "a ", " a", "a\n", "\t\ta", 'say "hi"\\n', "https://example.com/x.pdf", "gs://b/f.png",
          "data:image/png;base64,iVBORw0KGgo=", "<thinking>x</thinking>", "{\"a\": 1}", "héllo ✓ 🙂", "\u2028",
          templates.MARK, f"x{templates.MARK}0x"]  # fmt: skip
texts = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
parts = st.lists(st.builds(lambda text: {"type": "text", "text": text}, texts), min_size=1, max_size=3)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user", "assistant"]), "content": st.one_of(texts, parts)}
    ),
    min_size=1,
    max_size=6,
)
params = st.fixed_dictionaries(
    {},
    optional={
        "max_tokens": st.integers(1, 4096),
        "temperature": st.sampled_from([0, 0.2, 1.0]),
        "top_p": st.sampled_from([0.5, 1]),
        "stop": st.one_of(st.sampled_from(["END", "\n"]), st.lists(st.sampled_from(["a", " ", "###"]), max_size=2)),
        "user": st.sampled_from(["u-1", templates.MARK]),
        "response_format": st.just({"type": "json_object"}),
    },
)


@pytest.fixture(autouse=True)
def imported_offline():
    litellm_module()
    templates.TEMPLATES.clear()


def other_texts(body):
    """The same shape with different texts (each text's ends kept), to make the template from."""

    def other(text):
        if not text or text.isspace():
            return text
        return f"{text[0] if text[0].isspace() else ''}other{text[-1] if text[-1].isspace() else ''}"

    result = []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            result.append({**message, "content": other(content)})
        else:
            result.append({**message, "content": [{**part, "text": other(part["text"])} for part in content]})
    return {**body, "messages": result}


def call_for(target, body, stream):
    litellm_model, api_base, api_version = target
    provider, model = chat.provider_of(litellm_model)
    return chat.ChatCall(provider, model, "sk-test", api_base, api_version, body, stream), chat.BUILDERS[provider]


def parts_of(request):
    return (request.url, request.headers, request.data, request.messages, request.optional_params,
            request.litellm_params, request.json_mode, request.provider, request.model)  # fmt: skip


async def both(target, body, stream):
    call, build = call_for(target, body, stream)
    template_call, _ = call_for(target, other_texts(body), stream)
    outcomes = []
    for way in (lambda: templates.chat_request(template_call, build), lambda: templates.chat_request(call, build),
                lambda: templates.fresh(call, build)):  # fmt: skip
        try:
            outcomes.append(("ok", parts_of(await way())))
        except Exception as exc:  # LiteLLM's refusal must be the same either way
            outcomes.append(("refused", type(exc).__name__, str(exc)))
    return outcomes[1], outcomes[2]


@pytest.mark.parametrize("target", TARGETS, ids=[target[0] for target in TARGETS])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=messages, params=params, stream=st.booleans())
def test_a_reused_translation_equals_a_fresh_one(target, messages, params, stream):
    body = {"model": target[0].partition("/")[2], "messages": messages, **params}
    reused, fresh = asyncio.run(both(target, body, stream))
    assert reused == fresh


@pytest.mark.parametrize("target", TARGETS, ids=[target[0] for target in TARGETS])
def test_a_plain_request_is_translated_once_per_shape(target):
    """Only the first call of a shape runs LiteLLM's transformations (once marked); the others reuse them."""
    runs = []
    call, build = call_for(target, {}, False)

    async def counted(call, messages):
        runs.append(call.params["messages"][-1]["content"])
        return await build(call, messages)

    async def three():
        found = []
        for text in ("one", "two", "three"):
            body = {"model": call.model, "messages": [{"role": "user", "content": text}], "max_tokens": 9}
            found.append(await templates.chat_request(call_for(target, body, False)[0], counted))
        return found

    requests = asyncio.run(three())
    assert len(runs) == 1 and runs[0].startswith(templates.MARK)
    for request, text in zip(requests, ("one", "two", "three"), strict=True):
        assert text in str(request.data) and templates.MARK not in str(request.data)


def test_a_text_litellm_changes_is_never_reused():
    """Anthropic refuses a final assistant text that ends in whitespace, and LiteLLM strips it: that text is
    never put in a template made from one without, and its own shape keeps no template."""
    target = TARGETS[0]

    def body(last):
        return {"model": "claude-haiku-4-5", "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": last}]}  # fmt: skip

    async def run():
        call, build = call_for(target, body("Sure"), False)
        await templates.chat_request(call, build)  # a template, for texts without trailing whitespace
        stripped, _ = call_for(target, body("Sure "), False)
        return parts_of(await templates.chat_request(stripped, build)), parts_of(await templates.fresh(stripped, build))

    reused, fresh = asyncio.run(run())
    assert reused == fresh
    assert fresh[2]["messages"][-1]["content"][0]["text"] == "Sure"
    assert sorted(template is None for template in templates.TEMPLATES.values()) == [False, True]


def test_shapes_kept_are_bounded():
    """Shapes come from clients: past the limit, the least recently used is dropped."""
    target = TARGETS[3]

    async def many():
        for tokens in range(1, templates.LIMIT + 6):
            body = {"model": "command-r-08-2024", "messages": [{"role": "user", "content": "x"}], "max_tokens": tokens}
            await templates.chat_request(call_for(target, body, False)[0], chat.BUILDERS["cohere"])

    asyncio.run(many())
    assert len(templates.TEMPLATES) == templates.LIMIT
    assert [key[-1] for key in list(templates.TEMPLATES)[:1]] == [b'{"max_tokens":6,"model":"command-r-08-2024"}']


# --- Messages → OpenAI Responses ------------------------------------------------------------------

blocks = st.lists(st.builds(lambda text: {"type": "text", "text": text}, texts), min_size=1, max_size=3)
messages_format = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": st.one_of(texts, blocks)}),
    min_size=1,
    max_size=6,
)
messages_params = st.fixed_dictionaries(
    {"max_tokens": st.integers(1, 4096)},
    optional={
        "system": st.one_of(texts, blocks, st.just([])),
        "temperature": st.sampled_from([0, 0.5]),
        "top_p": st.just(0.9),
        "stop_sequences": st.just(["END"]),
        "metadata": st.sampled_from([{"user_id": "u-1"}, {"user_id": templates.MARK}]),
    },
)


def other_messages_texts(body):
    other = other_texts(body)
    system = body.get("system")
    if system is not None:
        other["system"] = other_texts({"messages": [{"role": "system", "content": system}]})["messages"][0]["content"]
    return other


@pytest.mark.parametrize("model", ["gpt-4o-mini", "o3-mini"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=messages_format, params=messages_params, stream=st.booleans())
def test_a_reused_messages_to_responses_translation_equals_a_fresh_one(model, messages, params, stream):
    from proxy.translation import formats

    body = {"model": model, "messages": messages, **params}

    def outcome(way):
        try:
            return "ok", way()
        except Exception as exc:  # LiteLLM's refusal must be the same either way
            return "refused", type(exc).__name__, str(exc)

    outcome(lambda: formats.messages_to_responses(other_messages_texts(body), f"openai/{model}", model, stream))
    reused = outcome(lambda: formats.messages_to_responses(body, f"openai/{model}", model, stream))
    fresh = outcome(lambda: formats.translate_messages_to_responses(body, f"openai/{model}", model, stream))
    assert reused == fresh


def test_a_plain_messages_request_is_translated_to_responses_once_per_shape():
    from proxy.translation import formats

    runs = []

    def counted(given):
        runs.append(given)
        return formats.translate_messages_to_responses(given, "openai/gpt-4o-mini", "gpt-4o-mini", False)

    found = []
    for text in ("one", "two", "three"):
        body = {"model": "gpt-4o-mini", "max_tokens": 9, "system": "Be brief.",
                "messages": [{"role": "user", "content": text}]}  # fmt: skip
        found.append(templates.messages_to_responses(body, ("openai/gpt-4o-mini", "gpt-4o-mini", False), counted))
    assert len(runs) == 1 and templates.MARK in str(runs[0])
    for result, text in zip(found, ("one", "two", "three"), strict=True):
        assert text in str(result["input"]) and result["instructions"] == "Be brief."


# --- a provider's answer → a Responses answer (Claude on /v1/responses) -------------------------------------

UUID_OR_TIME = re.compile(r"^(.*?)[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
counts = st.one_of(st.integers(0, 20), st.integers(0, 10**6))
answer_usages = st.fixed_dictionaries(
    {"input_tokens": counts, "output_tokens": counts},
    optional={
        "cache_creation_input_tokens": counts,
        "cache_read_input_tokens": counts,
        "cache_creation": st.fixed_dictionaries(
            {"ephemeral_5m_input_tokens": counts, "ephemeral_1h_input_tokens": counts}
        ),
        "server_tool_use": st.fixed_dictionaries({"web_search_requests": counts}),
        "service_tier": st.sampled_from(["standard", "priority", None]),
    },
)
answers = st.fixed_dictionaries(
    {
        "id": st.one_of(st.just("msg_01XFDUDYJgAACzvnptvVoYEL"), texts),
        "type": st.just("message"),
        "role": st.just("assistant"),
        "model": st.sampled_from(["claude-haiku-4-5-20251001", "claude-sonnet-4-5"]),
        "content": st.lists(st.builds(lambda text: {"type": "text", "text": text}, texts), max_size=3),
        "stop_reason": st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "pause_turn", "refusal", None]),
        "stop_sequence": st.one_of(st.none(), texts),
        "usage": answer_usages,
    },
    optional={"container": st.none()},
)
responses_bodies = st.fixed_dictionaries(
    {
        "input": st.one_of(
            texts.filter(lambda text: text.strip()),
            messages.map(lambda found: [*found[-2:], {"role": "user", "content": "Go on."}]),
        )
    },
    optional={
        "instructions": st.sampled_from(["Be brief.", " x "]),
        "max_output_tokens": st.sampled_from([1, 16, 4096]),
        "temperature": st.sampled_from([0, 0.7]),
        "top_p": st.just(0.9),
        "metadata": st.just({"team": "a"}),
        "user": st.just("u-1"),
        "store": st.booleans(),
        "text": st.just({"format": {"type": "json_object"}}),
        "tools": st.just([{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]),
    },
)


def other_answer(answer):
    """The same shape with other texts and other counts."""

    def other(text):
        return other_texts({"messages": [{"role": "user", "content": text}]})["messages"][0]["content"]

    result = {**answer, "id": other(answer["id"]), "usage": templates.with_counts(answer["usage"], 5)}
    result["content"] = [{**block, "text": other(block["text"])} for block in answer["content"]]
    if isinstance(answer["stop_sequence"], str):
        result["stop_sequence"] = other(answer["stop_sequence"])
    return result


gemini_usages = st.fixed_dictionaries(
    {"promptTokenCount": counts, "totalTokenCount": counts},
    optional={
        "candidatesTokenCount": counts,
        "cachedContentTokenCount": counts,
        "thoughtsTokenCount": counts,
        "promptTokensDetails": st.lists(
            st.fixed_dictionaries({"modality": st.sampled_from(["TEXT", "IMAGE"]), "tokenCount": counts}), max_size=2
        ),
        "trafficType": st.just("ON_DEMAND"),
    },
)
gemini_candidates = st.fixed_dictionaries(
    {
        "content": st.fixed_dictionaries(
            {"parts": st.lists(st.builds(lambda text: {"text": text}, texts), max_size=3), "role": st.just("model")}
        )
    },
    optional={
        "finishReason": st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER"]),
        "index": st.just(0),
        "avgLogprobs": st.floats(-5, 0),
    },
)
gemini_answers = st.fixed_dictionaries(
    {
        "candidates": gemini_candidates.map(lambda candidate: [candidate]),
        "usageMetadata": gemini_usages,
        "modelVersion": st.sampled_from(["gemini-2.5-flash", "gemini-2.5-flash-001"]),
    },
    optional={"responseId": st.one_of(st.just("c2lnbmVk"), texts)},
)


def other_gemini_answer(answer):
    """The same shape with other texts, counts and log-probability."""

    def other(text):
        return other_texts({"messages": [{"role": "user", "content": text}]})["messages"][0]["content"]

    candidate = answer["candidates"][0]
    parts = [{"text": other(part["text"])} for part in candidate["content"]["parts"]]
    candidate = {**candidate, "content": {**candidate["content"], "parts": parts}}
    if "avgLogprobs" in candidate:
        candidate["avgLogprobs"] = -0.5
    result = {**answer, "candidates": [candidate], "usageMetadata": templates.with_counts(answer["usageMetadata"], 5)}
    if "responseId" in answer:
        result["responseId"] = other(answer["responseId"])
    return result


def per_call_values_named(value):
    """The answer with its per-call values (fresh ids, the time) named, once checked to look as LiteLLM makes them."""
    if isinstance(value, dict):
        return {name: "<now>" if name in templates.STAMPS and templates.is_now(item) else per_call_values_named(item)
                for name, item in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [per_call_values_named(item) for item in value]
    if isinstance(value, str) and (found := UUID_OR_TIME.match(value)):
        return f"{found[1]}<uuid>"
    return value


async def responses_answers(body, answer, litellm_model="anthropic/claude-haiku-4-5"):
    from proxy import translated
    from proxy.provider_usage import responses_usage_fields
    from proxy.request_params import Route
    from proxy.translation import formats

    provider, model = chat.provider_of(litellm_model)
    via = formats.responses_to_chat({"model": model, **body}, litellm_model, provider)
    request = await chat.chat_request(
        litellm_model=litellm_model, api_key="sk-test", api_base=None, api_version=None, params=via.params,
        stream=False,
    )  # fmt: skip

    def reused(given, raw, usage):
        return translated.chat_body(Route.RESPONSES, via, request, given, raw, usage)

    def fresh(given, raw, usage):
        found = formats.chat_to_responses(via, chat.chat_answer(request, raw, {}))
        return translated.with_usage(found, responses_usage_fields(usage), replace=True)

    return compared(provider, answer, reused, fresh)


def compared(provider, answer, reused, fresh):
    """The outcomes of `reused` and `fresh` (each given the answer, its bytes and its billed usage) on `answer`, the
    shape's template made first from another answer of its shape (other texts and counts)."""
    from proxy.provider_usage import answer_usage, readable_answer

    def outcome(way, given):
        try:
            raw = readable_answer(provider, given, orjson.dumps(given))
            return "ok", per_call_values_named(way(given, raw, answer_usage(provider, given)))
        except Exception as exc:  # LiteLLM's refusal must be the same either way
            return "refused", type(exc).__name__, str(exc)

    other = other_answer(answer) if provider == "anthropic" else other_gemini_answer(answer)
    outcome(reused, other)  # a shape's first answer: noted
    outcome(reused, other)  # its second: the template is made
    return outcome(reused, answer), outcome(fresh, answer)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=responses_bodies, answer=answers)
def test_a_reused_answer_translation_equals_a_fresh_one(body, answer):
    """Claude on /v1/responses: an answer read through its shape's template (made from an answer with other texts
    and counts) equals LiteLLM's fresh translation, the billed usage in both."""
    reused, fresh = asyncio.run(responses_answers(body, answer))
    assert reused == fresh


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=responses_bodies, answer=gemini_answers)
def test_a_reused_gemini_answer_translation_equals_a_fresh_one(body, answer):
    """Gemini on /v1/responses: the same, over generated `generateContent` answers."""
    reused, fresh = asyncio.run(responses_answers(body, answer, "gemini/gemini-2.5-flash"))
    assert reused == fresh


def test_a_plain_answer_is_translated_once_per_shape_with_fresh_ids_and_time():
    """A shape's template is made on its second answer (three marked runs: its counts, none, and many); later
    answers run no LiteLLM code, and each gets its own ids and the current time, as a fresh translation does."""
    from proxy.translation import formats

    answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
              "content": [{"type": "text", "text": "one"}], "stop_reason": "end_turn", "stop_sequence": None,
              "usage": {"input_tokens": 12, "output_tokens": 3}}  # fmt: skip
    runs = []
    found = []

    async def four():
        via = formats.responses_to_chat({"input": "hi"}, "anthropic/claude-haiku-4-5", "anthropic")
        request = await chat.chat_request(
            litellm_model="anthropic/claude-haiku-4-5", api_key="k", api_base=None, api_version=None,
            params=via.params, stream=False,
        )  # fmt: skip

        def counted(raw):
            runs.append(raw)
            return chat.chat_answer(request, raw, {})

        for text in ("one", "two", "three", "four"):
            given = {**answer, "content": [{"type": "text", "text": text}]}
            found.append(formats.answer_to_responses(via, request, given, orjson.dumps(given), counted))

    asyncio.run(four())
    assert len(runs) == 4 and all(templates.MARK.encode() in raw for raw in runs[1:])  # first fresh, then 3 marked
    for result, text in zip(found, ("one", "two", "three", "four"), strict=True):
        assert result["output"][0]["content"][0]["text"] == text and templates.is_now(result["created_at"])
    assert len({result["id"] for result in found}) == len({result["output"][0]["id"] for result in found}) == 4
    assert all(UUID_OR_TIME.match(result["id"])[1] == "chatcmpl-" for result in found)
    assert found[-1]["usage"] is None  # the caller's to fill


PLAIN_ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
                "content": [{"type": "text", "text": "cut"}], "stop_reason": "max_tokens", "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 16}}  # fmt: skip


@pytest.mark.parametrize(
    "reads",
    [
        pytest.param(lambda given: given["usage"]["output_tokens"] >= 16, id="a comparison of the counts"),
        pytest.param(lambda given: given["usage"]["input_tokens"] + 1, id="a sum of the counts"),
        pytest.param(lambda given: secrets.token_hex(4), id="a per-call value other than a uuid4 id"),
    ],
)
def test_a_translation_that_reads_more_than_the_shape_is_never_kept(reads):
    """The checks a template must pass, on translations that read what a shape leaves out: none is kept."""

    def translate(raw):
        given = orjson.loads(raw)
        return {"text": given["content"][0]["text"], "read": reads(given), "usage": given["usage"]}

    assert templates.made_answer(templates.ANSWER_FORMATS["anthropic"], PLAIN_ANSWER, translate) is None
    assert (
        templates.made_answer(
            templates.ANSWER_FORMATS["anthropic"], PLAIN_ANSWER, lambda raw: {**translate(raw), "read": 0}
        )
        is not None
    )


async def chat_answers(body, answer, litellm_model="anthropic/claude-haiku-4-5"):
    from proxy import translated
    from proxy.provider_usage import chat_usage_fields
    from proxy.request_params import Route
    from proxy.translation.core import as_dict

    provider, model = chat.provider_of(litellm_model)
    request = await chat.chat_request(
        litellm_model=litellm_model, api_key="sk-test", api_base=None, api_version=None,
        params={"model": model, **body}, stream=False,
    )  # fmt: skip

    def reused(given, raw, usage):
        return translated.chat_body(Route.CHAT, None, request, given, raw, usage)

    def fresh(given, raw, usage):
        return translated.with_usage(as_dict(chat.chat_answer(request, raw, {})), chat_usage_fields(usage))

    return compared(provider, answer, reused, fresh)


chat_bodies = st.fixed_dictionaries(
    {"messages": messages.map(lambda found: [*found, {"role": "user", "content": "Go on."}])},
    optional={
        "max_tokens": st.sampled_from([1, 16, 4096]),
        "temperature": st.sampled_from([0, 0.7]),
        "stop": st.just(["END"]),
        "user": st.just("u-1"),
        "response_format": st.just({"type": "json_object"}),
        "tools": st.just([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=chat_bodies, answer=answers)
def test_a_reused_chat_answer_equals_a_fresh_one(body, answer):
    """Claude on /v1/chat/completions: an answer read through its shape's template (made from an answer with other
    texts and counts), its usage read by LiteLLM from its own counts, equals LiteLLM's fresh translation."""
    reused, fresh = asyncio.run(chat_answers(body, answer))
    assert reused == fresh


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=chat_bodies, answer=gemini_answers)
def test_a_reused_gemini_chat_answer_equals_a_fresh_one(body, answer):
    """Gemini on /v1/chat/completions: the same, over generated `generateContent` answers."""
    reused, fresh = asyncio.run(chat_answers(body, answer, "gemini/gemini-2.5-flash"))
    assert reused == fresh


def test_a_chat_answer_template_carries_litellm_usage_of_each_answer():
    """The usage of a reused chat answer is LiteLLM's reading of that answer's counts (cache counts included), the
    billed counts over it; the rest comes from the template."""
    answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
              "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": None,
              "usage": {"input_tokens": 12, "output_tokens": 3, "cache_read_input_tokens": 4}}  # fmt: skip
    body = {"messages": [{"role": "user", "content": "Hello"}]}
    reused, fresh = asyncio.run(chat_answers(body, answer))
    assert reused == fresh
    assert [type(kept).__name__ for key, kept in templates.TEMPLATES.items() if key[0] == "chat-answer"] == [
        "AnswerTemplate"
    ]
    usage = reused[1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["cache_read_input_tokens"]) == (16, 3, 4)
