"""A reused translation (proxy.translation.templates) equals LiteLLM's fresh one, for every provider and shape.

Each generated request is first translated through its shape's kept template (made, if need be, from
another request of that shape with other texts), then afresh by LiteLLM's transformations; every part
of the two must be equal: URL, headers, body, the messages and parameters the answer is read with.
"""

import asyncio

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
