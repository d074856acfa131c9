"""Suite-wide fixtures; the environment itself is prepared by tests/settings.py."""

import pytest

pytest_plugins: list[str] = ["tests.upstream", "tests.gateway"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--mongo-uri",
        default=None,
        help="run the suite against this MongoDB server (mongodb://…); read by tests/settings.py",
    )
