"""Column shapes: JSON blobs standing in for tables, copies of referenced values."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import Column
from audits.engine.vocabulary import is_text_type, words

from .base import DAYS, HRS, INFO, SCH, SCHEMA, CheckSpec, Facts, Topic
from .schema_facts import (
    column_issue,
    column_text,
    distinct_fks,
    schema_of,
    table_issue,
)

# id, dimension, severity, effort, evidence, title, rationale, remediation, severity rule
# fmt: off
TOPIC = Topic(
    ("json-blob-columns", SCH, INFO, DAYS, "ddl live", "Table stores structured data in JSON/TEXT blobs", "Blob columns are not atomic (1NF): their contents cannot be constrained, indexed or aggregated in SQL.", "Move fields that are filtered or aggregated into typed columns or child tables.", "Always info: a design note. Structured data in a blob is harder to query and validate, but nothing is lost or corrupted by it."),
    ("redundant-denormalized-column", SCH, INFO, HRS, "ddl live", "Column copies a value reachable through a foreign key", "A copy of the parent's value (a transitive dependency) drifts when the parent changes.", "Read the value through the foreign key, or document why the copy is kept (history).", "Always info: a copy can drift from its source, and the check cannot tell whether the code keeps it in step on purpose."),
)
# fmt: on


_BLOB_WORDS = frozenset(
    {
        "json",
        "config",
        "metadata",
        "meta",
        "results",
        "settings",
        "payload",
        "params",
        "options",
        "attributes",
        "extra",
        "details",
        "data",
        "properties",
        "context",
        "tags",
    }
)


def is_json_blob(column: Column) -> bool:
    """Return True for JSON columns and text columns named or marked as JSON."""
    t = column.type.upper()
    if t.startswith("JSON") or (column.comment or "").lower() == "json":
        return True
    if not is_text_type(column) or re.search(r"\(\s*\d{1,3}\s*\)", t):
        return False  # short VARCHAR(n) columns are not blobs
    parts = words(column.name)
    return bool(parts) and (parts[-1] in _BLOB_WORDS or "json" in parts)


@TOPIC.implements("json-blob-columns", requires=SCHEMA)
def json_blob_columns(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report, once per table, the JSON/TEXT blob columns it holds."""
    if (schema := schema_of(facts)) is None:
        return
    for table in schema.tables:
        blobs = [c.name for c in table.columns if is_json_blob(c)]
        if not blobs:
            continue
        yield table_issue(
            spec,
            table,
            key=[table.name],
            object=table.name,
            title=f"Table stores structured data in {len(blobs)} JSON/TEXT blob "
            f"column{'s' if len(blobs) != 1 else ''}",
            evidence=f"{table.name}: {len(blobs)} blob column"
            f"{'s' if len(blobs) != 1 else ''} ({column_text(blobs)})",
        )


_NOT_COPIES = frozenset(
    {"id", "created_at", "updated_at", "created", "updated", "status"}
)


@TOPIC.implements("redundant-denormalized-column", requires=SCHEMA)
def redundant_denormalized_column(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ``<ref>_<attr>`` columns copying ``attr`` of the FK's parent."""
    if (schema := schema_of(facts)) is None:
        return
    for table in schema.tables:
        for fk in distinct_fks(table):
            if len(fk.columns) != 1:
                continue
            match = re.fullmatch(r"(.+?)_?id", fk.columns[0], re.I)
            parent = schema.table(fk.ref_table)
            if match is None or parent is None or parent is table:
                continue
            stem = match.group(1).rstrip("_").lower()
            for col in table.columns:
                low = col.name.lower()
                if not low.startswith(stem + "_") or low == fk.columns[0].lower():
                    continue
                attr = low[len(stem) + 1 :]
                if attr in _NOT_COPIES or parent.column(attr) is None:
                    continue
                yield column_issue(
                    spec,
                    table,
                    col,
                    evidence=f"{table.name}.{col.name} copies {parent.name}.{attr}, "
                    f"reachable through {table.name}.{fk.columns[0]}",
                )
