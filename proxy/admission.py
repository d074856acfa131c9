"""Admission: may this key call this model now? Allow-list, provider, rate limits, budget hold."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from accounts.services import budget_reserve
from gateway_project.cache import MISSING
from gateway_project.errors import BudgetExceeded, ModelNotAllowed, RateLimited
from gateway_project.money import ZERO
from gateway_project.pool import in_pool
from pricing.selectors import Price, TokenCounts, cost_calculate, price_for, price_peek
from proxy.auth import Principal
from proxy.providers import Target, resolve_model
from proxy.ratelimit import rpm_consume, tpm_check
from proxy.validation import requested_output_tokens

# Rough characters per token, for the budget hold only (the bill uses the provider's count).
_CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Admission:
    target: Target
    price: Price | None
    reserved_usd: Decimal


def _check_allowed(principal: Principal, model: str, target: Target) -> None:
    allowed = principal.key.allowed_models
    if allowed and not {model, target.model, f"{target.provider}/{target.model}"} & set(allowed):
        raise ModelNotAllowed(f"This API key may not use the model `{model}`.")


def _check_rate_limits(principal: Principal) -> None:
    key = principal.key
    wait = None
    if key.rpm_limit is not None:
        wait = rpm_consume(key_id=key.id, limit=key.rpm_limit)
    if wait is None and key.tpm_limit is not None:
        wait = tpm_check(key_id=key.id, limit=key.tpm_limit)
    if wait is not None:
        raise RateLimited(
            f"Rate limit reached for this API key; retry in {wait} s.", headers={"retry-after": str(wait)}
        )


def _estimate(body: dict[str, Any], raw_size: int, price: Price | None) -> Decimal:
    tokens = TokenCounts(input_tokens=raw_size // _CHARS_PER_TOKEN, output_tokens=requested_output_tokens(body))
    return cost_calculate(tokens=tokens, price=price)


async def _price(target: Target) -> Price | None:
    """The model's price from process memory when warm, else one hop to the cache and database."""
    price = price_peek(model=target.model, provider=target.provider)
    if price is MISSING:
        return await in_pool(price_for, model=target.model, provider=target.provider)
    return price  # type: ignore[no-any-return]


async def admit(*, principal: Principal, body: dict[str, Any], raw_size: int) -> Admission:
    """Raises a GatewayError to refuse. Leaves the event loop only for what needs I/O:
    rate-limit counters (keys with limits), a cold price, and the budget hold (budgeted accounts).
    """
    model = body["model"]
    target = resolve_model(model)
    _check_allowed(principal, model, target)
    if principal.key.rpm_limit is not None or principal.key.tpm_limit is not None:
        await in_pool(_check_rate_limits, principal)
    price = await _price(target)
    if principal.account.budget_usd is None:
        return Admission(target=target, price=price, reserved_usd=ZERO)
    reserved = _estimate(body, raw_size, price)
    if not await in_pool(budget_reserve, account_id=principal.account.id, amount=reserved):
        raise BudgetExceeded("The account's budget is exhausted.")
    return Admission(target=target, price=price, reserved_usd=reserved)
