# Indexes for the findings pages at a million findings (bench/bench_pages.py):
# - finding_assignee_due_idx gains status and project, so "my findings"
#   counts a user's unresolved findings with an index-only scan;
# - finding_project_title_idx, finding_project_due_idx and
#   finding_project_id_idx serve the list sorted by title, by due date (and
#   the overdue filter) and by "Found": an ordered walk that stops at the page;
# - finding_text_trgm_idx (PostgreSQL only) serves the list's text search,
#   UPPER(title|object|file) LIKE '%…%' as Django writes ``icontains``.

from django.conf import settings
from django.db import migrations, models


class PostgreSQLOnly(migrations.RunSQL):
    """Run the SQL on PostgreSQL; elsewhere (SQLite) do nothing."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0001_initial"),
        ("findings", "0002_finding_severity_rank_idx"),
        ("projects", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="finding",
            name="finding_assignee_due_idx",
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(
                fields=["assignee", "due_date", "status", "project"],
                name="finding_assignee_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(
                fields=["project", "title", "-id"], name="finding_project_title_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(
                fields=["project", "due_date", "-id"], name="finding_project_due_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(fields=["project", "id"], name="finding_project_id_idx"),
        ),
        # pg_trgm is a trusted extension: the database's owner may create it.
        PostgreSQLOnly(
            sql=[
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                "CREATE INDEX finding_text_trgm_idx ON findings_finding USING gin ("
                "UPPER(title::text) gin_trgm_ops, "
                "UPPER(object::text) gin_trgm_ops, "
                "UPPER(file::text) gin_trgm_ops)",
            ],
            # The extension stays: other objects may use it.
            reverse_sql=["DROP INDEX IF EXISTS finding_text_trgm_idx"],
        ),
    ]
