"""A MongoDB stand-in for the test suite: mongoeco's wire server, with the fixes django-mongodb-backend needs.

Runs on Python >= 3.13 in its own virtualenv (scripts/mongo makes it; the project stays on 3.11),
so nothing here is imported by the project. `python server.py` serves an in-memory database on a
free 127.0.0.1 port, prints the client URI as its first line of output and runs until SIGTERM.

mongoeco 4.11.0 is extended here, never edited, in these places, each met through the suite:
1. Command names: pymongo sends `buildinfo` (lowercase); MongoDB matches command names without
   regard to case, mongoeco only exactly. Unknown names are mapped to the one supported name that
   differs only in case.
2. Projections: MongoDB reads `{"fk": {"name": 1}}` in `$project` (and in find's projection) as the
   path `fk.name`; mongoeco as a literal sub-document. django-mongodb-backend projects joined
   tables that way, so such specs are rewritten to dotted paths before mongoeco sees them.
3. `$not`, a standard aggregation expression mongoeco lacks, is registered through its plugin API
   (`register_aggregation_expression_operator`).
4. The handshake reports a one-member replica set (`setName`), as a real single-node replica set
   does, so pymongo and django-mongodb-backend use sessions and transactions.
5. Speed: the memory engine compares every stored `_id` with a single inserted document's, so n
   inserts cost O(n²) (load_pricing's ~1,500 rows took minutes). That scan only matters for numeric
   ids (1 == 1.0 in BSON); for any other id the exact storage-key check it also makes is enough.
6. Transactions, one writer at a time (TransactionGate). mongoeco's transactions are real
   snapshots (reads see the snapshot, abort discards every write, commit publishes them together),
   but a commit fails if *any* write committed anywhere since the snapshot, and with a bare
   OperationFailure: under the suite's concurrency nearly every transaction would fail, where
   MongoDB fails only the second writer of one document, with a `TransientTransactionError` the
   client retries. So a transaction holds the gate from its first command to its commit or abort,
   and a write outside one holds it while it runs; reads never wait. A transaction whose client has
   sent nothing for TRANSACTION_IDLE while someone waits is aborted and its next command answered
   NoSuchTransaction, so a killed client cannot stall the rest. Idle, not old: a transaction that
   keeps sending commands is never cut short (MongoDB's own limit, transactionLifetimeLimitSeconds,
   is 60 s from the start; here a busy transaction's age is mostly the time its client spends
   waiting for a loaded machine's CPU, which a real server's concurrency would not serialise).
   A commit that still conflicts is aborted and labelled TransientTransactionError, as MongoDB's
   WriteConflict is. What this proves and does not: docs/guarantees.md.
7. A write that fails inside a transaction (a duplicate key, say) aborts it, as MongoDB does;
   mongoeco let the transaction go on and commit. Code that catches such an error and carries
   on in the same transaction now fails here as it would on MongoDB (alerts/services.py avoids it).
8. Speed: every write checks each index's partial filter against the new document and, for a
   compound unique index, against every stored one, compiling the filter afresh each time (half
   the stand-in's time in an upsert-heavy batch: rollups) and the new document's keys again for
   each stored one. Here a filter is compiled once (a plan is only read by the matcher), and the
   new document's keys once per index and check.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mongoeco.core.aggregation import register_aggregation_expression_operator
from mongoeco.core.identity import id_contains_numeric_value
from mongoeco.engines import virtual_indexes
from mongoeco.engines.memory import MemoryEngine
from mongoeco.errors import OperationFailure
from mongoeco.wire import AsyncMongoEcoProxyServer
from mongoeco.wire._session_identity import wire_session_key
from mongoeco.wire.executor import WireCommandExecutor
from mongoeco.wire.sessions import WireSessionStore
from mongoeco.wire.surface import WireSurface

REPLICA_SET = "rs0"
TRANSACTION_IDLE = 10.0  # seconds a transaction's client may send nothing while others wait for the gate
_WRITES = frozenset(
    {"insert", "update", "delete", "findAndModify", "create", "drop", "createIndexes", "dropIndexes"}
    | {"dropDatabase", "renameCollection", "collMod"}
)
_WRITE_CONFLICT, _NO_SUCH_TRANSACTION, _TRANSIENT = 112, 251, ("TransientTransactionError",)
# Pipelines nest in these stages; their projections need the same rewrite.
_SUB_PIPELINE_STAGES = ("$lookup", "$unionWith")


def _flat_projection(spec: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"fk": {"name": 1, "n": {"$add": …}}} → {"fk.name": 1, "fk.n": {"$add": …}}; expressions stay whole."""
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        path = f"{prefix}{key}"
        is_sub_spec = (
            isinstance(value, dict)
            and value
            and not any(str(k).startswith("$") for k in value)
            and not path.startswith("$")
        )
        if is_sub_spec:
            flat.update(_flat_projection(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _flat_pipeline(pipeline: list[Any]) -> list[Any]:
    stages = []
    for stage in pipeline:
        if isinstance(stage, dict) and len(stage) == 1:
            ((name, spec),) = stage.items()
            if name == "$project" and isinstance(spec, dict):
                stage = {name: _flat_projection(spec)}
            elif name in _SUB_PIPELINE_STAGES and isinstance(spec, dict) and isinstance(spec.get("pipeline"), list):
                stage = {name: {**spec, "pipeline": _flat_pipeline(spec["pipeline"])}}
            elif name == "$facet" and isinstance(spec, dict):
                stage = {name: {k: _flat_pipeline(v) if isinstance(v, list) else v for k, v in spec.items()}}
        stages.append(stage)
    return stages


def _command_body(body: dict[str, Any], *, surface: WireSurface) -> dict[str, Any]:
    """The request body as MongoDB would read it, in the shapes mongoeco understands."""
    if not body:
        return body
    name = next(iter(body))
    if isinstance(name, str) and not surface.supports_command(name):
        matches = [known for known in surface.supported_commands if known.lower() == name.lower()]
        if len(matches) == 1:
            body = {(matches[0] if key == name else key): value for key, value in body.items()}
            name = matches[0]
    if name == "find" and isinstance(body.get("projection"), dict):
        body = {**body, "projection": _flat_projection(body["projection"])}
    elif name == "findAndModify" and isinstance(body.get("fields"), dict):
        body = {**body, "fields": _flat_projection(body["fields"])}
    elif name == "aggregate" and isinstance(body.get("pipeline"), list):
        body = {**body, "pipeline": _flat_pipeline(body["pipeline"])}
    return body


class StandInSessionStore(WireSessionStore):
    """mongoeco's session store; a commit that conflicts aborts the transaction and says it is transient."""

    def commit_transaction(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._require_session(body)
        if not session.transaction_active:
            return {"ok": 1.0}
        try:
            session.commit_transaction()
        except OperationFailure as exc:
            if "Write conflict" not in str(exc):
                raise
            session.abort_transaction()  # MongoDB aborts a transaction that met a write conflict
            raise OperationFailure(str(exc), code=_WRITE_CONFLICT, error_labels=_TRANSIENT) from exc
        return {"ok": 1.0}

    def abort_by_key(self, key: str) -> None:
        context = self._sessions.get(key)
        if context is not None and context.session.active and context.session.transaction_active:
            context.session.abort_transaction()


@dataclass
class TransactionGate:
    """One writer at a time: a transaction from its first command to its end, or one write outside any."""

    sessions: StandInSessionStore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    owner: str | None = None  # the session whose transaction holds the lock
    since: float = 0.0  # when the owner's last command ended (or its transaction began)
    running: int = 0  # the owner's commands being executed now: never idle meanwhile
    aborted: set[str] = field(default_factory=set)  # sessions whose transaction the gate ended

    async def _acquire(self) -> None:
        while True:
            wait = self.since + TRANSACTION_IDLE - time.monotonic() if self.owner else None
            try:
                await asyncio.wait_for(self.lock.acquire(), None if wait is None else max(wait, 0.1))
                return
            except TimeoutError:
                if self.owner is not None and not self.running and time.monotonic() - self.since >= TRANSACTION_IDLE:
                    # In the server's log (scripts/mongo keeps it): a client left a transaction open.
                    print(f"aborted a transaction idle for {TRANSACTION_IDLE:.0f} s", file=sys.stderr, flush=True)
                    self.sessions.abort_by_key(self.owner)
                    self.aborted.add(self.owner)
                    self._release()

    def _release(self) -> None:
        self.owner = None
        self.lock.release()

    async def _in_transaction(
        self, name: str, key: str, execute: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Runs a command of the owner's transaction; a write that fails aborts the transaction, as MongoDB does."""
        self.running += 1
        try:
            try:
                result = await execute()
            except OperationFailure:
                if name in _WRITES:
                    self._abort(key)
                raise
            if name in _WRITES and result.get("writeErrors"):
                self._abort(key)
            return result
        finally:
            self.running -= 1
            self.since = time.monotonic()

    def _abort(self, key: str) -> None:
        # MongoDB ends a transaction whose write failed (a duplicate key, say): the write's reply carries the
        # error, and every later command of the transaction, its commit included, is answered NoSuchTransaction.
        self.sessions.abort_by_key(key)
        self.aborted.add(key)
        self._release()

    async def run(self, body: dict[str, Any], execute: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        name = next(iter(body), "")
        key = wire_session_key(body["lsid"]) if "lsid" in body else None
        in_transaction = key is not None and body.get("autocommit") is False
        if key is not None and self.owner == key:
            if body.get("startTransaction") is True:  # its next transaction, the last one left unended
                self.since = time.monotonic()
            try:
                return await self._in_transaction(name, key, execute)
            finally:
                if name in ("commitTransaction", "abortTransaction") and self.owner == key:
                    self._release()
        if in_transaction and body.get("startTransaction") is True:
            await self._acquire()
            self.owner, self.since = key, time.monotonic()
            self.aborted.discard(key)  # type: ignore[arg-type]
            return await self._in_transaction(name, key, execute)
        if in_transaction and key in self.aborted and name != "abortTransaction":
            raise OperationFailure(
                "Transaction was aborted: a write of it failed, or its client was idle past the stand-in's limit",
                code=_NO_SUCH_TRANSACTION,
                error_labels=_TRANSIENT,
            )
        if name in _WRITES and not in_transaction:
            await self._acquire()
            try:
                return await execute()
            finally:
                self._release()
        if name == "endSessions" and self.owner is not None:
            ended = {wire_session_key(spec) for spec in body.get("endSessions") or []}
            if self.owner in ended:
                self._release()
        return await execute()


_compile_filter = virtual_indexes.compile_filter
_partial_plans: dict[tuple[str, int], Any] = {}


def _partial_filter_plan(spec: Any, **kwargs: Any) -> Any:
    """virtual_indexes' compile_filter, remembered per filter (an index's partial filter: a handful per database)."""
    if set(kwargs) - {"dialect"}:
        return _compile_filter(spec, **kwargs)
    key = (repr(spec), id(kwargs.get("dialect")))
    plan = _partial_plans.get(key)
    if plan is None:
        plan = _partial_plans[key] = _compile_filter(spec, **kwargs)
    return plan


@dataclass(frozen=True)
class _Pending:
    """A request decoded but not yet bound to its session: binding starts a transaction, after the gate."""

    body: dict[str, Any]
    kwargs: dict[str, Any]


class StandInEngine(MemoryEngine):
    """mongoeco's in-memory engine, without the full-collection `_id` scan for ids that are not numeric."""

    _candidate_keys: tuple[Any, Any, set[tuple[Any, ...]]] | None = None

    def _ensure_unique_indexes(self, db_name: str, coll_name: str, candidate: Any, **kwargs: Any) -> None:
        if kwargs.get("scan_payload_id") and not id_contains_numeric_value(candidate.get("_id")):
            kwargs["scan_payload_id"] = False
        self._candidate_keys = None  # fix 8: the new document's keys, computed once per index in this check
        try:
            super()._ensure_unique_indexes(db_name, coll_name, candidate, **kwargs)
        finally:
            self._candidate_keys = None

    def _unique_index_conflict(self, candidate: Any, existing: Any, index: Any) -> tuple[Any, ...] | None:
        """mongoeco's check of one stored document, without recomputing the new one's keys for each."""
        if index.get("collation") is not None:
            return super()._unique_index_conflict(candidate, existing, index)
        fields = index["fields"]
        known = self._candidate_keys
        if known is None or known[0] is not candidate or known[1] is not fields:
            known = self._candidate_keys = (candidate, fields, self._unique_index_keys(candidate, fields))
        duplicate_keys = known[2].intersection(self._unique_index_keys(existing, fields))
        return next(iter(duplicate_keys)) if duplicate_keys else None


class StandInExecutor(WireCommandExecutor):
    """mongoeco's command executor, reading bodies as MongoDB does and answering hello as a replica set."""

    address = ""
    gate: TransactionGate

    def _build_request_context(self, body: dict[str, Any], **kwargs: Any) -> Any:
        return _Pending(body, kwargs)

    async def execute_prepared(self, context: Any) -> dict[str, Any]:
        if not isinstance(context, _Pending):
            return await self._execute(context)
        pending = context

        async def execute() -> dict[str, Any]:
            body = _command_body(pending.body, surface=self._surface)
            return await self._execute(super(StandInExecutor, self)._build_request_context(body, **pending.kwargs))

        return await self.gate.run(pending.body, execute)

    async def _execute(self, context: Any) -> dict[str, Any]:
        result = await super().execute_prepared(context)
        if context.capability.kind == "handshake":
            result = {
                **result,
                "setName": REPLICA_SET,
                "hosts": [self.address],
                "primary": self.address,
                "me": self.address,
            }
            result.setdefault("secondary", False)
        return result


class StandInServer(AsyncMongoEcoProxyServer):
    """mongoeco's wire server with StandInExecutor in place of its own executor."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session_store = StandInSessionStore()
        self._executor = StandInExecutor(
            self._client, self._cursor_store, self._session_store, surface=self._surface, auth=self._auth
        )
        self._executor.gate = TransactionGate(self._session_store)

    async def start(self) -> Any:
        address = await super().start()
        self._executor.address = f"{address.host}:{address.port}"
        return address


def _not(document: Any, spec: Any, variables: Any, dialect: Any, context: Any) -> bool:
    """MongoDB's `$not`: `{"$not": [expr]}` (or `{"$not": expr}`) is true when expr is not truthy."""
    (argument,) = context.require_expression_args("$not", spec if isinstance(spec, list) else [spec], 1, 1)
    return not dialect.policy.expression_truthy(context.evaluate_expression(document, argument, variables))


async def serve(*, host: str, port: int) -> None:
    register_aggregation_expression_operator("$not", _not)
    virtual_indexes.compile_filter = _partial_filter_plan  # only document_in_virtual_index's calls: fix 8
    server = StandInServer(engine=StandInEngine(), host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    address = await server.start()
    print(f"mongodb://{address.host}:{address.port}/?directConnection=true", flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    args = parser.parse_args()
    if sys.version_info < (3, 13):
        sys.exit("the MongoDB stand-in (mongoeco) needs Python >= 3.13")
    asyncio.run(serve(host=args.host, port=args.port))


if __name__ == "__main__":
    main()
