"""Admission: may this key call this model now? Allow-list, provider, price, rate limits, budget hold.

The hold is the call's worst case, so a budget is never overspent by calls in flight:
every input byte counted as a token (no tokenizer yields more tokens than bytes for text)
at the dearest input price, capped by the model's context window — or the whole window when
the request makes the provider read input the body does not hold (proxy.billing_modes) —
plus the output ceiling (the largest of the client's output caps, else the model's own
ceiling from LiteLLM's model info, else GATEWAY_DEFAULT_MAX_OUTPUT_TOKENS, which is then
also sent so the ceiling is real) times the choices asked for, at the dearest rate of the
billing modes the request can incur (service tier, audio, one-hour cache writes).
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from budgets.holds import Held, budget_hold
from budgets.leases import Lease
from budgets.ledger import LineRef
from budgets.selectors import BudgetPlan, budget_plan, budget_plan_peek
from core.cache import MISSING
from core.errors import (
    InvalidRequest,
    ModelNotAllowed,
    ModelNotPriced,
    RateLimited,
)
from core.money import MONEY_MAX, ZERO
from core.pool import in_pool
from core.providers import Target, resolve_model
from pricing.selectors import Price, cost_upper_bound, price_for, price_peek
from proxy.auth import Principal
from proxy.billing_modes import RequestModes, input_bound, modes_check, request_modes
from proxy.forwarding import largest_context_window, model_limits
from proxy.ratelimit import Reservation, limits_admit, limits_settle
from proxy.request_params import Route
from proxy.validation import requested_output_tokens

log = logging.getLogger(__name__)
# Rough characters per token: for the tpm estimate only (the bill uses the provider's count).
_CHARS_PER_TOKEN = 4
# Where a route's output ceiling is sent when the gateway sets one.
_OUTPUT_PARAM = {Route.CHAT: "max_tokens", Route.RESPONSES: "max_output_tokens", Route.MESSAGES: "max_tokens"}


@dataclass(frozen=True)
class Admission:
    target: Target
    price: Price | None
    hold_usd: Decimal  # the budget held (0 for unlimited accounts)
    limits: Reservation | None  # the tpm tokens reserved, trued up at settlement
    lease: Lease | None = None  # the budget lease `hold_usd` was drawn from (budgets.leases); None: a hold of its own
    budget_refs: tuple[LineRef, ...] = ()  # the budget windows held in: where the call's cost is booked
    # Routed calls (proxy.routed): the price of every candidate target; `target`/`price` are the attempt's own.
    prices: dict[Target, Price | None] = field(default_factory=dict)


def _check_allowed(principal: Principal, model: str, target: Target) -> None:
    allowed = principal.key.allowed_models
    if allowed and not {model, target.model, f"{target.provider}/{target.model}"} & set(allowed):
        raise ModelNotAllowed(f"This API key may not use the model `{model}`.")


def output_ceiling(route: Route, body: dict[str, Any], target: Target) -> int:
    """Output tokens the call can produce at most; sets the gateway's default when nothing else bounds it."""
    requested = requested_output_tokens(body)
    if requested:
        return requested
    known = model_limits(target.provider, target.model).max_output_tokens
    if known:
        return known
    body[_OUTPUT_PARAM[route]] = settings.DEFAULT_MAX_OUTPUT_TOKENS
    return int(settings.DEFAULT_MAX_OUTPUT_TOKENS)


def worst_case(
    route: Route, body: dict[str, Any], raw_size: int, target: Target, price: Price | None, modes: RequestModes
) -> Decimal:
    """The most the call can cost; refuses (403) a billing mode the model has no price for."""
    modes_check(model=body["model"], modes=modes, price=price)
    window = model_limits(target.provider, target.model).max_input_tokens or largest_context_window()
    input_tokens = input_bound(raw_size=raw_size, window=window, unbounded=bool(modes.unbounded))
    choices = body.get("n") if route is Route.CHAT and isinstance(body.get("n"), int) else 1
    output_tokens = output_ceiling(route, body, target) * max(choices or 1, 1)
    bound = cost_upper_bound(
        input_tokens=input_tokens, output_tokens=output_tokens, price=price, modes=modes.hold_modes()
    )
    if bound > MONEY_MAX:
        raise InvalidRequest("This request's worst-case cost is beyond what the gateway can hold; lower max_tokens.")
    return bound


async def _price(target: Target) -> Price | None:
    """The model's price from process memory when warm, else one hop to the cache and database."""
    price = price_peek(model=target.model, provider=target.provider)
    if price is MISSING:
        return await in_pool(price_for, model=target.model, provider=target.provider)
    return price  # type: ignore[no-any-return]


async def _rate_limits(principal: Principal, body: dict[str, Any], raw_size: int) -> Reservation | None:
    key = principal.key
    if key.rpm_limit is None and key.tpm_limit is None:
        return None
    estimate = raw_size // _CHARS_PER_TOKEN + requested_output_tokens(body)
    result = await in_pool(limits_admit, key_id=key.id, rpm=key.rpm_limit, tpm=key.tpm_limit, tokens=estimate)
    if result.retry_after is not None:
        wait = result.retry_after
        raise RateLimited(
            f"Rate limit reached for this API key; retry in {wait} s.", headers={"retry-after": str(wait)}
        )
    return result


async def _plan(principal: Principal) -> BudgetPlan:
    """Every budget the call must fit (key, account, teams): from process memory when warm, else one hop."""
    plan = budget_plan_peek(key_id=principal.key.id, account=principal.account)
    if plan is None:
        return await in_pool(budget_plan, key_id=principal.key.id, account=principal.account)
    return plan


async def _limits_and_hold(
    principal: Principal,
    plan: BudgetPlan,
    body: dict[str, Any],
    raw_size: int,
    request_id: uuid.UUID,
    hold: Decimal | None,
) -> tuple[Reservation | None, Held | None]:
    """The key's rate limits, then the budget hold (`None`: a call without budgets holds nothing)."""
    limits = await _rate_limits(principal, body, raw_size)
    held = None
    if hold is not None:
        try:
            held = await budget_hold(plan=plan, request_id=request_id, amount=hold)
        except BaseException:
            if limits is not None:  # the call never ran: give its reserved tokens back
                await in_pool(limits_settle, reservation=limits, tokens=0)
            raise
    return limits, held


def _admission(
    target: Target,
    price: Price | None,
    hold: Decimal | None,
    limits: Reservation | None,
    held: Held | None,
    **extra: Any,
) -> Admission:
    return Admission(
        target=target,
        price=price,
        hold_usd=hold or ZERO,
        limits=limits,
        lease=held.lease if held else None,
        budget_refs=held.refs if held else (),
        **extra,
    )


async def admit(
    *, principal: Principal, route: Route, body: dict[str, Any], raw_size: int, request_id: uuid.UUID
) -> Admission:
    """Raises a GatewayError to refuse. Leaves the event loop only for what needs I/O:
    rate-limit counters (keys with limits), a cold price, and the budget hold (budgeted accounts).
    """
    model = body["model"]
    target = resolve_model(model)
    _check_allowed(principal, model, target)
    price = await _price(target)
    plan = await _plan(principal)
    budgeted = bool(plan.lines)
    if price is None and budgeted and not settings.ALLOW_UNPRICED_MODELS:
        raise ModelNotPriced(
            f"The model '{model}' has no price on this gateway, so accounts with a budget cannot use it. "
            "Ask an operator to add its price."
        )
    hold = worst_case(route, body, raw_size, target, price, request_modes(route, body)) if budgeted else None
    limits, held = await _limits_and_hold(principal, plan, body, raw_size, request_id, hold)
    return _admission(target, price, hold, limits, held)


async def admit_routed(
    *,
    principal: Principal,
    route: Route,
    body: dict[str, Any],
    raw_size: int,
    request_id: uuid.UUID,
    targets: Sequence[Target],
    public_name: str = "",
) -> Admission:
    """`admit` for a public name served by several targets (its deployments and fallbacks, proxy.routed).

    The key's allow-list is checked against the public name; the hold is the worst case of the
    dearest target, so whichever attempt answers, its cost fits in what was held.
    """
    model = body["model"]
    allowed = principal.key.allowed_models
    if allowed and model not in allowed and public_name not in allowed:
        raise ModelNotAllowed(f"This API key may not use the model `{model}`.")
    prices = {target: await _price(target) for target in dict.fromkeys(targets)}
    plan = await _plan(principal)
    budgeted = bool(plan.lines)
    if budgeted and not settings.ALLOW_UNPRICED_MODELS:
        unpriced = sorted({target.model for target, price in prices.items() if price is None})
        if unpriced:
            raise ModelNotPriced(
                f"The model '{model}' is served by models without a price on this gateway ({', '.join(unpriced)}), "
                "so accounts with a budget cannot use it. Ask an operator to add their prices."
            )
    hold = None
    if budgeted:
        modes = request_modes(route, body)
        hold = max(worst_case(route, body, raw_size, target, price, modes) for target, price in prices.items())
    limits, held = await _limits_and_hold(principal, plan, body, raw_size, request_id, hold)
    first = targets[0]
    return _admission(first, prices[first], hold, limits, held, prices=prices)
