"""Budget events (a threshold crossed, once per window), where they go, and the outbox of their deliveries."""

from django.db import models
from django.utils import timezone

from core.money import money_field


class BudgetEvent(models.Model):
    """A budget's spend crossed one of its thresholds in one window; the primary key makes it happen once.

    `id` is derived from (budget_ref, window_start, threshold_pct) (alerts.services.event_id), so every
    instance computes the same id for the same crossing and the database keeps one row: the same id
    goes to receivers as `X-Gateway-Event-Id`, for their own dedup of an at-least-once delivery.
    """

    id = models.UUIDField(primary_key=True, editable=False)
    budget_ref = models.CharField(max_length=200, db_index=True, help_text="The ledger's id of the budget.")
    level = models.CharField(max_length=32, db_index=True, help_text="key, account, team, organisation ...")
    owner_label = models.CharField(max_length=200, db_index=True, help_text="Who owns the budget, as people read it.")
    window_label = models.CharField(max_length=64, help_text="monthly, daily, every 30 s, lifetime ...")
    window_start = models.DateTimeField(null=True, blank=True, help_text="Empty for a lifetime budget.")
    window_end = models.DateTimeField(null=True, blank=True, help_text="When the window resets; empty: never.")
    time_zone = models.CharField(max_length=64, default="UTC", help_text="The budget's own time zone (IANA).")
    threshold_pct = models.PositiveSmallIntegerField()
    limit_usd = money_field()
    spent_usd = money_field(help_text="Spend in the window when the threshold was crossed.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "budget event"

    def __str__(self) -> str:
        return f"{self.level} {self.owner_label}: {self.threshold_pct} % of {self.window_label}"


class Destination(models.Model):
    """Where events go: a webhook (generic JSON or Slack-compatible) or an e-mail address.

    A webhook's `secret` signs every delivery (HMAC-SHA256); it and the URL (a Slack URL is a
    credential) are never shown back once saved: not by the API, the admin, a log line or repr.
    """

    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"
    KINDS = [(WEBHOOK, "Webhook (JSON)"), (SLACK, "Slack-compatible webhook"), (EMAIL, "E-mail")]

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=KINDS, default=WEBHOOK)
    url = models.CharField(max_length=2000, blank=True)
    email = models.EmailField(blank=True)
    secret = models.CharField(max_length=200, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One event for one destination: a row of the outbox, sent by whichever instance claims it first.

    `destination` is empty for the defaults from the environment (GATEWAY_ALERT_WEBHOOK_URL, and
    GATEWAY_ALERT_EMAILS, one row per `recipient`). While a worker sends it, `status` is `sending`
    and `next_attempt_at` is when that claim expires, so a claim whose worker died is taken again.
    """

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    STATUSES = [(PENDING, "pending"), (SENDING, "sending"), (DELIVERED, "delivered"), (FAILED, "failed")]

    event = models.ForeignKey(BudgetEvent, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(
        Destination, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    channel = models.CharField(max_length=16, help_text="webhook, slack or email, as when it was queued.")
    recipient = models.CharField(max_length=254, blank=True, help_text="The address, for GATEWAY_ALERT_EMAILS.")
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(help_text="Given up (failed) when still undelivered by then.")
    claim = models.UUIDField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=200, blank=True, help_text="An error class or HTTP status, never text.")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="alerts_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.destination_id or 'environment'} ({self.status})"
