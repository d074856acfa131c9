"""What a key's allow-list may name: a model some call could use and be priced for.

A name is known when it is a routed public name (it has a deployment or a route policy), or
when it has a price (by the name calls are priced by: `provider/model`, then `model`). With
GATEWAY_ALLOW_UNPRICED_MODELS on, a name whose provider the gateway detects (`gpt-*` is OpenAI,
`claude-*` Anthropic, an explicit `provider/` prefix, ...) is known too, priced or not. Anything
else is a typo or a model nobody could call through this key, and saving it is refused.
"""

import difflib
from collections.abc import Iterable

from django.conf import settings

from core.providers import provider_registry, split_model
from pricing.models import ModelCost
from pricing.selectors import price_for, price_get
from routing.models import Deployment, RoutePolicy


def allow_list_refusals(*, names: Iterable[str]) -> list[str]:
    """One sentence per name in `names` that is not known (see the module), with the closest known name if any."""
    names = list(names)
    routed = set(Deployment.objects.filter(public_name__in=names).values_list("public_name", flat=True))
    routed |= set(RoutePolicy.objects.filter(public_name__in=names).values_list("public_name", flat=True))
    refusals = []
    for name in names:
        if name in routed:
            continue
        provider, bare = split_model(name, provider_registry())
        priced = price_for(model=bare, provider=provider) if provider else price_get(model=name)
        if priced is not None or (provider and settings.ALLOW_UNPRICED_MODELS):
            continue
        if provider:
            why = f"'{name}' has no price on this gateway (add one, or run load_pricing)"
        else:
            why = f"'{name}' is unknown: no price, no deployment, and no provider recognises the name"
        refusals.append(why + _suggestion(name))
    return refusals


def _suggestion(name: str) -> str:
    known = list(ModelCost.objects.values_list("model", flat=True))
    known += list(Deployment.objects.values_list("public_name", flat=True).distinct())
    close = difflib.get_close_matches(name.lower(), {model.lower(): model for model in known}, n=1, cutoff=0.8)
    return f"; did you mean '{close[0]}'?" if close else ""
