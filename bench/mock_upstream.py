"""A minimal OpenAI chat-completions upstream for benchmarks: a raw asyncio protocol on uvloop.

It answers every POST with one precomputed reply (JSON with a usage block, or SSE when the
request asks for `"stream": true`), so the mock costs a few microseconds per request and is
never the bottleneck. It parses HTTP/1.1 with httptools, keeps connections alive, and binds
127.0.0.1 only. Run: `python -m bench.mock_upstream --port 8911`.
"""

import argparse
import asyncio
import json
from typing import Any, cast

import httptools
import uvloop

USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
TEXT = "Hello from the bench upstream."
CHUNKS = 3


def _completion() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": USAGE,
        },
        separators=(",", ":"),
    ).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _stream() -> bytes:
    words = TEXT.split(" ")
    per_chunk = -(-len(words) // CHUNKS)
    frames = [_chunk({"role": "assistant", "content": ""})]
    for start in range(0, len(words), per_chunk):
        frames.append(_chunk({"content": " ".join(words[start : start + per_chunk]) + " "}))
    frames += [_chunk({}, finish="stop"), _chunk({}, usage=USAGE), b"data: [DONE]\n\n"]
    return b"".join(frames)


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


JSON_REPLY = _response("200 OK", "application/json", _completion())
SSE_REPLY = _response("200 OK", "text/event-stream", _stream())
NOT_FOUND = _response("404 Not Found", "application/json", b'{"error":{"message":"not found"}}')
MODELS = _response("200 OK", "application/json", b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}')


class Upstream(asyncio.Protocol):
    """One connection: parse requests as they arrive, answer each as soon as it is complete."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.transport is None:
            return
        self.transport.write(self._reply())
        if not self.parser.should_keep_alive():
            self.transport.close()

    def _reply(self) -> bytes:
        path = self.url.split(b"?", 1)[0]
        if path.endswith(b"/models"):
            return MODELS
        if not path.endswith(b"/chat/completions"):
            return NOT_FOUND
        body = b"".join(self.body)
        # Cheaper than parsing JSON; the SDK writes `"stream": true` (json.dumps) or `"stream":true`.
        return SSE_REPLY if b'"stream": true' in body or b'"stream":true' in body else JSON_REPLY


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
