# Hold, moved here from accounts: the model's state only; its table (accounts_hold) already exists.

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import core.money


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0003_holds"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Hold",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4,
                                editable=False,
                                help_text="The request id.",
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("amount_usd", core.money.MoneyField()),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        (
                            "account",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="holds",
                                to="accounts.account",
                            ),
                        ),
                    ],
                    options={"ordering": ["created_at"], "db_table": "accounts_hold"},
                ),
            ]
        ),
    ]
