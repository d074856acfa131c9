"""App config for budgets: the money path (holds, leases, settlement, the usage writer, spool and sweeper)."""

from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "budgets"
    verbose_name = "Budgets"
