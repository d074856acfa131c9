"""A minimal upstream for benchmarks speaking five providers' formats: a raw asyncio protocol on uvloop.

It answers every POST with one precomputed reply (JSON with a usage block of 12 input and 7 output
tokens, or SSE when the request streams), so the mock costs a few microseconds per request and is
never the bottleneck, in the shapes of tests/upstream/: `/v1/chat/completions` and `/v1/responses`
in OpenAI's formats, `/v1/messages` in Anthropic's, `/v1beta/models/<m>:generateContent` and
`:streamGenerateContent` in Gemini's, `/v2/chat` in Cohere's (see bench/crosses.py for who calls
which). A streaming request whose body contains PACED_MARKER gets a paced stream instead:
`--paced-chunks` content frames, every frame of the format's own sequence (OpenAI: role, contents,
finish, usage, [DONE]; Anthropic: message_start, content_block_start, deltas, content_block_stop,
message_delta, message_stop; and likewise for the others) sent as its own HTTP chunk
`--paced-interval-ms` after the previous one, so a client can measure time to first token and see
whether a gateway batches frames. It parses HTTP/1.1 with httptools, keeps connections alive, and
binds 127.0.0.1 only. Run: `python -m bench.mock_upstream --port 8911`.
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
MESSAGES_MODEL = "claude-haiku-4-5"


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


# --- OpenAI Responses, Gemini, Cohere v2: the same 12 in / 7 out ---------------------------------

RESPONSES_USAGE = {
    "input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 7,
    "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 19,
}  # fmt: skip
GEMINI_USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19}
COHERE_USAGE = {
    "billed_units": {"input_tokens": 12, "output_tokens": 7},
    "tokens": {"input_tokens": 12, "output_tokens": 7},
}


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _response(status: str, text: str) -> dict[str, Any]:
    done = status == "completed"
    content = [{"type": "output_text", "text": text, "annotations": []}] if done else []
    return {
        "id": "resp_bench", "object": "response", "created_at": 1700000000, "status": status, "model": "gpt-4o-mini",
        "output": [{"id": "msg_bench", "type": "message", "status": status, "role": "assistant", "content": content}]
        if done else [], "usage": RESPONSES_USAGE if done else None, "error": None, "incomplete_details": None,
        "instructions": None, "max_output_tokens": None, "parallel_tool_calls": True, "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None}, "store": True, "temperature": 1.0,
        "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
        "truncation": "disabled", "user": None, "metadata": {},
    }  # fmt: skip


def _responses_frames(texts: list[str]) -> list[bytes]:
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    item = {"id": "msg_bench", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response("in_progress", "")},
        {"type": "response.in_progress", "response": _response("in_progress", "")},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.content_part.added", **where, "part": part},
    ]
    events += [{"type": "response.output_text.delta", **where, "delta": text} for text in texts]
    full = "".join(texts)
    done_item = {**item, "status": "completed", "content": [{**part, "text": full}]}
    events += [
        {"type": "response.output_text.done", **where, "text": full},
        {"type": "response.content_part.done", **where, "part": {**part, "text": full}},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": _response("completed", full)},
    ]
    return [f"event: {e['type']}\ndata: ".encode() + _compact({**e, "sequence_number": n}) + b"\n\n"
            for n, e in enumerate(events)]  # fmt: skip


def _gemini(text: str, finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    usage = GEMINI_USAGE if finish else {"promptTokenCount": 12, "totalTokenCount": 12}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"}


def _gemini_frames(texts: list[str]) -> list[bytes]:
    return [b"data: " + _compact(_gemini(text, i == len(texts) - 1)) + b"\r\n\r\n" for i, text in enumerate(texts)]


def _cohere_event(body: dict[str, Any]) -> bytes:
    return f"event: {body['type']}\ndata: ".encode() + _compact(body) + b"\n\n"


def _cohere_frames(texts: list[str]) -> list[bytes]:
    start = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}
    frames = [
        _cohere_event({"type": "message-start", "id": "cohere-bench", "delta": start}),
        _cohere_event(
            {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}
        ),
    ]
    frames += [_cohere_event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": text}}}})
               for text in texts]  # fmt: skip
    frames += [
        _cohere_event({"type": "content-end", "index": 0}),
        _cohere_event({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": COHERE_USAGE}}),
    ]
    return frames


def _texts() -> list[str]:
    words = TEXT.split(" ")
    per_chunk = -(-len(words) // CHUNKS)
    return [" ".join(words[start : start + per_chunk]) + " " for start in range(0, len(words), per_chunk)]


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


PACED_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _http(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


NOT_FOUND = _http("404 Not Found", "application/json", b'{"error":{"message":"not found"}}')
MODELS = _http("200 OK", "application/json", b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}')
COHERE_JSON = {"id": "cohere-bench", "finish_reason": "COMPLETE", "usage": COHERE_USAGE,
               "message": {"role": "assistant", "content": [{"type": "text", "text": TEXT}]}}  # fmt: skip
# Each wire format's precomputed JSON answer, its SSE answer, and its frames for a paced stream of n words.
JSON_REPLIES = {
    "chat": _completion(),
    "messages": _compact(_message([{"type": "text", "text": TEXT}], "end_turn", MESSAGES_USAGE)),
    "responses": _compact(_response("completed", TEXT)),
    "gemini": _compact(_gemini(TEXT, True)),
    "cohere": _compact(COHERE_JSON),
}
FRAMES = {
    "chat": _paced_frames,
    "messages": lambda n: _messages_frames([f"word{i} " for i in range(n)]),
    "responses": lambda n: _responses_frames([f"word{i} " for i in range(n)]),
    "gemini": lambda n: _gemini_frames([f"word{i} " for i in range(n)]),
    "cohere": lambda n: _cohere_frames([f"word{i} " for i in range(n)]),
}
SSE_REPLIES = {
    "chat": _stream(),
    "messages": _messages_stream(),
    "responses": b"".join(_responses_frames(_texts())),
    "gemini": b"".join(_gemini_frames(_texts())),
    "cohere": b"".join(_cohere_frames(_texts())),
}
JSON_HTTP = {kind: _http("200 OK", "application/json", body) for kind, body in JSON_REPLIES.items()}
SSE_HTTP = {kind: _http("200 OK", "text/event-stream", body) for kind, body in SSE_REPLIES.items()}


def wire_format(path: bytes) -> str | None:
    """Which provider format a path is: a key of JSON_REPLIES, or None."""
    if path.endswith(b"/v1/messages"):
        return "messages"
    if path.endswith(b"/responses"):
        return "responses"
    if path.endswith((b":generateContent", b":streamGenerateContent")):
        return "gemini"
    if path.endswith(b"/v2/chat"):
        return "cohere"
    if path.endswith(b"/chat/completions"):
        return "chat"
    return None


class Upstream(asyncio.Protocol):
    """One connection: parse requests as they arrive, answer each as soon as it is complete."""

    def __init__(self, paced: dict[str, list[bytes]], interval: float) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.paced, self.interval = paced, interval  # paced frames by wire format
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
        kind = wire_format(path)
        if kind is None:
            return NOT_FOUND
        body = b"".join(self.body)
        # Cheaper than parsing JSON; SDKs write `"stream": true` (json.dumps) or `"stream":true`. Gemini
        # streams by its method (`:streamGenerateContent`), not by a body field.
        streams = path.endswith(b":streamGenerateContent") or b'"stream": true' in body or b'"stream":true' in body
        if not streams:
            return JSON_HTTP[kind]
        if PACED_MARKER in body:
            return self.paced[kind]
        return SSE_HTTP[kind]


async def serve(port: int, chunks: int, interval_ms: float) -> None:
    loop = asyncio.get_running_loop()
    paced = {kind: frames(chunks) for kind, frames in FRAMES.items()}
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
