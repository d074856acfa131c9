"""Logging: the LOGGING dict (plain or one JSON object per line), request ids on every line of a call,
and the one summary line per proxied call.

No prompt or completion text is ever logged by our code, and the libraries that would
print request or response bodies at DEBUG (LiteLLM, httpx, httpcore, the SDKs) are held
at WARNING whatever LOG_LEVEL says, unless GATEWAY_LOG_PAYLOADS=true lifts that hold.
"""

import contextvars
import datetime as dt
import logging
import os
from typing import Any

import orjson
from django.core.exceptions import ImproperlyConfigured

from core.calls import CallFacts
from core.money import usd_text

ACCESS_LOGGER = "gateway.access"
FORMATS = ("plain", "json")
# Loggers that print request/response bodies (prompts, completions) at DEBUG.
PAYLOAD_LOGGERS = ("httpx", "httpcore", "openai", "anthropic", "aiohttp")
# LiteLLM adds its own handler when imported; they must not also propagate, or every line appears twice.
LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
# Attributes every LogRecord has: anything else on a record came in through `extra=` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
# Added to records by libraries for their own formatters: uvicorn's coloured copy, LiteLLM's redaction marker.
_NOISE_PREFIXES = ("_", "color_message", "litellm_")
# The id of the proxied call the running code serves (its x-request-id): a context variable is how a
# value follows one request through its awaits and the tasks it starts, and nothing else.
_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("gateway_request_id", default=None)


def request_id_bind(request_id: object) -> None:
    """From here on in this context (and the tasks it starts), log lines carry this request id."""
    _REQUEST_ID.set(str(request_id))


def request_context() -> contextvars.Context:
    """A fresh context holding only the current request id: for a task that must carry nothing else of the request."""
    context = contextvars.Context()
    if (request_id := _REQUEST_ID.get()) is not None:
        context.run(_REQUEST_ID.set, request_id)
    return context


class RequestIdFilter(logging.Filter):
    """Gives each record the request id of the call it was logged for (unless it names one itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None) or _REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        record._request_tag = f" [{request_id}]" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the record's `extra` fields, any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith(_NOISE_PREFIXES):
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def logging_config(*, log_format: str, level: str, payloads: bool) -> dict[str, Any]:
    """The LOGGING dict for settings.py; uvicorn gets the same one (`manage.py serve`)."""
    if log_format not in FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, got {log_format!r}")
    level = level.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {level!r}")
    if log_format == "json":
        # LiteLLM's own handler reads this when LiteLLM is imported (later, on first use): its lines are JSON too.
        os.environ.setdefault("JSON_LOGS", "true")
    held = level if payloads else "WARNING"
    loggers: dict[str, Any] = {name: {"level": held} for name in PAYLOAD_LOGGERS}
    loggers.update({name: {"level": held, "handlers": [], "propagate": False} for name in LITELLM_LOGGERS})
    # Django logs every 4xx as a WARNING: a spray of bad keys or admin tokens would write a line each.
    # Server errors (5xx) are still logged.
    loggers["django.request"] = {"level": "ERROR"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(_request_tag)s %(message)s"},
            "json": {"()": "core.logs.JsonFormatter"},
        },
        "filters": {"request_id": {"()": "core.logs.RequestIdFilter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }


def log_call_finished(*, call: CallFacts, user_id: str) -> None:
    """The access/summary line of one proxied call: ids, model, status, latency, tokens, cost; never content."""
    log = logging.getLogger(ACCESS_LOGGER)
    if not log.isEnabledFor(logging.INFO):
        return
    tokens = call.tokens
    fields = {
        "request_id": str(call.request_id),
        "user_id": user_id,
        "key_id": str(call.key_id),
        "route": call.route,
        "model": call.model,
        "provider": call.provider,
        "status": call.status_code,
        "latency_ms": call.latency_ms,
        "streamed": call.streamed,
        "input_tokens": tokens.input_tokens,
        "output_tokens": tokens.output_tokens,
        "cache_read_tokens": tokens.cache_read_tokens,
        "cache_write_tokens": tokens.cache_write_tokens,
        "cost_usd": usd_text(call.cost_usd),
        "error_code": call.error_code,
    }
    log.info(
        "%s %s user=%s model=%s status=%d latency_ms=%d",
        call.route,
        fields["request_id"],
        user_id,
        call.model,
        call.status_code,
        call.latency_ms,
        extra=fields,
    )
