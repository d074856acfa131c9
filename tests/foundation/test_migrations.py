"""Both migration trees (SQL and MongoDB) match the models, and MongoDB settings load offline."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Each test picks its own database (or none) for its manage.py subprocess.
pytestmark = pytest.mark.engine_independent

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "keys", "pricing", "usage", "routing", "budgets", "alerts"]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONGO_URI", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SECRET_KEY": "x", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sql_migrations_match_the_models():
    result = manage("makemigrations", "--check", "--dry-run", *APPS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mongo_migrations_match_the_models():
    # The dummy engine (MONGO_OFFLINE) lets makemigrations run without a server (NOTES).
    result = manage(
        "makemigrations",
        "--check",
        "--dry-run",
        "admin",
        "auth",
        "contenttypes",
        "sessions",
        *APPS,
        MONGO_URI="mongodb://127.0.0.1:1/gateway",
        MONGO_OFFLINE="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mongo_tree_uses_object_ids():
    for app in APPS:
        text = (ROOT / "mongo_migrations" / app / "0001_initial.py").read_text()
        sql = (ROOT / app / "migrations" / "0001_initial.py").read_text()
        if app not in ("usage", "budgets"):  # usage rows and holds are keyed by their request id (a UUID)
            assert "ObjectIdAutoField" in text
        assert "ObjectIdAutoField" not in sql
    assert "ObjectIdAutoField" in (ROOT / "mongo_migrations" / "budgets" / "0002_windows.py").read_text()


def test_settings_load_and_check_passes_with_mongo_uri_and_no_server():
    result = manage("check", MONGO_URI="mongodb://127.0.0.1:1/gateway")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_settings_refuse_a_bad_database_url():
    result = manage("check", DATABASE_URL="mysql://nope")
    assert result.returncode != 0
    assert "DATABASE_URL must start with" in result.stderr


def test_money_columns_keep_their_values_when_they_become_integer_units(tmp_path):
    """Existing DECIMAL amounts survive the move to MoneyField units, forwards and back."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    for target in (("accounts", "0001"), ("usage", "0001")):
        assert manage("migrate", *target, DATABASE_URL=url).returncode == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "old.sqlite3") as db:
        db.execute(
            "INSERT INTO accounts_account (user_id, name, email, budget_usd, spent_usd, reserved_usd, is_active,"
            " created_at, updated_at) VALUES ('u', '', '', '12.5', '0.1234567891', '0', 1, '2026-01-01', '2026-01-01')"
        )
    assert manage("migrate", "accounts", "0003", DATABASE_URL=url).returncode == 0
    with sqlite3.connect(tmp_path / "old.sqlite3") as db:
        assert db.execute("SELECT budget_usd, spent_usd FROM accounts_account").fetchall() == [
            (125_000_000_000, 1_234_567_891)
        ]
    assert manage("migrate", DATABASE_URL=url).returncode == 0  # budget_usd becomes the lifetime budget, and back
    with sqlite3.connect(tmp_path / "old.sqlite3") as db:
        assert db.execute("SELECT period, limit_usd, spent_usd FROM budgets_budget").fetchall() == [
            ("lifetime", 125_000_000_000, 1_234_567_891)
        ]
    assert manage("migrate", "accounts", "0001", DATABASE_URL=url).returncode == 0
    with sqlite3.connect(tmp_path / "old.sqlite3") as db:
        assert db.execute("SELECT budget_usd, spent_usd FROM accounts_account").fetchall() == [(12.5, 0.1234567891)]
