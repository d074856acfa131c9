"""Each route's wire format for what the gateway itself says: error bodies and in-stream error frames."""

from typing import Any

import orjson

from core.errors import GatewayError, render_anthropic, render_openai
from proxy.request_params import Route


def error_body(route: Route | None, error: GatewayError) -> dict[str, Any]:
    """OpenAI's error shape on the OpenAI routes (and unknown ones), Anthropic's on /v1/messages."""
    return render_anthropic(error) if route is Route.MESSAGES else render_openai(error)


def error_frame(route: Route, error: GatewayError) -> bytes:
    """The SSE frame that ends a stream with an error: a bare `data:` on chat, an `error` event elsewhere."""
    data = orjson.dumps(error_body(route, error))
    if route is Route.CHAT:
        return b"data: " + data + b"\n\n"
    return b"event: error\ndata: " + data + b"\n\n"
