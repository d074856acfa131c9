"""Django settings, read from the environment (and `.env` when present)."""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from core.backends import redis_caches, redis_channel_layers, redis_sentinels
from core.env import env_bool, env_float, env_int, env_list, env_str, env_url
from core.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env", override=False)

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. `scripts/run` writes a random one into .env; "
        "in production set it in the environment."
    )
# Keys are stored as HMAC-SHA256 under this secret; rotating it invalidates every key.
KEY_HASH_SECRET = env_str("KEY_HASH_SECRET") or SECRET_KEY
ADMIN_API_KEY = env_str("ADMIN_API_KEY")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

MONGO_URI = env_url("MONGO_URI", schemes=("mongodb", "mongodb+srv"))
DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))
if MONGO_URI and DATABASE_URL:
    raise ImproperlyConfigured("Set MONGO_URI or DATABASE_URL, not both.")
# The project's apps with models (each has a migration tree for SQL and one for MongoDB).
PROJECT_APPS = ("accounts", "keys", "pricing", "usage", "routing", "budgets", "alerts")

if MONGO_URI:
    import django_mongodb_backend

    DATABASES = {"default": django_mongodb_backend.parse_uri(MONGO_URI, db_name=env_str("MONGO_DB_NAME", "gateway"))}
    if env_bool("MONGO_OFFLINE", False):
        # `makemigrations` tries to reach the server (a pymongo timeout Django does not catch);
        # Django skips that check for the dummy engine, so the MongoDB tree is made offline.
        DATABASES["default"]["ENGINE"] = "django.db.backends.dummy"
    DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
    _CONTRIB = [
        "gateway_project.mongo_apps.MongoAdminConfig",
        "gateway_project.mongo_apps.MongoAuthConfig",
        "gateway_project.mongo_apps.MongoContentTypesConfig",
    ]
    # django-mongodb-backend needs its own migrations (ObjectId primary keys), kept apart
    # from the SQL ones; tests/test_migrations.py checks that both trees match the models.
    MIGRATION_MODULES = {
        app: f"mongo_migrations.{app}" for app in ("admin", "auth", "contenttypes", "sessions", "knox", *PROJECT_APPS)
    }
else:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # psycopg's pool: the hot path opens and closes a connection per unit of work (core.pool),
        # which costs a handshake without it.
        DATABASES["default"]["OPTIONS"] = {
            "pool": {
                "min_size": env_int("DATABASE_POOL_MIN", 2, minimum=0),
                "max_size": env_int("DATABASE_POOL_MAX", 20, minimum=1),
            }
        }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # Waits for a writer instead of failing at once; IMMEDIATE avoids upgrade deadlocks; WAL lets
        # readers run beside the writer, and synchronous=NORMAL (safe with WAL) skips an fsync per commit.
        # No checkpoint inside a commit: the hot path's single writer thread (core.pool)
        # would wait it out (~100 ms); upkeep checkpoints every few seconds from another connection,
        # and the last connection to close checkpoints as well.
        DATABASES["default"]["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;",
        }
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    _CONTRIB = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes"]

INSTALLED_APPS = [
    "daphne",
    *_CONTRIB,
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served locally instead of from a CDN
    "knox",  # operators' personal API tokens, hashed at rest (core.api_auth)
    *PROJECT_APPS,
    "proxy",
]
if MONGO_URI:
    INSTALLED_APPS.append("django_mongodb_backend")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "gateway_project.staticfiles.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gateway_project.urls"
ASGI_APPLICATION = "gateway_project.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Redis Sentinel (docs, operations): REDIS_SENTINELS=host:port,host:port, and REDIS_URL=redis://<master name>/0.
REDIS_SENTINELS = redis_sentinels(env_list("REDIS_SENTINELS"))
if REDIS_SENTINELS and not REDIS_URL:
    raise ImproperlyConfigured("REDIS_SENTINELS needs REDIS_URL=redis://<master name>/<db> as well")
if REDIS_URL:
    CACHES = redis_caches(REDIS_URL, sentinels=REDIS_SENTINELS)
    CHANNEL_LAYERS = redis_channel_layers(REDIS_URL, sentinels=REDIS_SENTINELS)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "gateway"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# core.backends logs a Redis outage once, not a traceback per failed call.

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the console's own CSS and JS (static/gateway/)
# The admin's few static files are served by WhiteNoise straight from the apps: no collectstatic step.
WHITENOISE_USE_FINDERS = True
# ...so STATIC_ROOT may not exist (gateway_project.staticfiles: no warning for that).
WHITENOISE_AUTOREFRESH = DEBUG

# Request bodies above this size are refused with 413 on every route.
MAX_REQUEST_BYTES = env_int("GATEWAY_MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
# The request line and headers together (proxy.headerlimit, under `manage.py serve`): 431 past it.
MAX_HEADER_BYTES = env_int("GATEWAY_MAX_HEADER_BYTES", 32 * 1024, minimum=1024)
# Seconds the gateway waits for a provider before answering 504.
UPSTREAM_TIMEOUT = env_int("GATEWAY_UPSTREAM_TIMEOUT", 600, minimum=1)
GATEWAY_FAST_PATH = env_bool("GATEWAY_FAST_PATH", True)  # same-format calls skip LiteLLM (proxy/passthrough.py)
# The cache window: the longest a cached key, account, price or route is served after its database read,
# from process memory or Redis, whatever Redis does (core.cache). 0: nothing is cached.
L1_CACHE_TTL = env_int("GATEWAY_L1_CACHE_TTL", 30, minimum=0)

# Money safety (docs/guarantees.md).
# Accounts with a budget may call models without a price row only when this is on (they then cost 0).
ALLOW_UNPRICED_MODELS = env_bool("GATEWAY_ALLOW_UNPRICED_MODELS", False)
# The largest max_tokens (or its equivalent) a request may ask for.
MAX_OUTPUT_TOKENS = env_int("GATEWAY_MAX_OUTPUT_TOKENS", 1_000_000, minimum=1)
# Output tokens a request without max_tokens is held for (and capped at) when the model's own ceiling is unknown.
DEFAULT_MAX_OUTPUT_TOKENS = env_int("GATEWAY_DEFAULT_MAX_OUTPUT_TOKENS", 4096, minimum=1)
# A hold older than this belongs to a request that can no longer settle (its worker died): the sweeper releases it.
HOLD_TTL = env_int("GATEWAY_HOLD_TTL", UPSTREAM_TIMEOUT + 120, minimum=10)
# A worker admits calls of a budgeted account from a budget lease (budgets/leases.py) of this many times a call's
# worst case, taken while at least 8 times the lease is left; 0 holds budget per call.
BUDGET_LEASE_CALLS = env_int("GATEWAY_BUDGET_LEASE_CALLS", 64, minimum=0)
# Milliseconds a short batch of usage rows waits for more before it is written (budgets/writer.py); 0: at once.
USAGE_LINGER_MS = env_int("GATEWAY_USAGE_LINGER_MS", 10, minimum=0)
# Budgets (docs/budgets.md): a callable returning "now" for budget windows, e.g. a test's clock; unset: the real time.
BUDGET_CLOCK = env_str("GATEWAY_BUDGET_CLOCK")
# /metrics reports the remaining budget of at most this many team and account budgets (cardinality bound).
METRICS_BUDGET_SERIES = env_int("GATEWAY_METRICS_BUDGET_SERIES", 200, minimum=0)
# Seconds between sweeps and spool replays in each worker.
SWEEP_INTERVAL = env_int("GATEWAY_SWEEP_INTERVAL", 60, minimum=1)
SPOOL_RETRY_SECONDS = env_int("GATEWAY_SPOOL_RETRY", 2, minimum=1)
# Where usage rows and settlements wait while the database cannot take them (append-only files, replayed in order).
SPOOL_DIR = Path(env_str("GATEWAY_SPOOL_DIR") or BASE_DIR / "spool")
# Seconds in-flight calls get at shutdown before they are ended with 503 (rows written, holds released).
SHUTDOWN_GRACE = env_int("GATEWAY_SHUTDOWN_GRACE", 25, minimum=0)

# Usage retention (docs/operations.md): upkeep archives and deletes usage rows older than this many days, one
# instance at a time (usage/retention.py); 0 keeps every row. Archives go to the folder (gzip JSON lines); without
# one, rows are deleted unarchived. Rollups are never pruned.
USAGE_RETENTION_DAYS = env_int("GATEWAY_USAGE_RETENTION_DAYS", 0, minimum=0)
USAGE_ARCHIVE_DIR = env_str("GATEWAY_USAGE_ARCHIVE_DIR")
USAGE_RETENTION_INTERVAL = env_int("GATEWAY_USAGE_RETENTION_INTERVAL", 3600, minimum=1)
# Rows per delete transaction, and milliseconds between two: the hot path's writes never wait long behind one.
USAGE_PRUNE_BATCH = env_int("GATEWAY_USAGE_PRUNE_BATCH", 500, minimum=1)
USAGE_PRUNE_PAUSE_MS = env_int("GATEWAY_USAGE_PRUNE_PAUSE_MS", 50, minimum=0)

# Routing (docs/routing.md): a deployment failing this many times within the window is skipped by every
# instance for the cooldown (seconds).
ROUTING_FAILURES = env_int("GATEWAY_ROUTING_FAILURES", 3, minimum=1)
ROUTING_FAILURE_WINDOW = env_int("GATEWAY_ROUTING_FAILURE_WINDOW", 60, minimum=1)
ROUTING_COOLDOWN = env_int("GATEWAY_ROUTING_COOLDOWN", 30, minimum=1)

# Budget alerts (docs/alerts.md). A default webhook and e-mail recipients from the environment, beside the
# destinations operators add in the admin or the API.
ALERT_WEBHOOK_URL = env_url("GATEWAY_ALERT_WEBHOOK_URL", schemes=("http", "https"))
ALERT_WEBHOOK_SECRET = env_str("GATEWAY_ALERT_WEBHOOK_SECRET")
ALERT_WEBHOOK_KIND = env_str("GATEWAY_ALERT_WEBHOOK_KIND", "webhook").lower()
if ALERT_WEBHOOK_KIND not in ("webhook", "slack"):
    raise ImproperlyConfigured("GATEWAY_ALERT_WEBHOOK_KIND must be webhook (JSON) or slack.")
if ALERT_WEBHOOK_URL and ALERT_WEBHOOK_KIND == "webhook" and not ALERT_WEBHOOK_SECRET:
    raise ImproperlyConfigured("GATEWAY_ALERT_WEBHOOK_URL needs GATEWAY_ALERT_WEBHOOK_SECRET to sign its deliveries.")
ALERT_EMAILS = env_list("GATEWAY_ALERT_EMAILS")
# The alert thresholds (percent of the limit) a new budget gets when none are given (budgets.models).
_thresholds = env_list("GATEWAY_ALERT_THRESHOLDS", ["50", "80", "100"])
if not all(pct.isdigit() and 1 <= int(pct) <= 1000 for pct in _thresholds) or not 1 <= len(set(_thresholds)) <= 10:
    raise ImproperlyConfigured("GATEWAY_ALERT_THRESHOLDS: 1 to 10 whole percentages from 1 to 1000, e.g. 50,80,100.")
ALERT_THRESHOLDS = sorted({int(pct) for pct in _thresholds})
# The outbox: seconds a webhook may take, between polls for due deliveries, the first retry's delay (doubled
# per attempt, with jitter, up to the cap), and the age at which an undelivered one is given up as failed.
ALERT_DELIVERY = env_bool("GATEWAY_ALERT_DELIVERY", True)  # false: this instance queues alerts, others send them
ALERT_TIMEOUT = env_float("GATEWAY_ALERT_TIMEOUT", 5.0, minimum=0.1)
ALERT_POLL_INTERVAL = env_float("GATEWAY_ALERT_POLL", 2.0, minimum=0.05)
ALERT_RETRY_BASE = env_float("GATEWAY_ALERT_RETRY_BASE", 5.0, minimum=0.01)
ALERT_RETRY_CAP = env_float("GATEWAY_ALERT_RETRY_CAP", 600.0, minimum=0.01)
ALERT_MAX_AGE = env_float("GATEWAY_ALERT_MAX_AGE", 86400.0, minimum=1.0)
# E-mail (Django's SMTP backend) is used for alerts only when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS) or EMAIL_USE_SSL, not both.")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "llm-gateway@localhost")

REST_FRAMEWORK: dict[str, object] = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PARSER_CLASSES": ["core.parsers.BoundedJSONParser"],
}
# Operators' personal tokens (django-rest-knox): `Authorization: Bearer gwop-…`, SHA-512 digests at rest,
# shown once when made (admin or `manage.py create_operator_token`); no expiry unless one is given.
REST_KNOX = {"TOKEN_PREFIX": "gwop-", "TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Bearer", "AUTO_REFRESH": False}

SPECTACULAR_SETTINGS = {
    "TITLE": "LLM Gateway management API",
    "DESCRIPTION": "Accounts, API keys, model prices, usage and providers of the gateway.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# LOG_FORMAT=json in production (one JSON object per line); GATEWAY_LOG_PAYLOADS=true lets the
# libraries that print prompts and completions at DEBUG do so (debugging only; see core/logs.py).
LOGGING = logging_config(
    log_format=env_str("LOG_FORMAT", "plain").lower(),
    level=env_str("LOG_LEVEL", "INFO"),
    payloads=env_bool("GATEWAY_LOG_PAYLOADS", False),
)
