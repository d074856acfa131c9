"""A real HTTP test upstream speaking every provider's wire format the gateway promises (a pytest plugin).

A Starlette app served by uvicorn on a free 127.0.0.1 port in a background thread with its own
event loop, started once per test session: OpenAI Chat and Responses, Anthropic Messages, Google
Gemini, Cohere v2 and Azure OpenAI, each in its own module, routed by path (tests/upstream/server.py).
Each test sets `Switches` (reply text, token usage, latency, errors, hangs, dropped or held streams,
safety blocks) through the `upstream` fixture, and reads back what the upstream received (path,
query, headers, JSON body). Each provider refuses what the real one documents it refuses, in its own
error body, so a request the gateway should never send fails the test that sent it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstream.anthropic import messages_frames
from tests.upstream.core import Received, Switches, Upstream
from tests.upstream.server import loopback_socket, serve


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[Upstream]:
    with serve(Upstream()) as upstream:
        yield upstream


@pytest.fixture
def upstream(upstream_server: Upstream) -> Iterator[Upstream]:
    """The session's upstream with fresh switches and an empty record."""
    upstream_server.reset()
    yield upstream_server
    upstream_server.reset()


__all__ = [
    "Received",
    "Switches",
    "Upstream",
    "loopback_socket",
    "messages_frames",
    "serve",
    "upstream",
    "upstream_server",
]
