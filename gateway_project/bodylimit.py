"""Caps request bodies on /v1/ before Django spools them: a huge upload is never read whole.

Django's ASGI handler reads the entire body into a temporary file before any view
runs, and only checks a declared Content-Length. This wrapper stops reading at the
limit whether the length is declared or the body is chunked, and marks the scope so
the view answers 413 in its route's own format.
"""

from typing import Any

TOO_LARGE = "gateway.body_too_large"


def declared_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def limited_receive(scope: dict[str, Any], receive: Any, limit: int) -> Any:
    """A `receive` that ends the body early (and flags the scope) once `limit` bytes are passed."""
    if (declared_length(scope) or 0) > limit:
        scope[TOO_LARGE] = True
    seen = 0
    ended = False

    async def wrapped() -> dict[str, Any]:
        nonlocal seen, ended
        if scope.get(TOO_LARGE) and not ended:
            ended = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if ended:
            # Django now only listens for a disconnect: skip the rest of the body until then.
            while (message := await receive())["type"] != "http.disconnect":
                pass
            return message  # type: ignore[no-any-return]
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                scope[TOO_LARGE] = ended = True
                return {"type": "http.request", "body": b"", "more_body": False}
        return message

    return wrapped
