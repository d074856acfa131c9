"""Runs blocking ORM and cache code off the event loop, on the loop's shared thread pool.

`sync_to_async` with its default (thread-sensitive) mode starts a new thread for every
request under Django's ASGI handler; the hot path instead uses the shared pool. Each
call closes the connections it opened before returning, so no connection outlives the
thread that made it (SQLite refuses cross-thread use; PostgreSQL connections come from
the pool configured in settings and go straight back to it).
"""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

P = ParamSpec("P")
T = TypeVar("T")


def _closing(fn: Callable[P, T]) -> Callable[P, T]:
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            for connection in connections.all(initialized_only=True):
                connection.close()

    return call


async def in_pool(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    return await sync_to_async(_closing(fn), thread_sensitive=False)(*args, **kwargs)
