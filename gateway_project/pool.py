"""Runs blocking ORM and cache code off the event loop, on the loop's shared thread pool.

`sync_to_async` with its default (thread-sensitive) mode starts a new thread for every
request under Django's ASGI handler; the hot path instead uses the shared pool. No
connection is ever used by two threads: Django's connections are per thread, and a pool
thread keeps its own. After each call a PostgreSQL connection goes back to psycopg's pool
(settings) and MongoDB's client is a pool already; a SQLite connection stays open for its
thread's next call, because opening one runs the PRAGMAs and closing the last one
checkpoints the WAL, which cost a budget hold about 5 ms at one connection (bench/). One
that saw a database error, or was left inside a transaction, is closed all the same.
"""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

P = ParamSpec("P")
T = TypeVar("T")


def _release(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "sqlite" and not connection.errors_occurred and not connection.in_atomic_block:
        return
    connection.close()


def _closing(fn: Callable[P, T]) -> Callable[P, T]:
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            for connection in connections.all(initialized_only=True):
                _release(connection)

    return call


async def in_pool(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    return await sync_to_async(_closing(fn), thread_sensitive=False)(*args, **kwargs)
