"""The body limit holds on every route: a declared or chunked upload over it is a 413, and is not read on."""

import select
import socket
from urllib.parse import urlsplit

import pytest

LIMIT = 64 * 1024
CHUNK = b"x" * 16384
ROUTES = {
    "/v1/chat/completions": "application/json",
    "/api/accounts/": "application/json",
    "/admin/login/": "text/plain",
}


@pytest.fixture
def small_limit(settings):
    settings.MAX_REQUEST_BYTES = LIMIT


def connect(gateway) -> socket.socket:
    url = urlsplit(gateway.url)
    return socket.create_connection((url.hostname, url.port), timeout=10)


def read_response(sock: socket.socket, already: bytes = b"") -> bytes:
    data = already
    sock.settimeout(5)
    try:
        while b"\r\n\r\n" not in data or not data.endswith((b"}", b"bytes.")):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def send_chunked(gateway, path: str, total: int, key: str = "gw-nobody") -> tuple[int, bytes]:
    """Sends a chunked body of `total` bytes, watching for an early answer; returns (bytes sent, response)."""
    sock = connect(gateway)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    head += "Content-Type: application/json\r\n"
    sock.sendall(head.encode() + f"Authorization: Bearer {key}\r\n\r\n".encode())
    sent, response = 0, b""
    with sock:
        while sent < total:
            # Reads an early answer but keeps sending: only a server that stops reading stops us.
            if not response and select.select([sock], [], [], 0)[0]:
                response = sock.recv(65536)
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(CHUNK)
        else:
            sock.sendall(b"0\r\n\r\n")
        return sent, read_response(sock, response)


@pytest.mark.parametrize("path", list(ROUTES))
def test_a_chunked_upload_over_the_limit_is_cut_off_with_413(gateway, customer, small_limit, path):
    total = 64 * 1024 * 1024  # 1,000 times the limit
    # The proxy authenticates before it looks at the body; the API and the admin never get that far.
    sent, response = send_chunked(gateway, path, total, key=customer.key)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    # The server stopped reading: what was sent is what the loopback buffers took, far from all of it.
    assert sent < total // 4, sent
    assert b"connection: close" in response.lower()
    body = response.split(b"\r\n\r\n", 1)[1]
    assert ROUTES[path].encode() in response.lower().split(b"\r\n\r\n")[0]
    assert body


@pytest.mark.parametrize("path", list(ROUTES))
def test_a_declared_length_over_the_limit_is_refused_before_any_body(gateway, customer, small_limit, path):
    with connect(gateway) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {400 * 1024 * 1024}\r\n"
            f"Authorization: Bearer {customer.key}\r\n"
            "Content-Type: application/json\r\n\r\n".encode()
        )
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]


def test_the_api_answers_413_in_its_json_format(gateway, small_limit):
    _, response = send_chunked(gateway, "/api/keys/", 8 * 1024 * 1024)
    assert b'{"detail":"Request body is over 65536 bytes."}' in response


def test_a_body_under_the_limit_still_reaches_the_view(gateway, small_limit):
    _, response = send_chunked(gateway, "/api/accounts/", 4 * len(CHUNK) - 1)
    assert response.startswith(b"HTTP/1.1 401"), response[:200]  # read whole, then refused for its token
