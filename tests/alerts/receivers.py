"""Real receivers for the alert tests on 127.0.0.1: a webhook endpoint (can answer slowly, fail, go down and come
back on the same port) and a minimal SMTP server."""

import contextlib
import email
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event_id(self) -> str:
        return self.headers["X-Gateway-Event-Id"]

    def json(self) -> Any:
        return orjson.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow answer never holds up the test's end
    receiver: "WebhookReceiver"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with receiver.lock:
            receiver.received.append(Received(dict(self.headers.items()), body, time.monotonic()))
            receiver.in_flight += 1
        try:
            time.sleep(receiver.delay)
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass  # the sender gave up waiting
        finally:
            with receiver.lock:
                receiver.in_flight -= 1

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebhookReceiver:
    """Records every POST; answers `status` after `delay` seconds. stop() takes it down, start() brings it back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.delay = 0.0
        self.received: list[Received] = []
        self.in_flight = 0
        self.lock = threading.Lock()
        self.server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/budget"

    def start(self) -> "WebhookReceiver":
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.receiver = self
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.server = server
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def event_ids(self) -> list[str]:
        with self.lock:
            return [received.event_id for received in self.received]


class _SMTPHandler(socketserver.StreamRequestHandler):
    """The few SMTP commands Django's backend sends: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    server: "SMTPReceiver"

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 127.0.0.1 test SMTP")
        recipients: list[str] = []
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 127.0.0.1")
            elif command.startswith("RCPT TO:"):
                recipients.append(line.decode().strip()[8:].strip(" <>"))
                self.reply("250 OK")
            elif command == "DATA":
                self.reply("354 end with .")
                data = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                self.server.messages.append((recipients, email.message_from_bytes(data)))
                recipients = []
                self.reply("250 OK")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL FROM, RSET, NOOP
                self.reply("250 OK")


class SMTPReceiver(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SMTPHandler)
        self.messages: list[tuple[list[str], Message]] = []
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.shutdown()
        self.server_close()
