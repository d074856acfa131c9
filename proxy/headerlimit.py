"""Caps the request line and headers before they are read whole: 431 (or 414) in the route's error format.

httptools, the parser `manage.py serve` runs uvicorn with, has no limit of its own: an 8 MB
`Authorization` header was buffered in full before the application saw the request. (uvicorn's
h11 parser has one, `h11_max_incomplete_event_size`, and answers a bare 400.) This protocol feeds
the parser at most GATEWAY_MAX_HEADER_BYTES of a request's head: a head that has not ended by
then is answered at once, with `connection: close`, and the rest is never read. A head the
request line alone fills is 414 (URI Too Long), any other 431 (Request Header Fields Too Large).
"""

import uuid
from typing import Any

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from core.errors import GatewayError, HeadersTooLarge, UriTooLong

# What `manage.py serve` passes uvicorn as its HTTP protocol (an import string: workers import it).
PROTOCOL = "proxy.headerlimit:HeaderLimitedProtocol"


class HeaderLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, counting the bytes of each request's head as they arrive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # loads the application (and Django's settings) if not yet done
        self.head_limit: int = settings.MAX_HEADER_BYTES
        self._new_head()

    def _new_head(self) -> None:
        self.in_head = True  # from the first byte of a request until the parser has its headers
        self.head_bytes = 0
        self.line_ended = False

    def on_headers_complete(self) -> None:
        self.in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._new_head()  # a kept-alive connection's next request starts its own count

    def data_received(self, data: bytes) -> None:
        if not self.in_head:
            super().data_received(data)
            return
        room = self.head_limit - self.head_bytes
        head, rest = data[:room], data[room:]
        self.head_bytes += len(head)
        self.line_ended = self.line_ended or b"\n" in head
        super().data_received(head)
        if not rest or self.transport.is_closing():
            return
        if self.in_head:  # the limit is reached and the headers have not ended
            self._refuse()
            return
        self.data_received(rest)  # the body, or the head of a pipelined request (counted afresh)

    def _refuse(self) -> None:
        if self.line_ended:
            error: GatewayError = HeadersTooLarge(f"The request's headers are over {self.head_limit} bytes.")
        else:
            error = UriTooLong(f"The request line is over {self.head_limit} bytes.")
        headers, body = response_for(getattr(self, "url", b""), error)
        lines = [STATUS_LINE[error.status_code]]
        for name, value in [*self.server_state.default_headers, *headers, (b"content-length", str(len(body)).encode())]:
            lines += [name, b": ", value, b"\r\n"]
        lines += [b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(lines))
        self.transport.close()


def response_for(url: bytes, error: GatewayError) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of `error` for the request target seen so far, in its route's format: the proxy
    routes' own (with an `x-request-id`, as every answer there), DRF's `{"detail": …}` on /api/, plain
    text elsewhere (the admin)."""
    import orjson

    from proxy.request_params import Route
    from proxy.wire import error_body

    path = url.split(b"?", 1)[0]
    json = (b"content-type", b"application/json")
    if path.startswith(b"/v1/"):
        route = Route.MESSAGES if path.rstrip(b"/") == b"/v1/messages" else None
        return [json, (b"x-request-id", str(uuid.uuid4()).encode())], orjson.dumps(error_body(route, error))
    if path.startswith(b"/api/"):
        return [json], orjson.dumps({"detail": error.message})
    return [(b"content-type", b"text/plain; charset=utf-8")], error.message.encode()
