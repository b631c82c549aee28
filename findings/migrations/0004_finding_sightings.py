# Sightings move out of the findings table into a narrow one of their own:
# every audit rewrites a sighting per finding it sees, and on the findings
# table each write touched every index (see FindingSighting). Existing
# sightings are copied over before the old columns go.

import django.db.models.deletion
from django.db import migrations, models


def copy_sightings(apps, schema_editor):
    Finding = apps.get_model("findings", "Finding")
    FindingSighting = apps.get_model("findings", "FindingSighting")
    rows = (
        Finding.objects.filter(last_seen_audit__isnull=False)
        .values_list("pk", "last_seen_audit__number", "last_seen_at")
        .iterator(chunk_size=5000)
    )
    batch = []
    for pk, number, seen_at in rows:
        batch.append(
            FindingSighting(finding_id=pk, audit_number=number, seen_at=seen_at)
        )
        if len(batch) == 5000:
            FindingSighting.objects.bulk_create(batch)
            batch = []
    FindingSighting.objects.bulk_create(batch)


def half_empty_pages(apps, schema_editor):
    # Room on each page for a new version of every row, so that an audit
    # rewriting all sightings updates them in place (HOT).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE findings_findingsighting SET (fillfactor = 50)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("findings", "0003_list_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="FindingSighting",
            fields=[
                (
                    "finding",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="sighting",
                        serialize=False,
                        to="findings.finding",
                    ),
                ),
                ("audit_number", models.PositiveIntegerField()),
                ("seen_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(half_empty_pages, migrations.RunPython.noop),
        migrations.RunPython(copy_sightings, migrations.RunPython.noop),
        migrations.RemoveField(model_name="finding", name="last_seen_at"),
        migrations.RemoveField(model_name="finding", name="last_seen_audit"),
    ]
