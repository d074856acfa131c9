"""Suite-wide set-up: a known environment before Django's settings load, shared fixtures."""

import os

# Settings are read when pytest-django starts Django, after this initial conftest is imported.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-not-for-production")
for _name in list(os.environ):
    # Provider keys and bases from the developer's shell must never leak into a test.
    if _name.endswith(("_API_KEY", "_API_BASE")) or _name == "CUSTOM_LLM_PROVIDER":
        del os.environ[_name]

pytest_plugins: list[str] = ["tests.upstream", "tests.gateway"]
