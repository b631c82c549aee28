# The list's text search reads one expression, UPPER(title || ' ' || object
# || ' ' || file) (findings.filters.SearchText), and this trigram GIN index
# on exactly that expression serves it on PostgreSQL: one index scan instead
# of three OR'ed ones over the three columns of finding_text_trgm_idx, which
# it replaces.

from django.db import migrations


class PostgreSQLOnly(migrations.RunSQL):
    """Run the SQL on PostgreSQL; elsewhere (SQLite) do nothing."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


SEARCH_INDEX = (
    "CREATE INDEX finding_search_trgm_idx ON findings_finding USING gin ("
    "UPPER((title)::text || ' ' || (object)::text || ' ' || (file)::text)"
    " gin_trgm_ops)"
)
OLD_INDEX = (
    "CREATE INDEX finding_text_trgm_idx ON findings_finding USING gin ("
    "UPPER(title::text) gin_trgm_ops, "
    "UPPER(object::text) gin_trgm_ops, "
    "UPPER(file::text) gin_trgm_ops)"
)


class Migration(migrations.Migration):
    dependencies = [("findings", "0005_finding_severity_overridden")]

    operations = [
        PostgreSQLOnly(
            sql=[
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                SEARCH_INDEX,
                "DROP INDEX IF EXISTS finding_text_trgm_idx",
            ],
            reverse_sql=[OLD_INDEX, "DROP INDEX IF EXISTS finding_search_trgm_idx"],
        ),
    ]
