"""A minimal OpenAI chat-completions and Anthropic Messages upstream for benchmarks: a raw asyncio protocol on uvloop.

It answers every POST with one precomputed reply (JSON with a usage block, or SSE when the
request asks for `"stream": true`), so the mock costs a few microseconds per request and is
never the bottleneck: `/v1/chat/completions` in OpenAI's format, `/v1/messages` (where
LiteLLM's anthropic provider posts, under ANTHROPIC_API_BASE) in Anthropic's, the shapes of
tests/upstream.py. A streaming request whose body contains PACED_MARKER gets a paced stream
instead: `--paced-chunks` content frames, every frame (OpenAI: role, contents, finish, usage,
[DONE]; Anthropic: message_start, content_block_start, deltas, content_block_stop,
message_delta, message_stop) sent as its own HTTP chunk `--paced-interval-ms` after the
previous one, so a client can measure time to first token and see whether a gateway batches
frames. It parses HTTP/1.1 with httptools, keeps connections alive, and binds 127.0.0.1 only.
Run: `python -m bench.mock_upstream --port 8911`.
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
# Gateways forward the messages verbatim, so a marker in the prompt reaches the mock through any of them.
PACED_MARKER = b"bench-paced-stream"


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


def _paced_frames(chunks: int) -> list[bytes]:
    frames = [_chunk({"role": "assistant", "content": ""})]
    frames += [_chunk({"content": f"word{i} "}) for i in range(chunks)]
    frames += [_chunk({}, finish="stop"), _chunk({}, usage=USAGE), b"data: [DONE]\n\n"]
    return frames


# --- Anthropic Messages: usage without cache tokens, so the same 12 in / 7 out as the OpenAI side --------

MESSAGES_USAGE = {"input_tokens": 12, "output_tokens": 7}
MESSAGES_MODEL = "claude-3-5-haiku-20241022"


def _message(content: list[dict[str, str]], stop: str | None, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": MESSAGES_MODEL, "content": content,
        "stop_reason": stop, "stop_sequence": None, "usage": usage,
    }  # fmt: skip


def _event(kind: str, body: dict[str, Any]) -> bytes:
    return (
        f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **body}, separators=(",", ":")).encode() + b"\n\n"
    )


def _messages_frames(texts: list[str]) -> list[bytes]:
    text_block = {"type": "text", "text": ""}
    frames = [
        _event("message_start", {"message": _message([], None, {**MESSAGES_USAGE, "output_tokens": 1})}),
        _event("content_block_start", {"index": 0, "content_block": text_block}),
    ]
    frames += [_event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})
               for text in texts]  # fmt: skip
    frames += [
        _event("content_block_stop", {"index": 0}),
        _event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                 "usage": {"output_tokens": MESSAGES_USAGE["output_tokens"]}}),
        _event("message_stop", {}),
    ]  # fmt: skip
    return frames


def _messages_stream() -> bytes:
    words = TEXT.split(" ")
    per_chunk = -(-len(words) // CHUNKS)
    texts = [" ".join(words[start : start + per_chunk]) + " " for start in range(0, len(words), per_chunk)]
    return b"".join(_messages_frames(texts))


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


PACED_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


JSON_REPLY = _response("200 OK", "application/json", _completion())
SSE_REPLY = _response("200 OK", "text/event-stream", _stream())
NOT_FOUND = _response("404 Not Found", "application/json", b'{"error":{"message":"not found"}}')
MESSAGES_JSON_REPLY = _response(
    "200 OK",
    "application/json",
    json.dumps(_message([{"type": "text", "text": TEXT}], "end_turn", MESSAGES_USAGE), separators=(",", ":")).encode(),
)
MESSAGES_SSE_REPLY = _response("200 OK", "text/event-stream", _messages_stream())
MODELS = _response("200 OK", "application/json", b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}')


class Upstream(asyncio.Protocol):
    """One connection: parse requests as they arrive, answer each as soon as it is complete."""

    def __init__(self, paced: dict[bool, list[bytes]], interval: float) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.paced, self.interval = paced, interval  # paced frames by "is it a Messages request"
        self.pacing: asyncio.Task[None] | None = None  # a paced reply still being written

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
        keep_alive = self.parser.should_keep_alive()
        reply = self._reply()
        if isinstance(reply, list) or self.pacing is not None:
            # Replies on one connection go out in order: a paced one (or one after it) waits its turn.
            self.pacing = asyncio.get_running_loop().create_task(self._later(self.pacing, reply, keep_alive))
            return
        self.transport.write(reply)
        if not keep_alive:
            self.transport.close()

    async def _later(self, before: "asyncio.Task[None] | None", reply: bytes | list[bytes], keep_alive: bool) -> None:
        if before is not None:
            await before
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if isinstance(reply, list):
            transport.write(PACED_HEAD)
            for index, frame in enumerate(reply):
                if index:
                    await asyncio.sleep(self.interval)
                if transport.is_closing():
                    return
                transport.write(_http_chunk(frame))
            transport.write(b"0\r\n\r\n")
        else:
            transport.write(reply)
        if not keep_alive:
            transport.close()
        if self.pacing is asyncio.current_task():
            self.pacing = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def _reply(self) -> bytes | list[bytes]:
        """The precomputed reply, or a paced stream's frames."""
        path = self.url.split(b"?", 1)[0]
        if path.endswith(b"/models"):
            return MODELS
        messages = path.endswith(b"/v1/messages")
        if not messages and not path.endswith(b"/chat/completions"):
            return NOT_FOUND
        body = b"".join(self.body)
        # Cheaper than parsing JSON; the SDK writes `"stream": true` (json.dumps) or `"stream":true`.
        if b'"stream": true' not in body and b'"stream":true' not in body:
            return MESSAGES_JSON_REPLY if messages else JSON_REPLY
        if PACED_MARKER in body:
            return self.paced[messages]
        return MESSAGES_SSE_REPLY if messages else SSE_REPLY


async def serve(port: int, chunks: int, interval_ms: float) -> None:
    loop = asyncio.get_running_loop()
    paced = {False: _paced_frames(chunks), True: _messages_frames([f"word{i} " for i in range(chunks)])}
    server = await loop.create_server(lambda: Upstream(paced, interval_ms / 1000), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--paced-chunks", type=int, default=10, help="content frames in a paced stream")
    parser.add_argument("--paced-interval-ms", type=float, default=20.0, help="time between a paced stream's frames")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.paced_chunks, args.paced_interval_ms))


if __name__ == "__main__":
    main()
