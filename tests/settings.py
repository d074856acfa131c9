"""Settings for the test suite: the project's own settings, read from a known environment.

pytest-django imports this before any conftest, so this is where the environment is
made predictable: a test secret, no provider key from the developer's shell, and
`--mongo-uri` (declared in tests/conftest.py) turned into MONGO_URI, and a test database and
a spool directory per run.
"""

import os
import sys
import tempfile


def _mongo_uri(argv: list[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg.startswith("--mongo-uri="):
            return arg.split("=", 1)[1]
        if arg == "--mongo-uri" and index + 1 < len(argv):
            return argv[index + 1]
    return None


os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-not-for-production")
for _name in list(os.environ):
    if _name.endswith(("_API_KEY", "_API_BASE")) or _name == "CUSTOM_LLM_PROVIDER":
        del os.environ[_name]
if "PYTEST_VERSION" in os.environ and "GATEWAY_SPOOL_DIR" not in os.environ:
    # The pytest process (not a subprocess it starts, which inherits this): its own spool, so runs side
    # by side in one checkout (scripts/test's lanes) never replay each other's rows. tests/conftest.py
    # removes it at the end.
    os.environ["GATEWAY_SPOOL_DIR"] = tempfile.mkdtemp(prefix="gateway-test-spool-")
if _uri := _mongo_uri(sys.argv):
    os.environ.pop("DATABASE_URL", None)
    os.environ["MONGO_URI"] = _uri

from django.conf import global_settings  # noqa: E402

from gateway_project.settings import *  # noqa: E402, F403

# The in-process gateway (tests/gateway.py) lives for the whole session: its alert delivery loop stays idle
# unless a test turns it on (tests/alerts/), so it never sends another test's deliveries.
ALERT_DELIVERY = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared memory, so the gateway served from another thread sees the same
    # data; one per run, so parallel runs in one checkout never share it.
    DATABASES["default"]["TEST"] = {"NAME": f"/tmp/gateway-test-{os.getpid()}.sqlite3"}  # noqa: F405
elif DATABASES["default"]["ENGINE"] == "django_mongodb_backend":  # noqa: F405
    # Django would use test_<name> and drop it first: one per run, so two runs against one real
    # server (or a developer's own database) never drop each other's collections.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405

# Django's default hasher (PBKDF2, a million rounds) costs most of a second of CPU per hash: every admin or
# operator fixture hashes a password and every login checks one. Tests need a hasher, not a slow one (Django's
# own advice for test settings); the defaults stay listed after it, so a password hashed the production way
# still verifies.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *global_settings.PASSWORD_HASHERS]
