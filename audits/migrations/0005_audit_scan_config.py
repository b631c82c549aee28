from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audits", "0004_report_pages")]

    operations = [
        migrations.AddField(
            model_name="audit",
            name="scan_config",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
