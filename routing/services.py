"""Writes to deployments and route policies, used alike by the admin and the API; each drops the cached table."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.audit import Actor, audit_added, audit_changed, audit_deleted, field_changes, system_actor
from core.cache import cache_invalidate
from core.providers import ALIASES, BUILTIN, PLAIN_MODEL, credentials_provider, provider_registry
from routing.models import Deployment, RoutePolicy

ROUTING_CACHE = "routing"
TABLE_KEY = "table"
# `custom` names the custom OpenAI-compatible provider, whatever CUSTOM_LLM_PROVIDER calls it.
PROVIDERS = frozenset({spec.name for spec in BUILTIN} | {"custom"})
_DEPLOYMENT_FIELDS = frozenset(
    {"public_name", "provider", "upstream_model", "credentials", "weight", "rpm_capacity", "tpm_capacity", "enabled"}
)
_POLICY_FIELDS = frozenset({"attempts", "deadline_s", "fallbacks", "context_fallback"})


def _table_changed() -> None:
    transaction.on_commit(lambda: cache_invalidate(ROUTING_CACHE, TABLE_KEY))


def _name(value: Any, field: str) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > 200 or any(ord(char) < 32 for char in name):
        raise ValidationError(f"{field} must be a model name of 1 to 200 printable characters.")
    return name


def _check_deployment(fields: dict[str, Any]) -> None:
    fields["public_name"] = _name(fields.get("public_name"), "public_name")
    provider = ALIASES.get(str(fields.get("provider", "")).lower(), str(fields.get("provider", "")).lower())
    if provider not in PROVIDERS:
        raise ValidationError(f"provider must be one of {', '.join(sorted(PROVIDERS))}.")
    fields["provider"] = provider
    credentials = str(fields.get("credentials") or provider).strip().lower()
    fields["credentials"] = ALIASES.get(credentials, credentials)
    if not fields["credentials"] or "/" in fields["credentials"] or len(fields["credentials"]) > 64:
        raise ValidationError("credentials must name a configured provider (openai, anthropic, custom, ...).")
    upstream = _name(fields.get("upstream_model"), "upstream_model")
    segments = upstream.split("/") if provider == "custom" else [upstream]
    if not all(PLAIN_MODEL.fullmatch(segment) for segment in segments):
        raise ValidationError("upstream_model must be the provider's own model name, without a provider prefix.")
    fields["upstream_model"] = upstream
    for capacity in ("rpm_capacity", "tpm_capacity"):
        if fields.get(capacity) is not None and int(fields[capacity]) < 1:
            raise ValidationError(f"{capacity} must be at least 1, or empty for no cap.")
    if int(fields.get("weight", 1)) < 1:
        raise ValidationError("weight must be at least 1.")


def _check_credentials(credentials: str) -> None:
    """A deployment may only name credentials the gateway has: calls would skip it, and no one would know why."""
    if credentials_provider(credentials) is None:
        configured = ", ".join(provider.name for provider in provider_registry().providers) or "none"
        raise ValidationError(
            f"credentials {credentials!r} names no configured provider (configured: {configured}); "
            "a provider is configured when its *_API_KEY is set in the gateway's environment."
        )


@transaction.atomic
def deployment_create(
    *,
    public_name: str,
    provider: str,
    upstream_model: str,
    credentials: str = "",
    weight: int = 1,
    rpm_capacity: int | None = None,
    tpm_capacity: int | None = None,
    enabled: bool = True,
    actor: Actor | None = None,
) -> Deployment:
    fields: dict[str, Any] = {
        "public_name": public_name,
        "provider": provider,
        "upstream_model": upstream_model,
        "credentials": credentials,
        "weight": weight,
        "rpm_capacity": rpm_capacity,
        "tpm_capacity": tpm_capacity,
        "enabled": enabled,
    }
    _check_deployment(fields)
    _check_credentials(fields["credentials"])
    deployment = Deployment.objects.create(**fields)
    audit_added(actor=actor or system_actor(via="gateway"), obj=deployment, values=fields)
    _table_changed()
    return deployment


@transaction.atomic
def deployment_update(*, deployment: Deployment, actor: Actor | None = None, **changes: Any) -> Deployment:
    unknown = set(changes) - _DEPLOYMENT_FIELDS
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    fields = {name: getattr(deployment, name) for name in _DEPLOYMENT_FIELDS} | changes
    _check_deployment(fields)
    if fields["credentials"] != deployment.credentials:  # one whose credentials went away may still be disabled
        _check_credentials(fields["credentials"])
    audit_changed(actor=actor or system_actor(via="gateway"), obj=deployment, changes=field_changes(deployment, fields))
    for name, value in fields.items():
        setattr(deployment, name, value)
    deployment.save()
    _table_changed()
    return deployment


@transaction.atomic
def deployment_delete(*, deployment: Deployment, actor: Actor | None = None) -> None:
    audit_deleted(
        actor=actor or system_actor(via="gateway"), obj=deployment, values={"public_name": deployment.public_name}
    )
    deployment.delete()
    _table_changed()


def _check_policy(public_name: str, fields: dict[str, Any]) -> None:
    attempts = fields.get("attempts")
    if not isinstance(attempts, int) or not 1 <= attempts <= 20:
        raise ValidationError("attempts must be an integer from 1 to 20.")
    deadline = fields.get("deadline_s")
    if not isinstance(deadline, int) or deadline < 1:
        raise ValidationError("deadline_s must be a positive number of seconds.")
    fallbacks = fields.get("fallbacks")
    if not isinstance(fallbacks, list) or len(fallbacks) > 10:
        raise ValidationError("fallbacks must be a list of at most 10 model names.")
    fields["fallbacks"] = [_name(name, "fallbacks") for name in fallbacks]
    if public_name in fields["fallbacks"]:
        raise ValidationError("A name cannot fall back to itself.")
    context = fields.get("context_fallback") or ""
    fields["context_fallback"] = _name(context, "context_fallback") if context else ""
    if fields["context_fallback"] == public_name:
        raise ValidationError("A name cannot fall back to itself.")


@transaction.atomic
def policy_set(
    *,
    public_name: str,
    attempts: int | None = None,
    deadline_s: int | None = None,
    fallbacks: list[str] | None = None,
    context_fallback: str | None = None,
    actor: Actor | None = None,
) -> tuple[RoutePolicy, bool]:
    """Creates or updates the policy of a public name (omitted fields keep their values); True when created."""
    public_name = _name(public_name, "public_name")
    policy = RoutePolicy.objects.select_for_update().filter(public_name=public_name).first()
    current = policy or RoutePolicy(public_name=public_name)
    given = {
        "attempts": attempts,
        "deadline_s": deadline_s,
        "fallbacks": fallbacks,
        "context_fallback": context_fallback,
    }
    fields = {name: getattr(current, name) for name in _POLICY_FIELDS}
    fields.update({name: value for name, value in given.items() if value is not None})
    _check_policy(public_name, fields)
    changes = field_changes(current, fields)
    for name, value in fields.items():
        setattr(current, name, value)
    current.save()
    actor = actor or system_actor(via="gateway")
    if policy is None:
        audit_added(actor=actor, obj=current, values=fields)
    else:
        audit_changed(actor=actor, obj=current, changes=changes)
    _table_changed()
    return current, policy is None


@transaction.atomic
def policy_delete(*, policy: RoutePolicy, actor: Actor | None = None) -> None:
    audit_deleted(actor=actor or system_actor(via="gateway"), obj=policy, values={})
    policy.delete()
    _table_changed()
