"""Deployments behind a public model name, and each name's retry and fallback policy."""

from django.db import models


class Deployment(models.Model):
    """One place a public model name can be served: a provider's upstream model, reached with named credentials.

    `credentials` names the configured provider whose environment key and base are used
    (`OPENAI_API_KEY`/`OPENAI_API_BASE`, `CUSTOM_API_KEY`/`CUSTOM_API_BASE`, ...): never a secret here.
    """

    public_name = models.CharField(max_length=200, db_index=True)
    provider = models.CharField(max_length=64, help_text="The wire protocol: openai, anthropic, gemini, ...")
    upstream_model = models.CharField(max_length=200, help_text="The provider's model name; priced by this name.")
    credentials = models.CharField(
        max_length=64,
        blank=True,
        help_text="The configured provider whose key and base to use (by name, from the environment); empty: its own.",
    )
    weight = models.PositiveIntegerField(default=1)
    rpm_capacity = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute; empty: no cap.")
    tpm_capacity = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute; empty: no cap.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["public_name", "id"]

    def __str__(self) -> str:
        return f"{self.public_name} → {self.provider}/{self.upstream_model}"


class RoutePolicy(models.Model):
    """How a public name is retried and where it falls back; a name without one gets the defaults."""

    public_name = models.CharField(max_length=200, unique=True)
    attempts = models.PositiveSmallIntegerField(default=3, help_text="Upstream calls a request may make, in all.")
    deadline_s = models.PositiveIntegerField(default=120, help_text="Seconds all attempts together may take.")
    fallbacks = models.JSONField(default=list, blank=True, help_text="Other public names to try, in order.")
    context_fallback = models.CharField(
        max_length=200, blank=True, help_text="The name to try when the provider says the input is too long."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["public_name"]
        verbose_name_plural = "route policies"

    def __str__(self) -> str:
        return self.public_name
