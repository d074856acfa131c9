"""Rows exactly as stored, read past the ORM, on SQL engines and on MongoDB alike."""

from django.db import connection


def stored_rows(table: str) -> list[tuple]:
    """Every stored row of `table` as a tuple of its column values (document values on MongoDB)."""
    if connection.vendor == "mongodb":
        documents = connection.database[table].find()  # type: ignore[attr-defined]  # django-mongodb-backend
        return [tuple(document.values()) for document in documents]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return cursor.fetchall()
