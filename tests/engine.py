"""Which database engine the suite runs on, for the few tests that cannot run the same everywhere."""

import pytest
from django.conf import settings


def on_mongodb() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django_mongodb_backend"


def skip_on_mongodb(reason: str) -> pytest.MarkDecorator:
    """Skips a test on MongoDB; every use is listed in docs/development.md with its reason."""
    return pytest.mark.skipif(on_mongodb(), reason=f"MongoDB: {reason}")
