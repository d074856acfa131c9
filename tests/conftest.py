"""Suite-wide fixtures; the environment itself is prepared by tests/settings.py."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins: list[str] = ["tests.upstream", "tests.gateway", "tests.alerts.fixtures", "tests.flush"]

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
    parser.addoption(
        "--skip-wire",
        action="store_true",
        default=False,
        help="skip tests marked wire or browser (scripts/test: they run on one of its passes, the second)",
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
        skip = pytest.mark.skip(reason="engine-independent: runs on the first pass of scripts/test")
        for item in items:
            if item.get_closest_marker("engine_independent"):
                item.add_marker(skip)
    if config.getoption("--skip-wire"):
        skip = pytest.mark.skip(
            reason="a wire format, or the admin in a browser: runs on one pass of scripts/test (the second)"
        )
        for item in items:
            if item.get_closest_marker("wire") or item.get_closest_marker("browser"):
                item.add_marker(skip)


def pytest_unconfigure(config: pytest.Config) -> None:
    # The run's own spool directory, made by tests/settings.py.
    spool = Path(os.environ.get("GATEWAY_SPOOL_DIR", ""))
    if spool.name.startswith("gateway-test-spool-") and spool.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(spool, ignore_errors=True)
