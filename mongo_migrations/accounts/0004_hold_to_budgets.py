# The Hold model moved to the budgets app; its table (accounts_hold) stays where it is.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_holds"),
        ("budgets", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Hold")]),
    ]
