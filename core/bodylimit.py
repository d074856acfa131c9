"""Caps request bodies on every route before Django spools them: a huge upload is never read whole.

Django's ASGI handler reads the entire body into a temporary file before any view
runs, and only checks a declared Content-Length once a view reads the body. These
wrappers stop reading at the limit whether the length is declared or the body is
chunked. On /v1/ they mark the scope so the view answers 413 in its route's own
format; elsewhere the request never reaches Django and `too_large_response` answers.
Either way the 413 says `connection: close`, so the server drops the connection
instead of reading (and discarding) the rest of the upload.
"""

import asyncio
from typing import Any

import orjson

TOO_LARGE = "gateway.body_too_large"


def declared_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def limited_receive(scope: dict[str, Any], receive: Any, limit: int, *, abort: bool = False) -> Any:
    """A `receive` that stops the body (and flags the scope) before more than `limit` bytes pass.

    With `abort`, the body ends as a disconnect, so Django drops the request without a response;
    without, it ends as an empty last chunk and the view sees the flag.
    """
    if (declared_length(scope) or 0) > limit:
        scope[TOO_LARGE] = True
    seen = 0
    ended = False

    async def wrapped() -> dict[str, Any]:
        nonlocal seen, ended
        if ended:
            # Django now only listens for a disconnect; reading on would take in the rest of the
            # upload. It cancels this wait once the 413 is sent.
            await asyncio.Future()
        if scope.get(TOO_LARGE):
            ended = True
            return {"type": "http.disconnect"} if abort else {"type": "http.request", "body": b"", "more_body": False}
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                scope[TOO_LARGE] = True
                return await wrapped()
        return message  # type: ignore[no-any-return]

    return wrapped


def closing_send(scope: dict[str, Any], send: Any) -> Any:
    """A `send` that adds `connection: close` to the response once the body was cut off."""

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and scope.get(TOO_LARGE):
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return wrapped


async def too_large_response(scope: dict[str, Any], send: Any, limit: int) -> None:
    """The 413 for routes outside /v1/: DRF's error shape on /api/, plain text elsewhere (the admin)."""
    message = f"Request body is over {limit} bytes."
    if scope["path"].startswith("/api/"):
        body, content_type = orjson.dumps({"detail": message}), b"application/json"
    else:
        body, content_type = message.encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
