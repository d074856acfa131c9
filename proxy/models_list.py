"""GET /v1/models: what the configured providers can serve and the routed public names, in OpenAI's list format."""

from typing import Any

from core.providers import configured_providers
from pricing.models import ModelCost
from proxy.forwarding import known_models
from routing.selectors import public_names


def model_list() -> list[dict[str, Any]]:
    """Public names with deployments, models LiteLLM knows for each configured provider, the priced ones; sync."""
    providers = [name for name, _base in configured_providers()]
    names: dict[str, str] = dict.fromkeys(public_names(), "gateway")
    for provider in providers:
        for model in known_models(provider):
            names.setdefault(model, provider)
    for model, provider in ModelCost.objects.filter(provider__in=providers).values_list("model", "provider"):
        names.setdefault(model, provider)
    return [{"id": model, "object": "model", "created": 0, "owned_by": owner} for model, owner in sorted(names.items())]
