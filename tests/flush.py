"""Pytest plugin: between transactional tests, empty every table but content types and permissions.

Django's TransactionTestCase empties every table after each test, then re-creates content types and
permissions through the post_migrate signal: about 130 commands for ~300 rows after every test, most of
a transactional test's time on the MongoDB stand-in (1.5 s of its 1.7 s teardown) and a noticeable part
on SQLite and PostgreSQL. No test writes those two tables (migrations fill them), so they are kept as
migrate left them: their rows are counted once after the test database is made, and a teardown that finds
other counts (or a test case that asks for available_apps or serialized rollback) falls back to Django's
own flush, post_migrate included. Every other table is emptied through the engine's own flush statements.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import TransactionTestCase

_KEPT = frozenset({"django_content_type", "auth_permission"})
_baseline: dict[str, tuple[int, int]] = {}  # database alias -> (content types, permissions) after migrate
_django_teardown = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]


def _kept_counts(alias: str) -> tuple[int, int]:
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.using(alias).count(), Permission.objects.using(alias).count()


def _fixture_teardown(self: Any) -> None:
    from django.core.management.color import no_style
    from django.db import connections

    aliases = self._databases_names(include_mirrors=False)
    if (
        self.available_apps is not None
        or self.serialized_rollback
        or any(alias not in _baseline or _kept_counts(alias) != _baseline[alias] for alias in aliases)
    ):
        _django_teardown(self)
        return
    for alias in aliases:
        connection = connections[alias]
        tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
        flush = connection.ops.sql_flush(no_style(), [table for table in tables if table not in _KEPT])
        connection.ops.execute_sql_flush(flush)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    from django.db import connections

    with django_db_blocker.unblock():
        for alias in connections:
            _baseline[alias] = _kept_counts(alias)
    setattr(TransactionTestCase, "_fixture_teardown", _fixture_teardown)
    try:
        yield
    finally:
        setattr(TransactionTestCase, "_fixture_teardown", _django_teardown)
