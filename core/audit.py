"""The change history shared by the admin, the API and manage.py: django.contrib.admin's LogEntry, written by services.

Services record who changed what (an `Actor`) in the same table the admin writes to, so every
change shows on the object's history page whatever way it was made. Messages keep Django's
JSON form (the history page renders it) plus one element of our own with the channel and each
field's old and new value; secrets are never passed in.
"""

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from core.money import usd_text

Via = Literal["admin", "api", "cli", "gateway"]
# Changes made without a person: they are recorded under Django users that cannot log in (LogEntry
# needs a user), named so that the history page says plainly which door the change came through.
SYSTEM_USERS: Mapping[Via, tuple[str, str]] = {
    "api": ("system.admin-api-key", "The bearer token ADMIN_API_KEY"),
    "cli": ("system.manage-py", "A manage.py command"),
    "gateway": ("system.gateway", "The gateway itself"),
}
AUDIT_KEY = "gateway"  # our element of the change message


@dataclass(frozen=True)
class Actor:
    """Who makes a change, and through which door (the admin, the API, manage.py)."""

    user_id: Any
    username: str
    via: Via
    detail: str = ""  # e.g. the command's name, the token's name


def actor_for_user(*, user: Any, via: Via, detail: str = "") -> Actor:
    return Actor(user_id=user.pk, username=user.get_username(), via=via, detail=detail)


def system_actor(*, via: Via, detail: str = "") -> Actor:
    """The system user of this door, created on first use (inactive, no usable password)."""
    username, description = SYSTEM_USERS[via]
    user, _ = get_user_model().objects.get_or_create(
        username=username,
        defaults={"is_active": False, "first_name": description, "password": make_password(None)},
    )
    return Actor(user_id=user.pk, username=username, via=via, detail=detail)


def plain(value: Any) -> Any:
    """A value as the history shows it: decimals without trailing zeros, times in ISO 8601, ids as text."""
    if isinstance(value, Decimal):
        return usd_text(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _label(model: type[models.Model], name: str) -> str:
    """A field's name as the admin shows it; a name that is not a column (an account's `budget_usd`, kept
    on its lifetime budget) as written."""
    try:
        return str(getattr(model._meta.get_field(name), "verbose_name", name)).capitalize()
    except FieldDoesNotExist:
        return name.replace("_", " ").capitalize()


def _message(flag: int, actor: Actor, model: type[models.Model], values: Mapping[str, Any]) -> str:
    ours: dict[str, Any] = {"via": actor.via}
    if actor.detail:
        ours["detail"] = actor.detail
    if values:
        ours["values"] = {name: plain(value) for name, value in values.items()}
    parts: list[dict[str, Any]] = []
    if flag == ADDITION:
        parts.append({"added": {}})
    elif flag == CHANGE:
        labels = [_label(model, name) for name in values]
        parts.append({"changed": {"fields": labels}})
    parts.append({AUDIT_KEY: ours})
    return json.dumps(parts)


# How an entry names objects of a model whose str() would not do (knox's AuthToken: its digest).
_LABELS: dict[type[models.Model], Callable[[Any], str]] = {}


def audit_label(model: type[models.Model], label: Callable[[Any], str]) -> None:
    """Names `model`'s objects in the change history and "Recent actions" with `label` instead of str()."""
    _LABELS[model] = label


def object_label(obj: models.Model) -> str:
    label = _LABELS.get(type(obj))
    return label(obj) if label else str(obj)


def _entry(actor: Actor, obj: models.Model, flag: int, values: Mapping[str, Any]) -> LogEntry:
    return LogEntry(
        user_id=actor.user_id,
        content_type_id=ContentType.objects.get_for_model(obj, for_concrete_model=False).pk,
        object_id=str(obj.pk),
        object_repr=object_label(obj)[:200],
        action_flag=flag,
        change_message=_message(flag, actor, type(obj), values),
    )


def audit_added(*, actor: Actor, obj: models.Model, values: Mapping[str, Any]) -> None:
    """`values`: the new object's fields worth reading later (never a secret)."""
    _entry(actor, obj, ADDITION, values).save()


def audit_changed(*, actor: Actor, obj: models.Model, changes: Mapping[str, tuple[Any, Any]]) -> None:
    """`changes`: field → (old, new), only the fields that changed; nothing is written when none did."""
    if changes:
        _entry(actor, obj, CHANGE, {name: [old, new] for name, (old, new) in changes.items()}).save()


def audit_deleted(*, actor: Actor, obj: models.Model, values: Mapping[str, Any]) -> None:
    _entry(actor, obj, DELETION, values).save()


def audit_added_many(*, actor: Actor, objects: Iterable[tuple[models.Model, Mapping[str, Any]]]) -> None:
    """`audit_added` for many objects in one write (a price load creates thousands)."""
    LogEntry.objects.bulk_create([_entry(actor, obj, ADDITION, values) for obj, values in objects], batch_size=500)


def audit_details(change_message: str) -> dict[str, Any]:
    """Our element of a stored change message ({} for the admin's own entries and plain-text messages)."""
    if not change_message.startswith("["):
        return {}
    try:
        parts = json.loads(change_message)
    except ValueError:
        return {}
    for part in parts:
        if isinstance(part, dict) and isinstance(part.get(AUDIT_KEY), dict):
            return dict(part[AUDIT_KEY])
    return {}


def field_changes(obj: models.Model, wanted: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """field → (current, wanted) for each field of `obj` whose value would change."""
    return {name: (getattr(obj, name), value) for name, value in wanted.items() if getattr(obj, name) != value}
