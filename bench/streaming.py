"""Time to first frame and the gaps between frames over sequential SSE requests, which wrk cannot see.

Time to first token is taken at the first frame whose delta carries text. Frames are in any of
the formats the gateway or the mock (measured directly, the baseline of cross-format calls) speak:
OpenAI chat chunks ending with `data: [DONE]`, Anthropic Messages events ending with message_stop,
OpenAI Responses events ending with response.completed, Gemini chunks ending with one that has a
finishReason, Cohere v2 events ending with message-end. Each request goes
over a fresh 127.0.0.1 socket (`Connection: close`), its chunked body is
decoded as it arrives and every complete SSE event is stamped with the time of the read that
completed it. Against the mock's paced stream (bench/mock_upstream.py: one frame every
`--interval-ms`), a gap much shorter than the interval means two frames reached the client
together: the gateway batched them. Run by the harness as
`python -m bench.streaming --url URL --requests N --interval-ms MS` with the body in
BENCH_BODY and headers in BENCH_HEADERS ("Name: value" lines); prints one JSON line.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import time
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class Sample:
    status: int = 0
    error: str = ""
    first_frame_ms: float | None = None
    first_token_ms: float | None = None  # the first frame whose delta carries text
    frame_times_ms: list[float] = field(default_factory=list)
    text_times_ms: list[float] = field(default_factory=list)  # the frames that carry text
    done: bool = False  # saw `data: [DONE]` or message_stop


class Decoder:
    """Incremental HTTP/1.1 response parser: status, headers, then chunked or plain body into SSE events."""

    def __init__(self) -> None:
        self.raw = b""
        self.status = 0
        self.chunked: bool | None = None  # None until the head is read
        self.body = b""  # decoded body not yet split into events
        self.ended = False

    def feed(self, data: bytes) -> list[bytes]:
        self.raw += data
        if self.chunked is None:
            head, sep, rest = self.raw.partition(b"\r\n\r\n")
            if not sep:
                return []
            lines = head.split(b"\r\n")
            self.status = int(lines[0].split()[1])
            self.chunked = any(
                line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower() for line in lines[1:]
            )
            self.raw = rest
        if self.chunked:
            self._dechunk()
        else:
            self.body, self.raw = self.body + self.raw, b""
        return self._events()

    def _dechunk(self) -> None:
        while True:
            size_line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                return
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.ended, self.raw = True, b""
                return
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.raw = rest[size + 2 :]

    def _events(self) -> list[bytes]:
        events = []
        normalised = self.body.replace(b"\r\n", b"\n")
        *complete, self.body = normalised.split(b"\n\n")
        for event in complete:
            if event.strip():
                events.append(event.strip())
        return events


def has_text(payload: bytes) -> bool:
    """Whether a frame carries text: an OpenAI chunk's first choice (the role frame before it does not),
    an Anthropic or Responses text delta, a Gemini candidate's part, a Cohere content delta."""
    try:
        frame = json.loads(payload)
        kind = frame.get("type")
        if kind == "content_block_delta":
            return bool(frame["delta"].get("text"))
        if kind == "response.output_text.delta":
            return bool(frame.get("delta"))
        if kind == "content-delta":
            return bool(frame["delta"]["message"]["content"].get("text"))
        if "candidates" in frame:
            parts = (frame["candidates"][0].get("content") or {}).get("parts") or [{}]
            return bool(parts[0].get("text"))
        choices = frame.get("choices") or [{}]
        return bool((choices[0].get("delta") or {}).get("content"))
    except (ValueError, AttributeError, KeyError, IndexError, TypeError):
        return False


def event_data(event: bytes) -> bytes | None:
    """An SSE event's data line (after an Anthropic `event:` line, if any), or None."""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


END_MARKERS = (b'"type":"message_stop"', b'"type":"response.completed"', b'"type":"message-end"', b'"finishReason"')


def is_end(data: bytes) -> bool:
    if data == b"[DONE]":
        return True
    compact = data.replace(b" ", b"") if data.startswith(b"{") else b""
    return any(marker in compact for marker in END_MARKERS)


def one_request(url: str, headers: dict[str, str], body: bytes, timeout: float) -> Sample:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = [f"POST {target} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Accept: application/json", "Connection: close"]  # fmt: skip
    # The Accept the OpenAI SDK sends, streaming or not (our gateway answers 406 to `text/event-stream`).
    head += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    sample, decoder = Sample(), Decoder()
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            while not (sample.done or decoder.ended):
                data = sock.recv(65536)
                now_ms = (time.perf_counter() - start) * 1000
                if not data:
                    break
                for event in decoder.feed(data):
                    if (payload := event_data(event)) is not None:
                        sample.frame_times_ms.append(now_ms)
                        sample.done = sample.done or is_end(payload)
                        if has_text(payload):
                            sample.text_times_ms.append(now_ms)
                            if sample.first_token_ms is None:
                                sample.first_token_ms = now_ms
    except OSError as exc:
        sample.error = f"{type(exc).__name__}: {exc}"
    sample.status = decoder.status
    if sample.frame_times_ms:
        sample.first_frame_ms = sample.frame_times_ms[0]
    if not sample.error and not 200 <= sample.status < 300:
        sample.error = f"HTTP {sample.status}: {decoder.body[:200]!r}"
    elif not sample.error and not sample.done:
        sample.error = "the stream ended without its format's last event ([DONE], message_stop, ...)"
    return sample


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summarise(samples: list[Sample], interval_ms: float) -> dict[str, object]:
    good = [s for s in samples if not s.error]
    firsts = [s.first_frame_ms for s in good if s.first_frame_ms is not None]
    tokens = [s.first_token_ms for s in good if s.first_token_ms is not None]
    gaps = [b - a for s in good for a, b in zip(s.frame_times_ms, s.frame_times_ms[1:], strict=False)]
    text_gaps = [b - a for s in good for a, b in zip(s.text_times_ms, s.text_times_ms[1:], strict=False)]
    frames = [len(s.frame_times_ms) for s in good]
    return {
        "requests": len(samples),
        "errors": len(samples) - len(good),
        "first_errors": sorted({s.error for s in samples if s.error})[:3],
        "interval_ms": interval_ms,
        "first_frame_p50_ms": percentile(firsts, 50),
        # Time to first token: the mock sends its first text one interval after the role frame.
        "ttft_p50_ms": percentile(tokens, 50),
        "ttft_p99_ms": percentile(tokens, 99),
        "gap_p50_ms": percentile(gaps, 50),
        "gap_p99_ms": percentile(gaps, 99),
        "gap_min_ms": min(gaps) if gaps else None,
        "gap_max_ms": max(gaps) if gaps else None,
        # Frames the mock sent `interval_ms` apart that arrived less than half of that apart.
        "batched_gaps": sum(1 for gap in gaps if gap < interval_ms / 2),
        # The same for the frames with text only: a translation may rightly send several frames for one of the
        # provider's (Responses' item and part events), but each text frame the provider sent is its own.
        "batched_text_gaps": sum(1 for gap in text_gaps if gap < interval_ms / 2),
        "frames_per_request": statistics.median(frames) if frames else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--interval-ms", type=float, required=True, help="the mock's pace between frames")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    headers = {}
    for line in os.environ.get("BENCH_HEADERS", "").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip()] = value.strip()
    body = os.environ["BENCH_BODY"].encode()
    samples = [one_request(args.url, headers, body, args.timeout) for _ in range(args.requests)]
    print("BENCH_JSON " + json.dumps(summarise(samples, args.interval_ms)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
