"""One transaction for a ledger write (holds, settlements, releases), on whichever engine holds the ledger.

On SQL engines `ledger_atomic` is Django's `transaction.atomic`, unchanged (select_for_update,
savepoints, on_commit and all). Django's atomic does nothing on django-mongodb-backend, so there
it runs the service in a MongoDB transaction instead (the backend's session API, as its own
`django_mongodb_backend.transaction.atomic` does), with two differences from that function:
- a failed commit is raised, not swallowed: 5.2.3's `atomic` rolls back and returns normally
  (fixed upstream later, INTPYTHON-950), which would report a settlement that never happened;
- a transaction MongoDB aborted as transient (a write conflict: `TransientTransactionError`)
  is run again from the start, as MongoDB's drivers do, a few times at most.
A call inside another ledger transaction joins it: the outermost one commits (or retries).
Django's own atomic blocks opened inside (bulk_create, delete) stay no-ops on MongoDB; MongoDB has
no savepoints, so a nested block cannot roll back alone (none of the ledger's needs to).
On a MongoDB server without transactions (a standalone, not a replica set) each write commits alone.
"""

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

P = ParamSpec("P")
R = TypeVar("R")

# MongoDB's drivers retry a transient transaction for up to two minutes; a ledger write that still
# conflicts after this many tries is better reported (spooled, or refused with a 503) than stalled.
_ATTEMPTS = 5
_TRANSIENT = "TransientTransactionError"


@functools.cache
def _on_mongodb() -> bool:  # fixed for the process: the SQL path pays one cached call, no query
    return bool(settings.DATABASES[DEFAULT_DB_ALIAS]["ENGINE"] == "django_mongodb_backend")


def _rollback(connection: Any) -> None:
    try:
        connection.rollback_mongo()
    except Exception:
        # The server is gone or aborted it already; the original error is the one to raise.
        if connection.session is not None:
            connection._end_session()
        connection.run_on_commit = []


def _transient(exc: BaseException) -> bool:
    # The backend wraps pymongo's errors in Django's; the label is on the cause.
    for error in (exc, exc.__cause__):
        has_label = getattr(error, "has_error_label", None)
        if has_label is not None and has_label(_TRANSIENT):
            return True
    return False


def _start(connection: Any) -> None:
    try:
        connection.start_transaction_mongo()
    except Exception as exc:
        if connection.session is not None:  # a session without its transaction would serve the next call
            connection._end_session()
        raise DatabaseError("could not start a MongoDB transaction") from exc
    connection.in_atomic_block_mongo = True


def _in_mongo_transaction(connection: Any, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    for attempt in range(1, _ATTEMPTS + 1):
        _start(connection)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            connection.in_atomic_block_mongo = False
            _rollback(connection)
            if attempt < _ATTEMPTS and _transient(exc):
                continue
            raise
        connection.in_atomic_block_mongo = False
        try:
            connection.commit_mongo()  # commits, ends the session, then runs on_commit hooks
        except Exception as exc:
            if connection.session is None:
                raise  # committed: an on_commit hook failed, as Django's atomic lets it
            # pymongo counts the transaction as finished (it cannot be aborted now); drop the session.
            connection._end_session()
            connection.run_on_commit = []
            if attempt < _ATTEMPTS and _transient(exc):
                continue
            # pymongo's own error, unwrapped by the backend here: Django's, as every other ledger failure.
            raise DatabaseError("the MongoDB transaction did not commit") from exc
        return result
    raise AssertionError("unreachable: the last attempt returns or raises")


def ledger_atomic(*, savepoint: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorates a ledger service so that all its writes commit together or not at all, on every engine.

    `savepoint` is passed to Django's atomic on SQL engines (False: join the caller's transaction
    without a savepoint); MongoDB has no savepoints, so a nested call always joins.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        sql = transaction.atomic(savepoint=savepoint)(func)

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _on_mongodb():
                return sql(*args, **kwargs)
            connection: Any = connections[DEFAULT_DB_ALIAS]  # the MongoDB wrapper: its own transaction API
            if connection.in_atomic_block_mongo or not connection.features._supports_transactions:
                return func(*args, **kwargs)
            return _in_mongo_transaction(connection, func, *args, **kwargs)

        return run

    return decorate
