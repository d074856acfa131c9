"""Routed calls: a public model name tried on its deployments by weight, retried, then its fallbacks.

Our own small policy over the forwarding layer, not LiteLLM's Router (docs/routing.md: the
Router sits on LiteLLM's call path, which our same-format calls skip, and it would own retries
and cancellation where our accounting cannot see them). Each attempt is one `forward()`:

- the deployments of the name, healthy ones only (not cooling down, under their rpm/tpm
  capacity), in a weighted random order; then each fallback name's the same way;
- a connection error, a timeout, a 429 or a 5xx moves on to the next candidate, within the
  policy's attempts and total deadline; any other refusal is the answer;
- a provider saying the input is too long switches to the name's context-window fallback;
- a stream is committed to once the provider has answered its headers: from then on a
  failure ends it with an error frame in its wire format (proxy.streaming), never a retry.

Every attempt that is not the answer writes a row of its own linked to the call's
(`proxy.accounting.attempt_finished`); the answer's row has the call's id (`x-request-id`)
and is priced at its own deployment's model. The client sees the public name it asked for.
"""

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.errors import ContextWindowExceeded, GatewayError, ModelNotFound, UpstreamError
from core.pool import in_pool
from core.providers import ALIASES, BUILTIN, Target, credentials_provider, provider_registry, resolve_model
from core.tasks import spawn
from proxy.accounting import CallRecord, attempt_finished
from proxy.forwarding import Completion, Stream, forward
from proxy.passthrough import json_dumps, json_loads
from proxy.request_params import Route
from routing.health import HEALTHY, State, health_read, health_record
from routing.selectors import (
    DeploymentSpec,
    RoutePlan,
    RoutingTable,
    routed_key,
    routing_table,
    routing_table_peek,
)

log = logging.getLogger(__name__)
# Provider answers worth another deployment: it is overloaded or broken, not the request.
RETRY_STATUSES = frozenset({408, 409, 429})
# The most one call may add to a deployment's tokens-per-minute count (Redis counts in 64-bit integers).
TPM_COUNT_LIMIT = 10**12
LITELLM_PREFIXES = {spec.name: spec.litellm_prefix for spec in BUILTIN}


@dataclass(frozen=True)
class Candidate:
    """One place an attempt can go: a deployment of a name, or an auto-detected name (deployment None)."""

    target: Target
    deployment: DeploymentSpec | None = None


@dataclass(frozen=True)
class Candidates:
    """Everything a call may try: groups in order (the name, then each fallback) and the context fallback."""

    groups: tuple[tuple[Candidate, ...], ...]
    context: tuple[Candidate, ...]

    def targets(self) -> list[Target]:
        every = [candidate.target for group in (*self.groups, self.context) for candidate in group]
        return list(dict.fromkeys(every))

    def deployment_ids(self) -> list[str]:
        every = [c.deployment.id for group in (*self.groups, self.context) for c in group if c.deployment]
        return list(dict.fromkeys(every))


async def route_plan(model: Any) -> RoutePlan | None:
    """The plan of a routed name, or None: a name without deployments or policy keeps today's path.

    On a warm table this is one dict lookup (the table lives in process memory, see routing.selectors).
    """
    table = routing_table_peek()
    if table is None:
        table = await in_pool(routing_table)
    if not isinstance(model, str):
        return None
    return table.get(model) or plan_by_spelling(model, table)


def plan_by_spelling(model: str, table: RoutingTable) -> RoutePlan | None:
    """A routed name however it is spelt: any case, surrounding blanks, an explicit provider prefix (`openai/`)."""
    key = routed_key(model)
    plan = table.get(key)
    if plan is None and "/" in key:
        head, _, rest = key.partition("/")
        if head in LITELLM_PREFIXES or head in ALIASES or provider_registry().get(head) is not None:
            plan = table.get(rest.strip())
    return plan


def deployment_target(spec: DeploymentSpec) -> Target | None:
    """Where a deployment's calls go, with the credentials it names; None while those are not configured."""
    credentials = credentials_provider(spec.credentials)
    if credentials is None:
        return None
    if spec.provider == "custom":
        provider, prefix = credentials.name, "openai"  # the custom provider speaks OpenAI's protocol
    else:
        provider, prefix = spec.provider, LITELLM_PREFIXES.get(spec.provider, spec.provider)
    return Target(
        provider=provider,
        model=spec.upstream_model,
        litellm_model=f"{prefix}/{spec.upstream_model}",
        api_key=credentials.api_key,
        api_base=credentials.api_base,
        api_version=credentials.api_version,
    )


def name_candidates(name: str, table: RoutingTable) -> tuple[Candidate, ...]:
    """A name's deployments (with configured credentials), or the name itself when it has none."""
    plan = table.get(name)
    if plan is not None and plan.deployments:
        found = []
        for spec in plan.deployments:
            target = deployment_target(spec)
            if target is None:
                log.warning("deployment %s of %s: credentials %r not configured", spec.id, name, spec.credentials)
            else:
                found.append(Candidate(target=target, deployment=spec))
        return tuple(found)
    try:
        return (Candidate(target=resolve_model(name)),)
    except ModelNotFound:
        return ()


def candidates_for(plan: RoutePlan, table: RoutingTable) -> Candidates:
    """The name's own candidates, then its fallbacks' (a fallback's own fallbacks are not followed)."""
    groups = [name_candidates(plan.public_name, table)]
    groups += [name_candidates(name, table) for name in plan.fallbacks]
    context = name_candidates(plan.context_fallback, table) if plan.context_fallback else ()
    found = tuple(group for group in groups if group)
    if not found and not context:
        raise ModelNotFound(f"The model '{plan.public_name}' has no deployment whose provider is configured.")
    return Candidates(groups=found or (context,), context=context)


async def candidates_load(plan: RoutePlan) -> Candidates:
    table = routing_table_peek()
    if table is None:
        table = await in_pool(routing_table)
    return candidates_for(plan, table)


# --- choosing -------------------------------------------------------------------------------


def headroom(spec: DeploymentSpec, state: State, now: float) -> float:
    """The share of a deployment's capacity left this minute (1.0 uncapped); 0 when cooling or full."""
    if state.cooling_until > now:
        return 0.0
    left = 1.0
    for capacity, used in ((spec.rpm_capacity, state.rpm_used), (spec.tpm_capacity, state.tpm_used)):
        if capacity:
            left = min(left, max(capacity - used, 0) / capacity)
    return left


def weighted_order(group: Sequence[Candidate], states: dict[str, State], now: float) -> list[Candidate]:
    """Healthy candidates in a random order drawn by weight × headroom, without repeats."""
    pool: list[tuple[Candidate, float]] = []
    for candidate in group:
        spec = candidate.deployment
        weight = 1.0 if spec is None else spec.weight * headroom(spec, states.get(spec.id, HEALTHY), now)
        if weight > 0:
            pool.append((candidate, weight))
    order = []
    while pool:
        pick = random.random() * sum(weight for _, weight in pool)
        for index, (candidate, weight) in enumerate(pool):
            pick -= weight
            if pick < 0 or index == len(pool) - 1:
                order.append(candidate)
                del pool[index]
                break
    return order


def attempt_order(groups: Sequence[Sequence[Candidate]], states: dict[str, State], now: float) -> list[Candidate]:
    """Every group's healthy candidates in turn, each once; with none healthy, the first group as a last resort."""
    order, seen = [], set()
    for group in groups:
        for candidate in weighted_order(group, states, now):
            if candidate.target not in seen:
                seen.add(candidate.target)
                order.append(candidate)
    if order or not groups:
        return order
    # Everything is cooling down or full: trying is better than refusing (the provider may be back).
    return weighted_order([dataclasses.replace(c, deployment=None) for c in groups[0]], {}, now)


def retryable(error: GatewayError) -> bool:
    """Connection errors, timeouts, 429 and 5xx: worth the next deployment. Other refusals are the request's."""
    if isinstance(error, UpstreamError):
        return error.upstream_status in RETRY_STATUSES or error.upstream_status >= 500
    return error.status() in (502, 503, 504)


# --- the public name on the answer ----------------------------------------------------------


def renamed(value: Any, public: str) -> Any:
    """An answer or event with the public name where the provider put its own model name."""
    if isinstance(value, dict):
        if "model" in value:
            value["model"] = public
        for nested in ("response", "message"):  # Responses events, Anthropic's message_start
            inner = value.get(nested)
            if isinstance(inner, dict) and "model" in inner:
                inner["model"] = public
    return value


def renamed_frame(frame: bytes, public: str) -> bytes:
    if b'"model"' not in frame:
        return frame
    lines = frame.split(b"\n")
    for index, line in enumerate(lines):
        if line.startswith(b"data:"):
            data = json_loads(line[5:])
            if data is None:
                continue
            lines[index] = b"data: " + json_dumps(renamed(data, public))
    return b"\n".join(lines)


class PublicStream(Stream):
    """A provider's stream, its frames carrying the public name; reports its tokens once it ends."""

    def __init__(self, inner: Stream, public: str, on_close: Callable[[int], None]) -> None:
        self._inner = inner
        self._public = public
        self._on_close: Callable[[int], None] | None = on_close

    @property
    def usage(self) -> Any:
        return self._inner.usage

    @property
    def usage_reported(self) -> bool:
        return self._inner.usage_reported

    @property
    def completed(self) -> bool:
        return self._inner.completed

    @property
    def answer_text(self) -> str:
        return self._inner.answer_text

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._renamed()

    async def _renamed(self) -> AsyncIterator[bytes]:
        try:
            async for frame in self._inner:
                yield renamed_frame(frame, self._public)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self._inner.aclose()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close(total_tokens(self._inner.usage))


def total_tokens(usage: Any) -> int:
    """For a deployment's tpm count: capped, so an absurd report cannot overflow the shared counter."""
    total = int(usage.input_tokens + usage.output_tokens + usage.cache_read_tokens + usage.cache_write_tokens)
    return min(total, TPM_COUNT_LIMIT)


# --- the attempts ---------------------------------------------------------------------------


def record_health(candidate: Candidate, *, failed: bool, error: str = "", tokens: int = 0) -> None:
    """Counts the attempt on its deployment in the shared health, off the call's path."""
    if candidate.deployment is None:
        return
    deployment_id = candidate.deployment.id

    async def record() -> None:
        try:
            if await in_pool(health_record, deployment_id=deployment_id, failed=failed, error=error, tokens=tokens):
                log.warning("deployment %s cools down for %s s", deployment_id, settings.ROUTING_COOLDOWN)
        except Exception:
            log.warning("could not record the health of deployment %s", deployment_id, exc_info=True)

    spawn(record())


def start_attempt(call: CallRecord, candidate: Candidate, number: int) -> None:
    """The call's accounting now describes this attempt: its target, its price, its number."""
    admission = call.admission
    assert admission is not None  # admitted before any attempt
    call.admission = dataclasses.replace(
        admission, target=candidate.target, price=admission.prices.get(candidate.target)
    )
    call.attempt, call.upstream_model = number, candidate.target.model


async def forward_routed(
    *, call: CallRecord, route: Route, body: dict[str, Any], plan: RoutePlan, candidates: Candidates, stream: bool
) -> Completion | Stream:
    """Tries the candidates in turn until one answers; raises the last attempt's error if none does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (plan.deadline_s or float("inf"))
    ids = candidates.deployment_ids()
    states = await in_pool(health_read, deployment_ids=ids) if ids else {}
    queue = attempt_order(candidates.groups, states, time.time())
    if not queue:
        raise ModelNotFound(f"The model '{plan.public_name}' has no deployment to try.")
    switched, number = False, 0
    error: GatewayError
    while True:
        candidate = queue.pop(0)
        number += 1
        start_attempt(call, candidate, number)
        timeout = min(float(settings.UPSTREAM_TIMEOUT), max(deadline - loop.time(), 0.001))
        try:
            result = await forward(route=route, target=candidate.target, body=body, stream=stream, timeout=timeout)
        except ContextWindowExceeded as refused:
            if switched or not candidates.context:
                raise
            switched, error = True, refused
            queue = attempt_order([candidates.context], states, time.time())
        except GatewayError as failed:
            if not retryable(failed):
                raise
            record_health(candidate, failed=True, error=failed.code)
            error = failed
        else:
            return answered(call, candidate, result, plan.public_name)
        if not queue or number >= plan.attempts or deadline <= loop.time():
            raise error  # the last attempt: its row is the call's own, written by the view
        attempt_finished(call, status=error.status(), error_code=error.code)


def answered(call: CallRecord, candidate: Candidate, result: Completion | Stream, public: str) -> Completion | Stream:
    if isinstance(result, Completion):
        record_health(candidate, failed=False, tokens=total_tokens(result.usage))
        result.body = renamed(result.body, public)
        result.raw = None  # the provider's bytes name its own model
        return result
    return PublicStream(result, public, lambda tokens: record_health(candidate, failed=False, tokens=tokens))
