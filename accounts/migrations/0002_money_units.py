"""Ledger amounts move from DECIMAL columns to exact integer units (gateway_project.money.MoneyField).

SQLite kept DECIMAL as floating point, so SQL arithmetic on it drifted; every value is
converted once here, through Python's Decimal, before the old column goes.
"""

from decimal import Decimal

from django.db import migrations

import gateway_project.money

FIELDS = {"Account": ("budget_usd", "spent_usd", "reserved_usd")}


def to_units(apps, schema_editor):
    for model_name, names in FIELDS.items():
        model = apps.get_model("accounts", model_name)
        for row in model.objects.all().iterator():
            values = {
                f"{name}_units": gateway_project.money.to_units(
                    Decimal(getattr(row, name)).quantize(gateway_project.money.USD_QUANTUM)
                )
                for name in names
                if getattr(row, name) is not None
            }
            if values:
                model.objects.filter(pk=row.pk).update(**values)


def to_decimal(apps, schema_editor):
    for model_name, names in FIELDS.items():
        model = apps.get_model("accounts", model_name)
        for row in model.objects.all().iterator():
            values = {
                name: gateway_project.money.from_units(getattr(row, f"{name}_units"))
                for name in names
                if getattr(row, f"{name}_units") is not None
            }
            if values:
                model.objects.filter(pk=row.pk).update(**values)


def operations():
    before, after = [], []
    for model_name, names in FIELDS.items():
        for name in names:
            before.append(
                migrations.AddField(
                    model_name=model_name.lower(),
                    name=f"{name}_units",
                    field=gateway_project.money.MoneyField(null=True),
                )
            )
            after += [
                migrations.RemoveField(model_name=model_name.lower(), name=name),
                migrations.RenameField(model_name=model_name.lower(), old_name=f"{name}_units", new_name=name),
            ]
    return [*before, migrations.RunPython(to_units, to_decimal), *after]


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = operations()
