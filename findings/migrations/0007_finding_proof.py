from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("findings", "0006_finding_search_trgm_idx")]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="proof",
            field=models.TextField(blank=True, default=""),
        ),
    ]
