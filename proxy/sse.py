"""Server-sent events: encoding frames, and cutting a raw byte stream into complete frames."""

from __future__ import annotations

import json
from typing import Any

DONE = b"data: [DONE]\n\n"


def encode(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class Framer:
    """Buffers bytes as they arrive and hands out whole frames (each ending in a blank line)."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        # Normalised on the whole buffer so a CRLF split across two chunks is still caught.
        self.buffer = (self.buffer + chunk).replace(b"\r\n", b"\n")
        frames = []
        while (end := self.buffer.find(b"\n\n")) != -1:
            frame, self.buffer = self.buffer[: end + 2], self.buffer[end + 2 :]
            if frame.strip():
                frames.append(frame)
        return frames

    def rest(self) -> bytes:
        """Whatever is left without a closing blank line (a stream cut short)."""
        rest, self.buffer = self.buffer, b""
        return rest


def parse(frame: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """The event name and JSON data of one frame; (None, None) parts when absent or not JSON."""
    event, data = None, []
    for line in frame.decode("utf-8", errors="replace").splitlines():
        if line.startswith("event:"):
            event = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].strip())
    try:
        payload = json.loads("\n".join(data)) if data else None
    except ValueError:
        payload = None
    return event, payload if isinstance(payload, dict) else None
