"""The calls the benchmark measures, same-format and cross-format, with their bodies and mock endpoints.

A call is a client route (chat completions, Messages, Responses) and a model; its provider request
reaches one of the mock's endpoints (bench/mock_upstream.py), which is also measured directly as
that call's baseline. Every body asks for the same short answer (16 tokens); a paced body carries
the mock's marker so that it paces its stream.
"""

import json
from dataclasses import dataclass
from typing import Any

PACED_PROMPT = "bench-paced-stream: count to ten."  # the marker makes the mock pace its frames
PROMPT = "Say hello in five words."
ROUTES = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
# Current models in LiteLLM's model map: an unmapped one makes every capability lookup in LiteLLM's transformations
# fail through all its fallbacks (hundreds of microseconds each), on our path and on LiteLLM's proxy alike.
GEMINI_MODEL = "gemini-2.5-flash"
# The mock's endpoint for each provider wire format: (JSON path, streaming path).
UPSTREAMS = {
    "chat": ("/v1/chat/completions", "/v1/chat/completions"),
    "messages": ("/v1/messages", "/v1/messages"),
    "responses": ("/v1/responses", "/v1/responses"),
    "gemini": (
        f"/v1beta/models/{GEMINI_MODEL}:generateContent",
        f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse",
    ),
    "cohere": ("/v2/chat", "/v2/chat"),
}


@dataclass(frozen=True)
class Call:
    name: str  # short id: "same", "claude-chat", ...
    label: str  # what the table calls it
    route: str  # the client route: chat, messages or responses
    model: str  # the model the client asks for
    provider: str  # whose price applies
    upstream: str  # the mock endpoint the provider call reaches (a key of UPSTREAMS)

    @property
    def path(self) -> str:
        return ROUTES[self.route]


COHERE_MODEL = "command-r-08-2024"
SAME = Call("same", "GPT on /v1/chat/completions", "chat", "gpt-4o-mini", "openai", "chat")
CLAUDE = "claude-haiku-4-5"
CROSSES = (
    Call("claude-chat", "Claude on /v1/chat/completions", "chat", CLAUDE, "anthropic", "messages"),
    Call("gemini-chat", "Gemini on /v1/chat/completions", "chat", GEMINI_MODEL, "gemini", "gemini"),
    Call("cohere-chat", "Cohere on /v1/chat/completions", "chat", COHERE_MODEL, "cohere", "cohere"),
    Call("gpt-messages", "GPT on /v1/messages", "messages", "gpt-4o-mini", "openai", "responses"),
    Call("claude-responses", "Claude on /v1/responses", "responses", CLAUDE, "anthropic", "messages"),
)
BY_NAME = {call.name: call for call in (SAME, *CROSSES)}


def body(route: str, model: str, *, stream: bool = False, paced: bool = False) -> str:
    """A request in the route's own format (the mock reads only `"stream": true` and the paced marker)."""
    prompt = PACED_PROMPT if paced else PROMPT
    found: dict[str, Any] = {"model": model}
    if route == "responses":
        found.update(input=prompt, max_output_tokens=16)
    elif route == "gemini":
        found = {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {"maxOutputTokens": 16},
        }
    else:
        found.update(messages=[{"role": "user", "content": prompt}], max_tokens=16)
    if stream or paced:
        found["stream"] = True
    return json.dumps(found)


def upstream_path(upstream: str, *, stream: bool) -> str:
    return UPSTREAMS[upstream][1 if stream else 0]


def answer_marker(route: str) -> str:
    """A key every JSON answer of the route has: what a setup check looks for."""
    return {"chat": '"choices"', "messages": '"content"', "responses": '"output"'}[route]
