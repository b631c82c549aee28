# Serves the findings list's default order, worst severity first and newest
# first within one (findings.tables.severity_rank): PostgreSQL walks this
# index and stops at the page instead of sorting a project's findings.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0001_initial"),
        ("findings", "0001_initial"),
        ("projects", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(
                models.F("project"),
                models.Case(
                    models.When(severity="critical", then=models.Value(0)),
                    models.When(severity="high", then=models.Value(1)),
                    models.When(severity="medium", then=models.Value(2)),
                    models.When(severity="low", then=models.Value(3)),
                    models.When(severity="info", then=models.Value(4)),
                    default=models.Value(5),
                    output_field=models.IntegerField(),
                ),
                models.OrderBy(models.F("id"), descending=True),
                name="finding_severity_rank_idx",
            ),
        ),
    ]
