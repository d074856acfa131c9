from django.db import migrations, models

from usage.rollups import key_days_migration


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0008_usage_estimated"),
    ]

    operations = [
        migrations.AlterField(
            model_name="usagerollup",
            name="span",
            field=models.CharField(
                choices=[("h", "hour"), ("d", "day"), ("m", "month"), ("k", "day by key and model")], max_length=1
            ),
        ),
        # The narrow day rollups of the days already summed: folded from the day rollups, no row read.
        migrations.RunPython(key_days_migration, migrations.RunPython.noop, elidable=True),
    ]
