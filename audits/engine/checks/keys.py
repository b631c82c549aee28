"""Primary keys and natural keys: every table addressable, names unique per owner."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import Schema

from . import schema_facts as sf
from .base import SCHEMA, CheckSpec, Topic

TOPIC = Topic.beside(__file__)


@TOPIC.implements("table-no-primary-key", requires=SCHEMA)
def table_no_primary_key(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report tables with no primary key (SQLite rowid alone does not count)."""
    for table in schema.tables:
        if table.name.lower().startswith("sqlite_"):
            continue
        if table.primary_key or any(c.primary_key for c in table.columns):
            continue
        fix = ""
        eng = sf.engine(schema)
        t = sf.quote(table.name, schema)
        if eng == "postgres":
            fix = f"ALTER TABLE {t} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;"
        elif eng == "mysql":
            fix = f"ALTER TABLE {t} ADD COLUMN id BIGINT AUTO_INCREMENT PRIMARY KEY FIRST;"
        yield sf.whole_table_issue(
            spec,
            table,
            evidence=f"{table.name} ({sf.column_text(table.column_names[:6])}"
            f"{', ...' if len(table.columns) > 6 else ''}) declares no PRIMARY KEY",
            fix_sql=fix,
        )


NAME_COLUMNS = frozenset({"name", "slug", "title", "handle", "code"})


@TOPIC.implements("unique-missing-natural-key", requires=SCHEMA)
def unique_missing_natural_key(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report owner-scoped name/slug/title columns with no UNIQUE over them."""
    for table in schema.tables:
        owners = sf.tenant_columns(schema, table)
        if not owners:
            continue
        uniques = [i for i in sf.indexes_of(table) if i.unique]
        for col in table.columns:
            if col.name.lower() not in NAME_COLUMNS:
                continue
            if any(col.name.lower() in i.column_names for i in uniques):
                continue
            owner = owners[0]
            index = f"uq_{table.name}_{owner}_{col.name}"
            yield sf.column_issue(
                spec,
                table,
                col,
                evidence=f"{table.name}.{col.name} is scoped by {owner} but no UNIQUE "
                f"index covers ({owner}, {col.name})",
                fix_sql=f"CREATE UNIQUE INDEX {sf.quote(index, schema)} ON "
                f"{sf.quote(table.name, schema)} ({sf.quote(owner, schema)}, "
                f"{sf.quote(col.name, schema)});",
            )
