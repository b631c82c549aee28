"""Enum-like columns: a closed set of values the schema should enforce.

check-missing-enum has two implementations: from the schema (a known value
set elsewhere in the schema or a string default, and no CHECK) and from the
code joined with the schema (literals written to a column with no CHECK).
Both key on ``table, column`` and name enum-like columns with one rule,
:func:`audits.engine.vocabulary.enum_like`. A MySQL ``ENUM`` or a
PostgreSQL enum type constrains its values, so the schema side is silent on
them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Column, Schema, Table
from audits.engine.sources.code import CodeFacts
from audits.engine.vocabulary import (
    enum_like,
    is_numeric_type,
    is_text_type,
    type_family,
)

from .base import JOINED, SCHEMA, CheckSpec, Facts, Topic
from .code_facts import code_of, column_at, first_sight, live_sql, mapped, short
from .schema_facts import (
    checks_on,
    column_issue,
    django_managed,
    engine,
    quote,
    string_default,
)

TOPIC = Topic.beside(__file__)


def _strip(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _literal_writes(
    code: CodeFacts,
) -> Iterator[tuple[str, str, str, str, int, str, str]]:
    """Yield (table, column, value, file, line, function, snippet) for code writes."""
    for use in live_sql(code):
        if not use.sql.is_write or len(use.sql.tables) != 1:
            continue
        for column, value in use.literal_writes().items():
            yield (
                use.sql.tables[0],
                column,
                value,
                use.file,
                use.line,
                use.function,
                use.snippet,
            )
    for write, table, column in mapped(code, code.orm_writes):
        yield table, column, write.value, write.file, write.line, write.function, ""


def _check_value_lists(table: Table, column: str) -> list[tuple[str, ...] | None]:
    """Return the value lists of CHECKs on ``column`` (None for other CHECKs)."""
    out: list[tuple[str, ...] | None] = []
    for check in table.checks:
        if (check.column or "").lower() == column or (
            check.column is None and column in check.expression.lower()
        ):
            out.append(tuple(_strip(v) for v in check.values) if check.values else None)
    return out


@TOPIC.implements("check-incomplete-enum", requires=JOINED)
def check_incomplete_enum(
    spec: CheckSpec, code: CodeFacts, schema: Schema
) -> Iterator[Issue]:
    """Report literal values the code writes that the column's CHECK forbids."""
    seen: set[tuple[str, str, str]] = set()
    for table_name, column, value, file, line, function, snippet in _literal_writes(
        code
    ):
        table = schema.table(table_name)
        if table is None:
            continue
        for allowed in _check_value_lists(table, column.lower()):
            if allowed is None or value in allowed:
                continue
            key = (table.name.lower(), column.lower(), value)
            if not first_sight(seen, key):
                continue
            listed = ", ".join(f"'{v}'" for v in allowed)
            yield spec.issue(
                key=list(key),
                **column_at(table.name, column, file, line, function),
                evidence=f"{snippet or function}  # writes '{value}', CHECK allows {listed}",
                fix_sql=(
                    f"-- add '{value}' to the CHECK on {table.name}.{column}: "
                    f"CHECK ({column} IN ({listed}, '{value}'))"
                ),
                remediation=(
                    f"Add '{value}' to the CHECK list of {table.name}.{column} (a table "
                    f"rebuild on SQLite), or stop writing it in `{short(function)}`."
                ),
            )


@TOPIC.implements("check-missing-enum", requires=JOINED)
def check_missing_enum_in_code(
    spec: CheckSpec, code: CodeFacts, schema: Schema
) -> Iterator[Issue]:
    """Report enum-like columns without CHECK that the code writes literals to."""
    values: dict[tuple[str, str], set[str]] = {}
    where: dict[tuple[str, str], tuple[str, int, str]] = {}
    for table_name, column, value, file, line, function, _ in _literal_writes(code):
        table = schema.table(table_name)
        if table is None or table.column(column) is None or not enum_like(column):
            continue
        if _check_value_lists(table, column.lower()):
            continue
        found = table.column(column)
        assert found is not None
        key = (table.name, found.name)
        values.setdefault(key, set()).add(value)
        where.setdefault(key, (file, line, function))
    for (tname, cname), seen in sorted(values.items()):
        file, line, function = where[(tname, cname)]
        listed = ", ".join(f"'{v}'" for v in sorted(seen))
        yield spec.issue(
            key=[tname.lower(), cname.lower()],
            **column_at(tname, cname, file, line, function),
            evidence=f"code writes {listed} to {tname}.{cname}; no CHECK constrains it"
            + _orm_enforced(code, schema),
            severity=Severity.LOW if _orm_enforced(code, schema) else None,
            fix_sql=f"-- CHECK ({cname} IN ({listed}, ...))",
            remediation=(
                f"Add CHECK ({cname} IN (...)) to {tname} listing every value the "
                f"application uses (it writes {listed})."
            ),
        )


def known_value_sets(schema: Schema) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Return column name -> [(table, values)] from CHECK value lists."""
    sets: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for table in schema.tables:
        for check in table.checks:
            if check.column and check.values:
                sets.setdefault(check.column.lower(), []).append(
                    (table.name, check.values)
                )
    return sets


def _is_enum_type(column: Column, schema: Schema) -> bool:
    t = column.type.upper()
    if t.startswith("ENUM") or t.startswith("SET("):
        return True
    # PostgreSQL user-defined types (enums, domains) constrain values.
    return (
        engine(schema) == "postgres"
        and type_family(t, "postgres")
        not in (
            "text",
            "",
        )
        and not is_numeric_type(column)
    )


@TOPIC.implements("check-missing-enum", requires=SCHEMA, facts=True)
def check_missing_enum_in_schema(
    spec: CheckSpec, schema: Schema, facts: Facts
) -> Iterator[Issue]:
    """Report enum-like text columns with a known value set but no CHECK."""
    orm_note = _orm_enforced(code_of(facts), schema)
    sets = known_value_sets(schema)
    eng = engine(schema)
    for table in schema.tables:
        for col in table.columns:
            if not enum_like(col.name) or not is_text_type(col):
                continue
            if _is_enum_type(col, schema) or checks_on(table, col.name):
                continue
            default = string_default(col)
            siblings = [v for t, v in sets.get(col.name.lower(), []) if t != table.name]
            values: list[str] = []
            for vals in siblings:
                values.extend(v for v in vals if v not in values)
            if not siblings and not default:
                continue
            if default and default not in values:
                basis = f"DEFAULT '{default}'"
                if siblings:
                    basis += " and the CHECK on other tables' " + col.name
            else:
                basis = f"the CHECK on other tables' {col.name}"
            fix = ""
            if values and eng in ("postgres", "mysql"):
                listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
                fix = (
                    f"ALTER TABLE {quote(table.name, schema)} ADD CONSTRAINT "
                    f"{quote(f'{table.name}_{col.name}_check', schema)} "
                    f"CHECK ({quote(col.name, schema)} IN ({listed}));"
                )
            expected = f"; expected values: {', '.join(values)}" if values else ""
            yield column_issue(
                spec,
                table,
                col,
                evidence=f"{table.name}.{col.name} {col.type or '(untyped)'} has no CHECK "
                f"(values known from {basis}){expected}" + orm_note,
                fix_sql=fix,
                severity=Severity.LOW if orm_note else None,
            )


@TOPIC.implements("default-divergence", requires=SCHEMA)
def default_divergence(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report enum-like columns whose default differs from their siblings'.

    Tables are compared only when each one's CHECK list allows the other's
    default, so unrelated lifecycles that share a column name stay apart.
    """
    by_name: dict[str, list[tuple[Table, Column, str, tuple[str, ...]]]] = {}
    for table in schema.tables:
        for col in table.columns:
            default = string_default(col)
            if not enum_like(col.name) or default is None:
                continue
            values = next(
                (c.values for c in checks_on(table, col.name) if c.values), None
            )
            if values is None and col.type.upper().startswith("ENUM"):
                values = tuple(re.findall(r"'((?:[^']|'')*)'", col.type))
            if values is None:
                continue
            by_name.setdefault(col.name.lower(), []).append(
                (table, col, default, values)
            )
    for entries in by_name.values():
        if len(entries) < 2:
            continue
        group = [(d, v) for _, _, d, v in entries]
        counts = Counter(d for d, _ in group)
        majority = min(counts, key=lambda v: _default_rank(v, group, counts))
        for table, col, default, values in entries:
            # Only a table whose own CHECK allows the majority default could
            # have used it; otherwise its lifecycle is a different one.
            if default == majority or majority not in values:
                continue
            others = sorted(t.name for t, _, d, _ in entries if d == majority)
            yield column_issue(
                spec,
                table,
                col,
                evidence=f"{table.name}.{col.name} DEFAULT '{default}' while "
                f"{', '.join(others)} default to '{majority}'",
            )


def _default_rank(
    value: str, group: list[tuple[str, tuple[str, ...]]], counts: Counter[str]
) -> tuple[int, int, str]:
    # Most common first; on a tie, the value listed earliest in the CHECK
    # lists (usually the initial state), then alphabetically.
    position = min(
        (vals.index(value) for _, vals in group if value in vals), default=99
    )
    return (-counts[value], position, value)


def _orm_enforced(code: CodeFacts | None, schema: Schema | None) -> str:
    """Return why a closed set of values is the ORM's to enforce, or ""."""
    imports: frozenset[str] = getattr(code, "imports", frozenset())
    if "django" in imports or (schema is not None and django_managed(schema)):
        return (
            "; Django models check choices in forms and admin, not the database: "
            "low, since only raw SQL or another client can break it"
        )
    return ""
