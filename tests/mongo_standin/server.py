"""A MongoDB stand-in for the test suite: mongoeco's wire server, with the fixes django-mongodb-backend needs.

Runs on Python >= 3.13 in its own virtualenv (scripts/mongo makes it; the project stays on 3.11),
so nothing here is imported by the project. `python server.py` serves an in-memory database on a
free 127.0.0.1 port, prints the client URI as its first line of output and runs until SIGTERM.

mongoeco 4.11.0 is extended here, never edited, in four places, each met through the suite:
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
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from mongoeco.core.aggregation import register_aggregation_expression_operator
from mongoeco.core.identity import id_contains_numeric_value
from mongoeco.engines.memory import MemoryEngine
from mongoeco.wire import AsyncMongoEcoProxyServer
from mongoeco.wire.executor import WireCommandExecutor
from mongoeco.wire.surface import WireSurface

REPLICA_SET = "rs0"
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


class StandInEngine(MemoryEngine):
    """mongoeco's in-memory engine, without the full-collection `_id` scan for ids that are not numeric."""

    def _ensure_unique_indexes(self, db_name: str, coll_name: str, candidate: Any, **kwargs: Any) -> None:
        if kwargs.get("scan_payload_id") and not id_contains_numeric_value(candidate.get("_id")):
            kwargs["scan_payload_id"] = False
        super()._ensure_unique_indexes(db_name, coll_name, candidate, **kwargs)


class StandInExecutor(WireCommandExecutor):
    """mongoeco's command executor, reading bodies as MongoDB does and answering hello as a replica set."""

    address = ""

    def _build_request_context(self, body: dict[str, Any], **kwargs: Any) -> Any:
        return super()._build_request_context(_command_body(body, surface=self._surface), **kwargs)

    async def execute_prepared(self, context: Any) -> dict[str, Any]:
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
        self._executor = StandInExecutor(
            self._client, self._cursor_store, self._session_store, surface=self._surface, auth=self._auth
        )

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
