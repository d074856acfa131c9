"""App config for alerts: budget events and their delivery to operators' webhooks and mailboxes."""

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Budget alerts"
