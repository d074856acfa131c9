"""What a provider said when it refused a call, made safe for the client: its own message, no secret, bounded.

A provider's error message is usually the most useful thing a client can read ("Rate limit
reached for gpt-4o-mini on tokens per min", "max_tokens: 200000 > 64000"), so it is passed
on, inside our own sentence. Before it is, every configured provider key, anything shaped like
an API key or bearer token, the user:password of any URL and credential-like query parameters
are replaced by `[redacted]`, control characters dropped and the text cut to `MAX_CHARS`.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from core.providers import provider_registry

MAX_CHARS = 400
REDACTED = "[redacted]"
_PARSE_BYTES = 65536  # an error body beyond this is not read for its message
_SECRETS = (
    re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_*.\-]{6,}"),  # OpenAI and Anthropic keys, masked ones included
    re.compile(r"\bAIza[0-9A-Za-z_\-]{10,}"),  # Google API keys
    re.compile(r"\bgw-[A-Za-z0-9_\-]{6,}"),  # this gateway's own keys
    re.compile(r"\badm-[A-Za-z0-9_\-]{6,}"),  # scripts/run's ADMIN_API_KEY
    re.compile(r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"),  # JWTs
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;\s\"'](?:api[_-]?key|key|token|access[_-]?token|secret|password|sig|signature|code)=)[^&\s\"']+"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def provider_said(answer: Any) -> str:
    """The provider's own message from its error answer (a body, its text or parsed JSON), made safe; "" if none."""
    text = _message_of(answer)
    return sanitise(text) if text else ""


def sanitise(text: str, *, secrets: Iterable[str] | None = None) -> str:
    """`text` with secrets (by default every configured provider key) and credentials redacted, on one line,
    at most MAX_CHARS long."""
    if secrets is None:
        secrets = [provider.api_key for provider in provider_registry().providers]
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _SECRET_PARAM.sub(rf"\1{REDACTED}", text)
    for pattern in _SECRETS:
        text = pattern.sub(REDACTED, text)
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"


def _message_of(answer: Any) -> str:
    if isinstance(answer, bytes | bytearray):
        answer = bytes(answer[:_PARSE_BYTES]).decode("utf-8", "replace")
    if isinstance(answer, str):
        stripped = answer.strip()
        if stripped.startswith(("{", "[")):
            try:
                return _message_of(orjson.loads(stripped))
            except orjson.JSONDecodeError:
                pass
        return stripped
    if isinstance(answer, Mapping):
        # OpenAI, Gemini, Azure: {"error": {"message"}}; Anthropic: {"type": "error", "error": {"message"}};
        # Cohere and many OpenAI-compatible servers: {"message"}, {"detail"} or {"error": "text"}.
        error = answer.get("error")
        if isinstance(error, Mapping):
            return _message_of(error)
        for name in ("message", "detail", "error", "msg"):
            value = answer.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, Mapping | list) and value:
                return _message_of(value)
    if isinstance(answer, list) and answer:
        return _message_of(answer[0])
    return ""


def explained(sentence: str, said: str) -> str:
    """Our sentence, then what the provider said: `The provider 'openai' refused … (HTTP 429): Rate limit …`."""
    if not said:
        return sentence
    return f"{sentence.rstrip('.')}: {said}"
