"""Column shapes: JSON blobs standing in for tables, copies of referenced values."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import Column, Schema
from audits.engine.vocabulary import is_text_type, last_word, words

from .base import SCHEMA, CheckSpec, Topic
from .schema_facts import column_issue, column_text, distinct_fks, whole_table_issue

TOPIC = Topic.beside(__file__)


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
    return last_word(column.name) in _BLOB_WORDS or "json" in words(column.name)


@TOPIC.implements("json-blob-columns", requires=SCHEMA)
def json_blob_columns(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report, once per table, the JSON/TEXT blob columns it holds."""
    for table in schema.tables:
        blobs = [c.name for c in table.columns if is_json_blob(c)]
        if not blobs:
            continue
        yield whole_table_issue(
            spec,
            table,
            title=f"Table stores structured data in {len(blobs)} JSON/TEXT blob "
            f"column{'s' if len(blobs) != 1 else ''}",
            evidence=f"{table.name}: {len(blobs)} blob column"
            f"{'s' if len(blobs) != 1 else ''} ({column_text(blobs)})",
        )


_NOT_COPIES = frozenset(
    {"id", "created_at", "updated_at", "created", "updated", "status"}
)


@TOPIC.implements("redundant-denormalized-column", requires=SCHEMA)
def redundant_denormalized_column(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report ``<ref>_<attr>`` columns copying ``attr`` of the FK's parent."""
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
