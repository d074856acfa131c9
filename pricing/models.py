"""Per-model prices in USD per million tokens."""

from django.db import models

from core.money import usd_field

# The prices of the billing modes a client chooses (pricing.selectors.cost_calculate, proxy.billing_modes):
# a service tier's, one-hour cache writes', audio's. Empty means no known price.
MODE_PRICES = (
    "input_priority_per_mtok",
    "output_priority_per_mtok",
    "cache_read_priority_per_mtok",
    "input_flex_per_mtok",
    "output_flex_per_mtok",
    "cache_read_flex_per_mtok",
    "cache_write_1h_per_mtok",
    "input_audio_per_mtok",
    "output_audio_per_mtok",
)


class ModelCost(models.Model):
    class Source(models.TextChoices):
        OVERRIDE = "override", "Project override (pricing.json)"
        LITELLM = "litellm", "LiteLLM cost map"
        MANUAL = "manual", "Set by an operator"

    model = models.CharField(max_length=200, unique=True)
    provider = models.CharField(max_length=64, blank=True)
    input_per_mtok = usd_field()
    output_per_mtok = usd_field()
    # Empty means the provider publishes no cache price; see pricing.selectors.cost_calculate.
    cache_write_per_mtok = usd_field(null=True, blank=True)
    cache_read_per_mtok = usd_field(null=True, blank=True)
    # Billing modes a client chooses (pricing.selectors.cost_calculate). Empty: no known price, so a budgeted
    # account may not ask for the mode (priority tier, 1-hour cache writes, audio), and a flex call costs standard.
    input_priority_per_mtok = usd_field(null=True, blank=True)
    output_priority_per_mtok = usd_field(null=True, blank=True)
    cache_read_priority_per_mtok = usd_field(null=True, blank=True)
    input_flex_per_mtok = usd_field(null=True, blank=True)
    output_flex_per_mtok = usd_field(null=True, blank=True)
    cache_read_flex_per_mtok = usd_field(null=True, blank=True)
    cache_write_1h_per_mtok = usd_field(null=True, blank=True)
    input_audio_per_mtok = usd_field(null=True, blank=True)
    output_audio_per_mtok = usd_field(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]
        verbose_name = "model cost"

    def __str__(self) -> str:
        return self.model
