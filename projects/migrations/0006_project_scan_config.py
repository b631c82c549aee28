from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("projects", "0005_invitation")]

    operations = [
        migrations.AddField(
            model_name="project",
            name="scan_config",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
