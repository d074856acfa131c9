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

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


@functools.cache
def _sqlite_writer(loop: asyncio.AbstractEventLoop) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")


async def in_writer(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`in_pool` for the hot path's ledger writes (holds, rows and settlements).

    SQLite takes one writer at a time: two pool threads writing at once make one wait in
    SQLite's busy handler, which sleeps 1, 2, 5 ms ... before it tries again (about 3 ms per
    budgeted call at one connection, bench/). On SQLite these writes queue for one thread
    instead, which hands over the moment the previous write commits. Other engines take
    concurrent writers and use the shared pool.
    """
    if connections["default"].vendor != "sqlite":
        return await in_pool(fn, *args, **kwargs)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_sqlite_writer(loop), functools.partial(_closing(fn), *args, **kwargs))
