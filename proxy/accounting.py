"""Accounting after a proxied call: price the usage, write the row, settle the budget — whatever happens.

Every admitted request ends in exactly one row and a released hold. The call itself and the
writes run in tasks the process owns, never in the request's own frame: a client that
disconnects cancels its request, and a write (or a hold) cancelled half-way was lost
(NOTES: measured). Rows are written in batches; a batch the database cannot take goes to the
durable spool (budgets.spool) and is replayed when it is back. At shutdown calls still running
after the grace period are ended as 503 and every pending row is written or spooled.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from budgets.leases import lease_book
from budgets.writer import Written, usage_writer
from core.logs import log_call_finished
from core.metrics import metrics_call_finished
from core.money import ZERO
from core.tasks import calls_end, spawn, start_call, tasks_drain
from pricing.selectors import TokenCounts, cost_calculate, tier_of, tier_rates
from proxy.admission import Admission
from proxy.auth import Principal
from proxy.forwarding import Route, Usage
from proxy.ratelimit import Reservation, limits_settle
from proxy.usage_rules import Answered
from usage.services import UsageEntry

log = logging.getLogger(__name__)
__all__ = [
    "CallRecord",
    "accounting_drain",
    "call_finished",
    "calls_end",
    "spawn",
    "start_call",
    "usage_writer",
]


@dataclass
class CallRecord:
    """One request as it goes through the pipeline; filled in as facts become known."""

    principal: Principal
    route: Route
    request_id: uuid.UUID
    started: float
    model: str = ""
    streamed: bool = False
    admission: Admission | None = None
    client_gone: bool = False  # the client disconnected; the call goes on to learn its usage
    finished: bool = False
    attempt: int = 1  # routed calls (proxy.routed): the attempt now running, counted from 1
    upstream_model: str = ""  # routed calls: the model of the deployment the attempt went to
    body: dict[str, Any] | None = None  # the validated request body, once parsed
    raw_size: int = 0  # its size in bytes

    def answered(self, answer_of: Callable[[], str]) -> Answered:
        """What proxy.usage_rules needs to bill this call's answer."""
        target = self.admission.target if self.admission else None
        return Answered(
            route=self.route, body=self.body or {}, target=target, raw_size=self.raw_size, answer_of=answer_of
        )


def _tokens(usage: Usage, body: dict[str, Any] | None) -> TokenCounts:
    """The counts to price; the tier is the one the provider says served the call, else the one asked for."""
    asked = (body or {}).get("service_tier")
    return TokenCounts(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        audio_input_tokens=usage.audio_input_tokens,
        audio_output_tokens=usage.audio_output_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        service_tier=usage.service_tier or (asked if isinstance(asked, str) else ""),
    )


def _cost(tokens: TokenCounts, usage: Usage, admission: Admission | None, model: str) -> Decimal:
    """The row's cost. Counts past what any call can use (proxy.usage_rules) cost at most the call's hold:
    an absurd report never takes an account past its budget."""
    price = admission.price if admission else None
    tier = tier_of(tokens.service_tier)
    if price is not None and tier and tier_rates(price, tier) is None:
        # Only an account without a budget gets here (admission refuses the tier to the others when asked for):
        # or a provider that chose the tier itself (auto). Billed at standard rates, and said so.
        log.warning("model %s has no %s price: the call is billed at standard rates", model, tier)
    cost = cost_calculate(tokens=tokens, price=price)
    if usage.capped and admission is not None and admission.hold_usd > 0:
        return min(cost, admission.hold_usd)
    return cost


def _entry(
    call: CallRecord, status: int, usage: Usage, error_code: str, request_id: uuid.UUID | None = None
) -> UsageEntry:
    admission = call.admission
    tokens = _tokens(usage, call.body)
    # The draw from a budget lease is settled by the call's own row, never by a routed attempt's.
    lease = admission.lease if admission and request_id is None else None
    return UsageEntry(
        request_id=request_id or call.request_id,
        account_id=call.principal.account.id,
        key_id=call.principal.key.id,
        route=call.route.value,
        model=call.model,
        provider=admission.target.provider if admission else "",
        status_code=status,
        tokens=tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost_usd=_cost(tokens, usage, admission, call.model),
        latency_ms=int((time.perf_counter() - call.started) * 1000),
        streamed=call.streamed,
        error_code=error_code,
        created_at=timezone.now().isoformat(),
        attempt_of=str(call.request_id) if request_id else "",
        attempt=call.attempt,
        upstream_model=call.upstream_model,
        lease_id=str(lease.id) if lease else "",
        lease_draw_usd=admission.hold_usd if admission and lease else ZERO,
        usage_estimated=usage.estimated or not (usage.input_reported and usage.output_reported),
        budget_refs=admission.budget_refs if admission and request_id is None else (),
    )


def _true_up(limits: Reservation | None) -> Callable[[UsageEntry], None] | None:
    """The tpm true-up once the row is safe: the tokens the call really used replace its estimate."""
    if limits is None or not limits.tpm_key:
        return None

    def after(entry: UsageEntry) -> None:
        tokens = entry.tokens
        limits_settle(reservation=limits, tokens=tokens.input_tokens + tokens.output_tokens + tokens.cache_read_tokens)

    return after


def call_finished(call: CallRecord, *, status: int, usage: Usage | None = None, error_code: str = "") -> None:
    """Schedules the usage row and budget settlement for a finished (or refused) call; once per call."""
    if call.finished:
        return
    call.finished = True
    entry = _entry(call, status, usage or Usage(), error_code)
    loop = asyncio.get_running_loop()
    usage_writer(loop).put(Written(entry=entry, after=_true_up(call.admission.limits if call.admission else None)))
    if call.admission is not None and call.admission.lease is not None:
        lease_book(loop).done(call.admission.lease)  # after the row: a lease is released behind its rows
    metrics_call_finished(call=entry)
    log_call_finished(call=entry, user_id=call.principal.account.user_id)


async def accounting_drain(timeout: float = 30.0) -> None:
    """Waits for calls in flight and every pending accounting write (shutdown, tests), then releases
    this worker's budget leases and waits for that too: afterwards `reserved_usd` holds no lease of ours."""
    await tasks_drain(timeout)
    lease_book(asyncio.get_running_loop()).close_all()
    await tasks_drain(timeout)


def attempt_finished(call: CallRecord, *, status: int, usage: Usage | None = None, error_code: str = "") -> uuid.UUID:
    """The row of a routed call's attempt that is not the answer (it failed and another was tried).

    A row of its own id, linked to the call's (`attempt_of`); it settles its cost without touching
    the hold, which the call's own row releases, and leaves the tpm true-up to that row too.
    """
    attempt_id = uuid.uuid4()
    entry = _entry(call, status, usage or Usage(), error_code, request_id=attempt_id)
    usage_writer(asyncio.get_running_loop()).put(Written(entry=entry))
    return attempt_id
