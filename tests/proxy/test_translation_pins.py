"""Pins on LiteLLM: where proxy.translation runs its steps itself or calls a private function, this fails loudly.

If one of these fails after a LiteLLM upgrade, the translation module named in the test must be
brought back in line with LiteLLM before anything else: these are the places that copy LiteLLM's
orchestration (to skip its per-call overheads) rather than call one public entry point.
"""

import ast
import asyncio
import inspect
from pathlib import Path

import pytest

from proxy.translation import chat, formats
from proxy.translation import params as translation_params
from proxy.translation.core import QuietLogging, as_dict, http_response, litellm_module

pytestmark = pytest.mark.engine_independent

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def imported_offline():
    """LiteLLM imported as the gateway imports it (its cost map local) before a test imports its modules."""
    litellm_module()


HELLO = [{"role": "user", "content": "Say hello."}]
TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
PARAMS = [
    {"max_tokens": 16},
    {"max_tokens": 40, "temperature": 0.2, "top_p": 0.9, "stop": ["\n"], "user": "u-1", "n": 1},
    {"max_completion_tokens": 64, "tools": [TOOL], "tool_choice": "auto", "seed": 7},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},
    {"stream": True, "stream_options": {"include_usage": True}, "max_tokens": 8},
]
MODELS = [
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-2.5-flash"),
    ("cohere", "command-r-08-2024"),
    ("cohere_chat", "command-a-03-2025"),
    ("azure", "my-deployment"),
]


def litellm_optional_params(provider, model, params, api_version=None):
    from litellm.utils import get_optional_params

    given = {k: v for k, v in params.items() if k not in translation_params.NOT_PROVIDER_PARAMS}
    if api_version:
        given["api_version"] = api_version
    return get_optional_params(model=model, custom_llm_provider=provider, messages=HELLO, **given)


@pytest.mark.parametrize(("provider", "model"), MODELS)
@pytest.mark.parametrize("params", PARAMS)
def test_optional_params_are_litellms_get_optional_params(provider, model, params):
    """proxy.translation.params.optional_params runs get_optional_params' steps itself (its parameter list cached)."""
    try:
        expected = litellm_optional_params(provider, model, params)
    except litellm_module().UnsupportedParamsError:
        with pytest.raises(litellm_module().UnsupportedParamsError):
            translation_params.optional_params(provider, model, HELLO, params)
        return
    assert translation_params.optional_params(provider, model, HELLO, params) == expected


@pytest.mark.parametrize(("provider", "model"), [("anthropic", "claude-haiku-4-5"), ("cohere", "command-r-08-2024")])
def test_unsupported_params_are_refused_as_litellm_refuses_them(provider, model):
    params = {"logit_bias": {"50256": -100}}
    with pytest.raises(litellm_module().UnsupportedParamsError):
        litellm_optional_params(provider, model, params)
    with pytest.raises(litellm_module().UnsupportedParamsError):
        translation_params.optional_params(provider, model, HELLO, params)


MESSAGES_BODIES = [
    {"model": "o3-mini", "messages": HELLO, "max_tokens": 50},
    {"model": "o3-mini", "messages": HELLO, "max_tokens": 50, "system": "Be brief.", "temperature": 1, "top_k": 3},
    {"model": "gpt-5", "messages": HELLO, "max_tokens": 99, "thinking": {"type": "enabled", "budget_tokens": 2048}},
    {
        "model": "o3-mini",
        "messages": HELLO,
        "max_tokens": 50,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "metadata": {"user_id": "u-1"},
        "stop_sequences": ["END"],
    },
]


def litellm_messages_to_responses(body, stream):
    """LiteLLM's own bridge: `_build_responses_kwargs`, then `aresponses`' parameter steps and request body."""
    litellm = litellm_module()
    from litellm.llms.anthropic.pass_through.responses_adapters import handler
    from litellm.responses.utils import ResponsesAPIRequestUtils
    from litellm.types.router import GenericLiteLLMParams
    from litellm.utils import ProviderConfigManager

    model = body["model"]
    messages, system = formats.prepared_messages(body, f"openai/{model}", "openai")
    named = {k: v for k, v in body.items() if k in formats.MESSAGES_NAMED | {"context_management"}}
    named["system"] = system
    kwargs = handler._build_responses_kwargs(
        messages=messages,
        model=f"openai/{model}",
        stream=stream,
        extra_kwargs={"custom_llm_provider": "openai"},
        **named,
    )
    config = ProviderConfigManager.get_provider_responses_api_config(provider=litellm.LlmProviders.OPENAI, model=model)
    requested = ResponsesAPIRequestUtils.get_requested_response_api_optional_param(dict(kwargs))
    optional = ResponsesAPIRequestUtils.get_optional_params_responses_api(
        model=model, responses_api_provider_config=config, response_api_optional_params=requested
    )
    data = config.transform_responses_api_request(
        model=model,
        input=kwargs["input"],
        response_api_optional_request_params=optional,
        litellm_params=GenericLiteLLMParams(),
        headers={},
    )
    return {**dict(data), **({"stream": True} if stream else {})}


@pytest.mark.parametrize("body", MESSAGES_BODIES)
@pytest.mark.parametrize("stream", [False, True])
def test_messages_to_responses_is_litellms_bridge(body, stream):
    """proxy.translation.formats.messages_to_responses runs `_build_responses_kwargs`' steps from public parts."""
    ours = formats.messages_to_responses(body, f"openai/{body['model']}", body["model"], stream)
    assert ours == litellm_messages_to_responses(body, stream)


def test_encrypted_reasoning_is_the_only_difference_for_a_model_without_reasoning():
    body = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 50}
    ours = formats.messages_to_responses(body, "openai/gpt-4o-mini", "gpt-4o-mini", False)
    theirs = litellm_messages_to_responses(body, False)
    assert theirs.pop("include") == ["reasoning.encrypted_content"]  # LiteLLM asks every openai model for it
    assert "include" not in ours
    assert ours == theirs


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": "hi", "instructions": "x", "max_output_tokens": 9, "temperature": 0.1},
        {"model": "m", "input": [{"role": "user", "content": "hi"}], "metadata": {"a": "b"}, "stream": True},
        {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f", "parameters": {}}], "top_p": None},
    ],
)
def test_requested_responses_params_are_litellms(body):
    from litellm.responses.utils import ResponsesAPIRequestUtils

    expected = ResponsesAPIRequestUtils.get_requested_response_api_optional_param(dict(body))
    assert formats.requested_responses_params(body) == dict(expected)


def test_the_private_messages_to_chat_functions_keep_their_signatures():
    """messages_to_chat calls two private LiteLLM functions: the only builders of these kwargs."""
    from litellm.llms.anthropic.pass_through.adapters import handler

    build = inspect.signature(handler.LiteLLMMessagesToCompletionTransformationHandler._prepare_completion_kwargs)
    assert {"max_tokens", "messages", "model", "stream", "system", "tools", "extra_kwargs"} <= set(build.parameters)
    polyfill = inspect.signature(handler._prepare_context_managed_request)
    assert {"model", "messages", "tools", "system", "context_management_spec", "llm_router"} <= set(polyfill.parameters)
    via = asyncio.run(
        formats.messages_to_chat({"messages": HELLO, "max_tokens": 5}, "gemini/gemini-2.5-flash", "gemini")
    )
    assert via.params["messages"] == HELLO and via.params["max_tokens"] == 5 and via.model == "gemini-2.5-flash"


class StrictLogging(QuietLogging):
    """Fails the test if a transformation reads anything of its logging object that QuietLogging lacks."""

    def __getattr__(self, name):
        raise AssertionError(f"LiteLLM read logging_obj.{name}: add it to proxy.translation.core.QuietLogging")


def test_the_transformations_read_only_what_quiet_logging_has():
    from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import ModelResponseIterator
    from litellm.types.utils import ModelResponse

    answer = (
        b'{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"finishReason":"STOP","index":0}],'
        b'"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}'
    )
    request = asyncio.run(
        chat.chat_request(
            litellm_model="gemini/gemini-2.5-flash", api_key="k", api_base=None, api_version=None,
            params={"messages": HELLO}, stream=False,
        )
    )  # fmt: skip
    request.config.transform_response(
        model=request.model, raw_response=http_response(200, answer), model_response=ModelResponse(),
        logging_obj=StrictLogging(), request_data=request.data, messages=request.messages,
        optional_params=request.optional_params, litellm_params={}, encoding=None,
    )  # fmt: skip

    async def lines():
        yield "data: " + answer.decode()

    async def parse():
        return [chunk async for chunk in ModelResponseIterator(lines(), sync_stream=False, logging_obj=StrictLogging())]

    assert asyncio.run(parse())


def test_only_the_translation_package_imports_litellm():
    """LiteLLM is imported by proxy/translation/ alone (tests and benchmarks aside): the rule is checkable."""
    importers = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or relative.parts[0] in ("tests", "bench"):
            continue  # .venv, .local (the MongoDB stand-in's own environment), caches; tests and benchmarks
        if relative.parts[:2] == ("proxy", "translation"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "litellm" or name.startswith("litellm.") for name in names):
                importers.append(str(relative))
    assert importers == []


CLAUDES = ["claude-haiku-4-5", "claude-opus-4-5", "claude-sonnet-4-6", "claude-opus-4-7"]  # with and without adaptive
ANTHROPIC_OPTIONAL = [
    {"max_tokens": 16},
    {"max_tokens": 16, "tools": [{"name": "f", "input_schema": {"type": "object"}}], "thinking": {"type": "enabled"}},
    {"max_tokens": 16, "output_config": {"effort": "high"}},
    {"max_tokens": 16, "reasoning_effort": "high"},
    {"max_tokens": 16, "mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]},
    {"max_tokens": 16, "container": {"skills": [{"type": "anthropic", "skill_id": "pdf"}]}},
]


@pytest.mark.parametrize("model", CLAUDES)
@pytest.mark.parametrize("optional", ANTHROPIC_OPTIONAL)
def test_anthropic_headers_are_the_same_without_the_model_named(model, optional):
    """chat.anthropic_request names the model to `validate_environment` only where the effort header depends on it."""
    config = translation_params.config_for("anthropic", model)
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]
    sent = {**optional, "is_vertex_request": False}
    given = {"messages": messages, "optional_params": sent, "litellm_params": {}, "api_base": "https://a.example"}
    ours = config.validate_environment(api_key="k", headers={}, model=chat.effort_model(model, sent), **given)
    assert ours == config.validate_environment(api_key="k", headers={}, model=model, **given)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("provider", "model"), MODELS)
def test_the_configs_made_once_keep_no_state_of_a_call(provider, model, stream):
    """params.config_for and chat.gemini_config make each LiteLLM config once: a call must leave nothing on it."""
    params = {"messages": HELLO, "max_tokens": 16, "tools": [TOOL], "temperature": 0.5}
    request = asyncio.run(
        chat.chat_request(
            litellm_model=f"{provider}/{model}", api_key="k", api_base="https://a.example", api_version=None,
            params=params, stream=stream,
        )
    )  # fmt: skip
    made_once = translation_params.config_for(request.provider, model)
    assert request.config is chat.gemini_config() or request.config is made_once
    assert vars(request.config) == {} and vars(made_once) == {}


RESPONSES_ANSWERS = [
    {"status": "completed", "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
     "content": [{"type": "output_text", "text": "Hello.", "annotations": []}]}],
     "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19,
               "input_tokens_details": {"cached_tokens": 4}, "output_tokens_details": {"reasoning_tokens": 2}}},
    {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
     "output": [{"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Thinking."}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                 "arguments": "{\"city\": \"Paris\"}", "status": "completed"}],
     "usage": {"input_tokens": 30, "output_tokens": 16, "total_tokens": 46}},
]  # fmt: skip


@pytest.mark.parametrize("answer", RESPONSES_ANSWERS)
def test_a_responses_answer_reads_the_same_to_messages_without_its_usage(answer):
    """formats.responses_to_messages leaves the answer's usage out (the caller bills its own): LiteLLM's adapter
    must read nothing else from it, so the rest of the Messages answer is the one it makes with the usage given."""
    from litellm.llms.anthropic.pass_through.responses_adapters.transformation import (
        LiteLLMAnthropicToResponsesAPIAdapter,
    )
    from litellm.types.llms.openai import ResponsesAPIResponse

    full = {"id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o-mini", **answer}
    with_usage = as_dict(LiteLLMAnthropicToResponsesAPIAdapter().translate_response(
        ResponsesAPIResponse.model_validate(full)
    ))  # fmt: skip
    ours = formats.responses_to_messages(full)
    assert ours["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert {**ours, "usage": None, "id": None} == {**with_usage, "usage": None, "id": None}
    assert with_usage["usage"]["input_tokens"] > 0
