"""The migration operations that move DECIMAL ledger columns to MoneyField units, shared by both migration trees.

Both trees (SQL and MongoDB) make the same change to the same models; the operations live here
once. They are frozen with their migrations: change MoneyField's storage, and write a new
migration rather than editing this.
"""

from decimal import Decimal
from typing import Any

from django.db import migrations

from core.money import USD_QUANTUM, MoneyField


def _copy(app_label: str, fields: dict[str, tuple[str, ...]], *, forward: bool) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        for model_name, names in fields.items():
            model = apps.get_model(app_label, model_name)
            for row in model.objects.all().iterator():
                values = {}
                for name in names:
                    source, target = (name, f"{name}_units") if forward else (f"{name}_units", name)
                    value = getattr(row, source)
                    if value is not None:
                        # Both fields take a Decimal: MoneyField turns it into units as it saves.
                        values[target] = Decimal(value).quantize(USD_QUANTUM)
                if values:
                    model.objects.filter(pk=row.pk).update(**values)

    return run


def money_to_units(app_label: str, fields: dict[str, tuple[str, ...]]) -> list[Any]:
    """Adds a units column per field, copies every value through Decimal, drops the old column, renames."""
    before, after = [], []
    for model_name, names in fields.items():
        for name in names:
            before.append(
                migrations.AddField(model_name=model_name.lower(), name=f"{name}_units", field=MoneyField(null=True))
            )
            after += [
                migrations.RemoveField(model_name=model_name.lower(), name=name),
                migrations.RenameField(model_name=model_name.lower(), old_name=f"{name}_units", new_name=name),
            ]
    copy = migrations.RunPython(_copy(app_label, fields, forward=True), _copy(app_label, fields, forward=False))
    return [*before, copy, *after]
