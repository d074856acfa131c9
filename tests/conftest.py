"""Suite-wide fixtures; the environment itself is prepared by tests/settings.py."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins: list[str] = ["tests.upstream", "tests.gateway"]

# Fixtures that reach the suite's database: a test using one is never engine-independent.
_DATABASE_FIXTURES = frozenset({"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--mongo-uri",
        default=None,
        help="run the suite against this MongoDB server (mongodb://…); read by tests/settings.py",
    )
    parser.addoption(
        "--skip-engine-independent",
        action="store_true",
        default=False,
        help="skip tests marked engine_independent (scripts/test: they ran on an earlier pass of the same run)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The marker is a promise that the suite's database engine cannot change the outcome; a test that
    # can reach that database breaks the promise, so it is refused here rather than trusted.
    wrong = [
        item.nodeid
        for item in items
        if item.get_closest_marker("engine_independent")
        and (item.get_closest_marker("django_db") or _DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))
    ]
    if wrong:
        raise pytest.UsageError(f"engine_independent tests may not use the database: {', '.join(wrong[:5])}")
    if config.getoption("--skip-engine-independent"):
        skip = pytest.mark.skip(reason="engine-independent: ran on the first pass of scripts/test")
        for item in items:
            if item.get_closest_marker("engine_independent"):
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def content_types_kept_between_tests() -> Iterator[None]:
    """The flush after each transactional test keeps the content types and permissions.

    Django's flush empties every table, then its post_migrate signal writes every content type and
    permission back: ~0.5 s a test on the MongoDB stand-in (a flush alone is ~0.04 s), less on SQL.
    Kept, they are exactly what post_migrate would write back (no test writes either, and the only
    post_migrate receivers are those two apps'), so the signal is not sent after a flush: it would
    find everything there and write nothing. `migrate` (the test database's creation) still sends it.
    """
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.commands import flush

    kept = {ContentType._meta.db_table, Permission._meta.db_table}

    def sql_flush(style: Any, connection: Any, reset_sequences: bool = True, allow_cascade: bool = False) -> Any:
        # django.core.management.sql.sql_flush, less the kept tables.
        tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
        emptied = [table for table in tables if table not in kept]
        return connection.ops.sql_flush(style, emptied, reset_sequences=reset_sequences, allow_cascade=allow_cascade)

    def emit_post_migrate_signal(*args: Any, **kwargs: Any) -> None:
        pass

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flush, "sql_flush", sql_flush)
        patch.setattr(flush, "emit_post_migrate_signal", emit_post_migrate_signal)
        yield


def pytest_unconfigure(config: pytest.Config) -> None:
    # The run's own spool directory, made by tests/settings.py.
    spool = Path(os.environ.get("GATEWAY_SPOOL_DIR", ""))
    if spool.name.startswith("gateway-test-spool-") and spool.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(spool, ignore_errors=True)
