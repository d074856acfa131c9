"""Ledger amounts move from DECIMAL columns to exact integer units (core.money.MoneyField).

SQLite kept DECIMAL as floating point, so SQL arithmetic on it drifted; every value is
converted once, through Python's Decimal, before the old column goes (core.money_migration).
"""

from django.db import migrations

from core.money_migration import money_to_units


class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial")]

    operations = money_to_units("usage", {"UsageLog": ("cost_usd",)})
