"""Reads of deployments and policies; the whole routing table as one cached snapshot for the hot path.

The table (every public name with a deployment or a policy) is small and read on every call,
so it is cached whole: in process memory (L1) and Redis (L2) like keys and prices, dropped
everywhere by the same Channels invalidation when any deployment or policy changes, and
expiring after GATEWAY_L1_CACHE_TTL. A name not in it keeps today's path: the lookup is one
dict `get` on a warm table.
"""

import functools
import logging
from collections import Counter
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.db.models import QuerySet

from core.cache import MISSING, cache_get_or_load, l1
from routing.models import Deployment, RoutePolicy
from routing.services import ROUTING_CACHE, TABLE_KEY

log = logging.getLogger(__name__)
DEFAULT_ATTEMPTS = 3


@dataclass(frozen=True)
class DeploymentSpec:
    id: str
    public_name: str
    provider: str
    upstream_model: str
    credentials: str
    weight: int
    rpm_capacity: int | None
    tpm_capacity: int | None


@dataclass(frozen=True)
class RoutePlan:
    """One public name: its enabled deployments (none: the name is auto-detected) and its policy."""

    public_name: str
    deployments: tuple[DeploymentSpec, ...]
    attempts: int
    deadline_s: float | None  # None: only the gateway's own call deadline
    fallbacks: tuple[str, ...]
    context_fallback: str


RoutingTable = dict[str, RoutePlan]


def routed_key(name: str) -> str:
    """How a public name is found whatever its spelling: case and surrounding blanks do not matter."""
    return name.strip().lower()


def _table_load() -> RoutingTable:
    deployments: dict[str, list[DeploymentSpec]] = {}
    for row in Deployment.objects.filter(enabled=True).order_by("id"):
        spec = DeploymentSpec(
            id=str(row.pk),
            public_name=row.public_name,
            provider=row.provider,
            upstream_model=row.upstream_model,
            credentials=row.credentials,
            weight=row.weight,
            rpm_capacity=row.rpm_capacity,
            tpm_capacity=row.tpm_capacity,
        )
        deployments.setdefault(row.public_name, []).append(spec)
    policies = {policy.public_name: policy for policy in RoutePolicy.objects.all()}
    table: RoutingTable = {}
    for name in deployments.keys() | policies.keys():
        policy = policies.get(name)
        table[name] = RoutePlan(
            public_name=name,
            deployments=tuple(deployments.get(name, ())),
            attempts=policy.attempts if policy else DEFAULT_ATTEMPTS,
            deadline_s=float(policy.deadline_s) if policy else None,
            fallbacks=tuple(policy.fallbacks) if policy else (),
            context_fallback=policy.context_fallback if policy else "",
        )
    # Every spelling of a name finds it (`GPT-4o-mini`, ` gpt-4o-mini`): each plan under its key too, unless
    # two names differ only in case (each is then found by its exact spelling alone).
    spellings = Counter(routed_key(name) for name in table)
    for name in list(table):
        key = routed_key(name)
        if key not in table and spellings[key] == 1:
            table[key] = table[name]
    return table


class _LastTable:
    """The last table loaded in this process: what calls route by while the database is away."""

    def __init__(self) -> None:
        self.table: RoutingTable = {}


@functools.cache
def _last_table() -> _LastTable:
    return _LastTable()


def routing_table() -> RoutingTable:
    """The routing table (L1, then Redis, then the database). Sync: call from a thread.

    With the database unreachable (and the table in neither cache) the last table this process
    loaded is kept for an L1 period, so calls go on routing as before instead of failing.
    """
    last = _last_table()
    try:
        last.table = cache_get_or_load(ROUTING_CACHE, TABLE_KEY, _table_load)
    except DatabaseError:
        log.warning("routing table unreadable (the database is away); keeping the last one loaded")
        l1().set((ROUTING_CACHE, TABLE_KEY), last.table)
    return last.table


def routing_table_peek() -> RoutingTable | None:
    """The table from process memory alone, or None when loading it needs a thread hop."""
    table = l1().get((ROUTING_CACHE, TABLE_KEY))
    return None if table is MISSING else table  # type: ignore[no-any-return]


def deployment_list(*, public_name: str | None = None) -> QuerySet[Deployment]:
    deployments = Deployment.objects.all()
    return deployments.filter(public_name=public_name) if public_name else deployments


def deployment_get(*, deployment_id: str) -> Deployment | None:
    try:
        return Deployment.objects.filter(pk=deployment_id).first()
    except (ValueError, TypeError, ValidationError):  # not an id of this engine
        return None


def policy_list() -> QuerySet[RoutePolicy]:
    return RoutePolicy.objects.all()


def policy_get(*, public_name: str) -> RoutePolicy | None:
    return RoutePolicy.objects.filter(public_name=public_name).first()


def public_names() -> list[str]:
    """Public names that have at least one enabled deployment (for GET /v1/models)."""
    return sorted(set(Deployment.objects.filter(enabled=True).values_list("public_name", flat=True)))
